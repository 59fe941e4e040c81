"""`make serve` (what `make run` ends with) as a newcomer meets it, on a real terminal.

The server runs under `make` on a pseudo-terminal, a page and a live stream are open,
and Ctrl-C is typed into the terminal (the terminal, not the test, signals whichever
process group is in the foreground): the stop is quiet (no traceback) and `make` exits
0. An unknown page shows the branded 404, not Django's debug page.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import httpx
import pytest

from core.tokens import issue_pair
from tests.conftest import free_port, make_user, server_env
from tests.support.processes import alive, command_line, descendants

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent.parent


def _controlling_terminal() -> None:  # runs in the child, before make starts
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _read(fd: int, into: bytearray, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the terminal's other side is gone
                return
            if not chunk:
                return
            into += chunk


def background_workers(pid: int) -> list[int]:
    return [p for p in descendants(pid) if "manage.py worker" in command_line(p)]


def test_ctrl_c_stops_make_serve_quietly_with_status_0(tmp_path: Path) -> None:
    from django.db import connection

    port = free_port()
    env = server_env(connection.settings_dict, MEDIA_ROOT=str(tmp_path / "media"))
    for name in ("DEBUG", "STAYHUB_ALLOW_DEV_SECRET", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)  # what make serve sets by itself
    env["DJANGO_SETTINGS_MODULE"] = "config.settings_test"  # the test database's settings
    user = make_user()
    token = issue_pair(user).access
    master, slave = pty.openpty()
    make = subprocess.Popen(
        ["make", "--no-print-directory", "serve", f"PY={sys.executable}", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        preexec_fn=_controlling_terminal,
    )
    os.close(slave)
    output = bytearray()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _read(master, output, 0.3)
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                continue
        else:
            pytest.fail(f"make serve did not start: {output.decode(errors='replace')}")

        # The background worker, killed, is started again while the server runs.
        [worker] = background_workers(make.pid)
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while background_workers(make.pid) in ([], [worker]):
            assert time.monotonic() < deadline, "the background worker was not started again"
            _read(master, output, 0.2)

        missing = httpx.get(f"{base}/no-such-page", timeout=30)
        assert missing.status_code == 404
        assert "Find a stay" in missing.text
        assert "URLconf" not in missing.text
        assert "DEBUG = True" not in missing.text

        with (
            httpx.Client(timeout=30) as page,
            httpx.stream(
                "GET",
                f"{base}/api/chat/events",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ) as stream,
        ):
            assert page.get(f"{base}/").status_code == 200
            assert stream.status_code == 200
            next(stream.iter_bytes())  # the stream is open and has started
            started = descendants(make.pid)
            os.write(master, b"\x03")  # Ctrl-C, typed into the terminal
            make.wait(timeout=30)
        _read(master, output, 1)
    finally:
        if make.poll() is None:
            make.kill()
            make.wait()
        os.close(master)
    text = output.decode(errors="replace")
    assert make.returncode == 0, text
    assert "started again" in text, text
    assert not any(alive(p) for p in started), "left running after Ctrl-C"
    assert "Traceback" not in text, text
    assert "CancelledError" not in text, text
    assert "Interrupt" not in text and "Error" not in text, text
