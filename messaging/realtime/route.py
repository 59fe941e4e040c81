"""The two SSE endpoints, served by a plain ASGI route the server mounts in front of Django.

Why not a Django view: Django's ASGI handler gives each request a thread-sensitive
context whose one-thread executor lives as long as the response, i.e. one OS thread per
open stream. Here the database is touched in ONE short job on a request thread
(`messaging.realtime.replay.reads`) before the stream starts (user, membership, what
was missed), and after that the stream lives on the event loop alone
(`messaging.realtime.live`), until a gap makes it re-read storage.

Order of the opening steps, and why:
1. The credential and its signature are checked on the loop: a bad token costs no
   thread and no query (401).
2. The listener is registered BEFORE the job reads where to start, so a message
   committed meanwhile is either in the read or queued.
3. The job checks the user is active (401) and, through the channel manager the
   library's `get_events` asks, membership (404), then reads what was missed.
4. Only then does the response start, so 401/404 are real statuses, not the library's
   `200` + `stream-error`. (And only while the Redis fan-out is subscribed, else 503
   with `Retry-After`: a stream opened then would miss other workers' events.)
5. The first chunk is the padding, the missed events, then `stream-open` carrying the
   position the stream starts from as its `id:`, so a client dropped before any
   message resumes from there rather than from "now". After the replay, never before:
   an id ahead of what the client has would make it skip events. A long backlog is
   replayed a page at a time, each read once the previous one was written.
6. The stream lives until the client leaves or `messaging.realtime.open_streams` ends
   it: its token expired, its user was deactivated or logged out, the fan-out broke.
   One user holds at most `STREAM_LIMIT` streams per worker (429 with `Retry-After`).

The wire format is the library's (padding comment, `stream-open`, `keep-alive`, ids),
and so are the pieces reused (`EventRequest`, `get_events`, `Listener` and the listener
manager, the SSE encoders, `add_default_headers`). Under GRIP, Pushpin's requests (they
carry `Grip-Sig`) go on to Django, where `messaging.realtime.grip` answers them.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.core.signals import setting_changed
from django.urls import get_script_prefix, reverse
from django_eventstream.eventrequest import EventRequest
from django_eventstream.utils import add_default_headers, make_id
from django_eventstream.views import get_listener_manager
from gripcontrol import validate_sig

from core.api import api
from core.auth import request_token
from core.errors import ServiceError, error_response
from core.server import gc_tuning
from core.tokens import decode, generation
from messaging.realtime import open_streams, redis_listener
from messaging.realtime.channels import stream_channels
from messaging.realtime.grip import CONVERSATION_STREAM, INBOX_STREAM
from messaging.realtime.live import pump, replay, watch_disconnect, write_body
from messaging.realtime.replay import open_stream, reads
from messaging.realtime.request import conversation_from_path, last_event_ids

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# The start of the first chunk: a padding comment that pushes old proxies and browsers
# to flush (clients such as the bench count a stream ready on its first bytes).
PADDING = ":" + " " * 2048 + "\n\n"
# Seconds a client is told to wait when refused for STREAM_LIMIT or a fan-out outage.
RETRY_AFTER = 2


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


async def send_error(send: Send, status: int, detail: str, retry_after: int | None = None) -> None:
    """The API's error answer (`core.errors.error_response`), sent over ASGI."""
    response = error_response(status, detail)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    response["Content-Length"] = str(len(response.content))
    headers = _headers(dict(response.items()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


async def serve_stream(scope: Scope, receive: Receive, send: Send, segment: str | None) -> None:
    request = ASGIRequest(scope, io.BytesIO())
    try:
        request.get_host()  # ALLOWED_HOSTS, as Django would check it
        claims = decode(request_token(request), "access")
        # Only these three are kept: the claims dict would live as long as the stream.
        user_id, token_generation, expires_at = (
            str(claims["sub"]),
            generation(claims),
            float(claims["exp"]),
        )
        del claims
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

    if not open_streams.has_room(user_id):
        await send_error(
            send, 429, "Too many open streams for this user; close one first.", RETRY_AFTER
        )
        return

    redis_listener.start()
    listener = open_streams.StreamListener(user_id, token_generation, event_request.channels)
    listener.assign_loop()
    manager = get_listener_manager()
    manager.add_listener(listener)
    open_streams.add(listener, expires_at=expires_at)
    disconnected = watch_disconnect(receive, listener)

    def release() -> None:
        """Forget the stream, once (before a refusal is sent, or when it ends)."""
        if listener in open_streams.registered():
            disconnected.cancel()
            open_streams.remove(listener)
            manager.remove_listener(listener)

    try:
        if not redis_listener.is_live():
            # Registered first, checked after: a loss from now on ends this stream too.
            release()
            await send_error(
                send, 503, "Live delivery is unavailable; retry in a moment.", RETRY_AFTER
            )
            return
        with gc_tuning.answering():  # a request being answered until the stream is open
            try:
                first, more = await reads.run(open_stream, request, event_request)
            except ServiceError as exc:
                release()  # no listener left behind once the refusal is out
                await send_error(send, exc.status_code, exc.detail)
                return
            headers = {"Content-Type": "text/event-stream"}
            add_default_headers(headers, request=request)
            del request
            await send({"type": "http.response.start", "status": 200, "headers": _headers(headers)})
            if more:  # a long backlog: the rest page by page, then `stream-open`
                await write_body(send, PADDING + first)
                del first
                await replay(send, event_request, disconnected)
                await write_body(send, stream_open(event_request.channel_last_ids))
            else:
                await write_body(
                    send, PADDING + first + stream_open(event_request.channel_last_ids)
                )
                del first
            gc_tuning.stream_opened()
        await pump(send, receive, listener, event_request, disconnected)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        release()


def build_stream_path() -> re.Pattern[str]:
    """The stream paths as the URLconf routes them (by name), with or without the slash."""
    prefix = get_script_prefix()

    def path_of(name: str, **kwargs: str) -> str:
        return "/" + reverse(f"{api.urls_namespace}:{name}", kwargs=kwargs).removeprefix(prefix)

    marker = "00000000-0000-0000-0000-000000000000"
    inbox = path_of(INBOX_STREAM)
    before, after = path_of(CONVERSATION_STREAM, conversation_id=marker).split(marker)
    conversation = f"{re.escape(before)}(?P<conversation>[^/]+){re.escape(after)}"
    # Any number of trailing slashes: every spelling of a stream path is served here,
    # none by Django's handler (where an endless response would hold a request thread).
    return re.compile(rf"^(?:{re.escape(inbox)}|{conversation})/*$")


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

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The stream itself (returned, not awaited here: no frame held per stream)."""
        match = stream_path().match(scope["path"])
        assert match is not None  # the server asked `handles` first
        return serve_stream(scope, receive, send, match["conversation"])

    async def startup(self) -> None:
        """Start the Redis fan-out at boot (run by the server's lifespan).

        The library would start its own subscriber with the first stream (so that
        stream's first events could be published before the subscription is live) and
        never restart it; `messaging.realtime.redis_listener` replaces it.
        """
        redis_listener.start()

    async def aclose(self) -> None:
        await redis_listener.stop()

    @staticmethod
    def _via_grip(scope: Scope) -> bool:
        """Pushpin's requests go to Django, where django-grip and the library answer them.

        Only a `Grip-Sig` signed with `GRIP_KEY` is Pushpin: any other is an ordinary
        client pretending, and is served here like any stream. (Without a key, allowed
        in DEBUG only, django-grip trusts any signature, and so does this.)
        """
        if not settings.GRIP_URL:
            return False
        signature = next((v for k, v in scope["headers"] if k == b"grip-sig"), None)
        if signature is None:
            return False
        if not settings.GRIP_KEY:
            return True
        return bool(validate_sig(signature.decode("latin-1"), settings.GRIP_KEY))


# What `SERVER_ROUTES` names.
stream_route = StreamRoute()
