"""core.server.db_backends.sqlite3: this process's write transactions queue on a lock.

Each test gives the waiting connection a busy timeout of 1 ms: had it gone to SQLite
while another transaction held the write lock, it would fail at once with "database is
locked"; queued on the backend's lock, it waits and then succeeds.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction

from core.models import User
from core.server.db_backends.sqlite3.base import _writer
from tests.conftest import make_user

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the SQLite backend's own lock is tested"
)


def impatient() -> None:
    """This thread's connection gives up on SQLite's lock after 1 ms."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 1")


def test_a_writer_waits_for_the_one_before_it_instead_of_failing(transactional_db: None) -> None:
    inside, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                make_user(name="First")
                inside.set()
                assert release.wait(10)
        finally:
            connection.close()

    def second() -> None:
        try:
            impatient()
            with transaction.atomic():
                make_user(name="Second")
            outcome["ok"] = True
        except Exception as exc:  # reported below
            outcome["error"] = exc
        finally:
            connection.close()

    a = threading.Thread(target=first)
    a.start()
    assert inside.wait(10)
    assert _writer.locked()
    b = threading.Thread(target=second)
    b.start()
    b.join(0.3)
    assert b.is_alive(), "the second writer did not wait"
    release.set()
    a.join(10)
    b.join(10)
    assert outcome == {"ok": True}
    assert set(User.objects.values_list("name", flat=True)) == {"First", "Second"}
    assert not _writer.locked()


def test_a_begin_that_fails_releases_the_lock(transactional_db: None) -> None:
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process, as far as this one can tell
    try:
        impatient()
        with pytest.raises(OperationalError), transaction.atomic():
            make_user()
    finally:
        other.rollback()
        other.close()
        connection.close()
    assert not connection.holds_write_lock
    assert not _writer.locked()


def test_closing_a_connection_mid_transaction_releases_the_lock(transactional_db: None) -> None:
    def abandon() -> None:
        with transaction.atomic():
            make_user()
            connection.close()  # as Django does when a rollback fails: the transaction goes

    worker = threading.Thread(target=abandon)
    worker.start()
    worker.join(10)
    assert not _writer.locked()
    assert not User.objects.exists()
