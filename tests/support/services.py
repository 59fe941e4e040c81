"""Real external services for the tests that need them: PostgreSQL, Redis, Pushpin.

Nothing here is mocked. Where a service is missing, the test is skipped with a loud
reason, except under STAYHUB_REQUIRE_SERVICES=1 (set by .ci/run), where it fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.cluster import wait_healthy, write_pushpin_config

REQUIRE_SERVICES = os.environ.get("STAYHUB_REQUIRE_SERVICES") == "1"
REDIS_URL = os.environ.get("STAYHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(what: str, why: str) -> None:
    """Fail under STAYHUB_REQUIRE_SERVICES=1, else skip saying so loudly."""
    message = f"{what} is not available ({why})"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}; STAYHUB_REQUIRE_SERVICES=1 requires it")
    sys.stderr.write(f"\n*** SKIPPING: {message}. CI runs this for real. ***\n")
    pytest.skip(f"SKIPPED LOUDLY: {message}")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis server's URL (STAYHUB_TEST_REDIS_URL or local 6379)."""
    try:
        import redis
    except ImportError:  # pragma: no cover
        unavailable("Redis", "the redis package is not installed")
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except Exception as exc:
        unavailable("Redis", f"{REDIS_URL}: {exc}")
    return REDIS_URL


@dataclass
class Pushpin:
    """A Pushpin proxy in front of one upstream: clients use `url`, the app `control_url`."""

    url: str
    control_url: str
    proc: subprocess.Popen
    folder: Path
    rundir: Path

    @property
    def push_spec(self) -> str:
        """Its ZeroMQ PULL socket, for GRIP_PUSH_SPEC."""
        return f"ipc://{self.rundir}/push-in"

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.rundir, ignore_errors=True)

    def kill(self) -> None:
        """Stop the processes, keeping the configuration and run folder for `restart`."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def restart(self) -> None:
        """Start it again on the same ports and sockets (after `kill`), and return once it
        proxies to the app: its ports open before its processes are connected to each
        other, and a request taken in that moment went unanswered (seen in CI)."""
        self.proc = _spawn_pushpin(self.folder)
        _wait_listening(self)
        wait_healthy(f"{self.url}/healthz", "pushpin", self.proc, 30)


def start_pushpin(folder: Path, upstream_port: int, sig_key: str = "changeme") -> Pushpin:
    """Start Pushpin (with its own condure and zurl) routing everything to the upstream."""
    if not shutil.which("pushpin"):
        unavailable("Pushpin", "no `pushpin` on PATH (apt-get install pushpin)")
    # ZeroMQ ipc:// paths must fit a unix socket name (about 100 bytes): pytest's
    # tmp_path is often longer, so the run folder is a short one of its own.
    run = Path(tempfile.mkdtemp(prefix="pushpin-", dir="/tmp"))
    (run / "log").mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rundir.txt").write_text(str(run))
    http_port, control_port = free_port(), free_port()
    write_pushpin_config(
        folder,
        {
            "rundir": str(run),
            "http_addr": f"127.0.0.1:{http_port}",
            "log_level": "2",
            "maxconn": "50000",
            "routesfile": str(folder / "routes"),
            "accept_x_forwarded_protocol": "false",
            "x_forwarded_for": "truncate:0,append",
            "x_forwarded_for_trusted": "",
            "sig_key": sig_key,
            "control_host": "127.0.0.1",
            "control_port": str(control_port),
            "message_rate": "-1",
            "targets": f"127.0.0.1:{upstream_port}",
        },
    )
    proxy = Pushpin(
        url=f"http://127.0.0.1:{http_port}",
        control_url=f"http://127.0.0.1:{control_port}",
        proc=_spawn_pushpin(folder),
        folder=folder,
        rundir=run,
    )
    _wait_listening(proxy)
    return proxy


def _spawn_pushpin(folder: Path) -> subprocess.Popen:
    log = open(folder / "pushpin.log", "ab")  # noqa: SIM115
    return subprocess.Popen(
        ["pushpin", "--config", str(folder / "pushpin.conf"), "--merge-output"],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_listening(proxy: Pushpin) -> None:
    deadline = time.monotonic() + 20
    ports = [int(url.rsplit(":", 1)[1]) for url in (proxy.url, proxy.control_url)]
    while time.monotonic() < deadline:
        if proxy.proc.poll() is not None:
            raise RuntimeError(f"pushpin exited early; see {proxy.folder / 'pushpin.log'}")
        if all(_port_open("127.0.0.1", port) for port in ports):
            return
        time.sleep(0.1)
    raise RuntimeError(f"pushpin did not listen within 20 s; see {proxy.folder / 'pushpin.log'}")


@pytest.fixture
def pushpin_factory(tmp_path: Path) -> Iterator:
    started: list[Pushpin] = []

    def start(upstream_port: int, sig_key: str = "changeme") -> Pushpin:
        proxy = start_pushpin(tmp_path / f"pushpin-{len(started)}", upstream_port, sig_key)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@dataclass
class RedisServer:
    """A `redis-server` of the test's own on a free port, to kill, restart and stall.

    Nothing is saved to disk: a restart comes back empty, as after a crash with no
    persistence. `pause()`/`resume()` stop and continue the process (SIGSTOP/SIGCONT):
    its sockets stay open and answer nothing, as a stalled server does.
    """

    port: int
    folder: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.folder / f"redis-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited early; see {self.folder}")
            if _port_open("127.0.0.1", self.port):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not listen within 10 s")

    def kill(self) -> None:
        """Gone at once (SIGKILL): every connection to it drops."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis (see `RedisServer`), started; skipped loudly without redis-server."""
    if not shutil.which("redis-server"):
        unavailable("redis-server", "not on PATH (apt-get install redis-server)")
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(port=free_port(), folder=folder)
    server.start()
    try:
        yield server
    finally:
        server.kill()
