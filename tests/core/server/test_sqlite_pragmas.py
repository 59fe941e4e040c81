"""Every SQLite connection runs with the PRAGMAs the settings promise."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's connection settings are what is tested"
)


def test_a_connection_runs_with_wal_normal_sync_and_temporary_data_in_memory(db: None) -> None:
    # temp_store=MEMORY: SQLite's statement journals and temporary tables stay in memory;
    # by default they were files created and deleted in /var/tmp (on disk) during the
    # writes of one message in ten, as strace showed under bench/request_cost.py.
    with connection.cursor() as cursor:
        pragmas = {
            name: cursor.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous", "temp_store")
        }
    assert pragmas == {"journal_mode": "wal", "synchronous": 1, "temp_store": 2}
