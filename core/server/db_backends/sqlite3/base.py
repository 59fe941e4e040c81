"""Django's SQLite backend, with this process's writers waiting on a lock instead of polling.

SQLite has one write lock per database file. Every transaction here starts with
`BEGIN IMMEDIATE` (settings: `transaction_mode`), so a second writer waits for it, and
SQLite's busy handler waits by sleeping and retrying with growing sleeps (up to 100 ms
each). When a burst of writers queues (a GC pause, a slow request), whoever happens to
retry at the right moment wins, and an unlucky writer can sleep through one release
after another: measured at 100 messages a second, a 100 ms pause turned into
2-second answers for a few requests (bench/README.md).

Here a transaction first takes a process-wide lock, which hands over at once on release;
SQLite's lock then only arbitrates between processes. The wait keeps SQLite's bound:
after the busy timeout the transaction goes ahead to `BEGIN IMMEDIATE` anyway, which
then fails with SQLite's own "database is locked" if the file is still held
(`core.api` answers that with 503). The lock is released when the transaction ends:
commit, rollback, or the connection closing.
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
