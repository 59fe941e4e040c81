"""messaging.realtime.storage: the storage django-eventstream is configured with.

Its appends must write exactly what the library's own reads expect (ids dense from 1,
the id-0 placeholder, JSON as the library encodes it), for several channels at once,
and the library's own `send_event` must go through it too.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_eventstream import send_event
from django_eventstream.models import Event as StoredEvent
from django_eventstream.storage import EVENT_TIMEOUT
from django_eventstream.utils import get_storage

from messaging.realtime import storage as realtime_storage
from messaging.realtime.storage import EventStorage
from tests.conftest import make_user


def channels_of_two_users() -> list[str]:
    return [f"conversation-{make_user().pk}", f"inbox-{make_user().pk}"]


def test_the_library_is_configured_with_this_storage() -> None:
    assert isinstance(get_storage(), EventStorage)


def test_ids_count_up_densely_from_one_on_every_channel(transactional_db: None) -> None:
    storage = get_storage()
    channels = channels_of_two_users()
    for n in (1, 2, 3):
        with transaction.atomic():
            events = storage.append_events(channels, "message", json.dumps({"n": n}))
        assert [(e.channel, e.id) for e in events] == [(c, n) for c in channels]
    for channel in channels:
        assert storage.get_current_id(channel) == 3
        assert [json.loads(e.data)["n"] for e in storage.get_events(channel, 0)] == [1, 2, 3]


def test_an_append_to_existing_channels_is_a_fixed_number_of_statements(
    transactional_db: None, django_assert_num_queries: Any
) -> None:
    storage = get_storage()
    channels = channels_of_two_users()
    storage.append_events(channels, "message", '{"n": 1}')  # the counters exist now
    # PostgreSQL: one statement bumps the counters and inserts the events; SQLite: the
    # counters bumped (UPDATE ... RETURNING), then the events inserted
    expected = 1 if connection.vendor == "postgresql" else 2
    with transaction.atomic(), django_assert_num_queries(expected):
        storage.append_events(channels, "message", '{"n": 2}')
    assert [json.loads(e.data)["n"] for e in storage.get_events(channels[0], 0)] == [1, 2]


def test_the_librarys_own_send_event_goes_through_it(transactional_db: None) -> None:
    storage = get_storage()
    channel = channels_of_two_users()[0]
    storage.append_events([channel], "message", '{"n": 1}')
    send_event(channel, "message", {"n": 2})  # the library's API, its own JSON encoding
    assert storage.get_current_id(channel) == 2
    assert [json.loads(e.data) for e in storage.get_events(channel, 0)] == [{"n": 1}, {"n": 2}]


def test_a_rolled_back_append_leaves_no_event_and_no_gap(transactional_db: None) -> None:
    storage = get_storage()
    channel = channels_of_two_users()[0]
    storage.append_events([channel], "message", '{"n": 1}')
    with pytest.raises(RuntimeError), transaction.atomic():
        storage.append_events([channel], "message", '{"n": "lost"}')
        raise RuntimeError
    storage.append_events([channel], "message", '{"n": 2}')
    assert [(e.id, e.data) for e in storage.get_events(channel, 0)] == [
        (1, '{"n": 1}'),
        (2, '{"n": 2}'),
    ]


def test_events_past_the_retention_are_trimmed(transactional_db: None) -> None:
    storage = get_storage()
    channel = channels_of_two_users()[0]
    storage.append_events([channel], "message", "{}")
    StoredEvent.objects.filter(channel=channel).update(
        created=timezone.now() - timedelta(minutes=EVENT_TIMEOUT + 1)
    )
    realtime_storage._trim["last"] = float("-inf")
    storage.append_events([channel], "message", "{}")
    realtime_storage.trim_expired()  # what publish_message runs after each commit
    assert list(StoredEvent.objects.filter(channel=channel).values_list("eid", flat=True)) == [2]
