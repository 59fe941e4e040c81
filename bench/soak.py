"""Soak: 500 open streams, 100 messages a second, 5 minutes, one worker.

    .venv/bin/python bench/soak.py                          # the figures in bench/README.md
    .venv/bin/python bench/soak.py --streams 100 --rate 20 --seconds 60   # a quick look

250 conversations, each with its two participants holding their conversation stream
(500 streams). Messages are sent open-loop at `--rate` a second in all, round-robin
over conversations with alternating senders, over a few keep-alive connections, and
each is timed from the moment it is sent to its arrival on the other participant's
stream. At the end every stream must have every message of its conversation, once
(nothing lost), the server's RSS must not have grown by more than 5% after the first
minute (sampled every 5 s), and once the clients have left, the server's open sockets
and threads must be back where they were before the streams opened (no stream left
behind). Server on CPU 0, this client on CPU 1, a fresh SQLite database in /dev/shm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import Callable

from liveserver import Stayhub, percentile, pin_self_to_cpu1, rss_kib, threads
from loopback_http import Connection, EventStream, perf

RSS_GROWTH_BUDGET = 0.05
SENDERS = 8


def sockets(pid: int) -> int:
    """The server's open sockets (listening one included), from /proc/<pid>/fd."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


async def soak(server: Stayhub, seeded: object, a: argparse.Namespace) -> dict:
    users, convs = seeded.users, seeded.conversations  # type: ignore[attr-defined]
    sent_at: dict[str, float] = {}
    received: dict[tuple[int, str], int] = {}  # (stream index, body) -> times seen
    latencies: list[float] = []

    def collector(n: int) -> Callable[[str, str | None, str, float], None]:
        def on_event(event: str, event_id: str | None, data: str, now: float) -> None:
            if event != "message":
                return
            body = json.loads(data)["body"]
            key = (n, body)
            received[key] = received.get(key, 0) + 1
            if received[key] == 1 and body in sent_at and n % 2 != int(body.split()[2]) % 2:
                latencies.append(now - sent_at[body])  # the other participant's stream

        return on_event

    base = {"sockets": sockets(server.pid), "threads": threads(server.pid)}
    streams: list[EventStream] = []
    for c in convs:
        for who in c["users"]:
            stream = EventStream(server.port, f"/api/chat/{c['id']}/events", users[who]["token"])
            await stream.open(collector(len(streams)))
            streams.append(stream)
    await asyncio.gather(*(asyncio.wait_for(s.opened.wait(), 30) for s in streams))
    opened = {"sockets": sockets(server.pid), "threads": threads(server.pid)}

    rss: list[tuple[float, int]] = []
    total = int(a.rate * a.seconds)
    queue: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()
    failed: list[int] = []

    async def sender() -> None:
        conn = Connection(server.port)
        while (item := await queue.get()) is not None:
            n, body = item
            c = convs[n % len(convs)]
            who = c["users"][(n // len(convs)) % 2]
            sent_at[body] = perf()
            status, _ = await conn.request(
                "POST", f"/api/chat/{c['id']}/messages", users[who]["token"], {"body": body}
            )
            if status != 201:
                failed.append(status)
        conn.close()

    workers = [asyncio.ensure_future(sender()) for _ in range(SENDERS)]
    t0 = perf()
    next_sample = t0
    for n in range(total):
        due = t0 + n / a.rate
        while (now := perf()) < due:
            if now >= next_sample:
                rss.append((now - t0, rss_kib(server.pid)))
                next_sample += 5
            await asyncio.sleep(min(due - now, 0.05))
        c_index = n % len(convs)
        sender_side = (n // len(convs)) % 2
        # "soak <n> <side>": which participant sent it, to time the other side's arrival
        queue.put_nowait((n, f"soak {n} {sender_side} c{c_index}"))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    sending_seconds = perf() - t0
    await asyncio.sleep(3.0)  # the last deliveries
    rss.append((perf() - t0, rss_kib(server.pid)))

    lost = twice = 0
    for n in range(total):
        c_index = n % len(convs)
        body = f"soak {n} {(n // len(convs)) % 2} c{c_index}"
        for s in (2 * c_index, 2 * c_index + 1):
            seen = received.get((s, body), 0)
            lost += seen == 0
            twice += seen > 1

    # Streams the server ended before the clients left, and why (their stream-error).
    ended = [
        {"stream": n, "after_s": round(st.ended_at - t0, 1), "why": st.error}
        for n, st in enumerate(streams)
        if st.ended_at is not None
    ]
    for s in streams:
        s.close()
    deadline = perf() + 15
    while perf() < deadline and sockets(server.pid) > base["sockets"]:
        await asyncio.sleep(0.2)
    left = {"sockets": sockets(server.pid), "threads": threads(server.pid)}

    after_minute = [kib for t, kib in rss if t >= 60] or [rss[-1][1]]
    return {
        "streams": len(streams),
        "messages": total,
        "sending_seconds": round(sending_seconds, 1),
        "failed_posts": len(failed),
        "failed_statuses": sorted(set(failed)),
        "ended_by_server": ended,
        "deliveries_expected": 2 * total,
        "lost": lost,
        "duplicates": twice,
        "latency_ms": {
            "p50": round(percentile(latencies, 50) * 1000, 2) if latencies else None,
            "p99": round(percentile(latencies, 99) * 1000, 2) if latencies else None,
            "max": round(max(latencies) * 1000, 2) if latencies else None,
        },
        "rss_mib": [(round(t), round(kib / 1024, 1)) for t, kib in rss],
        "rss_growth_after_first_minute": round((rss[-1][1] - after_minute[0]) / after_minute[0], 4),
        "before": base,
        "open": opened,
        "after_close": left,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--streams", type=int, default=500, help="an even number")
    p.add_argument("--rate", type=float, default=100.0, help="messages a second, in all")
    p.add_argument("--seconds", type=float, default=300.0)
    p.add_argument("--json-out", help="also write the figures here as JSON")
    p.add_argument("--keep-log", help="copy the server's log (uvicorn, warnings and errors) here")
    a = p.parse_args(argv)
    pin_self_to_cpu1()
    started = time.monotonic()
    pairs = [(2 * i, 2 * i + 1) for i in range(a.streams // 2)]
    with Stayhub(extra_env={"STREAM_LIMIT": "1000"}) as server:
        seeded = server.seed(a.streams, pairs)
        server.start()
        r = asyncio.run(soak(server, seeded, a))
        if a.keep_log:
            shutil.copyfile(server.log, a.keep_log)
    growth = r["rss_growth_after_first_minute"]
    ok = (
        not r["lost"]
        and not r["ended_by_server"]
        and not r["duplicates"]
        and not r["failed_posts"]
        and growth < RSS_GROWTH_BUDGET
        and r["after_close"]["sockets"] <= r["before"]["sockets"]
    )
    print(
        f"soak: {r['streams']} streams, {r['messages']} messages in {r['sending_seconds']} s "
        f"({a.rate:g}/s), one worker"
    )
    print(
        f"deliveries {r['deliveries_expected']}: lost {r['lost']}, twice {r['duplicates']}, "
        f"failed posts {r['failed_posts']}; latency p50 {r['latency_ms']['p50']} ms, "
        f"p99 {r['latency_ms']['p99']} ms, max {r['latency_ms']['max']} ms"
    )
    print(f"RSS (s, MiB): {r['rss_mib']}")
    print(f"streams the server ended while they were wanted: {len(r['ended_by_server'])}")
    for e in r["ended_by_server"][:10]:
        print(f"  stream {e['stream']} after {e['after_s']} s: {e['why']}")
    print(f"RSS growth after the first minute: {growth * 100:.2f}% (budget 5%)")
    print(
        f"server sockets/threads: before {r['before']['sockets']}/{r['before']['threads']}, "
        f"open {r['open']['sockets']}/{r['open']['threads']}, "
        f"after the clients left {r['after_close']['sockets']}/{r['after_close']['threads']}"
    )
    print(f"{'OK' if ok else 'FAILED'} ({time.monotonic() - started:.0f} s in all)")
    if a.json_out:
        with open(a.json_out, "w") as fh:
            json.dump(r, fh, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
