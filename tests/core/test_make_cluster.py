"""`make cluster` for real: PostgreSQL, Redis, two workers, the background worker and
Pushpin start from one command, a message goes through Pushpin, and SIGTERM to `make`
stops every one of them, a worker that hangs included.

The cluster's own PostgreSQL and Redis are started (DATABASE_URL and REDIS_URL are
taken out of its environment), as on a machine where nothing else runs.
"""

from __future__ import annotations

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

from tests.support.services import free_port, unavailable

pytestmark = [pytest.mark.live, pytest.mark.services]
ROOT = Path(__file__).resolve().parent.parent.parent


def descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    kids = [int(c) for c in fh.read().split()]
                out.update(kids)
                todo.extend(kids)
        except OSError:
            pass
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    # Short, and open to PostgreSQL's own user when the tests run as root.
    folder = Path(tempfile.mkdtemp(prefix="stayhub-cluster-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_make_cluster_serves_through_pushpin_and_stops_together(cluster_dir: Path) -> None:
    for binary in ("pushpin", "redis-server", "make"):
        if not shutil.which(binary):
            unavailable(binary, "not on PATH")
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "GRIP_URL"}
    }
    env.update(CLUSTER_DIR=str(cluster_dir), PORT=str(port), DEBUG="0")
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
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while b"stayhub on http://" not in (cluster_dir / "make.log").read_bytes():
            assert make.poll() is None, (cluster_dir / "make.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "make cluster did not start within 240 s"
            time.sleep(0.5)
        processes = {pid: command_line(pid) for pid in descendants(make.pid)}
        lines = list(processes.values())
        assert any("postgres -D" in c for c in lines), lines
        assert any("redis-server" in c for c in lines), lines
        assert any("manage.py worker" in c for c in lines), lines
        assert any(c.startswith("pushpin") or "/pushpin " in c for c in lines), lines
        uvicorn = [p for p, c in processes.items() if "uvicorn" in c and "--workers 2" in c]
        assert len(uvicorn) == 1 and len(descendants(uvicorn[0])) >= 2, lines

        # Everything through Pushpin, the front door.
        with httpx.Client(base_url=base, timeout=20) as client:
            people = []
            for name in ("ann", "bob"):
                r = client.post(
                    "/api/auth/signup",
                    json={
                        "email": f"{name}@cluster.example",
                        "password": "Zq7!cluster-pw",
                        "name": name,
                    },
                )
                assert r.status_code == 201, r.text
                people.append(r.json())
            ann, bob = people
            r = client.post(
                f"/api/chat/start/{bob['user']['id']}/",
                headers={"Authorization": f"Bearer {ann['access']}"},
            )
            assert r.status_code in (200, 201), r.text
            chat = r.json()["id"]

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
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
        for pid in descendants(make.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()
