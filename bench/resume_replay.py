"""Resume: reconnect with Last-Event-ID after missing K messages; how long the replay takes.

    .venv/bin/python bench/resume_replay.py    # K = 10, 100, 1000 on a conversation stream
    .venv/bin/python bench/resume_replay.py --missed 10 500 --inbox

What the shared harness does not cover: a client that drops (a phone going through a
tunnel, a tab put to sleep) and comes back with the id of the last event it saw. For each
K: open a stream (the conversation's, or the inbox with --inbox), receive one message,
close the stream, post K messages (another connection, one after another), reconnect
with `Last-Event-ID`, then post one more message live.

Printed per K: time from sending the reconnecting request to the first replayed event and
to the K-th, replayed events per second, server CPU for the reconnect (its one database
job: user, participation, the stored events), and checks: the K bodies in order, none
twice, none missing, and the live message after them. Server on CPU 0, this client on
CPU 1, a fresh database, bounded by --max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from liveserver import Stayhub, pin_self_to_cpu1
from loopback_http import Connection, EventStream, perf


async def one_round(server: Stayhub, path: str, users: list, conv: str, k: int, tag: str) -> dict:
    reader, writer = users[1], users[0]
    post = Connection(server.port)
    seen: list[tuple[str, str | None, float]] = []
    got = asyncio.Event()

    def on_event(event: str, event_id: str | None, data: str, now: float) -> None:
        if event == "message":
            seen.append((json.loads(data)["body"], event_id, now))
            got.set()

    async def until(n: int, within: float) -> None:
        deadline = perf() + within
        while len(seen) < n and perf() < deadline:
            got.clear()
            try:
                await asyncio.wait_for(got.wait(), max(0.01, deadline - perf()))
            except TimeoutError:
                break

    first = EventStream(server.port, path, reader["token"])
    await first.open(on_event)
    await asyncio.wait_for(first.opened.wait(), 10)
    messages = f"/api/chat/{conv}/messages"
    await post.request("POST", messages, writer["token"], {"body": f"{tag} seen"})
    await until(1, 5)
    last_id = seen[-1][1]
    first.close()
    seen.clear()
    for i in range(k):
        status, _ = await post.request("POST", messages, writer["token"], {"body": f"{tag} {i}"})
        assert status == 201, status
    await asyncio.sleep(0.2)  # let the server notice the first stream went away

    cpu0 = server.cpu()
    again = EventStream(server.port, path, reader["token"], last_event_id=last_id)
    t0 = perf()
    await again.open(on_event)
    await until(k, 30)
    replayed = list(seen)
    cpu = server.cpu() - cpu0
    await post.request("POST", messages, writer["token"], {"body": f"{tag} live"})
    await until(k + 1, 5)
    again.close()
    post.close()
    bodies = [body for body, _, _ in seen]
    return {
        "missed": k,
        "first_ms": round((replayed[0][2] - t0) * 1000, 2) if replayed else None,
        "all_ms": round((replayed[-1][2] - t0) * 1000, 2) if len(replayed) >= k else None,
        "events_per_s": round(k / (replayed[-1][2] - t0)) if len(replayed) >= k else None,
        "server_cpu_ms": round(cpu * 1000, 1),
        "in_order_complete": bodies[:k] == [f"{tag} {i}" for i in range(k)],
        "duplicates": len(bodies) - len(set(bodies)),
        "live_after": bodies[k:] == [f"{tag} live"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--missed", type=int, nargs="+", default=[10, 100, 1000])
    p.add_argument("--inbox", action="store_true", help="resume the inbox stream instead")
    p.add_argument("--max-seconds", type=float, default=110.0)
    p.add_argument("--json-out", help="also write the figures here as JSON")
    a = p.parse_args(argv)
    pin_self_to_cpu1()
    started = time.monotonic()
    with Stayhub() as server:
        seeded = server.seed(2, [(0, 1)])
        server.start()
        conv = seeded.conversations[0]["id"]
        path = "/api/chat/events" if a.inbox else f"/api/chat/{conv}/events"

        async def all_rounds() -> list[dict]:
            return [
                await one_round(server, path, seeded.users, conv, k, f"r{n}")
                for n, k in enumerate(a.missed)
            ]

        results = asyncio.run(asyncio.wait_for(all_rounds(), a.max_seconds))
    print(f"resume with Last-Event-ID on {'the inbox' if a.inbox else 'a conversation'} stream")
    columns = ("missed", 7), ("first ms", 9), ("all ms", 9), ("events/s", 9), ("srv cpu ms", 11)
    print(" ".join(f"{name:>{width}s}" for name, width in columns) + "  checks")
    ok = True
    for r in results:
        good = r["in_order_complete"] and not r["duplicates"] and r["live_after"]
        ok = ok and good
        print(
            f"{r['missed']:7d} {r['first_ms']!s:>9s} {r['all_ms']!s:>9s} {r['events_per_s']!s:>9s} "
            f"{r['server_cpu_ms']:11.1f}  "
            f"{'in order, none lost or twice, live after' if good else r}"
        )
    print(f"({time.monotonic() - started:.0f} s)")
    if a.json_out:
        with open(a.json_out, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
