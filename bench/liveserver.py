"""A throwaway stayhub under uvicorn for the bench scripts, and /proc sampling of it.

Not a benchmark itself: `request_cost.py`, `inbox_fanout.py` and `resume_replay.py`
import it. Each run gets a fresh SQLite file (in /dev/shm when there is one, so the
VM's ~2 ms fsync does not dominate, as in the side-by-side harness), production settings
(`config.settings`, DEBUG off) with the rate limits lifted, and users and
conversations made straight in the database with tokens minted by `core.tokens`:
no sign-up, so no 0.5 s of PBKDF2 per user and no settings overlay.

The server is pinned to CPU 0 and the calling process to CPU 1 when the machine has
two CPUs, like the shared harness, so that server CPU time and client time do not
compete. Only 127.0.0.1 is ever used.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
TWO_CPUS = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


def pin_self_to_cpu1() -> None:
    """Keep the client off the server's core (a no-op on a one-CPU machine)."""
    if TWO_CPUS:
        os.sched_setaffinity(0, {1})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process, exited threads included (10 ms ticks)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (as the side-by-side load generator computes it)."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q / 100 * len(s) + 0.5) - 1))
    return s[k]


@dataclass
class Seeded:
    """What `Stayhub.seed` made: users (id, access token) and conversation ids."""

    users: list[dict[str, str]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)


class Stayhub:
    """`with Stayhub() as s:` a migrated database and a running uvicorn at `s.url`."""

    def __init__(
        self, extra_env: dict[str, str] | None = None, app: str = "config.asgi:application"
    ) -> None:
        self.app = app
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.dir = Path(tempfile.mkdtemp(prefix="stayhub-bench-", dir=base))
        self.db = self.dir / "db.sqlite3"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "GRIP_URL"}}
        self.env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DEBUG="0",
            SECRET_KEY=f"bench-{secrets.token_hex(24)}",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            DATABASE_URL=f"sqlite:///{self.db}",
            MESSAGE_RATE="1000000",
            AUTH_RATE="1000000",
            JWT_ACCESS_TTL="3600",
            MEDIA_ROOT=str(self.dir / "media"),
            PYTHONDONTWRITEBYTECODE="1",
            **(extra_env or {}),
        )
        self.proc: subprocess.Popen | None = None
        self.log = self.dir / "uvicorn.log"

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> Stayhub:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self) -> None:
        pin = ["taskset", "-c", "0"] if TWO_CPUS else []
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    *pin,
                    sys.executable,
                    "-m",
                    "uvicorn",
                    self.app,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                    "--backlog",
                    "4096",
                    "--timeout-graceful-shutdown",
                    "2",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("uvicorn did not start within 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "start() first"
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    # ------------------------------------------------------------ data

    def seed(self, users: int, pairs: list[tuple[int, int]]) -> Seeded:
        """Users 0..users-1 (no password), conversations for `pairs` of their indexes.

        Runs in a child process on the server's settings, so this process never
        imports Django and holds no connection to the database under test.
        """
        code = (
            "import json, sys, django\n"
            "django.setup()\n"
            "from core.models import User\n"
            "from core.tokens import issue_pair\n"
            "from messaging.services import conversation_start\n"
            "n, pairs = json.loads(sys.argv[1])\n"
            "people = [User.objects.create_user(email=f'bench{i}@bench.example', name=f'B {i}')"
            " for i in range(n)]\n"
            "out = {'users': [{'id': str(u.pk), 'token': issue_pair(u).access} for u in people],"
            " 'conversations': []}\n"
            "for a, b in pairs:\n"
            "    c, _ = conversation_start(user=people[a], other_user_id=people[b].pk)\n"
            "    out['conversations'].append({'id': str(c.pk), 'users': [a, b]})\n"
            "print(json.dumps(out))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, json.dumps([users, pairs])],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        doc = json.loads(done.stdout)
        return Seeded(users=doc["users"], conversations=doc["conversations"])
