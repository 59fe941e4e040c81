"""This worker's open streams: how many each user holds, and ending them early.

A stream must not outlive what it was opened with (API.md, "The event streams"):
- its access token's expiry: `expires_at`, which the worker's stream clock
  (`messaging.realtime.live.StreamClock`) checks every second;
- its user deactivated or logged out (`core.tokens.tokens_revoke` moves the user's
  token generation on): `watch_users` re-reads each open stream's user every
  `STREAM_AUTH_CHECK_SECONDS`, a slice of the streams each second, one query per
  slice. The database is what every worker shares, so a logout through any worker
  ends the streams on all of them;
- the Redis fan-out breaking (`messaging.realtime.redis_listener`): every stream ends,
  so that its client resumes from storage instead of silently missing events.

A stream told to end is woken and its live loop (`messaging.realtime.live.pump`) ends
it: with `stream-error` / `unauthorized` for a credential, silently for the fan-out.
`STREAM_LIMIT` streams per user and worker: `has_room` says whether one more may open.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter

from django.conf import settings
from django_eventstream.views import Listener

from core.selectors import users_token_state
from messaging.realtime import redis_listener
from messaging.realtime.live import RECONNECT_END, UNAUTHORIZED_END, Wakeup
from messaging.realtime.replay import reads

logger = logging.getLogger(__name__)


_check_slots = itertools.count()


class StreamListener(Listener):
    """The library's listener, plus what this worker must know to end the stream early."""

    def __init__(self, user_id: str, generation: int, channels: set[str]) -> None:
        super().__init__()
        self.aevent = Wakeup()  # its one waiter is the stream's live loop
        self.user_id = user_id
        self.channels = channels
        self.generation = generation  # of the token it was opened with (core.tokens)
        self.end: str | None = None  # why it must end: UNAUTHORIZED_END or RECONNECT_END
        self.expires_at = float("inf")  # the token's expiry (epoch seconds)
        self.check_slot = next(_check_slots)  # when its user is re-read (`watch_users`)


# Event loop only (the one thread that opens and closes streams).
_open: set[StreamListener] = set()
_per_user: Counter[str] = Counter()
_tasks: dict[str, asyncio.Task] = {}


def registered() -> set[StreamListener]:
    return _open


def has_room(user_id: str) -> bool:
    return _per_user[user_id] < settings.STREAM_LIMIT


def add(listener: StreamListener, expires_at: float) -> None:
    """Count an opening stream in, and end it when its token expires (epoch seconds)."""
    _open.add(listener)
    _per_user[listener.user_id] += 1
    listener.expires_at = expires_at
    if "users" not in _tasks:
        _tasks["users"] = asyncio.get_running_loop().create_task(watch_users())


def remove(listener: StreamListener) -> None:
    if listener in _open:
        _open.discard(listener)
        _per_user[listener.user_id] -= 1
        if not _per_user[listener.user_id]:
            del _per_user[listener.user_id]


def end_stream(listener: StreamListener, why: str) -> None:
    """Make a stream end at its next wake-up, which this asks for (from any thread)."""
    if listener.end is None:
        listener.end = why
    listener.wake_threadsafe()


def end_all(reason: str) -> None:
    """The fan-out broke: every open stream ends, its client resumes from storage."""
    for listener in list(_open):
        end_stream(listener, RECONNECT_END)


redis_listener.on_lost(end_all)


async def watch_users() -> None:
    """Each stream's user re-read every `STREAM_AUTH_CHECK_SECONDS`, a slice at a time.

    The interval is cut into ticks of about a second; each tick re-reads the users of
    the streams whose turn it is (`check_slot`). One pass over every stream's user at
    once held this process for ~9 ms with 500 streams, and the messages sent meanwhile
    were the latency tail (bench/README.md); slices spread the same reads out.
    """
    tick = 0
    while True:
        slices = max(1, round(settings.STREAM_AUTH_CHECK_SECONDS))
        await asyncio.sleep(settings.STREAM_AUTH_CHECK_SECONDS / slices)
        tick += 1
        due = [listener for listener in _open if listener.check_slot % slices == tick % slices]
        if due:
            await check_users_once(due)


async def check_users_once(listeners: list[StreamListener] | None = None) -> None:
    """End the streams (`listeners`, else all open ones) of users deactivated or logged out.

    Judges the streams open when it starts only: one opened while the users are read
    is not in what was read (ending it as if its user were gone cut 2 of 500 streams
    in the soak, 17 on a loaded machine).
    """
    checked = list(_open) if listeners is None else listeners
    try:
        state = await reads.run(users_token_state, {listener.user_id for listener in checked})
    except Exception:  # the database is down: the streams go on, checked next time
        logger.warning("could not re-check the open streams' users", exc_info=True)
        return
    for listener in checked:
        active, generation = state.get(listener.user_id, (False, 0))
        if not active or listener.generation < generation:
            end_stream(listener, UNAUTHORIZED_END)
