"""Python's cyclic garbage collector, run between requests rather than in the middle of one.

With the default thresholds (700, 10, 10) a young collection runs every few requests,
always in the middle of one, so that request's objects (request, users, querysets, the
futures of the streams it wakes) are promoted while still alive and only die in an
older generation. Measured with 500 open streams at 100 messages a second
(bench/README.md): a full collection every ~7 s, each a 50-120 ms pause during which
nothing is served, which made most of the latency tail (p99 ~100 ms).

Raising the thresholds to (7000, 2, 100) made the pauses rarer (p99 29 -> 10 ms), but
each young collection was still a 2-3 ms pause inside whichever request allocated the
7000th object: traced per message at 100 messages a second, half of the slowest 2% of
messages had a collection inside them.

So the server collects when it is idle: the ASGI handler and the opening of a stream
(`core.server.handler`, `messaging.realtime.route`) each run inside `answering()`, and when the
last request in progress has been answered, `collect_when_idle` runs the collection
the automatic collector would run next (same generations, same counts), once
`IDLE_YOUNG` objects have accumulated. No request is then waiting on it, and its
objects are garbage by then instead of being promoted. The automatic collector stays
on as a backstop at `THRESHOLDS` (a server busy without a pause still collects), with
a young threshold high enough that it does not fire first when there are idle moments.

Streams count while they open: each one's objects (its task, listener, timer, buffers)
live as long as it does, and every living object is swept by a young and then by a
middle collection before it rests in the old generation. Not counted, the first
collections after a burst of openings (500 streams: tens of thousands of objects) came
inside the messages that followed, measured as pauses of 25-108 ms there
(bench/README.md). Counted, they run between the openings; and a collection due after
a stream has opened takes the middle generation too, so that the streams' objects go
to the old generation in one sweep instead of waiting in the middle one for a
collection that would come later, among messages.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# A young collection between requests once this many objects have accumulated (the
# threshold measured before, now run where it costs no request anything).
IDLE_YOUNG = 7000
# The automatic collector, for a server that never has an idle moment.
THRESHOLDS = (5 * IDLE_YOUNG, 2, 100)


# Requests being answered, and whether a stream has opened since the last collection
# (event loop only, so plain values).
_answering = 0
_stream_opened = False


def configure() -> None:
    gc.set_threshold(*THRESHOLDS)


@contextmanager
def answering() -> Iterator[None]:
    """Around one request's handling: when the last in progress ends, collect if due."""
    global _answering
    _answering += 1
    try:
        yield
    finally:
        _answering -= 1
        if not _answering:  # answered, and nobody else is waiting
            collect_when_idle()


def stream_opened() -> None:
    """A stream is open, and its objects live on: the next collection takes the middle
    generation too (module docstring)."""
    global _stream_opened
    _stream_opened = True


def collect_when_idle() -> int | None:
    """Run the due collection, if any; the generation collected, else None.

    Generation choice as CPython's own: the oldest generation whose count is past
    its threshold (the middle one counts young collections, the old one counts
    middle ones); at least the middle one once a stream has opened (module docstring).
    """
    global _stream_opened
    young, middle, old = gc.get_count()
    if young < IDLE_YOUNG:
        return None
    _, middle_threshold, old_threshold = gc.get_threshold()
    if old > old_threshold:
        generation = 2
    elif middle > middle_threshold or _stream_opened:
        generation = 1
    else:
        generation = 0
    _stream_opened = False
    gc.collect(generation)
    return generation
