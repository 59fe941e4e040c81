"""messaging.realtime.storage on SQLite: ids count up densely whichever way the counters are bumped.

SQLite 3.35+ bumps and reads the counters in one `UPDATE ... RETURNING`; older SQLite
(Django 5.2 supports 3.31+) reads them and then updates. Both must give the same ids.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection, transaction
from django_eventstream.utils import get_storage

from messaging.realtime import storage as event_log
from tests.conftest import make_user

pytestmark = pytest.mark.skipif(
    connection.features.has_select_for_update, reason="the SQLite ways of counting"
)


@pytest.mark.parametrize("returning", [True, False], ids=["update-returning", "read-then-update"])
def test_ids_count_up_densely_from_one(
    transactional_db: None, monkeypatch: Any, returning: bool
) -> None:
    monkeypatch.setattr(event_log, "_update_returns_rows", lambda: returning)
    channels = [f"conversation-{make_user().pk}", f"inbox-{make_user().pk}"]
    for n in (1, 2, 3):
        with transaction.atomic():
            events = event_log.append(channels, "message", json.dumps({"n": n}))
        assert [(e.channel, e.id) for e in events] == [(c, n) for c in channels]
    storage = get_storage()
    for channel in channels:
        assert storage.get_current_id(channel) == 3
        assert [json.loads(e.data)["n"] for e in storage.get_events(channel, 0)] == [1, 2, 3]
