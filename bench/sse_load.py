"""The load generator of `bench/setups.py`: open SSE streams, send messages open-loop, time them.

Every conversation has two participants, each holding one open stream
(`GET /api/chat/{id}/events`, Bearer header) through the set-up's front door (Pushpin
under GRIP, else uvicorn). Messages are POSTed (`/api/chat/{id}/messages`) at a fixed
total rate, round-robin over conversations with alternating senders, and each is timed
from just before its POST to its arrival on the OTHER participant's stream (the body
carries `bench <run> <seq>`; one clock, this process). Arrival on the sender's own
stream is counted, not timed. Sends are bounded (`max_inflight`): past it, sending
turns closed-loop and `backpressure_waits` says so.

The same measure as the shared harness the issue's figures came from (nearest-rank
percentiles, aiohttp for HTTP and SSE), but importable: a run opens its streams once
and then sends several phases (one per rate), so a rate sweep needs one server start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

perf = time.perf_counter


def pct(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    n = len(sorted_values)
    k = max(0, min(n - 1, round(q / 100 * n + 0.5) - 1))
    return sorted_values[k]


@dataclass
class Conv:
    id: str
    tokens: tuple[str, str]


@dataclass
class Phase:
    """One send phase's bookkeeping."""

    tag: str
    sent: dict[int, tuple[float, int, int]] = field(default_factory=dict)  # seq -> t, conv, part
    failed: set[int] = field(default_factory=set)
    delivered: set[int] = field(default_factory=set)
    echoed: set[int] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)  # ms from the POST to its 201
    duplicates: int = 0
    misrouted: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    sending_done: bool = False

    def expected(self) -> int:
        return len(self.sent) - len(self.failed)

    def check_done(self) -> None:
        n = self.expected()
        if self.sending_done and len(self.delivered) >= n and len(self.echoed) >= n:
            self.done.set()


