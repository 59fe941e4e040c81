"""Publishing a message on its channels: events stored with the message, streams woken after commit.

Ordering (event order == stored order, each event once):
1. `publish_message` is called INSIDE the transaction that stores the message. It appends
   the message's events to the library's storage there, so the event ids come from the
   same transaction: the storage's per-channel counter row is locked (`select_for_update`,
   SQLite's write lock) until commit, which makes ids per channel dense and increasing in
   commit order. `send_message` gives `created_at` under the conversation's write lock, so
   within a conversation commit order is also the stored `(created_at, id)` order (an
   inbox channel, fed by several conversations, follows commit order). A rolled-back
   message leaves no event and no gap.
2. Listeners are woken only after commit (`transaction.on_commit`), so nobody is told of a
   message that is not there. Two threads' on_commit hooks may still run the other way
   round (event 6 woken before event 5): the live loop (`messaging.realtime.live`) only
   writes an event whose id follows the last one it wrote; on a gap it re-reads storage
   in id order, and it drops ids it has already written. Storage, not the wake-up order,
   is the truth.
3. Delivery after commit is the library's: local listener queues, or Redis pub/sub to
   every process when `EVENTSTREAM_REDIS` is set, plus a GRIP publish (with `prev_id`,
   so Pushpin also notices gaps) when `GRIP_URL` is set.

The events are written by `messaging.realtime.storage.append` (the library's tables, three
queries for the three channels instead of about eight per channel), which locks the
counter rows in one global order so that concurrent senders never deadlock, and
creates a missing counter without aborting a PostgreSQL transaction on a race.
"""

from __future__ import annotations

import json
import os
import uuid
from functools import partial

from django.conf import settings
from django.db import transaction
from django_eventstream import models as stored
from django_eventstream.event import Event
from django_eventstream.utils import publish_event
from django_eventstream.views import get_listener_manager

from messaging.models import ConversationMessage
from messaging.realtime import storage
from messaging.realtime.channels import (
    MESSAGE_EVENT,
    READ_EVENT,
    TYPING_EVENT,
    conversation_channel,
    inbox_channel,
)
from messaging.schemas import message_payload

# Not on every platform (Windows); where it is missing the delivery only waits longer.
_yield_cpu = getattr(os, "sched_yield", None)


def publish_message(message: ConversationMessage) -> None:
    """Store the message's events now and wake the streams once the transaction commits.

    Call it inside the transaction that stores the message, after the message row is
    written (see the module docstring for why). Outside a transaction it still works:
    events are stored and delivered at once, in the order of the calls.
    """
    # The payload is JSON-ready (`model_dump(mode="json")`), so the default encoder
    # writes what ninja's renderer writes for the POST answer, without building one.
    data = json.dumps(message_payload(message))
    channels = [
        conversation_channel(message.conversation_id),
        *sorted({inbox_channel(message.created_by_id), inbox_channel(message.sent_to_id)}),
    ]
    events = storage.append(channels, MESSAGE_EVENT, data)
    transaction.on_commit(partial(_deliver, events))
    # After the wake-up: once a minute this deletes a minute's worth of expired events.
    transaction.on_commit(storage.trim_now_and_then)


def _deliver(events: list[Event]) -> None:
    """The second half of the library's `send_event`, for events already in storage.

    Local listeners are woken through the event loop (`call_soon_threadsafe`), which
    can only run once this request thread lets go of the GIL, and on a busy core
    only once the OS switches to the loop's thread. Left alone, that waits for the
    rest of the request (the answer's serialisation, middleware, signals): traced at
    100 messages a second, commit to the event written on the other participant's
    stream took 0.36 ms, of which 0.2 ms was that wait. So the thread yields once,
    after waking them (`os.sched_yield` releases the GIL): 0.15 ms (bench/README.md).
    """
    from django_eventstream import eventstream

    woke_local = False
    for event in events:
        pub_id = str(event.id)
        if eventstream.redis_client is not None:
            eventstream.redis_client.publish(
                "events_channel",
                json.dumps(
                    {
                        "channel": event.channel,
                        "event_type": event.type,
                        "data": event.data,
                        "pub_id": pub_id,
                    }
                ),
            )
        else:
            get_listener_manager().add_to_queues(event.channel, event)
            woke_local = True
        if settings.GRIP_URL:
            publish_event(event.channel, event.type, event.data, pub_id, str(event.id - 1))
    if woke_local and _yield_cpu is not None:
        _yield_cpu()


def publish_read(
    *, conversation_id: uuid.UUID, user_id: uuid.UUID, other_user_id: uuid.UUID, last_read_at: str
) -> None:
    """`event: read` to both participants' streams: stored like a message's (an id,
    replayed on resume), in the caller's transaction, delivered after commit."""
    data = json.dumps(
        {
            "conversation_id": str(conversation_id),
            "user_id": str(user_id),
            "last_read_at": last_read_at,
        }
    )
    channels = [
        conversation_channel(conversation_id),
        *sorted({inbox_channel(user_id), inbox_channel(other_user_id)}),
    ]
    events = storage.append(channels, READ_EVENT, data)
    transaction.on_commit(partial(_deliver, events))


def publish_typing(
    *, conversation_id: uuid.UUID, user_id: uuid.UUID, to_user_id: uuid.UUID
) -> None:
    """`event: typing` to the other participant's streams only: never stored, no id.

    It goes on the conversation's channel (the typist's own streams of it drop it: the
    stream route compares `user_id`, Pushpin skips that user) and on the other's inbox
    channel, through the same fan-out as messages (local queues, or Redis to every
    worker process), but not through storage: a stream that resumes never sees it.
    """
    from django_eventstream import eventstream

    data = json.dumps({"conversation_id": str(conversation_id), "user_id": str(user_id)})
    for channel in (conversation_channel(conversation_id), inbox_channel(to_user_id)):
        if eventstream.redis_client is not None:
            eventstream.redis_client.publish(
                "events_channel",
                json.dumps(
                    {"channel": channel, "event_type": TYPING_EVENT, "data": data, "pub_id": None}
                ),
            )
        else:
            get_listener_manager().add_to_queues(channel, Event(channel, TYPING_EVENT, data))
        if settings.GRIP_URL:
            publish_event(channel, TYPING_EVENT, data, None, None, skip_user_ids=[str(user_id)])


def message_rewrite_stored(message: ConversationMessage) -> int:
    """Rewrite the stored events of `message` as it answers now (a message hidden by
    staff), so that a stream resuming over it replays what the detail shows. The ids
    stay; how many events were rewritten. Rare (staff action): a scan is fine."""
    data = json.dumps(message_payload(message))
    rewritten = 0
    for event in stored.Event.objects.filter(type=MESSAGE_EVENT, data__contains=str(message.pk)):
        try:
            if json.loads(json.loads(event.data)).get("id") != str(message.pk):
                continue
        except (ValueError, AttributeError):
            continue
        event.data = json.dumps(data)
        event.save(update_fields=["data"])
        rewritten += 1
    return rewritten
