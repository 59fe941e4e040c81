"""The live part of a stream: queued events written in id order, keep-alives, leaving."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django_eventstream.eventrequest import EventRequest
from django_eventstream.eventstream import EventPermissionError
from django_eventstream.utils import make_id, sse_encode_error, sse_encode_event
from django_eventstream.views import Listener, get_listener_manager

from messaging.realtime.channels import TYPING_EVENT, is_own_typing
from messaging.realtime.replay import read_page, reads

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


class Wakeup:
    """`asyncio.Event` for one waiter, the stream's live loop: what wakes a stream.

    An `asyncio.Event` keeps a deque of waiters (a 64-slot block even when empty) and
    `wait()` is a coroutine; a stream has exactly one waiter, so one future does. Per
    open stream that is most of a kilobyte less (bench/README.md).
    """

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[bool] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def clear(self) -> None:
        self._set = False

    def wait(self) -> asyncio.Future[bool]:
        """Done once `set()` was called (at once if it already was)."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        if self._set:
            waiter.set_result(True)
        return waiter


class StreamClock:
    """Keep-alives and token expiry of every stream of this worker, on ONE timer.

    Each tick (every second, or half the keep-alive interval when that is shorter)
    wakes the streams that are due: a keep-alive before `STREAM_KEEPALIVE_SECONDS`
    have passed without a write (`keep_alive_due`), the end once the token's expiry (epoch
    seconds in `expires_at`, set by `open_streams.add`) has passed. Two timers per
    stream were a kilobyte of each stream's memory; a tick over 10,000 streams is a
    few milliseconds.
    """

    def __init__(self) -> None:
        self.streams: set[Listener] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def add(self, listener: Listener) -> None:
        loop = asyncio.get_running_loop()
        listener.last_write = loop.time()
        listener.keep_alive_due = False
        self.streams.add(listener)
        if self.timer is None or self.loop is not loop:
            self.loop = loop
            self._arm()

    def discard(self, listener: Listener) -> None:
        self.streams.discard(listener)
        if not self.streams and self.timer is not None:
            self.timer.cancel()
            self.timer = None

    @staticmethod
    def period() -> float:
        return min(1.0, settings.STREAM_KEEPALIVE_SECONDS / 2)

    def _arm(self) -> None:
        assert self.loop is not None
        self.timer = self.loop.call_later(self.period(), self.tick)

    def tick(self) -> None:
        """Wake the streams that are due, and arm the next tick."""
        assert self.loop is not None
        now, wall = self.loop.time(), time.time()
        # Due now if the next tick would be past the interval: a keep-alive never
        # comes later than `STREAM_KEEPALIVE_SECONDS` after the last write (API.md).
        due_after = settings.STREAM_KEEPALIVE_SECONDS - self.period()
        for listener in self.streams:
            expires_at = getattr(listener, "expires_at", None)
            if expires_at is not None and wall >= expires_at:
                if getattr(listener, "end", None) is None:
                    listener.end = UNAUTHORIZED_END
                listener.aevent.set()
            elif now - listener.last_write > due_after:
                listener.keep_alive_due = True
                listener.aevent.set()
        self._arm()


clock = StreamClock()


def wrote(listener: Listener) -> None:
    """The stream just wrote: its next keep-alive is due an interval from now."""
    listener.keep_alive_due = False
    listener.last_write = asyncio.get_running_loop().time()


async def replay(send: Send, event_request: EventRequest, disconnected: asyncio.Future) -> bool:
    """Write what storage holds after `channel_last_ids`, a page at a time (`read_page`):
    the next page is read once the previous one was written, and not after the client left.
    Answers whether anything was written."""
    more, wrote = True, False
    while more and not disconnected.done():
        text, more = await reads.run(read_page, event_request)
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

    The stream waits on its listener's event alone: the client leaving, the worker's
    `clock` and `open_streams.end_stream` set it too. An event thus costs one future,
    and a waiting stream holds one task (the disconnect watch) and no timer. (A task,
    a timer and a set per event, alive until the stream's next event, were with
    hundreds of open streams most of what Python's cyclic GC had to sweep.)

    A stream told to end (`listener.end`) ends there: after `stream-error` /
    `unauthorized` when its credential is gone, silently when the fan-out broke (its
    client reconnects with `Last-Event-ID` and resumes from storage).
    """
    manager = get_listener_manager()
    if disconnected is None:
        disconnected = watch_disconnect(receive, listener)
    clock.add(listener)
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
                wrote(listener)
            if overflow or not complete or (idle_reads and listener.keep_alive_due and not text):
                try:
                    if await replay(send, event_request, disconnected):
                        wrote(listener)
                except EventPermissionError as exc:
                    error = {"condition": "forbidden", "text": str(exc)}
            if error:
                await write_body(send, sse_encode_error(error["condition"], error["text"]))
                return
            if listener.keep_alive_due:
                await write_body(send, KEEP_ALIVE)
                wrote(listener)
    finally:
        clock.discard(listener)
        disconnected.cancel()
