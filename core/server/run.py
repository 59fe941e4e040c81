"""`make serve`: uvicorn and the background worker side by side, stopped by one Ctrl-C.

`python -m core.server.run [--host H] [--port P]` runs uvicorn in this process and
`manage.py worker` in a child, and stops both on Ctrl-C (SIGINT) or SIGTERM, quietly:
no traceback, exit status 0.

- uvicorn is started with proxy headers off (it would otherwise believe
  `X-Forwarded-For` and `X-Forwarded-Proto` from 127.0.0.1); `core.server.edge` reads
  them from `TRUSTED_PROXIES` alone. Its access log is off too: the edge writes one
  line per request, without query strings.
- uvicorn re-raises the signal it stopped on, so that the process dies of it; here a
  stop that was asked for ends with status 0 instead.
- On a terminal, this process takes the terminal's foreground (its own process group),
  so that Ctrl-C reaches the server and not `make`, which would report the signal as a
  failure ("Interrupt", status 130) even when the server stopped cleanly. The terminal
  goes back to its previous foreground group on the way out.
- The worker runs in a process group of its own, so that Ctrl-C does not interrupt it
  mid-job: it is sent SIGTERM once the server has stopped, and waited for. If it dies
  while the server runs, it is started again.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import uvicorn

ROOT = Path(__file__).resolve().parent.parent.parent
WORKER_STOP_TIMEOUT = 10
WORKER_CHECK_INTERVAL = 1.0
WORKER_RESTARTS = 5  # within a minute; then it is left stopped


@contextlib.contextmanager
def terminal_foreground() -> Iterator[None]:
    """Be the terminal's foreground process group while serving (see the docstring)."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
        previous = os.tcgetpgrp(tty)
    except OSError:  # no controlling terminal: a service manager, a test, CI
        yield
        return
    old_ttou = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        if os.getpgrp() != os.getpid():  # in make's group: a group of our own
            os.setpgid(0, 0)
        os.tcsetpgrp(tty, os.getpgrp())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(tty, previous)
        signal.signal(signal.SIGTTOU, old_ttou)
        os.close(tty)


def start_worker() -> subprocess.Popen | None:
    command = [sys.executable, str(ROOT / "manage.py"), "worker"]
    try:
        return subprocess.Popen(command, cwd=ROOT, process_group=0)  # noqa: S603 (our own)
    except OSError as exc:
        print(f"the background worker did not start: {exc}", file=sys.stderr)
        return None


def stop_worker(worker: subprocess.Popen | None) -> None:
    if worker is None or worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=WORKER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


class KeptWorker:
    """The background worker, started again if it dies while the server runs: its jobs
    wait in the database meanwhile (emails, expiry), none is lost, but none runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.proc = start_worker()
        threading.Thread(target=self._watch, name="worker-keeper", daemon=True).start()

    def _watch(self) -> None:
        starts: list[float] = []
        while not self._stopping.wait(WORKER_CHECK_INTERVAL):
            with self._lock:
                if self._stopping.is_set() or self.proc is None or self.proc.poll() is None:
                    continue
                code, now = self.proc.returncode, time.monotonic()
                starts = [t for t in starts if now - t < 60]
                if len(starts) >= WORKER_RESTARTS:  # it will not stay up: say so, once
                    print(f"the background worker keeps ending (status {code})", file=sys.stderr)
                    return
                starts.append(now)
                self.proc = start_worker()
            print(f"the background worker ended (status {code}): started again", file=sys.stderr)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            stop_worker(self.proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.server.run", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-worker", action="store_true", help="serve only")
    args = parser.parse_args(argv)

    stopped: list[int] = []

    def asked_to_stop(sig: int, frame: FrameType | None) -> None:
        stopped.append(sig)  # uvicorn re-raises the signal it stopped on: noted, not fatal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, asked_to_stop)

    config = uvicorn.Config(
        "config.asgi:application",
        host=args.host,
        port=args.port,
        proxy_headers=False,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    with terminal_foreground():
        worker = None if args.no_worker else KeptWorker()
        try:
            server.run()
        finally:
            if worker is not None:
                worker.stop()
    if stopped:
        return 0
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
