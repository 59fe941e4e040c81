"""No request holds a thread or a database connection after its client has gone.

Found from outside (issue 10): `GET /api/chat/events//` (two or more trailing slashes)
missed the stream route and reached the library's Django view, whose handler never
noticed the client leaving: every such request, closed, left a thread and a database
connection behind for good. A direct request with any `Grip-Sig` header did the same
under `GRIP_URL`, forged or not. Counted here on the real uvicorn process (its threads,
from /proc) and, on PostgreSQL, in `pg_stat_activity`.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx
import jwt
import pytest
from django.db import connection

from tests.conftest import LiveServer
from tests.messaging.realtime.test_streams import FAST_SENDING, person, start_chat

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

GRIP_KEY = "stayhub-test-grip-key-0123456789abcdef"
COUNT = 20
# Rounds of COUNT streams follow each other at once: the limit of streams per user
# (20 by default) would refuse a round whose predecessors' ends the server has not
# processed yet. What is held after clients leave is measured here, not the limit.
UNLIMITED = {**FAST_SENDING, "STREAM_LIMIT": "1000"}


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def database_connections() -> int | None:
    """Connections to the test database other than this process's own (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


async def open_then_close(
    port: int, paths: list[str], headers: dict[str, str], until: bytes = b"stream-open"
) -> list[bytes]:
    """Open every path at once on raw sockets, read each until `until`, then close them all."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())

    async def one(path: str) -> tuple[bytes, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        seen = b""
        while until not in seen:
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            assert chunk, seen[:300]
            seen += chunk
        return seen, writer

    opened = await asyncio.gather(*(one(path) for path in paths))
    for _, writer in opened:
        writer.close()
    return [seen for seen, _ in opened]


def settle(server: LiveServer, before: int, seconds: float = 5.0) -> int:
    """The server's thread count once it is back to `before` (or after `seconds`)."""
    assert server.proc is not None
    deadline = time.monotonic() + seconds
    while (now := threads(server.proc.pid)) > before and time.monotonic() < deadline:
        time.sleep(0.1)
    return now


def warm_up(server: LiveServer, token: str, paths: list[str]) -> None:
    """Fill the request threads, which are kept on purpose (core.server.threads)."""
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        asyncio.run(open_then_close(server.port, paths, auth))

        async def requests() -> None:
            async with httpx.AsyncClient(base_url=server.url, headers=auth) as client:
                await asyncio.gather(*(client.get("/api/chat") for _ in range(COUNT)))

        asyncio.run(requests())
    time.sleep(0.5)


def assert_nothing_held(server: LiveServer, token: str, odd: list[str], headers: dict) -> None:
    assert server.proc is not None
    good = [p.rstrip("/") for p in odd]
    warm_up(server, token, good)
    threads_before, connections_before = threads(server.proc.pid), database_connections()
    opened = asyncio.run(
        open_then_close(server.port, odd, {"Authorization": f"Bearer {token}", **headers})
    )
    assert all(b" 200 " in seen.split(b"\r\n", 1)[0] for seen in opened), opened[0][:300]
    threads_after = settle(server, threads_before)
    assert threads_after <= threads_before + 2, (threads_before, threads_after)
    if connections_before is not None:
        time.sleep(0.5)
        assert database_connections() <= connections_before + 2, (
            connections_before,
            database_connections(),
        )


def test_extra_trailing_slashes_on_the_stream_paths_leave_nothing_behind(
    live_server_factory: Any,
) -> None:
    server = live_server_factory(**UNLIMITED)
    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(server, ann, bob)
    odd = [
        *(["/api/chat/events//"] * (COUNT // 2)),
        *([f"/api/chat/{chat}/events///"] * (COUNT // 2)),
    ]
    assert_nothing_held(server, bob.token, odd, {})


def forged_sig() -> str:
    claims = {"iss": "pushpin", "exp": int(time.time()) + 3600}
    return jwt.encode(claims, "not-the-grip-key-0123456789abcdef0123", algorithm="HS256")


def test_a_forged_grip_sig_is_not_pushpin_and_leaves_nothing_behind(
    live_server_factory: Any,
) -> None:
    # GRIP_URL names a port where nothing listens: no publish happens in this test.
    server = live_server_factory(GRIP_URL="http://127.0.0.1:9/", GRIP_KEY=GRIP_KEY, **UNLIMITED)
    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(server, ann, bob)
    odd = [*(["/api/chat/events"] * (COUNT // 2)), *([f"/api/chat/{chat}/events"] * (COUNT // 2))]
    for sig in (forged_sig(), "anything"):
        assert_nothing_held(server, bob.token, odd, {"Grip-Sig": sig})


def test_a_grip_sig_signed_with_grip_key_is_answered_at_once_with_grip_instructions(
    live_server_factory: Any,
) -> None:
    server = live_server_factory(GRIP_URL="http://127.0.0.1:9/", GRIP_KEY=GRIP_KEY, **UNLIMITED)
    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(server, ann, bob)
    sig = jwt.encode(
        {"iss": "pushpin", "exp": int(time.time()) + 3600}, GRIP_KEY, algorithm="HS256"
    )
    answer = httpx.get(
        f"{server.url}/api/chat/{chat}/events",
        headers={"Authorization": f"Bearer {bob.token}", "Grip-Sig": sig},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["grip-hold"] == "stream"


def test_a_crowd_of_streams_opening_at_once_takes_a_quarter_of_the_request_threads(
    live_server_factory: Any,
) -> None:
    """Streams read storage on the server's request threads, at most a quarter at once:
    40 clients opening together start at most 2 threads (and, on PostgreSQL, open at
    most 2 connections) with REQUEST_THREADS=8. Before, each opening took a thread of
    the loop's own executor (up to 6 more threads) and connected to the database anew."""
    server = live_server_factory(REQUEST_THREADS="8", **UNLIMITED)
    assert server.proc is not None
    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(server, ann, bob)
    time.sleep(0.5)
    threads_before, connections_before = threads(server.proc.pid), database_connections()
    paths = [*(["/api/chat/events"] * (COUNT)), *([f"/api/chat/{chat}/events"] * COUNT)]

    async def open_and_count() -> tuple[list[bytes], int, int | None]:
        auth = f"Authorization: Bearer {bob.token}\r\n"

        async def one(path: str) -> tuple[bytes, asyncio.StreamWriter]:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode())
            seen = b""
            while b"stream-open" not in seen:
                chunk = await asyncio.wait_for(reader.read(65536), 10)
                assert chunk, seen[:300]
                seen += chunk
            return seen, writer

        opened = await asyncio.gather(*(one(path) for path in paths))
        counted = threads(server.proc.pid), await asyncio.to_thread(database_connections)
        for _, writer in opened:
            writer.close()
        return [seen for seen, _ in opened], *counted

    opened, threads_open, connections_open = asyncio.run(open_and_count())
    assert all(b" 200 " in seen.split(b"\r\n", 1)[0] for seen in opened), opened[0][:300]
    assert threads_open - threads_before <= 2, (threads_before, threads_open)
    if connections_before is not None:
        assert connections_open - connections_before <= 2, (connections_before, connections_open)
