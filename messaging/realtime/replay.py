"""Storage reads of a stream: the opening job (who, may they, what they missed) and re-reads.

Each runs in one short non-thread-sensitive `sync_to_async` job whose pool thread keeps
no database connection, so an open stream holds no thread between reads.
"""

from __future__ import annotations

from django.db import close_old_connections, connections
from django.http import HttpRequest
from django_eventstream.eventrequest import EventRequest
from django_eventstream.eventstream import EventPermissionError, get_events
from django_eventstream.utils import make_id, sse_encode_event

from core.auth import user_from_request
from core.errors import NotFound
from messaging.selectors import CONVERSATION_NOT_FOUND


def read_stored(event_request: EventRequest) -> str:
    """Every stored event after `event_request.channel_last_ids`, as SSE text, in id order.

    Advances `channel_last_ids`; a channel without a last id starts at its current id.
    Raises `EventPermissionError` when the channel manager refuses a channel.
    """
    parts: list[str] = []
    while True:
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
        if not response.channel_more:
            return "".join(parts)


def open_stream(request: HttpRequest, event_request: EventRequest) -> str:
    """The one database job before a stream starts: who, may they, and what they missed."""
    close_old_connections()
    try:
        event_request.user = user_from_request(request)
        try:
            return read_stored(event_request)
        except EventPermissionError as exc:
            raise NotFound(CONVERSATION_NOT_FOUND) from exc
    finally:
        connections.close_all()  # whatever CONN_MAX_AGE says: pool threads keep none


def reread_stored(event_request: EventRequest) -> str:
    """A later storage read (gap or overflow), in a pool thread that keeps no connection."""
    close_old_connections()
    try:
        return read_stored(event_request)
    finally:
        connections.close_all()
