"""Appending one event to several channels of django-eventstream's stored log, cheaply.

The library's `DjangoModelStorage.append_event` takes about eight queries per channel
(counter get-or-create, a savepoint, the locked counter, the insert, the counter
update, a trim scan), and a message goes to three channels, all inside the message's
write transaction: measured, that was more than half of the cost of a POST. This
writes the same rows to the same tables with the same meaning, for all channels at
once: count the counters up (PostgreSQL: lock them in channel-name order, the one
global lock order that keeps concurrent senders from deadlocking, then update them;
SQLite: one `UPDATE ... RETURNING`), and insert the events (one bulk insert, with the
library's id-0 placeholder for a channel's first event). Three queries on PostgreSQL,
two on SQLite, written as SQL where the ORM's building of them cost more than running
them. The library's reads (`get_events`, `get_current_id`) and its own
`append_event` work on these rows unchanged.

Trimming events older than the library's retention (`EVENT_TIMEOUT`) is
`trim_now_and_then`, at most once a minute per process instead of a scan on every
append; the caller runs it after commit, once the streams are woken
(`messaging.realtime.publish.publish_message`).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django_eventstream import models as stored
from django_eventstream.event import Event
from django_eventstream.storage import EVENT_TIMEOUT, DjangoModelStorage
from django_eventstream.utils import get_storage

TRIM_EVERY_SECONDS = 60
TRIM_BATCH = 500
_trim = {"last": float("-inf")}
_trim_lock = threading.Lock()


def append(channels: list[str], event_type: str, data: str) -> list[Event]:
    """Store `data` as the next event of each channel; the events, ids set, in `channels` order.

    Call inside the transaction that must own the ids: the counter rows stay locked
    until it commits, so ids per channel are dense and follow commit order.
    """
    storage = get_storage()
    if not isinstance(storage, DjangoModelStorage):  # another storage: its own append
        return [storage.append_event(channel, event_type, data) for channel in channels]
    names = sorted(set(channels))
    # No savepoint of its own: a failure here must undo the caller's message anyway.
    with transaction.atomic(savepoint=False):
        ids = _count_up(names)
        missing = [name for name in names if name not in ids]
        if missing:
            stored.EventCounter.objects.bulk_create(
                [stored.EventCounter(name=name) for name in missing], ignore_conflicts=True
            )
            ids |= _count_up(missing)
        encoded = json.dumps(data)  # a str, JSON-encoded as the library stores it
        rows = [(name, event_type, encoded, ids[name]) for name in names]
        # The library reads from an existing id: a channel's first event needs an id 0.
        rows += [(name, "", "", 0) for name in names if ids[name] == 1]
        _insert(rows)
    return [Event(channel, event_type, data, id=ids[channel]) for channel in channels]


def _count_up(names: list[str]) -> dict[str, int]:
    """Add one to each existing counter; the new values (the events' ids) by name."""
    if connection.features.has_select_for_update or not _update_returns_rows():
        counters = stored.EventCounter.objects.filter(name__in=names)
        if connection.features.has_select_for_update:
            # Row locks (PostgreSQL), taken in the one global order, then the bump.
            counters = counters.select_for_update().order_by("name")
        current = dict(counters.values_list("name", "value"))
        counters.update(value=F("value") + 1, updated=timezone.now())
        return {name: value + 1 for name, value in current.items()}
    # SQLite 3.35+: BEGIN IMMEDIATE already holds its one write lock, so there is no lock
    # order to keep, and UPDATE ... RETURNING bumps and reads in one statement, where
    # building two ORM queries cost more than running them.
    q = connection.ops.quote_name
    table, value, updated, name = (
        q(stored.EventCounter._meta.db_table),
        q("value"),
        q("updated"),
        q("name"),
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    marks = ", ".join(["%s"] * len(names))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {value} = {value} + 1, {updated} = %s "  # noqa: S608 (names, not input)
            f"WHERE {name} IN ({marks}) RETURNING {name}, {value}",
            [now, *names],
        )
        return dict(cursor.fetchall())


def _insert(rows: list[tuple[str, str, str, int]]) -> None:
    """One multi-row INSERT of `(channel, type, data, eid)` rows into the library's table.

    What `bulk_create` of `Event` objects wrote, as one statement written out: building
    the model instances and compiling the insert cost more than the rest of a message's
    events (bench/README.md). `created` is set as the model's `auto_now_add` would.
    """
    q = connection.ops.quote_name
    columns = ", ".join(q(c) for c in ("channel", "type", "data", "eid", "created"))
    created = connection.ops.adapt_datetimefield_value(timezone.now())
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(stored.Event._meta.db_table)} ({columns}) VALUES {values}",  # noqa: S608
            [value for row in rows for value in (*row, created)],
        )


def _update_returns_rows() -> bool:
    """SQLite got RETURNING (and Django this flag) in 3.35; Django 5.2 runs on 3.31+."""
    return bool(connection.features.can_return_columns_from_insert)


def trim_now_and_then() -> None:
    """Drop events past the library's retention, at most once a minute per process."""
    with _trim_lock:
        now = time.monotonic()
        if now - _trim["last"] < TRIM_EVERY_SECONDS:
            return
        _trim["last"] = now
    cutoff = timezone.now() - timedelta(minutes=EVENT_TIMEOUT)
    old = stored.Event.objects.filter(created__lt=cutoff).values_list("pk", flat=True)
    while batch := list(old[:TRIM_BATCH]):
        stored.Event.objects.filter(pk__in=batch).delete()
