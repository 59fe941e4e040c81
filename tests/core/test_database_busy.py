"""A write that finds SQLite's write lock held past the busy timeout: 503 + Retry-After.

Real lock, real database: a second connection to the suite's SQLite file holds
`BEGIN IMMEDIATE` while a message is posted through the API, and the request's
connection waits 100 ms instead of the configured 20 s.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import OperationalError, connection

from core.api import BUSY_RETRY_AFTER, on_database_busy
from messaging.models import ConversationMessage
from messaging.services import conversation_start
from tests.conftest import client_for, make_user

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's busy timeout is what is tested"
)


@pytest.fixture
def short_busy_timeout(transactional_db: None) -> Iterator[None]:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 100")
    yield
    connection.close()  # the next user of this connection gets the configured timeout


@contextmanager
def write_lock_held() -> Iterator[None]:
    """Another connection to the same file holds SQLite's one write lock."""
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.rollback()
        other.close()


def test_a_message_sent_while_the_write_lock_is_held_answers_503_and_stores_nothing(
    short_busy_timeout: None,
) -> None:
    ann, bob = make_user(name="Ann"), make_user(name="Bob")
    conversation, _ = conversation_start(user=ann, other_user_id=bob.pk)
    api = client_for(ann)

    with write_lock_held():
        refused = api.post(f"/api/chat/{conversation.pk}/messages", {"body": "hello"})

    assert refused.status_code == 503
    assert refused.json() == {"detail": "The service is busy; retry in a moment."}
    assert refused["Retry-After"] == str(BUSY_RETRY_AFTER)
    assert not ConversationMessage.objects.exists()
    sent = api.post(f"/api/chat/{conversation.pk}/messages", {"body": "hello"})
    assert sent.status_code == 201


def test_other_database_errors_are_not_taken_for_a_busy_database(
    short_busy_timeout: None,
) -> None:
    with pytest.raises(OperationalError) as caught, connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    request: Any = None
    with pytest.raises(OperationalError):
        on_database_busy(request, caught.value)
