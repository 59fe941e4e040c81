"""The two SSE endpoints, served by a plain ASGI route in front of Django's handler.

`GET /api/chat/{id}/events` and `GET /api/chat/events` (with or without the trailing
slash) are answered here; every other request goes on to Django (`config.asgi`).

Why not a Django view: Django's ASGI handler gives each request its own
thread-sensitive context, and the first sync call in it (request signals, middleware,
a sync view, the library's `sync_to_async(get_events)`) starts a one-thread executor
that lives as long as the response, i.e. one OS thread and ~230 KiB per open stream
(measured in NOTES-eventstream.md). Here a stream costs no thread: the database is
touched in ONE non-thread-sensitive `sync_to_async` job before the stream starts (user,
participation, where to start), whose worker thread goes back to the pool with its
connection closed; after that the stream lives on the event loop alone, until a gap or
an overflow makes it re-read storage (another short job).

Order of the opening steps, and why:
1. Credential (Bearer header, else the HttpOnly access cookie) and its signature are
   checked on the loop, so a bad token costs no thread and no query: 401 JSON.
2. The listener is registered BEFORE the job reads where to start, so a message
   committed after that read is either in the read or queued: a stream opened without
   an id cannot lose a message posted while it starts.
3. The job checks the user is active (401) and, through `messaging.events.ChannelManager`
   asked by the library's `get_events`, participation (404), then reads the missed
   events when resuming (`Last-Event-ID` header or `?lastEventId=`).
4. Only then does the response start, so 401/404 are real statuses, not the library's
   `200` + `stream-error`.
5. The first chunk is the padding comment, the missed events, then `stream-open`
   carrying, as its `id:`, the position the stream starts from (the last replayed id,
   or "now" for a stream opened without an id). A client whose connection drops before
   any message (a browser's `EventSource` keeps the last `id:` it saw, whatever the
   event type) then resumes from there instead of from "now", which would lose what was
   posted during the gap. After the replay, never before it: an id ahead of what the
   client was sent would make it skip those events when it resumes.

Reused from django-eventstream: `EventRequest` (the holder of channels, last ids and
user), `get_events` (storage reads, resets of trimmed ids, the channel manager's
permission check), `Listener` and the process-wide listener manager (local queues and
the Redis fan-out task), `parse_last_event_id`, `make_id`, `sse_encode_event`,
`sse_encode_error`, `add_default_headers` (no-cache, no proxy buffering, CORS), and the
library's wire format (2 KiB padding comment, `stream-open`, `keep-alive`, ids), except
that `stream-open` comes after the replay and carries an id (step 5).
Written here instead of the library's `stream()` generator: the live loop, because
that one writes queued events in arrival order, which is not id order when two
publishers' after-commit hooks race (see `messaging.events`), and it reads storage
through a thread-sensitive call. This loop writes only the event that follows the last
id written, re-reads storage in id order on a gap or an overflow, and skips ids already
written. It also watches for `http.disconnect` and drops the listener at once.

With `GRIP_URL` set, a request that comes through Pushpin (it carries `Grip-Sig`) is
handed to Django instead, where `router` below runs the same checks and then the
library's own view, which answers at once with GRIP instructions.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

import jwt
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections, connections
from django.http import HttpRequest, HttpResponse
from django_eventstream.eventrequest import EventRequest
from django_eventstream.eventstream import EventPermissionError, get_events
from django_eventstream.utils import (
    add_default_headers,
    make_id,
    parse_last_event_id,
    sse_encode_error,
    sse_encode_event,
)
from django_eventstream.views import Listener, events, get_listener_manager
from ninja import Router

from core import gc_tuning
from core.auth import bearer_token, user_from_request
from core.errors import BadRequest, NotAuthenticated, NotFound, ServiceError
from core.schemas import error_responses
from core.tokens import decode
from messaging.events import ChannelManager, stream_channels

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STREAM_PATH = re.compile(r"^/api/chat/(?:(?P<conversation>[^/]+)/)?events/?$")
NOT_FOUND = "Conversation not found."
# The start of the first chunk: a padding comment that pushes old proxies and browsers
# to flush (clients such as the bench count a stream ready on its first bytes).
PADDING = ":" + " " * 2048 + "\n\n"
KEEP_ALIVE = "event: keep-alive\ndata:\n\n"
# Strong references to tasks started here (the event loop keeps only weak ones).
_background: set[asyncio.Task] = set()


# ---------------------------------------------------------------- request parsing


def conversation_from_path(segment: str | None) -> uuid.UUID | None:
    """The conversation id in the path (None for the inbox); a non-UUID is not found."""
    if segment is None:
        return None
    try:
        return uuid.UUID(segment)
    except ValueError as exc:
        raise NotFound(NOT_FOUND) from exc


def stream_credential(request: HttpRequest) -> str:
    """The access token: the Bearer header, else the HttpOnly cookie (as `user_from_request`)."""
    token = bearer_token(request) or request.COOKIES.get(settings.ACCESS_COOKIE_NAME)
    if not token:
        raise NotAuthenticated("Authentication credentials were not provided.")
    return token


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
        if not last_id.isdigit():
            raise BadRequest("Invalid Last-Event-ID.")
        if unquote(channel) in channels:
            out[unquote(channel)] = last_id
    return out


# ---------------------------------------------------------------- storage reads (sync)


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
            raise NotFound(NOT_FOUND) from exc
    finally:
        connections.close_all()  # whatever CONN_MAX_AGE says: pool threads keep none


def reread_stored(event_request: EventRequest) -> str:
    """A later storage read (gap or overflow), in a pool thread that keeps no connection."""
    close_old_connections()
    try:
        return read_stored(event_request)
    finally:
        connections.close_all()


# ---------------------------------------------------------------- live events (loop)


def take_in_order(queued: dict[str, list[Any]], last_ids: dict[str, str]) -> tuple[str, bool]:
    """SSE text for the queued events that follow on from `last_ids`, and whether none is missing.

    Ids are dense per channel (see `messaging.events`), so an id past `last + 1` means an
    event whose wake-up has not arrived (yet): stop there and let storage fill the gap.
    Ids already written (read from storage meanwhile) are skipped.
    """
    parts: list[str] = []
    complete = True
    for channel, items in queued.items():
        if channel not in last_ids:
            continue
        for item in sorted(items, key=lambda e: int(e.id) if e.id is not None else -1):
            if item.id is None:
                complete = False
                continue
            event_id, last = int(item.id), int(last_ids[channel])
            if event_id <= last:
                continue
            if event_id != last + 1:
                complete = False
                break
            last_ids[channel] = str(event_id)
            parts.append(sse_encode_event(item.type, item.data, event_id=make_id(last_ids)))
    return "".join(parts), complete


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _body(send: Send, text: str) -> None:
    await send({"type": "http.response.body", "body": text.encode(), "more_body": True})


class KeepAlive:
    """Says a keep-alive is due (and wakes the stream) after `interval` s without a write.

    One timer per stream, re-armed only when it fires, for the time left since the last
    write: a stream that delivers events makes no timer per event.
    """

    def __init__(self, listener: Listener, interval: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.listener = listener
        self.interval = interval
        self.due = False
        self.last_write = self.loop.time()
        self.timer = self.loop.call_later(interval, self._fire)

    def wrote(self) -> None:
        self.due = False
        self.last_write = self.loop.time()

    def cancel(self) -> None:
        self.timer.cancel()

    def _fire(self) -> None:
        left = self.interval - (self.loop.time() - self.last_write)
        if left <= 0:
            self.due = True
            self.listener.aevent.set()
            left = self.interval
        self.timer = self.loop.call_later(left, self._fire)


async def pump(
    send: Send, receive: Receive, listener: Listener, event_request: EventRequest
) -> None:
    """Write live events until the client leaves; a keep-alive after each idle interval.

    The stream waits on its listener's event alone: the client leaving and the
    keep-alive timer set it too. An event thus costs one future, and a waiting stream
    holds one task (the disconnect watch) and one timer. (A task, a timer and a set per
    event, alive until the stream's next event, were with hundreds of open streams most
    of what Python's cyclic GC had to sweep, in pauses of 20-100 ms: bench/README.md.)
    """
    manager = get_listener_manager()
    disconnected = asyncio.ensure_future(_until_disconnect(receive))
    disconnected.add_done_callback(lambda _: listener.aevent.set())
    keep_alive = KeepAlive(listener, settings.STREAM_KEEPALIVE_SECONDS)
    try:
        while True:
            await listener.aevent.wait()
            if disconnected.done():
                return
            with manager.lock:
                queued, overflow, error = (
                    listener.channel_items,
                    listener.overflow,
                    listener.error,
                )
                listener.channel_items, listener.overflow = {}, False
                listener.aevent.clear()
            text, complete = take_in_order(queued, event_request.channel_last_ids)
            if overflow or not complete:
                try:
                    text += await sync_to_async(reread_stored, thread_sensitive=False)(
                        event_request
                    )
                except EventPermissionError as exc:
                    error = {"condition": "forbidden", "text": str(exc)}
            if error:
                await _body(send, text + sse_encode_error(error["condition"], error["text"]))
                return
            if text or keep_alive.due:
                await _body(send, text or KEEP_ALIVE)
                keep_alive.wrote()
    finally:
        keep_alive.cancel()
        disconnected.cancel()


# ---------------------------------------------------------------- the ASGI route


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
    """The API's error shape (`core.api`), with `WWW-Authenticate` on a 401."""
    headers = {"Content-Type": "application/json"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="stayhub"'
    body = json.dumps({"detail": detail}).encode()
    headers["Content-Length"] = str(len(body))
    await send({"type": "http.response.start", "status": status, "headers": _headers(headers)})
    await send({"type": "http.response.body", "body": body})


async def serve_stream(scope: Scope, receive: Receive, send: Send, segment: str | None) -> None:
    request = ASGIRequest(scope, io.BytesIO())
    try:
        request.get_host()  # ALLOWED_HOSTS, as Django would check it
        user_id = decode(stream_credential(request), "access")["sub"]
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
            await _body(send, PADDING + first + stream_open(event_request.channel_last_ids))
            del first
            gc_tuning.stream_opened()
        await pump(send, receive, listener, event_request)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        manager.remove_listener(listener)


class StreamRoute:
    """ASGI app: the stream paths here, everything else to `app` (Django's handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = STREAM_PATH.match(scope["path"])
            if match and not self._via_grip(scope):
                await serve_stream(scope, receive, send, match["conversation"])
                return
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Start the Redis fan-out at boot (Django's handler has no lifespan of its own).

        The library starts its Redis subscriber with the first stream, so that stream's
        first events could be published before the subscription is live. At shutdown,
        the app behind (`core.asgi_handler`) closes the database connections its idle
        request threads keep.
        """
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                manager = get_listener_manager()
                if manager.redis_listener is not None:
                    with manager.lock:
                        if not manager.redis_listener_started:
                            manager.redis_listener_started = True
                            _background.add(
                                asyncio.get_running_loop().create_task(
                                    manager.start_redis_listener()
                                )
                            )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                aclose = getattr(self.app, "aclose", None)
                if aclose is not None:
                    await aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    def _via_grip(scope: Scope) -> bool:
        """Pushpin's requests go to Django, where django-grip and the library answer them."""
        return bool(settings.GRIP_URL) and any(k == b"grip-sig" for k, _ in scope["headers"])


# ---------------------------------------------------------------- the Django side (GRIP)

router = Router(tags=["messaging"])

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
        raise NotFound(NOT_FOUND)
    last_event_ids(request, channels)  # a bad id is a 400 here too
    request.user = user
    return events(request, channels=channels)


@router.get(
    "/events",
    auth=None,
    response=error_responses(400, 401),
    openapi_extra=_SSE_DOC,
    summary="The caller's inbox stream: message events of all their conversations",
)
def inbox_events(request: HttpRequest) -> HttpResponse:
    return django_stream(request, None)


@router.get(
    "/{conversation_id}/events",
    auth=None,
    response=error_responses(400, 401, 404),
    openapi_extra=_SSE_DOC,
    summary="A conversation's stream of message events (participants only)",
)
def conversation_events(request: HttpRequest, conversation_id: str) -> HttpResponse:
    return django_stream(request, conversation_id)
