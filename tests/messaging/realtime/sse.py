"""A real SSE client for tests: httpx + httpx-sse on a background event loop.

Each stream is a task on one loop thread that puts every event into a queue, so a
test reads with bounded timeouts and can close a stream at any moment (cancelling the
task closes the socket, which the server sees as a disconnect).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent


@dataclass
class Stream:
    url: str
    status: int | None = None
    headers: httpx.Headers | None = None
    body: bytes = b""
    events: queue.Queue = field(default_factory=queue.Queue)
    opened: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    task: Future | None = None
    # `stream-open` as `StreamClient.open` saw it; its id is where the stream started.
    opening: ServerSentEvent | None = None
    # Events read before `stream-open` (a resume's replay), handed out first.
    replayed: deque = field(default_factory=deque)
    # (time.monotonic() on arrival, event) for every event read, in order.
    arrivals: list = field(default_factory=list)

    def next_event(self, timeout: float = 5.0) -> ServerSentEvent:
        if self.replayed:
            return self.replayed.popleft()
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout} s on {self.url}") from None

    def messages(self, count: int, timeout: float = 5.0) -> list[ServerSentEvent]:
        """The next `count` `message` events (other event types are skipped)."""
        deadline = time.monotonic() + timeout
        out: list[ServerSentEvent] = []
        while len(out) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(out)} of {count} messages within {timeout} s")
            event = self.next_event(left)
            if event.event == "message":
                out.append(event)
        return out

    def no_message(self, within: float) -> None:
        """Assert no `message` event arrives within `within` seconds."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.replayed.popleft() if self.replayed else self.events.get(timeout=left)
            except queue.Empty:
                return
            assert event.event != "message", f"unexpected message {event.data}"


class StreamClient:
    """Opens streams on a loop thread of its own; `close_all()` before the server stops."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.streams: list[Stream] = []

    def start(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Stream:
        """Send the request and return as soon as the status line and headers are in."""
        stream = Stream(url=url)
        stream.task = asyncio.run_coroutine_threadsafe(
            self._read(stream, headers or {}, params), self.loop
        )
        self.streams.append(stream)
        if not stream.opened.wait(timeout):
            raise AssertionError(f"{url} did not answer within {timeout} s")
        if stream.error is not None:
            raise AssertionError(f"{url}: {stream.error!r}")
        return stream

    def open(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Stream:
        """Open a stream and wait for its `stream-open`, or its error answer.

        A resume's replay comes before `stream-open` (after it under GRIP, where the
        library writes it first): those events stay in `replayed`, read first.
        """
        stream = self.start(url, headers, params, timeout)
        if stream.status == 200:
            deadline = time.monotonic() + timeout
            while stream.opening is None:
                try:
                    event = stream.events.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise AssertionError(f"no stream-open within {timeout} s on {url}") from None
                if event.event == "stream-open":
                    stream.opening = event
                else:
                    assert event.event in ("message", "read", "stream-reset"), event
                    stream.replayed.append(event)
        return stream

    async def _read(self, stream: Stream, headers: dict[str, str], params: Any) -> None:
        try:
            timeout = httpx.Timeout(10.0, read=None)
            async with (
                httpx.AsyncClient(timeout=timeout) as client,
                client.stream("GET", stream.url, headers=headers, params=params) as response,
            ):
                stream.status, stream.headers = response.status_code, response.headers
                if response.status_code != 200:
                    stream.body = await response.aread()
                    stream.opened.set()
                    return
                stream.opened.set()
                async for event in EventSource(response).aiter_sse():
                    stream.arrivals.append((time.monotonic(), event))
                    stream.events.put(event)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            stream.error = exc
        finally:
            stream.opened.set()
            stream.ended.set()

    def close(self, stream: Stream, timeout: float = 5.0) -> None:
        if stream.task is not None:
            stream.task.cancel()
            if not stream.ended.wait(timeout):
                raise AssertionError(f"{stream.url} did not close within {timeout} s")

    def close_all(self) -> None:
        for stream in self.streams:
            self.close(stream)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def stream_client() -> Iterator[StreamClient]:
    client = StreamClient()
    try:
        yield client
    finally:
        client.close_all()
