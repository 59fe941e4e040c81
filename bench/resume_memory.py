"""Memory of a resume: 10 clients resume at once from id 0 of a 4,000-message conversation.

    .venv/bin/python bench/resume_memory.py                 # 4000 messages, 10 resumes
    .venv/bin/python bench/resume_memory.py --messages 1000 --resumes 20

A client that comes back after a long absence (or a client that sends `Last-Event-ID`
with id 0 on purpose) asks for the conversation's whole stored history. The stream
replays it in bounded pages (messaging's stream route reads the next page only once
the previous one was written), so what the server holds per resume does not grow with
the backlog. Printed: the server's RSS before, its peak while the resumes run (sampled
every 10 ms from /proc), and after they end; the growth against the 50 MiB budget; and
checks that every resume got every message once, in order. Server on CPU 0, this
client on CPU 1, a fresh database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable

from liveserver import Stayhub, pin_self_to_cpu1, rss_kib
from loopback_http import Connection, EventStream, perf

BUDGET_MIB = 50
BODY = "A message of some length, as people write them when they explain something. " * 6


async def fill(server: Stayhub, conv: str, token: str, count: int, connections: int = 4) -> None:
    """Post `count` messages over a few keep-alive connections."""
    path = f"/api/chat/{conv}/messages"
    todo = iter(range(count))

    async def worker() -> None:
        conn = Connection(server.port)
        for i in todo:
            status, _ = await conn.request("POST", path, token, {"body": f"{i:05d} {BODY}"})
            assert status == 201, status
        conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


async def resume_all(server: Stayhub, conv: str, token: str, count: int, resumes: int) -> dict:
    """`resumes` streams from id 0 at once; RSS sampled until each has `count` messages."""
    path = f"/api/chat/{conv}/events"
    got: list[list[str]] = [[] for _ in range(resumes)]
    done = asyncio.Event()

    def collector(n: int) -> Callable[[str, str | None, str, float], None]:
        def on_event(event: str, event_id: str | None, data: str, now: float) -> None:
            if event == "message":
                got[n].append(json.loads(data)["body"][:5])
                if all(len(g) >= count for g in got):
                    done.set()

        return on_event

    before = rss_kib(server.pid)
    peak = before
    streams = [
        EventStream(server.port, path, token, last_event_id=f"conversation-{conv}:0")
        for _ in range(resumes)
    ]
    t0 = perf()
    await asyncio.gather(*(s.open(collector(n)) for n, s in enumerate(streams)))
    while not done.is_set() and perf() - t0 < 120:
        peak = max(peak, rss_kib(server.pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 0.01)
    seconds = perf() - t0
    peak = max(peak, rss_kib(server.pid))
    for s in streams:
        s.close()
    await asyncio.sleep(1.0)
    after = rss_kib(server.pid)
    # Posted over several connections: the stored order is not the numbering, but every
    # resume must get every message, in the same (stored) order.
    expected = {f"{i:05d}" for i in range(count)}
    return {
        "before_kib": before,
        "peak_kib": peak,
        "after_kib": after,
        "seconds": round(seconds, 2),
        "complete": all(len(g) == count and set(g) == expected and g == got[0] for g in got),
        "duplicates": sum(len(g) - len(set(g)) for g in got),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--messages", type=int, default=4000)
    p.add_argument("--resumes", type=int, default=10)
    p.add_argument("--json-out", help="also write the figures here as JSON")
    a = p.parse_args(argv)
    pin_self_to_cpu1()
    started = time.monotonic()
    with Stayhub() as server:
        seeded = server.seed(2, [(0, 1)])
        server.start()
        conv = seeded.conversations[0]["id"]
        writer, reader = seeded.users[0]["token"], seeded.users[1]["token"]

        async def run() -> dict:
            await fill(server, conv, writer, a.messages)
            # warm up: one small resume, so that imports and pools are not counted
            await resume_all(server, conv, reader, a.messages, 1)
            return await resume_all(server, conv, reader, a.messages, a.resumes)

        r = asyncio.run(run())
    mib = lambda kib: kib / 1024  # noqa: E731
    growth = mib(r["peak_kib"] - r["before_kib"])
    print(f"{a.resumes} resumes at once from id 0 of a {a.messages}-message conversation")
    print(
        f"RSS before {mib(r['before_kib']):.1f} MiB, peak {mib(r['peak_kib']):.1f} MiB, "
        f"after {mib(r['after_kib']):.1f} MiB; growth at peak {growth:.1f} MiB "
        f"(budget {BUDGET_MIB}), held after {mib(r['after_kib'] - r['before_kib']):.1f} MiB"
    )
    print(
        f"all replayed in {r['seconds']} s; every message once and in order: "
        f"{r['complete'] and not r['duplicates']}  ({time.monotonic() - started:.0f} s in all)"
    )
    if a.json_out:
        with open(a.json_out, "w") as fh:
            json.dump(r, fh, indent=1)
    return 0 if r["complete"] and not r["duplicates"] and growth < BUDGET_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
