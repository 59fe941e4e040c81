"""Inbox streams: one user in many conversations, delivery latency on that user's inbox.

    .venv/bin/python bench/inbox_fanout.py    # 200 conversations, 1000 messages at 100/s
    .venv/bin/python bench/inbox_fanout.py --conversations 500 --messages 1500 --rate 50

What the side-by-side harness does not cover: `GET /api/chat/events`, the
stream a browser keeps open for the inbox page. A "hub" user (a host, say) is in
`--conversations` conversations, one with each other user. The hub holds ONE inbox
stream; every other user holds their own inbox stream too. After `--warmup` messages
(not measured: connections, request threads, their database connections), the other
users send `--messages` messages, open loop at `--rate` a second, round-robin over the
conversations, so each message lands on two inbox streams: the hub's and its sender's.

Printed: latency from just before the POST to arrival on the hub's inbox (p50, p95, p99,
max), delivered/lost on the hub's inbox and on the senders' own inboxes, send errors,
server CPU ms per message while sending, server memory per open stream (RSS after
opening them minus before, divided by the streams) and threads before/after. Server on
CPU 0, this client on CPU 1; a fresh database; bounded by --max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from statistics import median

from liveserver import Stayhub, percentile, pin_self_to_cpu1, rss_kib, threads
from loopback_http import Connection, EventStream, perf


async def run(server: Stayhub, a: argparse.Namespace) -> dict:
    k = a.conversations
    seeded = server.seed(k + 1, [(0, i) for i in range(1, k + 1)])
    hub = seeded.users[0]
    sent: dict[int, float] = {}
    hub_seen: dict[int, float] = {}
    own_seen: set[int] = set()
    duplicates = 0

    def on_hub(event: str, _id: str | None, data: str, now: float) -> None:
        nonlocal duplicates
        if event != "message":
            return
        kind, number = json.loads(data)["body"].split()
        if kind != "fan":
            return
        seq = int(number)
        if seq in hub_seen:
            duplicates += 1
        hub_seen[seq] = now

    def on_own(event: str, _id: str | None, data: str, _now: float) -> None:
        if event == "message":
            kind, number = json.loads(data)["body"].split()
            if kind == "fan":
                own_seen.add(int(number))

    streams = [EventStream(server.port, "/api/chat/events", hub["token"])]
    streams += [EventStream(server.port, "/api/chat/events", u["token"]) for u in seeded.users[1:]]
    rss0, threads0 = rss_kib(server.pid), threads(server.pid)
    await streams[0].open(on_hub)
    sem = asyncio.Semaphore(50)

    async def open_one(stream: EventStream) -> None:
        async with sem:
            await stream.open(on_own)

    await asyncio.gather(*(open_one(s) for s in streams[1:]))
    await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in streams)), 30)
    await asyncio.sleep(0.5)
    rss1, threads1 = rss_kib(server.pid), threads(server.pid)

    pool = [Connection(server.port) for _ in range(a.connections)]
    free = list(pool)
    errors: dict[str, int] = {}

    async def send(seq: int, kind: str = "fan") -> None:
        conv = seeded.conversations[seq % k]
        sender = seeded.users[conv["users"][1]]
        while not free:
            await asyncio.sleep(0.001)
        conn = free.pop()
        try:
            if kind == "fan":
                sent[seq] = perf()
            status, _ = await conn.request(
                "POST",
                f"/api/chat/{conv['id']}/messages",
                sender["token"],
                {"body": f"{kind} {seq}"},
            )
        finally:
            free.append(conn)
        if status != 201:
            errors[str(status)] = errors.get(str(status), 0) + 1
            sent.pop(seq, None)

    async def paced(count: int, kind: str) -> None:
        start = perf() + 0.05
        tasks = []
        for seq in range(count):
            delay = start + seq / a.rate - perf()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(send(seq, kind)))
        await asyncio.gather(*tasks)

    # warm-up (not measured): connections, request threads and their database
    # connections, code paths; like the shared harness's warm-up messages
    await paced(a.warmup, "warm")
    await asyncio.sleep(0.5)
    cpu0 = server.cpu()
    await paced(a.messages, "fan")
    deadline = perf() + 5
    while (len(hub_seen) < len(sent) or len(own_seen) < len(sent)) and perf() < deadline:
        await asyncio.sleep(0.02)
    cpu = server.cpu() - cpu0
    for s in streams:
        s.close()
    for c in pool:
        c.close()
    latencies = sorted((hub_seen[q] - t) * 1000 for q, t in sent.items() if q in hub_seen)
    return {
        "conversations": k,
        "streams": len(streams),
        "sent_ok": len(sent),
        "send_errors": errors,
        "hub_delivered": len(hub_seen),
        "hub_lost": sum(1 for q in sent if q not in hub_seen),
        "sender_inbox_delivered": len(own_seen),
        "duplicates": duplicates,
        "latency_ms": {
            "p50": round(median(latencies), 2) if latencies else None,
            "p95": round(percentile(latencies, 95), 2) if latencies else None,
            "p99": round(percentile(latencies, 99), 2) if latencies else None,
            "max": round(latencies[-1], 2) if latencies else None,
        },
        "server_cpu_ms_per_message": round(1000 * cpu / max(1, len(sent)), 2),
        "kib_per_stream": round((rss1 - rss0) / len(streams), 1),
        "threads": f"{threads0}->{threads1}",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--conversations", type=int, default=200)
    p.add_argument("--messages", type=int, default=1000)
    p.add_argument("--rate", type=float, default=100.0, help="messages a second, in all")
    p.add_argument("--connections", type=int, default=16, help="keep-alive connections for POSTs")
    p.add_argument("--warmup", type=int, default=50, help="messages sent first, not measured")
    p.add_argument("--max-seconds", type=float, default=110.0)
    p.add_argument("--json-out", help="also write the figures here as JSON")
    a = p.parse_args(argv)
    pin_self_to_cpu1()
    started = time.monotonic()
    with Stayhub() as server:
        server.start()
        result = asyncio.run(asyncio.wait_for(run(server, a), a.max_seconds))
    lat = result["latency_ms"]
    print(
        f"inbox fan-out: {result['conversations']} conversations, {result['streams']} inbox "
        f"streams, {a.messages} messages at {a.rate:g}/s\n"
        f"  hub inbox: delivered {result['hub_delivered']}/{result['sent_ok']} "
        f"lost {result['hub_lost']} duplicates {result['duplicates']}; senders' inboxes: "
        f"{result['sender_inbox_delivered']}/{result['sent_ok']}; send errors "
        f"{result['send_errors'] or 0}\n"
        f"  latency POST -> hub inbox ms: p50 {lat['p50']} p95 {lat['p95']} p99 {lat['p99']} "
        f"max {lat['max']}\n"
        f"  server: {result['server_cpu_ms_per_message']} ms CPU/message, "
        f"{result['kib_per_stream']} KiB/stream, threads {result['threads']} "
        f"({time.monotonic() - started:.0f} s)"
    )
    if a.json_out:
        with open(a.json_out, "w") as fh:
            json.dump(result, fh, indent=1)
    lost = result["hub_lost"] or result["sender_inbox_delivered"] < result["sent_ok"]
    return 1 if lost or result["send_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
