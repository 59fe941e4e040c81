"""The live part of a stream: queued events written in id order, keep-alives, leaving."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django_eventstream.eventrequest import EventRequest
from django_eventstream.eventstream import EventPermissionError
from django_eventstream.utils import make_id, sse_encode_error, sse_encode_event
from django_eventstream.views import Listener, get_listener_manager

from messaging.realtime.channels import TYPING_EVENT, is_own_typing
from messaging.realtime.replay import reread_page

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

KEEP_ALIVE = "event: keep-alive\ndata:\n\n"
# Why a stream must end early (`listener.end`, see `messaging.realtime.open_streams`).
UNAUTHORIZED_END = "unauthorized"
RECONNECT_END = "reconnect"
# The end of a stream whose credential expired or was revoked (API.md).
UNAUTHORIZED = 'event: stream-error\ndata: {"condition": "unauthorized"}\n\n'


def looks_in_storage_when_idle() -> bool:
    """Whether an idle stream reads storage when its keep-alive is due.

    Without Redis, events stored by another process (the background worker: a stay's
    expiry, its check-in details) wake no listener in this one: an idle stream then
    looks in storage once per keep-alive interval, so such an event arrives within
    that interval instead of with the conversation's next message. With Redis the
    worker's events are published to every process like any other.
    """
    return not getattr(settings, "EVENTSTREAM_REDIS", None)


def take_in_order(
    queued: dict[str, list[Any]], last_ids: dict[str, str], user_id: Any = None
) -> tuple[str, bool]:
    """SSE text for the queued events that follow on from `last_ids`, and whether none is missing.

    Events without an id (`typing`, never stored) are written as they come, without an
    `id:` line, except the stream's own user's (`user_id`).

    Ids are dense per channel (see `messaging.realtime.publish`), so an id past `last + 1` means an
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
                if item.type == TYPING_EVENT:
                    if not is_own_typing(item, user_id):
                        parts.append(sse_encode_event(item.type, item.data))
                    continue
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


async def write_body(send: Send, text: str) -> None:
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


async def replay(send: Send, event_request: EventRequest, disconnected: asyncio.Future) -> bool:
    """Write what storage holds after `channel_last_ids`, a page at a time (`read_page`):
    the next page is read once the previous one was written, and not after the client left.
    Answers whether anything was written."""
    more, wrote = True, False
    while more and not disconnected.done():
        text, more = await sync_to_async(reread_page, thread_sensitive=False)(event_request)
        if text:
            await write_body(send, text)
            wrote = True
    return wrote


def watch_disconnect(receive: Receive, listener: Listener) -> asyncio.Future:
    """A task done when the client leaves; it wakes the listener then."""
    disconnected = asyncio.ensure_future(_until_disconnect(receive))
    disconnected.add_done_callback(lambda _: listener.aevent.set())
    return disconnected


async def pump(
    send: Send,
    receive: Receive,
    listener: Listener,
    event_request: EventRequest,
    disconnected: asyncio.Future | None = None,
) -> None:
    """Write live events until the client leaves or the stream must end; keep-alives when idle.

    The stream waits on its listener's event alone: the client leaving, the keep-alive
    timer and `open_streams.end_stream` set it too. An event thus costs one future, and
    a waiting stream holds one task (the disconnect watch) and one timer. (A task, a
    timer and a set per event, alive until the stream's next event, were with hundreds
    of open streams most of what Python's cyclic GC had to sweep.)

    A stream told to end (`listener.end`) ends there: after `stream-error` /
    `unauthorized` when its credential is gone, silently when the fan-out broke (its
    client reconnects with `Last-Event-ID` and resumes from storage).
    """
    manager = get_listener_manager()
    if disconnected is None:
        disconnected = watch_disconnect(receive, listener)
    keep_alive = KeepAlive(listener, settings.STREAM_KEEPALIVE_SECONDS)
    idle_reads = looks_in_storage_when_idle()
    try:
        while True:
            await listener.aevent.wait()
            if disconnected.done():
                return
            end = getattr(listener, "end", None)
            if end == UNAUTHORIZED_END:
                await write_body(send, UNAUTHORIZED)
                return
            if end is not None:
                return
            with manager.lock:
                queued, overflow, error = (
                    listener.channel_items,
                    listener.overflow,
                    listener.error,
                )
                listener.channel_items, listener.overflow = {}, False
                listener.aevent.clear()
            text, complete = take_in_order(queued, event_request.channel_last_ids, listener.user_id)
            if text:
                await write_body(send, text)
                keep_alive.wrote()
            if overflow or not complete or (idle_reads and keep_alive.due and not text):
                try:
                    if await replay(send, event_request, disconnected):
                        keep_alive.wrote()
                except EventPermissionError as exc:
                    error = {"condition": "forbidden", "text": str(exc)}
            if error:
                await write_body(send, sse_encode_error(error["condition"], error["text"]))
                return
            if keep_alive.due:
                await write_body(send, KEEP_ALIVE)
                keep_alive.wrote()
    finally:
        keep_alive.cancel()
        disconnected.cancel()
