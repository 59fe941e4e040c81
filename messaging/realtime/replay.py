"""Storage reads of a stream: the opening job (who, may they, what they missed) and re-reads.

Each runs as one short job on one of the server's request threads
(`core.server.threads`), as a request's view does: within the same bound, on a warm
database connection kept as `CONN_MAX_AGE` allows. An open stream holds no thread and
no connection between reads.
"""

from __future__ import annotations

from django.http import HttpRequest
from django_eventstream.eventrequest import EventRequest
from django_eventstream.eventstream import EventPermissionError, get_events
from django_eventstream.utils import make_id, sse_encode_event

from core.auth import user_from_request
from core.errors import NotFound
from core.server.threads import Lane, request_threads
from messaging.selectors import CONVERSATION_NOT_FOUND

# Streams' reads hold at most a quarter of the request threads: a crowd of streams
# opening at once leaves the rest to sends and pages, and reuses warm threads and
# connections instead of making new ones (bench/README.md, memory per stream).
reads = Lane(request_threads, share=0.25)


def read_page(event_request: EventRequest) -> tuple[str, bool]:
    """The next page of stored events after `event_request.channel_last_ids`, as SSE text.

    One call of the library's `get_events` (at most 100 events): a long backlog is
    replayed page by page, the next one read only once this one was written
    (`messaging.realtime.live.replay`), so what a resume holds does not grow with what
    it missed. Advances `channel_last_ids` (a channel without a last id starts at its
    current id); says whether more is stored. Raises `EventPermissionError` when the
    channel manager refuses a channel.
    """
    parts: list[str] = []
    response = get_events(event_request)
    last_ids = dict(response.channel_last_ids)
    if response.channel_reset:
        parts.append(
            sse_encode_event(
                "stream-reset",
                {"channels": sorted(response.channel_reset)},
                event_id=make_id(last_ids),
                json_encode=True,
            )
        )
    for channel, items in response.channel_items.items():
        for item in items:
            last_ids[channel] = str(item.id)
            parts.append(sse_encode_event(item.type, item.data, event_id=make_id(last_ids)))
    event_request.channel_last_ids = last_ids
    return "".join(parts), bool(response.channel_more)


def read_stored(event_request: EventRequest) -> str:
    """Everything stored after `channel_last_ids`, page by page, as one text: for the
    first answer of a stream Pushpin holds (`messaging.realtime.grip`), sent at once."""
    parts: list[str] = []
    more = True
    while more:
        text, more = read_page(event_request)
        parts.append(text)
    return "".join(parts)


def open_stream(request: HttpRequest, event_request: EventRequest) -> tuple[str, bool]:
    """The one database job before a stream starts: who, may they, and the first page missed."""
    event_request.user = user_from_request(request)
    try:
        return read_page(event_request)
    except EventPermissionError as exc:
        raise NotFound(CONVERSATION_NOT_FOUND) from exc
