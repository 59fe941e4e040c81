"""What a stream request asks for: the conversation in its path, and where to resume.

Parsed on the event loop before any thread or query is spent, so a bad request is
answered with the API's 4xx JSON at once.
"""

from __future__ import annotations

import uuid
from urllib.parse import unquote

from django.http import HttpRequest
from django_eventstream.utils import parse_last_event_id

from core.errors import BadRequest, NotFound
from messaging.selectors import CONVERSATION_NOT_FOUND

# Event ids are counters in a 64-bit column: more digits than this is no id of ours.
MAX_ID_DIGITS = 18


def conversation_from_path(segment: str | None) -> uuid.UUID | None:
    """The conversation id in the path (None for the inbox); a non-UUID is not found."""
    if segment is None:
        return None
    try:
        return uuid.UUID(segment)
    except ValueError as exc:
        raise NotFound(CONVERSATION_NOT_FOUND) from exc


def last_event_ids(request: HttpRequest, channels: list[str]) -> dict[str, str]:
    """Where to resume, per channel: parsed as `EventRequest.apply_http_request` does.

    The header wins; else the last non-empty `lastEventId`. Ids of other channels are
    ignored; anything unparsable is a 400 rather than the library's 500 on `int()`.
    """
    raw = request.headers.get("Last-Event-ID", "")
    if not raw:
        raw = next((v for v in reversed(request.GET.getlist("lastEventId")) if v), "")
    if not raw:
        return {}
    try:
        parsed = parse_last_event_id(raw)
    except ValueError as exc:
        raise BadRequest("Invalid Last-Event-ID.") from exc
    out = {}
    for channel, last_id in parsed.items():
        # ASCII digits only ("²" is a digit to Python), and few enough that int() and the
        # database take them (a 4,300-digit number is past int()'s limit).
        if not (last_id.isascii() and last_id.isdigit()) or len(last_id) > MAX_ID_DIGITS:
            raise BadRequest("Invalid Last-Event-ID.")
        if unquote(channel) in channels:
            out[unquote(channel)] = last_id
    return out
