"""messaging.realtime.live.pump on its own: events in id order, keep-alives, leaving, and no
task or timer made per event (what hundreds of open streams would pile up for the GC).

The real listener registry and a real event loop; the ASGI send/receive are two small
functions, so what the pump wrote is seen exactly.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django_eventstream.event import Event
from django_eventstream.eventrequest import EventRequest
from django_eventstream.views import Listener, get_listener_manager

from messaging.realtime import live
from messaging.realtime.live import KEEP_ALIVE, pump

CHANNEL = "conversation-pump-test"


class Client:
    """The stream's other end: what was written, and a way to leave."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(self, message: dict[str, Any]) -> None:
        self.written.append(message["body"].decode())

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    def leave(self) -> None:
        self.incoming.put_nowait({"type": "http.disconnect"})


async def open_pump(client: Client) -> tuple[asyncio.Task, Listener]:
    listener = Listener()
    listener.user_id = "someone"
    listener.channels = {CHANNEL}
    listener.assign_loop()
    get_listener_manager().add_listener(listener)
    event_request = EventRequest()
    event_request.channels = {CHANNEL}
    event_request.channel_last_ids = {CHANNEL: "0"}
    task = asyncio.ensure_future(pump(client.send, client.receive, listener, event_request))
    await asyncio.sleep(0)
    return task, listener


def publish(event_id: int) -> None:
    get_listener_manager().add_to_queues(
        CHANNEL, Event(CHANNEL, "message", f'{{"n": {event_id}}}', id=event_id)
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class CountingLoop(asyncio.SelectorEventLoop):
    """An event loop that counts the tasks and timers made on it."""

    tasks_made = timers_made = 0

    def create_task(self, coro: Any, **kwargs: Any) -> asyncio.Task:
        self.tasks_made += 1
        return super().create_task(coro, **kwargs)

    def call_at(self, when: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        self.timers_made += 1
        return super().call_at(when, callback, *args, **kwargs)


def test_events_are_written_in_order_and_each_makes_no_task_or_timer(settings: Any) -> None:
    settings.STREAM_KEEPALIVE_SECONDS = 20

    async def scenario() -> tuple[list[str], int, int]:
        client = Client()
        task, listener = await open_pump(client)
        loop: Any = asyncio.get_running_loop()
        publish(1)
        await settle()
        tasks, timers = loop.tasks_made, loop.timers_made
        for event_id in range(2, 41):
            publish(event_id)
            await settle()
        made = (loop.tasks_made - tasks, loop.timers_made - timers)
        client.leave()
        await asyncio.wait_for(task, 2)
        get_listener_manager().remove_listener(listener)
        return client.written, *made

    with asyncio.Runner(loop_factory=CountingLoop) as runner:
        written, tasks_made, timers_made = runner.run(scenario())
    ids = [line for chunk in written for line in chunk.splitlines() if line.startswith("id: ")]
    assert ids == [f"id: {CHANNEL}:{n}" for n in range(1, 41)]
    assert (tasks_made, timers_made) == (0, 0)


def test_a_keep_alive_follows_each_idle_interval_and_leaving_ends_the_pump(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.STREAM_KEEPALIVE_SECONDS = 0.05
    # Keep-alives alone: no storage behind this pump to look in when idle (that part
    # is proven end to end in tests/listings/test_stay_jobs.py).
    monkeypatch.setattr(live, "looks_in_storage_when_idle", lambda: False)

    async def scenario() -> tuple[list[str], float]:
        client = Client()
        task, listener = await open_pump(client)
        await asyncio.sleep(0.18)
        publish(1)
        await settle()
        client.leave()
        loop = asyncio.get_running_loop()
        left = loop.time()
        await asyncio.wait_for(task, 2)
        get_listener_manager().remove_listener(listener)
        return client.written, loop.time() - left

    written, ended_after = asyncio.run(scenario())
    assert written[:3] == [KEEP_ALIVE] * 3
    assert "id: " in written[-1]
    assert ended_after < 0.5


def test_the_clock_sends_a_keep_alive_at_the_last_tick_before_the_interval(
    settings: Any,
) -> None:
    """The worker's clock ticks every half interval: a stream whose interval would be
    over before the next tick gets its keep-alive now, not a tick late (API.md: at
    least every 20 seconds); one written to recently does not."""
    settings.STREAM_KEEPALIVE_SECONDS = 1.0  # a tick every 0.5 s

    async def scenario() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        clock = live.StreamClock()
        late, recent = Listener(), Listener()
        for listener in (late, recent):
            listener.assign_loop()
            clock.add(listener)
        late.last_write = loop.time() - 0.7  # the next tick would come 1.2 s after it
        recent.last_write = loop.time() - 0.3
        clock.tick()
        for listener in (late, recent):
            clock.discard(listener)
        return late.keep_alive_due, recent.keep_alive_due

    assert asyncio.run(scenario()) == (True, False)
