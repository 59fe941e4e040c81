"""Python's cyclic garbage collector, run between requests rather than in the middle of one.

With the default thresholds a collection runs every few requests, inside one, so that
request's live objects are promoted and swept again later in longer pauses that make
the latency tail. So the server collects when it is idle: the request handler and the
opening of a stream run inside `answering()`, and when the last request in progress has
been answered, `collect_when_idle` runs the collection the automatic collector would run
next, once `IDLE_YOUNG` objects have accumulated. The automatic collector stays on at
`THRESHOLDS` as a backstop for a server that is never idle.

A stream's objects live as long as it does, so once a stream has opened the next idle
collection takes the middle generation too (`stream_opened`): they reach the old
generation in one sweep between openings instead of in a later one among messages.
Figures: bench/README.md.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# A young collection between requests once this many objects have accumulated.
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
