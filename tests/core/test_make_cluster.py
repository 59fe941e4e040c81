"""`make cluster` for real: PostgreSQL, Redis, two workers, the background worker and
Pushpin start from one command, a message goes through Pushpin, the login rate limit
counts per client behind it, and SIGTERM to `make` stops every one of them, a worker
that hangs included. Each process killed under traffic is started again, and no
message answered 201 is lost.

The cluster's own PostgreSQL and Redis are started (DATABASE_URL and REDIS_URL are
taken out of its environment), as on a machine where nothing else runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import alive, command_line, descendants
from tests.support.services import free_port, unavailable

pytestmark = [pytest.mark.live, pytest.mark.services]
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    # Short, and open to PostgreSQL's own user when the tests run as root.
    folder = Path(tempfile.mkdtemp(prefix="stayhub-cluster-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def make_cluster(cluster_dir: Path, **settings: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`make cluster` started as an operator does, with nothing else running; killed
    whole at the end, whatever the test did."""
    for binary in ("pushpin", "redis-server", "make"):
        if not shutil.which(binary):
            unavailable(binary, "not on PATH")
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "GRIP_URL"}
    }
    env.update(CLUSTER_DIR=str(cluster_dir), PORT=str(port), DEBUG="0", **settings)
    env.pop("SECRET_KEY", None)
    env.pop("GRIP_KEY", None)
    log = open(cluster_dir / "make.log", "wb")  # noqa: SIM115
    make = subprocess.Popen(
        ["make", "cluster", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while b"stayhub on http://" not in (cluster_dir / "make.log").read_bytes():
            assert make.poll() is None, (cluster_dir / "make.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "make cluster did not start within 240 s"
            time.sleep(0.5)
        yield make, f"http://127.0.0.1:{port}"
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
        for pid in descendants(make.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()


def signup(client: httpx.Client, name: str) -> dict:
    r = client.post(
        "/api/auth/signup",
        json={"email": f"{name}@cluster.example", "password": "Zq7!cluster-pw", "name": name},
    )
    assert r.status_code == 201, r.text
    return r.json()


def chat_start(client: httpx.Client, user: dict, other: dict) -> str:
    r = client.post(
        f"/api/chat/start/{other['user']['id']}/",
        headers={"Authorization": f"Bearer {user['access']}"},
    )
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def login_status(base: str, source: str) -> int:
    """A wrong login from the client address `source` (a loopback address of its own)."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=base, transport=transport, timeout=20) as client:
        r = client.post(
            "/api/auth/login", json={"email": "nobody@cluster.example", "password": "wrong"}
        )
        return r.status_code


def test_make_cluster_serves_through_pushpin_and_stops_together(cluster_dir: Path) -> None:
    with make_cluster(cluster_dir, AUTH_RATE="3") as (make, base):
        processes = {pid: command_line(pid) for pid in descendants(make.pid)}
        lines = list(processes.values())
        assert any("postgres -D" in c for c in lines), lines
        assert any("redis-server" in c for c in lines), lines
        assert any("manage.py worker" in c for c in lines), lines
        assert any(c.startswith("pushpin") or "/pushpin " in c for c in lines), lines
        uvicorn = [p for p, c in processes.items() if "uvicorn" in c and "--workers 2" in c]
        assert len(uvicorn) == 1 and len(descendants(uvicorn[0])) >= 2, lines

        # The login rate limit counts per client, not per Pushpin: one client spends
        # its 3 attempts, another still has its own.
        assert [login_status(base, "127.0.0.2") for _ in range(4)] == [401, 401, 401, 429]
        assert login_status(base, "127.0.0.3") == 401

        # Everything through Pushpin, the front door.
        with httpx.Client(base_url=base, timeout=20) as client:
            ann, bob = signup(client, "ann"), signup(client, "bob")
            chat = chat_start(client, ann, bob)

            received: list[dict] = []
            opened, arrived = threading.Event(), threading.Event()

            def listen() -> None:
                with httpx.stream(
                    "GET",
                    f"{base}/api/chat/{chat}/events",
                    headers={"Authorization": f"Bearer {bob['access']}"},
                    timeout=httpx.Timeout(20, read=30),
                ) as stream:
                    assert stream.headers.get("grip-hold") is None  # Pushpin took it
                    event: dict = {}
                    for line in stream.iter_lines():
                        if line.startswith("event: "):
                            event["event"] = line[7:]
                            if event["event"] == "stream-open":
                                opened.set()
                        elif line.startswith("id: "):
                            event["id"] = line[4:]
                        elif line.startswith("data: "):
                            event["data"] = line[6:]
                        elif not line and event:
                            if event.get("event") == "message":
                                received.append(event)
                                arrived.set()
                                return
                            event = {}

            reader = threading.Thread(target=listen, daemon=True)
            reader.start()
            assert opened.wait(20), "no stream-open through Pushpin"
            r = client.post(
                f"/api/chat/{chat}/messages",
                json={"body": "through the cluster"},
                headers={"Authorization": f"Bearer {ann['access']}"},
            )
            assert r.status_code == 201, r.text
            assert arrived.wait(10), "the message did not come through Pushpin"
            assert json.loads(received[0]["data"])["body"] == "through the cluster"
            assert received[0]["id"] == f"conversation-{chat}:1"

        # One web worker hangs (stopped: it handles no signal until killed), so its
        # master waits for it until the cluster kills the master. SIGTERM to make
        # alone: every process it started ends all the same, the hung worker too.
        hung = sorted(descendants(uvicorn[0]))[-1]
        assert "spawn_main" in processes[hung], processes[hung]
        os.kill(hung, signal.SIGSTOP)
        os.kill(make.pid, signal.SIGTERM)
        deadline = time.monotonic() + 45
        while any(alive(p) for p in processes) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = {p: processes[p] for p in processes if alive(p)}
        assert not left, f"still running after SIGTERM: {left}"


class Reader(threading.Thread):
    """A client's stream of a conversation, as a browser's EventSource keeps it:
    reconnects after a cut (1 s later) with `Last-Event-ID`; keeps message bodies."""

    def __init__(self, base: str, chat: str, user: dict) -> None:
        super().__init__(daemon=True)
        self.url, self.token = f"{base}/api/chat/{chat}/events", user["access"]
        self.bodies: list[str] = []
        self.last_id: str | None = None
        self.cuts = 0
        self.opened = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            headers = {"Authorization": f"Bearer {self.token}"}
            if self.last_id:
                headers["Last-Event-ID"] = self.last_id
            try:
                with httpx.stream(
                    "GET", self.url, headers=headers, timeout=httpx.Timeout(10, read=30)
                ) as stream:
                    if stream.status_code == 200:
                        self._read(stream)
            except httpx.HTTPError:
                pass
            self.cuts += 1
            time.sleep(1)

    def _read(self, stream: httpx.Response) -> None:
        event: dict = {}
        for line in stream.iter_lines():
            if self.done.is_set():
                return
            key, _, value = line.partition(": ")
            if line:
                event[key] = value
                continue
            if event.get("event") == "stream-open":
                self.opened.set()
            if event.get("event") == "message":
                self.bodies.append(json.loads(event["data"])["body"])
            self.last_id = event.get("id", self.last_id)
            event = {}


def test_make_cluster_starts_again_whatever_dies_and_no_message_is_lost(
    cluster_dir: Path,
) -> None:
    """Each process killed in turn while messages are sent: the cluster starts it again,
    sends answer 201 or a 503 with Retry-After (a 502 or a refused connection only
    while the process a request was in has just died), and every message answered 201
    reaches the other participant's stream, which resumes after a cut."""
    with make_cluster(cluster_dir, MESSAGE_RATE="1000") as (make, base):
        with httpx.Client(base_url=base, timeout=20) as client:
            ann, bob = signup(client, "ann"), signup(client, "bob")
            chat = chat_start(client, ann, bob)
        reader = Reader(base, chat, bob)
        reader.start()
        assert reader.opened.wait(20), "no stream-open through Pushpin"

        sent: list[str] = []
        answers: list[tuple[float, object]] = []  # (time, status or error name)
        stop = threading.Event()

        def send() -> None:
            n = 0
            with httpx.Client(base_url=base, timeout=20) as client:
                while not stop.is_set():
                    n += 1
                    try:
                        r = client.post(
                            f"/api/chat/{chat}/messages",
                            json={"body": f"fault-{n}"},
                            headers={"Authorization": f"Bearer {ann['access']}"},
                        )
                    except httpx.HTTPError as exc:
                        answers.append((time.monotonic(), type(exc).__name__))
                    else:
                        answers.append((time.monotonic(), r.status_code))
                        if r.status_code == 201:
                            sent.append(f"fault-{n}")
                        elif r.status_code == 503:
                            assert r.headers["Retry-After"], r.headers
                            assert r.json()["detail"], r.text
                    time.sleep(0.05)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        faults = [
            ("web worker", lambda c: "spawn_main" in c and "resource_tracker" not in c),
            ("Redis", lambda c: "redis-server" in c),
            ("background worker", lambda c: "manage.py worker" in c),
            ("PostgreSQL", lambda c: "postgres -D" in c),
            ("Pushpin", lambda c: c.startswith("pushpin ") or "/pushpin " in c),
        ]
        killed_at = []
        try:
            for name, match in faults:
                victim = min(p for p in descendants(make.pid) if match(command_line(p)))
                os.kill(victim, signal.SIGKILL)
                killed_at.append(time.monotonic())
                deadline = time.monotonic() + 60
                # Started again (another process of its kind) and sending works again.
                while not (
                    any(match(command_line(p)) and p != victim for p in descendants(make.pid))
                    and answers
                    and answers[-1][0] > killed_at[-1] + 1
                    and answers[-1][1] == 201
                ):
                    assert make.poll() is None, (cluster_dir / "make.log").read_text()[-3000:]
                    assert time.monotonic() < deadline, f"no recovery after {name} was killed"
                    time.sleep(0.2)
        finally:
            stop.set()
            sender.join(30)
        deadline = time.monotonic() + 30
        while set(sent) - set(reader.bodies) and time.monotonic() < deadline:
            time.sleep(0.2)
        reader.done.set()
    assert not set(sent) - set(reader.bodies), "answered 201 but never delivered"
    assert len(reader.bodies) == len(set(reader.bodies)), "a message delivered twice"
    assert reader.cuts >= 1  # Pushpin's death cut the stream; it resumed
    statuses = {a for _, a in answers}
    assert statuses <= {201, 503, 502, "ConnectError", "RemoteProtocolError", "ReadError"}
    for at, answer in answers:
        if answer not in (201, 503):  # only just after a kill
            assert any(0 <= at - k < 15 for k in killed_at), (at, answer, killed_at)
    assert len(sent) >= len(faults)  # each recovery was a message answered 201
