"""The event loop never waits on stderr (`core.server.log_writer`).

A real uvicorn whose stderr is a pipe nobody reads: the pipe holds 64 KiB, and every
request's access line (~250 bytes) goes there. Written by the event loop, the line
after the pipe filled would stop the whole server; written by the log thread, only
that thread waits.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT, free_port, server_env

REQUESTS = 1000  # about four pipes' worth of access lines


def test_a_stderr_nobody_reads_does_not_stop_the_server(tmp_path: Path) -> None:
    port = free_port()
    env = server_env({"ENGINE": "sqlite3", "NAME": str(tmp_path / "db.sqlite3")})
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # never read
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "uvicorn exited"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.1)
        answered = 0
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(REQUESTS):
                try:
                    status = client.get("/healthz").status_code
                except httpx.TimeoutException:
                    break
                assert status == 200
                answered += 1
        assert answered == REQUESTS
    finally:
        proc.kill()
        proc.wait()
