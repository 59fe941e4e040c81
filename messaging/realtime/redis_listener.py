"""The Redis fan-out subscriber: one per worker process, that reconnects and says so.

With `REDIS_URL` set, every event is published on one Redis pub/sub channel and each
worker's subscriber hands it to that worker's open streams (django-eventstream's
listener manager, `add_to_queues`). This task replaces the library's
`RedisListener.listen`, which ends on the first connection error and is never
started again: after a 5-second Redis outage no live event reached any stream, on
any worker, until a restart, with nothing in the log and keep-alives still going.

What this one does instead:
- It subscribes, then reads with a bounded wait and PINGs when the connection has
  been quiet, so a stalled Redis (no error, no answer) is noticed within about two
  `REDIS_TIMEOUT`s, like a dropped one.
- On any failure it logs a warning, ENDS EVERY OPEN STREAM of this worker (events
  published while it was not subscribed would otherwise be missed silently; an
  ended stream reconnects with `Last-Event-ID` and gets them from storage), then
  reconnects with exponential backoff and jitter, and logs when it is back.
- While it is not subscribed, `is_live()` is false and the stream route answers
  503 with `Retry-After` instead of opening a stream that would miss events.

The wire format is the library's (`{"channel", "event_type", "data", "pub_id"}` on
`events_channel`), so the library's publisher and this subscriber agree.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django_eventstream.event import Event
from django_eventstream.views import get_listener_manager

logger = logging.getLogger(__name__)

CHANNEL = "events_channel"  # the library's publishing channel
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0

_state: dict[str, Any] = {"live": False, "task": None}
# Called with a reason when the fan-out breaks: ends this worker's open streams.
_on_lost: list[Callable[[str], None]] = []


def is_live() -> bool:
    """Whether events from every worker reach this one (always, without Redis)."""
    return not getattr(settings, "EVENTSTREAM_REDIS", None) or _state["live"]


def on_lost(callback: Callable[[str], None]) -> None:
    """Register what to do when the fan-out breaks (the stream route ends its streams)."""
    _on_lost.append(callback)


def lost(reason: str) -> None:
    """The fan-out broke (here, or a publish failed): end the streams that rely on it."""
    for callback in _on_lost:
        callback(reason)


def start() -> None:
    """Start the subscriber on the running loop, once per process (no-op without Redis).

    Also stops the library from starting its own (`redis_listener_started`).
    """
    manager = get_listener_manager()
    if manager.redis_listener is None or _state["task"] is not None:
        return
    with manager.lock:
        manager.redis_listener_started = True
    _state["task"] = asyncio.get_running_loop().create_task(_run(), name="redis-fanout")


async def stop() -> None:
    task, _state["task"] = _state["task"], None
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    _state["live"] = False


async def _run() -> None:
    from redis.asyncio import Redis

    options = dict(settings.EVENTSTREAM_REDIS)
    timeout = float(options.get("socket_timeout") or 2.0)
    backoff = BACKOFF_FIRST
    failures = 0
    while True:
        client = Redis(**options)
        pubsub = client.pubsub()
        try:
            await asyncio.wait_for(pubsub.subscribe(CHANNEL), timeout)
            _state["live"] = True
            if failures:
                logger.warning("Redis fan-out reconnected after %d attempt(s)", failures)
            failures, backoff = 0, BACKOFF_FIRST
            await _listen(pubsub, timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            was_live, _state["live"] = _state["live"], False
            failures += 1
            if was_live:
                logger.warning(
                    "Redis fan-out lost (%r): ending this worker's open streams "
                    "(clients resume from storage); reconnecting",
                    exc,
                )
                lost("fan-out lost")
            elif failures == 1:
                logger.warning("Redis fan-out unavailable (%r); retrying", exc)
            else:
                logger.debug("Redis fan-out attempt %d failed: %r", failures, exc)
        finally:
            _state["live"] = False
            await _close(pubsub, client)
        await asyncio.sleep(backoff * random.uniform(0.5, 1.0))  # noqa: S311 (jitter)
        backoff = min(backoff * 2, BACKOFF_MAX)


async def _listen(pubsub: Any, timeout: float) -> None:
    """Hand every published event to this worker's streams; raise when Redis stops answering.

    Quiet for `timeout`: a PING; no answer (the pong, or anything) within another
    `timeout`: the connection is stalled.
    """
    loop = asyncio.get_running_loop()
    manager = get_listener_manager()
    heard = loop.time()
    pinged = False
    while True:
        message = await pubsub.get_message(timeout=timeout)
        now = loop.time()
        if message is None:
            if now - heard >= 2 * timeout and pinged:
                raise TimeoutError(f"no answer from Redis for {now - heard:.1f} s")
            if not pinged:
                await asyncio.wait_for(pubsub.ping(), timeout)
                pinged = True
            continue
        heard, pinged = now, False
        if message.get("type") != "message":
            continue
        payload = json.loads(message["data"])
        event = Event(
            payload["channel"], payload["event_type"], payload["data"], id=payload["pub_id"]
        )
        manager.add_to_queues(event.channel, event)


async def _close(pubsub: Any, client: Any) -> None:
    """Drop the connections without waiting on a Redis that may not answer."""
    for close in (pubsub.aclose, client.aclose):
        try:
            await asyncio.wait_for(close(), 1.0)
        except Exception as exc:
            logger.debug("closing the Redis fan-out connection: %r", exc)
