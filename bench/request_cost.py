"""Server CPU per request for the main endpoints, against a real uvicorn (one worker, SQLite).

    .venv/bin/python bench/request_cost.py                 # all endpoints, ~1 minute
    .venv/bin/python bench/request_cost.py --only send     # endpoints whose name has "send"
    .venv/bin/python bench/request_cost.py --rounds 5 --batch 50 --json-out /tmp/cost.json

What it measures: for each endpoint, `--rounds` rounds of `--batch` requests sent one
after another on one keep-alive connection; the server's CPU time (utime+stime of the
uvicorn process, from /proc, exited threads included) over a round divided by the
requests in it. Printed: the median and p90 of those per-round figures in ms of server
CPU per request, and the median and p90 of each request's wall time as the client saw
it. A sequential client means no queueing: this is the cost of one request, the figure
that decides how many a second one core can serve (the team's side-by-side harness
measures latency under load and memory per stream).

Endpoints: `GET /api/users/{id}` (no auth: the floor of Django + ninja),
`GET /api/auth/me` (JWT + one query), `GET /api/chat` (an inbox page of 20
conversations), `GET /api/chat/{id}` (detail with 50 messages), and
`POST /api/chat/{id}/messages` round-robin over 20 conversations with the senders
alternating (as the side-by-side load generator sends), first with no stream open, then
while both participants of every conversation hold its stream (so the delivery to 2 streams
per message is included). Every answer's status is checked; a wrong one stops the run.
/proc counts in 10 ms ticks, so a round should take well over 100 ms of server CPU
(the defaults give ~500 ms).
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

import httpx
from liveserver import Seeded, Stayhub, percentile, pin_self_to_cpu1


class StreamReader(threading.Thread):
    """One open SSE stream, read and thrown away on a plain socket (counts bytes)."""

    def __init__(self, port: int, path: str, token: str) -> None:
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise RuntimeError(f"stream {path} -> {self.resp.status}")
        self.received = 0

    def run(self) -> None:
        try:
            while chunk := self.resp.read1(65536):
                self.received += len(chunk)
        except (OSError, ValueError, http.client.HTTPException):
            pass  # closed by close(), or the server went away

    def close(self) -> None:
        self.conn.sock.close() if self.conn.sock else None


def measure(
    server: Stayhub,
    client: httpx.Client,
    call: Callable[[int], httpx.Response],
    expect: int,
    rounds: int,
    batch: int,
    warmup: int,
    pause: float = 0.0,
) -> dict[str, float]:
    seq = 0
    for _ in range(warmup):
        seq += 1
        r = call(seq)
        if r.status_code != expect:
            raise SystemExit(f"warm-up answered {r.status_code}: {r.text[:300]}")
    per_round: list[float] = []
    walls: list[float] = []
    for _ in range(rounds):
        c0 = server.cpu()
        for _ in range(batch):
            seq += 1
            t0 = time.perf_counter()
            r = call(seq)
            walls.append((time.perf_counter() - t0) * 1000)
            if pause:
                time.sleep(pause)
            if r.status_code != expect:
                raise SystemExit(f"answered {r.status_code}, wanted {expect}: {r.text[:300]}")
        per_round.append((server.cpu() - c0) * 1000 / batch)
    return {
        "cpu_ms_median": round(median(per_round), 2),
        "cpu_ms_p90": round(percentile(per_round, 90), 2),
        "wall_ms_median": round(median(walls), 2),
        "wall_ms_p90": round(percentile(walls, 90), 2),
        "requests": rounds * batch,
    }


CONVERSATIONS = 20  # messages go round-robin over these pairs, senders alternating


def send_call(client: httpx.Client, seeded: Seeded) -> Callable[[int], httpx.Response]:
    """Message i: conversation i mod K, sent by each participant in turn (as the harness)."""
    auths = [
        [{"Authorization": f"Bearer {seeded.users[u]['token']}"} for u in conv["users"]]
        for conv in seeded.conversations[:CONVERSATIONS]
    ]
    ids = [conv["id"] for conv in seeded.conversations[:CONVERSATIONS]]

    def call(i: int) -> httpx.Response:
        k = i % CONVERSATIONS
        sender = (i // CONVERSATIONS) % 2
        return client.post(
            f"/api/chat/{ids[k]}/messages", json={"body": f"m {i}"}, headers=auths[k][sender]
        )

    return call


def endpoints(client: httpx.Client, seeded: Seeded) -> dict[str, tuple[Callable, int]]:
    a, b = seeded.users[0], seeded.users[1]
    conv = seeded.conversations[0]["id"]
    auth = {"Authorization": f"Bearer {a['token']}"}
    return {
        "GET /api/users/{id} (no auth)": (lambda i: client.get(f"/api/users/{b['id']}"), 200),
        "GET /api/auth/me": (lambda i: client.get("/api/auth/me", headers=auth), 200),
        "GET /api/chat (inbox, 20 convs)": (lambda i: client.get("/api/chat", headers=auth), 200),
        "GET /api/chat/{id} (50 msgs)": (
            lambda i: client.get(f"/api/chat/{conv}", headers=auth),
            200,
        ),
        "POST messages (no stream open)": (send_call(client, seeded), 201),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--batch", type=int, default=80)
    p.add_argument("--warmup", type=int, default=40)
    p.add_argument("--only", default="", help="run only endpoints whose name contains this")
    p.add_argument(
        "--pause-ms",
        type=float,
        default=0.0,
        help="sleep between requests, so that each finds the server idle (the harness "
        "at 100 msg/s leaves ~7 ms idle between messages)",
    )
    p.add_argument("--json-out", help="also write the figures here as JSON")
    p.add_argument("--app", default="config.asgi:application", help="the ASGI app uvicorn serves")
    a = p.parse_args(argv)
    pin_self_to_cpu1()
    results: dict[str, dict[str, float]] = {}
    started = time.monotonic()
    with Stayhub(app=a.app) as server:
        pairs = [(2 * i, 2 * i + 1) for i in range(CONVERSATIONS)]
        pairs += [(0, 2 * i + 1) for i in range(1, CONVERSATIONS)]  # user 0's inbox: 20
        seeded = server.seed(2 * CONVERSATIONS, pairs)
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            # history for the detail endpoint: 60 messages
            auth0 = {"Authorization": f"Bearer {seeded.users[0]['token']}"}
            conv = seeded.conversations[0]["id"]
            for i in range(60):
                client.post(f"/api/chat/{conv}/messages", json={"body": f"h {i}"}, headers=auth0)
            table = endpoints(client, seeded)
            for name, (call, expect) in table.items():
                if a.only and a.only not in name:
                    continue
                results[name] = measure(
                    server, client, call, expect, a.rounds, a.batch, a.warmup, a.pause_ms / 1000
                )
                print(f"{name:36s} {results[name]}", file=sys.stderr)
            name = "POST messages (both streams open)"
            if not a.only or a.only in name:
                readers = [
                    StreamReader(
                        server.port, f"/api/chat/{c['id']}/events", seeded.users[u]["token"]
                    )
                    for c in seeded.conversations[:CONVERSATIONS]
                    for u in c["users"]
                ]
                for r in readers:
                    r.start()
                call, expect = table["POST messages (no stream open)"]
                results[name] = measure(
                    server, client, call, expect, a.rounds, a.batch, a.warmup, a.pause_ms / 1000
                )
                print(f"{name:36s} {results[name]}", file=sys.stderr)
                for r in readers:
                    r.close()
    print(f"\nserver CPU per request (ms), {a.rounds} rounds x {a.batch} sequential requests each")
    print(f"{'endpoint':38s} {'cpu med':>8s} {'cpu p90':>8s} {'wall med':>9s} {'wall p90':>9s}")
    for name, r in results.items():
        print(
            f"{name:38s} {r['cpu_ms_median']:8.2f} {r['cpu_ms_p90']:8.2f} "
            f"{r['wall_ms_median']:9.2f} {r['wall_ms_p90']:9.2f}"
        )
    print(f"({time.monotonic() - started:.0f} s)")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
