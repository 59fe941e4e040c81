"""The two SSE endpoints, served by a plain ASGI route the server mounts in front of Django.

Why not a Django view: Django's ASGI handler gives each request a thread-sensitive
context whose one-thread executor lives as long as the response, i.e. one OS thread per
open stream. Here the database is touched in ONE short non-thread-sensitive job before
the stream starts (user, membership, what was missed), and after that the stream lives
on the event loop alone (`messaging.realtime.live`), until a gap makes it re-read storage.

Order of the opening steps, and why:
1. The credential and its signature are checked on the loop: a bad token costs no
   thread and no query (401).
2. The listener is registered BEFORE the job reads where to start, so a message
   committed meanwhile is either in the read or queued.
3. The job checks the user is active (401) and, through the channel manager the
   library's `get_events` asks, membership (404), then reads what was missed.
4. Only then does the response start, so 401/404 are real statuses, not the library's
   `200` + `stream-error`.
5. The first chunk is the padding, the missed events, then `stream-open` carrying the
   position the stream starts from as its `id:`, so a client dropped before any
   message resumes from there rather than from "now". After the replay, never before:
   an id ahead of what the client has would make it skip events.

The wire format is the library's (padding comment, `stream-open`, `keep-alive`, ids),
and so are the pieces reused (`EventRequest`, `get_events`, `Listener` and the listener
manager, the SSE encoders, `add_default_headers`). Under GRIP, Pushpin's requests (they
carry `Grip-Sig`) go on to Django, where `messaging.realtime.grip` answers them.
"""

from __future__ import annotations

import asyncio
import functools
import io
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.core.signals import setting_changed
from django.urls import get_script_prefix, reverse
from django_eventstream.eventrequest import EventRequest
from django_eventstream.utils import add_default_headers, make_id
from django_eventstream.views import Listener, get_listener_manager

from core.api import api
from core.auth import request_token
from core.errors import ServiceError, error_response
from core.server import gc_tuning
from core.tokens import decode
from messaging.realtime.channels import stream_channels
from messaging.realtime.grip import CONVERSATION_STREAM, INBOX_STREAM
from messaging.realtime.live import pump, write_body
from messaging.realtime.replay import open_stream
from messaging.realtime.request import conversation_from_path, last_event_ids

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# The start of the first chunk: a padding comment that pushes old proxies and browsers
# to flush (clients such as the bench count a stream ready on its first bytes).
PADDING = ":" + " " * 2048 + "\n\n"
# Strong references to tasks started here (the event loop keeps only weak ones).
_background: set[asyncio.Task] = set()


def stream_open(last_ids: dict[str, str]) -> str:
    """`stream-open`, with the position the stream starts from as its id (step 5 above).

    `last_ids` must be the ids the client has been sent up to (after the replay), so the
    id is never ahead of what it has; without storage there is no id to give. Written as
    the library writes its own `stream-open` (an empty `data:`), plus the id.
    """
    event_id = make_id(last_ids)
    return "event: stream-open\n" + (f"id: {event_id}\n" if event_id else "") + "data:\n\n"


def _headers(pairs: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs.items()]


async def send_error(send: Send, status: int, detail: str) -> None:
    """The API's error answer (`core.errors.error_response`), sent over ASGI."""
    response = error_response(status, detail)
    response["Content-Length"] = str(len(response.content))
    headers = _headers(dict(response.items()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


async def serve_stream(scope: Scope, receive: Receive, send: Send, segment: str | None) -> None:
    request = ASGIRequest(scope, io.BytesIO())
    try:
        request.get_host()  # ALLOWED_HOSTS, as Django would check it
        user_id = decode(request_token(request), "access")["sub"]
        channels = stream_channels(user_id, conversation_from_path(segment))
        event_request = EventRequest()
        event_request.channels = set(channels)
        event_request.channel_last_ids = last_event_ids(request, channels)
        event_request.is_next = event_request.is_recover = False
    except DisallowedHost:
        await send_error(send, 400, "Invalid Host header.")
        return
    except ServiceError as exc:
        await send_error(send, exc.status_code, exc.detail)
        return

    listener = Listener()
    listener.user_id = user_id
    listener.channels = set(channels)
    listener.assign_loop()
    manager = get_listener_manager()
    manager.add_listener(listener)
    try:
        with gc_tuning.answering():  # a request being answered until the stream is open
            try:
                first = await sync_to_async(open_stream, thread_sensitive=False)(
                    request, event_request
                )
            except ServiceError as exc:
                await send_error(send, exc.status_code, exc.detail)
                return
            headers = {"Content-Type": "text/event-stream"}
            add_default_headers(headers, request=request)
            del request
            await send({"type": "http.response.start", "status": 200, "headers": _headers(headers)})
            await write_body(send, PADDING + first + stream_open(event_request.channel_last_ids))
            del first
            gc_tuning.stream_opened()
        await pump(send, receive, listener, event_request)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        manager.remove_listener(listener)


def build_stream_path() -> re.Pattern[str]:
    """The stream paths as the URLconf routes them (by name), with or without the slash."""
    prefix = get_script_prefix()

    def path_of(name: str, **kwargs: str) -> str:
        return "/" + reverse(f"{api.urls_namespace}:{name}", kwargs=kwargs).removeprefix(prefix)

    marker = "00000000-0000-0000-0000-000000000000"
    inbox = path_of(INBOX_STREAM)
    before, after = path_of(CONVERSATION_STREAM, conversation_id=marker).split(marker)
    conversation = f"{re.escape(before)}(?P<conversation>[^/]+){re.escape(after)}"
    return re.compile(rf"^(?:{re.escape(inbox)}|{conversation})/?$")


stream_path = functools.cache(build_stream_path)
setting_changed.connect(
    lambda setting, **_: stream_path.cache_clear() if setting == "ROOT_URLCONF" else None,
    weak=False,
)


class StreamRoute:
    """The stream paths, mounted by the server in front of Django's handler."""

    def handles(self, scope: Scope) -> bool:
        """A stream request this route answers (Pushpin's go on to Django, under GRIP)."""
        return (
            scope["method"] == "GET"
            and stream_path().match(scope["path"]) is not None
            and not self._via_grip(scope)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = stream_path().match(scope["path"])
        assert match is not None  # the server asked `handles` first
        await serve_stream(scope, receive, send, match["conversation"])

    async def startup(self) -> None:
        """Start the Redis fan-out at boot (run by the server's lifespan).

        The library starts its Redis subscriber with the first stream, so that stream's
        first events could be published before the subscription is live.
        """
        manager = get_listener_manager()
        if manager.redis_listener is not None:
            with manager.lock:
                if not manager.redis_listener_started:
                    manager.redis_listener_started = True
                    _background.add(
                        asyncio.get_running_loop().create_task(manager.start_redis_listener())
                    )

    @staticmethod
    def _via_grip(scope: Scope) -> bool:
        """Pushpin's requests go to Django, where django-grip and the library answer them."""
        return bool(settings.GRIP_URL) and any(k == b"grip-sig" for k, _ in scope["headers"])


# What `SERVER_ROUTES` names.
stream_route = StreamRoute()
