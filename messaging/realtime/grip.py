"""The stream endpoints as Django routes them: the one definition of their paths.

`config.urls` mounts this router; the ASGI route (`messaging.realtime.route`) derives
the paths it answers from these routes by name, so the two cannot part. Django itself
answers them only for Pushpin (`GRIP_URL`): otherwise the ASGI route answers first.
"""

from __future__ import annotations

import jwt
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_eventstream.views import events
from ninja import Router

from core.auth import user_from_request
from core.errors import NotAuthenticated, NotFound
from core.schemas import error_responses
from messaging.realtime.channels import ChannelManager, stream_channels
from messaging.realtime.request import conversation_from_path, last_event_ids
from messaging.selectors import CONVERSATION_NOT_FOUND

router = Router(tags=["messaging"])
# URL names of the two streams, in the API's namespace.
INBOX_STREAM = "inbox_events"
CONVERSATION_STREAM = "conversation_events"

_SSE_DOC = {
    "responses": {
        200: {
            "description": (
                "Server-Sent Events: `event: message`, `id: <event id>`, `data: <Message>`; "
                "`keep-alive` events while idle. Resume with `Last-Event-ID` or "
                "`?lastEventId=`. Credential: `Authorization: Bearer <access>` or the "
                "HttpOnly access cookie set at login."
            ),
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
    # The route authenticates itself (header or cookie), so the scheme is documented here.
    "security": [{"JWTAuth": []}],
}


def django_stream(request: HttpRequest, segment: str | None) -> HttpResponse:
    """The stream endpoints when Django itself is asked (through Pushpin with `GRIP_URL`).

    Same checks as the ASGI route, then the library's view: under GRIP it answers at
    once with the stored events and hold instructions. Its first chunk is left as the
    library writes it: `stream-open` first and WITHOUT an id (Pushpin holds the position
    in its subscription, not the client), so a client dropped there before its first
    message still reconnects from "now"; only the ASGI route above gives the position.
    Pushpin's follow-up requests carry the library's signed `es-meta` (user and
    channels) instead of the caller's token; the library reads it, and `ChannelManager`
    checks the channels again.
    """
    grip = getattr(request, "grip", None)
    es_meta = request.GET.get("es-meta")
    if grip is not None and grip.proxied and es_meta:
        try:
            jwt.decode(es_meta, settings.SECRET_KEY.encode(), algorithms=["HS256"])
        except jwt.PyJWTError as exc:
            raise NotAuthenticated("Invalid stream continuation.") from exc
        return events(request)
    user = user_from_request(request)
    conversation_id = conversation_from_path(segment)
    channels = stream_channels(user.pk, conversation_id)
    manager = ChannelManager()
    if not all(manager.can_read_channel(user, channel) for channel in channels):
        raise NotFound(CONVERSATION_NOT_FOUND)
    last_event_ids(request, channels)  # a bad id is a 400 here too
    request.user = user
    return events(request, channels=channels)


@router.get(
    "/events",
    url_name=INBOX_STREAM,
    auth=None,
    response=error_responses(400, 401, 429),
    openapi_extra=_SSE_DOC,
    summary="The caller's inbox stream: message events of all their conversations",
)
def inbox_events(request: HttpRequest) -> HttpResponse:
    return django_stream(request, None)


@router.get(
    "/{conversation_id}/events",
    url_name=CONVERSATION_STREAM,
    auth=None,
    response=error_responses(400, 401, 404, 429),
    openapi_extra=_SSE_DOC,
    summary="A conversation's stream of message events (participants only)",
)
def conversation_events(request: HttpRequest, conversation_id: str) -> HttpResponse:
    return django_stream(request, conversation_id)
