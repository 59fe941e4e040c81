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

So the server collects when it is idle: `core.asgi_handler` calls `collect_when_idle`
whenever its last request in flight has been answered, and that runs the collection
the automatic collector would run next (same generations, same counts), once
`IDLE_YOUNG` objects have accumulated. No request is then waiting on it, and its
objects are garbage by then instead of being promoted. The automatic collector stays
on as a backstop at `THRESHOLDS` (a server busy without a pause still collects), with
a young threshold high enough that it does not fire first when there are idle moments.
"""

from __future__ import annotations

import gc

# A young collection between requests once this many objects have accumulated (the
# threshold measured before, now run where it costs no request anything).
IDLE_YOUNG = 7000
# The automatic collector, for a server that never has an idle moment.
THRESHOLDS = (5 * IDLE_YOUNG, 2, 100)


def configure() -> None:
    gc.set_threshold(*THRESHOLDS)


def collect_when_idle() -> int | None:
    """Run the due collection, if any; the generation collected, else None.

    Generation choice as CPython's own: the oldest generation whose count is past
    its threshold (the middle one counts young collections, the old one counts
    middle ones).
    """
    young, middle, old = gc.get_count()
    if young < IDLE_YOUNG:
        return None
    _, middle_threshold, old_threshold = gc.get_threshold()
    if old > old_threshold:
        generation = 2
    elif middle > middle_threshold:
        generation = 1
    else:
        generation = 0
    gc.collect(generation)
    return generation
