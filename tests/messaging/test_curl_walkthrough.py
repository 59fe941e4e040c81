"""README's "Streams with curl", run as written with real curl against a live server.

The blocks marked `<!-- walkthrough:NAME -->` are taken from README.md verbatim; only
`STAYHUB` (the server's address) comes from here, as a reader would set it. So the
README cannot drift from what the service does.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from typing import Any

import pytest

from tests.conftest import ROOT, LiveServer

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

BLOCK = re.compile(r"<!-- walkthrough:(?P<name>\w+) -->\s*```sh\n(?P<code>.*?)```", re.DOTALL)


def walkthrough() -> dict[str, str]:
    blocks = {m["name"]: m["code"] for m in BLOCK.finditer((ROOT / "README.md").read_text())}
    assert set(blocks) == {"setup", "listen", "send", "resume"}, sorted(blocks)
    return blocks


def run(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-c", code], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class Listening:
    """A `curl -N` block running in the background, its output lines in a queue."""

    def __init__(self, code: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            ["bash", "-c", f"exec {code.strip()}"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def until(self, prefix: str, timeout: float = 5.0) -> tuple[str, list[str]]:
        """The next line starting with `prefix`, and the lines read before it."""
        deadline, before = time.monotonic() + timeout, []
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} line within {timeout} s: {before}") from None
            if line.startswith(prefix):
                return line, before
            before.append(line)

    def stop(self) -> None:
        """As a reader's Ctrl-C."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def test_the_readme_curl_walkthrough_runs_as_written(live_server: LiveServer) -> None:
    if not shutil.which("curl"):
        pytest.fail("curl is needed for the README walkthrough test")
    blocks = walkthrough()
    env: dict[str, Any] = {**os.environ, "STAYHUB": live_server.url}

    exports = run(blocks["setup"], env).strip().splitlines()[-1]
    assert exports.startswith("export ")
    variables = dict(item.split("=", 1) for item in exports.removeprefix("export ").split())
    assert set(variables) == {"STAYHUB", "CHAT", "GUEST_TOKEN", "HOST_TOKEN"}
    assert variables["STAYHUB"] == live_server.url
    env |= variables  # the second terminal, after pasting the export line

    chat = variables["CHAT"]
    listening = Listening(blocks["listen"], env)
    try:
        listening.until("event: stream-open")
        # Where the stream starts, before any message: what a reader dropped now resumes from.
        assert listening.until("id: ")[0] == f"id: conversation-{chat}:0"
        answer = run(blocks["send"], env)
        listening.until("event: message")
        event_id, _ = listening.until("id: ")
        data, _ = listening.until("data: ")
        assert data == f"data: {answer}"
        # The id the README resumes from is the one this first message got.
        assert event_id == f"id: conversation-{chat}:1"
    finally:
        listening.stop()

    missed = run(blocks["send"], env)
    assert missed != answer  # another message: another id and time

    resumed = Listening(blocks["resume"], env)
    try:
        data, before = resumed.until("data: ")
        assert data == f"data: {missed}"  # the missed one first, the seen one not again
        assert "event: stream-open" not in before  # the replay comes first
        resumed.until("event: stream-open")
        # then where the stream goes on from: the last replayed id, never ahead of it
        assert resumed.until("id: ")[0] == f"id: conversation-{chat}:2"
        again = run(blocks["send"], env)
        resumed.until("event: message")
        data, _ = resumed.until("data: ")
        assert data == f"data: {again}"
    finally:
        resumed.stop()
