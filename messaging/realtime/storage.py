"""The event storage django-eventstream is configured with: one append for several channels.

A message is one event on three channels (its conversation, both inboxes), written in
the message's transaction. The library's `DjangoModelStorage.append_event` takes about
eight queries per channel and scans for expired events on every call; `append_events`
writes the same rows to the same tables for all channels: on PostgreSQL in one
statement (data-modifying CTEs: lock, bump, insert), on SQLite in two (bump with
`RETURNING`, insert); the library's reads (`get_events`, `get_current_id`) work on them unchanged.

The counter rows are locked (PostgreSQL; SQLite's write lock is the database's) in
channel-name order, the one global order that keeps concurrent senders from
deadlocking, and a missing counter is created without aborting a PostgreSQL
transaction on a race. Expired events are trimmed after commit, at most once a minute
per process (`trim_expired`).
"""

from __future__ import annotations

import functools
import json
import threading
import time
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django_eventstream import models as stored
from django_eventstream.event import Event
from django_eventstream.storage import EVENT_TIMEOUT, DjangoModelStorage

TRIM_EVERY_SECONDS = 60
TRIM_BATCH = 500
_trim = {"last": float("-inf")}
_trim_lock = threading.Lock()


class EventStorage(DjangoModelStorage):
    """The library's database storage, whose appends go through `append_events`."""

    def append_event(self, channel: str, event_type: str, data: Any) -> Event:
        return self.append_events([channel], event_type, data)[0]

    def append_events(self, channels: list[str], event_type: str, data: Any) -> list[Event]:
        """Store `data` as the next event of each channel; the events, ids set, in `channels` order.

        Call inside the transaction that must own the ids: the counter rows stay locked
        until it commits, so ids per channel are dense and follow commit order.
        """
        names = sorted(set(channels))
        # No savepoint of its own: a failure here must undo the caller's write anyway.
        with transaction.atomic(savepoint=False):
            if connection.vendor == "postgresql":
                return _append_postgresql(names, channels, event_type, data)
            ids = _count_up(names)
            missing = [name for name in names if name not in ids]
            if missing:
                _create_counters(missing)
                ids |= _count_up(missing)
            encoded = json.dumps(data, cls=DjangoJSONEncoder)  # as the library stores it
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            rows = [(name, event_type, encoded, ids[name], now) for name in names]
            # The library reads from an existing id: a channel's first event needs an id 0.
            rows += [(name, "", "", 0, now) for name in names if ids[name] == 1]
            with connection.cursor() as cursor:
                cursor.execute(_insert_sql(len(rows)), [v for row in rows for v in row])
        return [Event(channel, event_type, data, id=ids[channel]) for channel in channels]

    def channels_create(self, channels: list[str]) -> None:
        """The counters of channels that have none yet (at 0: the first event is 1)."""
        _create_counters(channels)

    def trim_event_log(self) -> None:
        """The library's per-append scan, replaced by `trim_expired` after commit."""


def _append_postgresql(
    names: list[str], channels: list[str], event_type: str, data: Any
) -> list[Event]:
    """PostgreSQL: lock, count up and insert in ONE statement (one round trip, not three).

    The counters are locked in name order (the one global lock order) by the first
    part, bumped by the second, and the events inserted from the bumped values by the
    third, all inside the caller's transaction: three round trips through the ORM cost
    the worker more CPU than the rest of a message's transaction (bench/README.md).
    Channels without a counter yet (their first event) are created and done in a
    second pass.
    """
    ids = _bump_and_insert(names, event_type, data)
    missing = [name for name in names if name not in ids]
    if missing:
        _create_counters(missing)
        ids |= _bump_and_insert(missing, event_type, data)
    return [Event(channel, event_type, data, id=ids[channel]) for channel in channels]


def _create_counters(names: list[str]) -> None:
    """Counters at 0 for channels without one; a concurrent creation is no error."""
    stored.EventCounter.objects.bulk_create(
        [stored.EventCounter(name=name) for name in sorted(set(names))], ignore_conflicts=True
    )


@functools.cache
def _bump_and_insert_sql() -> str:
    q = connection.ops.quote_name
    counter, event = q(stored.EventCounter._meta.db_table), q(stored.Event._meta.db_table)
    return (
        f"WITH locked AS (SELECT {q('id')} FROM {counter} WHERE {q('name')} = ANY(%s) "  # noqa: S608
        f"ORDER BY {q('name')} FOR UPDATE), "
        f"bumped AS (UPDATE {counter} AS c SET {q('value')} = c.{q('value')} + 1, "
        f"{q('updated')} = %s FROM locked WHERE c.{q('id')} = locked.{q('id')} "
        f"RETURNING c.{q('name')} AS name, c.{q('value')} AS value), "
        f"added AS (INSERT INTO {event} ({q('channel')}, {q('type')}, {q('data')}, "
        f"{q('eid')}, {q('created')}) "
        "SELECT name, %s, %s, value, %s FROM bumped "
        # The library reads from an existing id: a channel's first event needs an id 0.
        "UNION ALL SELECT name, '', '', 0, %s FROM bumped WHERE value = 1) "
        "SELECT name, value FROM bumped"
    )


def _bump_and_insert(names: list[str], event_type: str, data: Any) -> dict[str, int]:
    now = timezone.now()
    encoded = json.dumps(data, cls=DjangoJSONEncoder)  # as the library stores it
    with connection.cursor() as cursor:
        cursor.execute(_bump_and_insert_sql(), [names, now, event_type, encoded, now, now])
        return dict(cursor.fetchall())


def _count_up(names: list[str]) -> dict[str, int]:
    """Add one to each existing counter; the new values (the events' ids) by name.

    On SQLite one `UPDATE ... RETURNING` (the caller's write lock already holds the
    counters): the ORM's select-then-update was two of a message's eight statements.
    """
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(_count_up_sql(len(names)), [timezone.now(), *names])
            return dict(cursor.fetchall())
    counters = stored.EventCounter.objects.filter(name__in=names)
    if connection.features.has_select_for_update:
        counters = counters.select_for_update().order_by("name")
    current = dict(counters.values_list("name", "value"))
    if current:
        counters.update(value=F("value") + 1, updated=timezone.now())
    return {name: value + 1 for name, value in current.items()}


@functools.cache
def _insert_sql(count: int) -> str:
    """The events' INSERT for `count` rows, built once (the ORM's `bulk_create` built it
    anew for every message, and its building cost more than the statement's run)."""
    q = connection.ops.quote_name
    columns = ", ".join(q(c) for c in ("channel", "type", "data", "eid", "created"))
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * count)
    return f"INSERT INTO {q(stored.Event._meta.db_table)} ({columns}) VALUES {values}"  # noqa: S608


@functools.cache
def _count_up_sql(count: int) -> str:
    q = connection.ops.quote_name
    marks = ", ".join(["%s"] * count)
    return (
        f"UPDATE {q(stored.EventCounter._meta.db_table)} "  # noqa: S608 (names, not input)
        f"SET {q('value')} = {q('value')} + 1, {q('updated')} = %s "
        f"WHERE {q('name')} IN ({marks}) RETURNING {q('name')}, {q('value')}"
    )


def trim_expired() -> None:
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
