"""Rewriting a message inside django-eventstream's stored events (the replay of streams).

A message whose words must no longer be kept (check-in details after the stay) lives
on in the events that carried it: each stream replays them on resume. This rewrites
those rows in the library's own table (`DjangoModelStorage`'s `Event`, data stored as
the JSON encoding of the payload string), in the caller's transaction, keeping their
ids, so a replay carries the new payload and no client's position moves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django_eventstream import models as stored
from django_eventstream.storage import DjangoModelStorage
from django_eventstream.utils import get_storage


def rewrite_message_events(
    channels: list[str], message_id: str, change: Callable[[dict[str, Any]], None]
) -> int:
    """Apply `change` to the payload of every stored `message` event of `message_id`.

    Looks only in `channels` (the conversation's and both inboxes); a row is changed
    only if its payload's own `id` is the message's (a body may quote an id). Answers
    how many rows were rewritten. Other storages (Redis) keep no rows here: 0.
    """
    if not isinstance(get_storage(), DjangoModelStorage):
        return 0
    rows = stored.Event.objects.filter(
        channel__in=channels, type="message", data__contains=message_id
    ).only("pk", "data")
    changed = 0
    for row in rows:
        payload = json.loads(json.loads(row.data))
        if payload.get("id") != message_id:
            continue
        change(payload)
        stored.Event.objects.filter(pk=row.pk).update(data=json.dumps(json.dumps(payload)))
        changed += 1
    return changed
