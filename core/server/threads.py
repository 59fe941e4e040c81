"""The server's request threads: where all of a worker's synchronous work runs.

Django's database connections belong to threads. Every piece of sync work the server
does for a client (Django's handler answering a request, a stream's storage reads)
takes one of these threads, so that:

- at most `settings.REQUEST_THREADS` run at once in this process; the others wait on
  the event loop, holding no thread and no database connection. A worker thus never
  holds more than that many connections (docs/deploy.md sizes PostgreSQL by it);
- as many idle threads are kept, last in first out, each with its connection, which
  lives as `CONN_MAX_AGE` allows: a busy worker reuses warm threads and connections
  instead of connecting again for each request or each stream opened.

A thread still busy when its work ends (cancelled at shutdown, say) is not reused: it
finishes, closes its connections and exits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections

T = TypeVar("T")


class Slots:
    """A semaphore of `size()` slots, made on the event loop at first use, and made
    anew for another loop or another size (tests change both)."""

    def __init__(self, size: Callable[[], int]) -> None:
        self.size = size
        self._semaphore: asyncio.Semaphore | None = None
        self._made_for: tuple[asyncio.AbstractEventLoop, int] | None = None

    async def take(self) -> asyncio.Semaphore:
        """Wait for a slot; release it on what this returns."""
        made_for = (asyncio.get_running_loop(), self.size())
        if self._semaphore is None or self._made_for != made_for:
            self._semaphore, self._made_for = asyncio.Semaphore(made_for[1]), made_for
        semaphore = self._semaphore
        await semaphore.acquire()
        return semaphore


def _as_request(fn: Callable[..., T], *args: Any) -> T:
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()


class RequestThread(ThreadPoolExecutor):
    """One worker thread, and a count of the work handed to it and not yet done."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="django-request")
        self.pending = 0
        self._count_lock = threading.Lock()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        with self._count_lock:
            self.pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future) -> None:
        with self._count_lock:
            self.pending -= 1

    def retire(self) -> Future:
        """Finish what is queued, close this thread's connections, let the thread end."""
        closed = self.submit(connections.close_all)
        self.shutdown(wait=False)
        return closed


class RequestThreads:
    """The pool: a slot (one of `REQUEST_THREADS`), then an idle thread or a new one."""

    def __init__(self) -> None:
        self._idle: list[RequestThread] = []  # touched on the event loop only
        self._slots = Slots(lambda: settings.REQUEST_THREADS)

    async def take_slot(self) -> asyncio.Semaphore:
        """Wait for a slot; release it on what this returns."""
        return await self._slots.take()

    @asynccontextmanager
    async def thread(self) -> AsyncIterator[RequestThread]:
        """A thread for one piece of work, given back when the block ends.

        The caller took a slot first (`take_slot`) and releases it as soon as the
        thread's work is done: the thread itself may be kept longer (Django's handler
        closes a streaming response on it).
        """
        thread = self._idle.pop() if self._idle else RequestThread()
        try:
            # Django's own ThreadSensitiveContext outside gives way to this one.
            async with ThreadSensitiveContext(executor=thread):
                yield thread
        finally:
            self._give_back(thread)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on a request thread, within the bound, and its result.

        Around it, what Django does around a request (`request_started` and
        `request_finished`): connections past `CONN_MAX_AGE`, or broken, are closed.
        """
        slots = await self.take_slot()
        try:
            async with self.thread():
                return await sync_to_async(_as_request, thread_sensitive=True)(fn, *args)
        finally:
            slots.release()

    def _give_back(self, thread: RequestThread) -> None:
        if not thread._threads:  # never ran anything (the work ended first)
            thread.shutdown(wait=False)
        elif thread.pending or len(self._idle) >= settings.REQUEST_THREADS:
            thread.retire()
        else:
            self._idle.append(thread)  # last in, first out: warm threads first

    async def aclose(self) -> None:
        """At server shutdown: close the idle threads' database connections, and wait.

        A kept connection would otherwise outlive the server in this process (and
        keep, say, a PostgreSQL test database from being dropped).
        """
        closed = [asyncio.wrap_future(future) for future in self.retire_idle()]
        await asyncio.gather(*closed, return_exceptions=True)

    def retire_idle(self) -> list[Future]:
        """Retire the idle threads (`RequestThread.retire`); each future is done once
        that thread's connections are closed."""
        idle, self._idle = self._idle, []
        return [thread.retire() for thread in idle]


class Lane:
    """A kind of work that may hold at most a `share` of the request threads at once.

    It waits for its own slot first, then for one of the pool's, so a crowd of one kind
    (a thousand clients reopening their streams after a deploy) leaves the other
    threads to other work, and takes warm threads rather than making new ones.
    """

    def __init__(self, pool: RequestThreads, share: float) -> None:
        self.pool = pool
        self._slots = Slots(lambda: max(1, int(settings.REQUEST_THREADS * share)))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on a request thread, once this lane and the pool both have room."""
        slots = await self._slots.take()
        try:
            return await self.pool.run(fn, *args)
        finally:
            slots.release()


# The process's one pool.
request_threads = RequestThreads()
