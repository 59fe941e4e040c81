"""`python manage.py worker` as operators run it: a real process on the test database.

Jobs are queued through `core.background.defer` (the services' one way in) and must run
once, not before their `run_after`, and survive the worker being killed and restarted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from core.background import defer
from core.management.commands.worker import GracefulWorker
from tests.conftest import ROOT, server_env
from tests.support.tasks import note_run

pytestmark = pytest.mark.live


def start_worker(tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`manage.py worker` on the test database (or with `env`, a live server's)."""
    log = (tmp_path / "worker.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.2"],
        cwd=ROOT,
        env=env or server_env(connection.settings_dict),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_for_lines(path: Path, count: int, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(lines := path.read_text().splitlines()) >= count:
            return lines
        time.sleep(0.1)
    return path.read_text().splitlines() if path.exists() else []


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_a_deferred_job_runs_once_in_the_worker(transactional_db: None, tmp_path: Path) -> None:
    out = tmp_path / "runs.txt"
    defer(note_run, str(out), "ran")
    worker = start_worker(tmp_path)
    try:
        assert wait_for_lines(out, 1) == ["ran"]
        time.sleep(1)  # a second poll must not run it again
        assert out.read_text().splitlines() == ["ran"]
    finally:
        stop(worker)
    assert worker.returncode == 0


def test_a_scheduled_job_waits_for_its_time_and_survives_a_killed_worker(
    transactional_db: None, tmp_path: Path
) -> None:
    out = tmp_path / "runs.txt"
    defer(note_run, str(out), "later", run_after=timezone.now() + timedelta(seconds=3))
    worker = start_worker(tmp_path)
    time.sleep(1)
    assert not out.exists()  # not before its time
    stop(worker, signal.SIGKILL)  # the worker dies; the job is in the database
    worker = start_worker(tmp_path)
    try:
        assert wait_for_lines(out, 1) == ["later"]
    finally:
        stop(worker)


def test_a_job_deferred_in_a_rolled_back_transaction_never_runs(
    transactional_db: None, tmp_path: Path
) -> None:
    out = tmp_path / "runs.txt"
    with pytest.raises(RuntimeError), transaction.atomic():
        defer(note_run, str(out), "rolled back")
        raise RuntimeError
    defer(note_run, str(out), "kept")
    worker = start_worker(tmp_path)
    try:
        assert wait_for_lines(out, 1) == ["kept"]
        time.sleep(1)
        assert out.read_text().splitlines() == ["kept"]
    finally:
        stop(worker)


def test_the_first_stop_signal_ends_the_loop_without_raising_where_it_lands() -> None:
    """SIGTERM may land while a query is in flight: the worker's handler must not raise
    there (django-tasks-db's raised SystemExit, and the poll's transaction then failed
    to end: exit status 1, seen in CI). The loop ends after the current poll; a second
    signal still stops at once."""
    worker = GracefulWorker.for_every_queue(interval=1, batch=False)
    worker.shutdown(signal.SIGTERM, None)  # raises nothing
    assert worker.running is False
    with pytest.raises(SystemExit):
        worker.shutdown(signal.SIGTERM, None)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
