"""Django's SQLite backend, with this process's writers waiting on a lock instead of polling.

Every transaction starts with `BEGIN IMMEDIATE` (settings), so writers queue for SQLite's
one write lock; SQLite's busy handler waits by sleeping and retrying with growing sleeps,
so after a pause an unlucky writer can sleep through one release after another. Here a
transaction first takes a process-wide lock, which hands over at once on release, and
SQLite's lock only arbitrates between processes. The wait keeps SQLite's bound: after
the busy timeout the transaction goes on to `BEGIN IMMEDIATE` anyway, which then fails
with SQLite's own "database is locked" (answered 503 by `core.api`). The lock is released
when the transaction ends: commit, rollback, or the connection closing.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db.backends.sqlite3 import base

_writer = threading.Lock()


class DatabaseWrapper(base.DatabaseWrapper):
    holds_write_lock = False

    def _start_transaction_under_autocommit(self) -> None:
        if not self.holds_write_lock:
            timeout = self.settings_dict["OPTIONS"].get("timeout", 5)
            self.holds_write_lock = _writer.acquire(timeout=timeout)
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_write_lock()
            raise

    def _release_write_lock(self) -> None:
        if self.holds_write_lock:
            self.holds_write_lock = False
            _writer.release()

    def _commit(self) -> Any:
        try:
            return super()._commit()
        finally:
            self._release_write_lock()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()
        finally:
            self._release_write_lock()

    def _close(self) -> Any:
        try:
            return super()._close()
        finally:
            self._release_write_lock()