class Load:
    """`await load.open(convs)`, then `await load.phase(rate, messages)` as often as wanted."""

    def __init__(
        self,
        base_url: str,
        connect_concurrency: int = 50,  # as the shared harness's load.py
        post_concurrency: int = 32,
        max_inflight: int = 2000,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.run_id = secrets.token_hex(3)
        self.connect_concurrency = connect_concurrency
        self.max_inflight = max_inflight
        self.streams = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True),
            timeout=aiohttp.ClientTimeout(total=None, connect=60, sock_read=None),
        )
        self.posts = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=post_concurrency),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        self.convs: list[Conv] = []
        self.ready = 0
        self.open_failed = 0
        self.broken = 0
        self.stream_errors = 0
        self.foreign = 0
        self.errors: list[str] = []
        self.readers: list[asyncio.Task] = []
        self.responses: list[aiohttp.ClientResponse] = []
        self.current: Phase | None = None
        self.closing = False

    def error(self, text: str) -> None:
        if len(self.errors) < 12:
            self.errors.append(text[:300])

    # ------------------------------------------------------------ streams

    async def open(self, convs: list[Conv], ready_timeout: float = 120.0) -> dict[str, Any]:
        self.convs = convs
        sem = asyncio.Semaphore(self.connect_concurrency)
        t0 = perf()
        await asyncio.gather(
            *(self._open_one(sem, ci, part) for ci in range(len(convs)) for part in (0, 1))
        )
        deadline = perf() + ready_timeout
        while self.ready < len(self.responses) and perf() < deadline:
            await asyncio.sleep(0.05)
        return {
            "wanted": 2 * len(convs),
            "open": len(self.responses),
            "ready": self.ready,
            "failed": self.open_failed,
            "connect_s": round(perf() - t0, 2),
        }

    async def _open_one(self, sem: asyncio.Semaphore, ci: int, part: int) -> None:
        conv = self.convs[ci]
        url = f"{self.base}/api/chat/{conv.id}/events"
        headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {conv.tokens[part]}"}
        async with sem:
            try:
                resp = await self.streams.get(url, headers=headers)
                ctype = resp.headers.get("Content-Type", "")
                if resp.status != 200 or not ctype.startswith("text/event-stream"):
                    text = (await resp.text())[:200]
                    resp.release()
                    raise RuntimeError(f"{resp.status} {ctype} {text!r}")
            except Exception as exc:
                self.open_failed += 1
                self.error(f"open {ci}/{part}: {type(exc).__name__}: {exc}")
                return
        self.responses.append(resp)
        self.readers.append(asyncio.create_task(self._read(resp, ci, part)))

    async def _read(self, resp: aiohttp.ClientResponse, ci: int, part: int) -> None:
        buf, first = b"", True
        try:
            async for chunk in resp.content.iter_any():
                t = perf()
                if first:  # the server wrote its first bytes: the stream is subscribed
                    first = False
                    self.ready += 1
                buf += chunk
                if b"\r\n" in buf:
                    buf = buf.replace(b"\r\n", b"\n")
                while (k := buf.find(b"\n\n")) >= 0:
                    block, buf = buf[:k], buf[k + 2 :]
                    self._event(block, ci, part, t)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self.closing:
                self.error(f"stream {ci}/{part} broke: {type(exc).__name__}: {exc}")
        if not self.closing:
            self.broken += 1

    def _event(self, block: bytes, ci: int, part: int, t: float) -> None:
        etype, data = b"message", []
        for line in block.split(b"\n"):
            if not line or line[0] == 58:  # ':' comment
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                etype = value
        if etype == b"stream-error":
            self.stream_errors += 1
            self.error(f"stream-error {ci}/{part}: {b''.join(data)[:200]!r}")
            return
        if etype != b"message" or not data:
            return
        try:
            body = json.loads(b"\n".join(data)).get("body")
            _, run, tag, seq = body.split(" ")
            seq = int(seq.removeprefix("n"))
        except (ValueError, AttributeError, TypeError):
            self.foreign += 1
            return
        phase = self.current
        if run != self.run_id or phase is None or tag != phase.tag:
            self.foreign += 1
            return
        info = phase.sent.get(seq)
        if info is None or info[1] != ci:
            phase.misrouted += 1
            return
        if part == info[2]:
            phase.echoed.add(seq)
        elif seq in phase.delivered:
            phase.duplicates += 1
        else:
            phase.delivered.add(seq)
            phase.latencies.append((t - info[0]) * 1000.0)
        if phase.sending_done:
            phase.check_done()

    # ------------------------------------------------------------ sending

    async def _send(self, phase: Phase, seq: int, ci: int, part: int) -> None:
        conv = self.convs[ci]
        # "n" before the number: "r100 1234" would be 7 digits together, which the
        # service masks as a phone number (API.md, Safety) and this would count as lost.
        body = f"bench {self.run_id} {phase.tag} n{seq}"
        try:
            async with self.posts.post(
                f"{self.base}/api/chat/{conv.id}/messages",
                json={"body": body},
                headers={"Authorization": f"Bearer {conv.tokens[part]}"},
            ) as resp:
                key = str(resp.status)
                phase.statuses[key] = phase.statuses.get(key, 0) + 1
                if resp.status != 201:
                    raise RuntimeError(f"{resp.status} {(await resp.text())[:200]!r}")
                await resp.read()
                phase.answers.append(1000 * (perf() - phase.sent[seq][0]))
        except Exception as exc:
            phase.failed.add(seq)
            self.error(f"send {seq}: {type(exc).__name__}: {exc}")

    async def phase(self, rate: float, messages: int, drain_timeout: float = 10.0) -> dict:
        """Send `messages` at `rate` per second; wait for them all (or the drain timeout)."""
        phase = Phase(tag=f"r{rate:g}")
        self.current = phase
        interval = 1.0 / rate
        inflight: set[asyncio.Task] = set()
        backpressure = 0
        t_first = perf() + 0.02
        for seq in range(messages):
            ci = seq % len(self.convs)
            part = (seq // len(self.convs)) % 2
            delay = t_first + seq * interval - perf()
            if delay > 0:
                await asyncio.sleep(delay)
            while len(inflight) >= self.max_inflight:
                backpressure += 1
                await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
            phase.sent[seq] = (perf(), ci, part)
            task = asyncio.create_task(self._send(phase, seq, ci, part))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        t_last = perf()
        if inflight:
            await asyncio.wait(inflight)
        phase.sending_done = True
        phase.check_done()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(phase.done.wait(), drain_timeout)
        lat = sorted(phase.latencies)
        span = t_last - t_first
        return {
            "rate_wanted": rate,
            "rate_achieved": round((messages - 1) / span, 1) if span > 0 else None,
            "sent": messages,
            "send_errors": len(phase.failed),
            "delivered": len(phase.delivered),
            "lost": sum(
                1 for s in phase.sent if s not in phase.failed and s not in phase.delivered
            ),
            "echoed": len(phase.echoed),
            "duplicates": phase.duplicates,
            "misrouted": phase.misrouted,
            "statuses": phase.statuses,
            "backpressure_waits": backpressure,
            "wall_s": round(perf() - t_first, 2),
            "p50": _r(pct(lat, 50)),
            "p95": _r(pct(lat, 95)),
            "p99": _r(pct(lat, 99)),
            "max": _r(lat[-1] if lat else None),
            "answer_p50": _r(pct(sorted(phase.answers), 50)),
            "answer_p99": _r(pct(sorted(phase.answers), 99)),
        }

    async def close(self) -> None:
        self.closing = True
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        for resp in self.responses:
            resp.close()
        await self.streams.close()
        await self.posts.close()


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)
