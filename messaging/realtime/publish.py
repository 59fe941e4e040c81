"""Publishing a message on its channels, and the ordering guarantee of the streams.

The guarantee: every stream delivers each message once, in stored order
(`(created_at, id)` within a conversation, commit order on an inbox), resumed or live.
It holds because of three things, each done in one place:

1. Stored order is commit order. `message_send` locks the conversation's row and sets
   `created_at` past the previous message's while holding it.
2. Event ids are commit order. `publish_message` runs inside the message's transaction
   and appends its events there (`EventStorage.append_events`): each channel's counter
   row stays locked until commit, so ids per channel are dense and increasing in commit
   order, and a rolled-back message leaves no event and no gap.
3. Streams write ids in order. Listeners are woken after commit only, so nobody hears
   of a message that is not stored; two commits' wake-ups may still arrive the other
   way round, so the live loop (`messaging.realtime.live`) writes only the id that
   follows the last it wrote, re-reads storage on a gap, and skips ids already written.

Delivery after commit is the library's: local listener queues, or Redis pub/sub to
every process when `EVENTSTREAM_REDIS` is set, plus a GRIP publish (with `prev_id`, so
Pushpin also notices gaps) when `GRIP_URL` is set.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django_eventstream.event import Event
from django_eventstream.utils import get_storage
from django_eventstream.views import get_listener_manager
from redis.exceptions import RedisError

from messaging.models import ConversationMessage
from messaging.realtime import grip, redis_listener
from messaging.realtime.channels import (
    MESSAGE_EVENT,
    READ_EVENT,
    TYPING_EVENT,
    conversation_channel,
    inbox_channel,
)
from messaging.realtime.storage import trim_expired
from messaging.schemas import message_payload

logger = logging.getLogger(__name__)


def channels_open(*, conversation_id: uuid.UUID, user_ids: list[uuid.UUID]) -> None:
    """Create the event counters of a new conversation's channels (its own, both
    inboxes) with the conversation, so that its first message costs no more than the
    next ones: counters created by the first event cost that message a second round of
    statements, and a crowd of first messages made the latency tail (bench/README.md)."""
    names = [conversation_channel(conversation_id), *(inbox_channel(u) for u in user_ids)]
    get_storage().channels_create(names)


def publish_message(message: ConversationMessage) -> None:
    """Store the message's events now and wake the streams once the transaction commits.

    Call it inside the transaction that stores the message, after the message row is
    written. Outside a transaction events are stored and delivered at once.
    """
    # The payload is JSON-ready, so the default encoder writes what ninja's renderer
    # writes for the POST answer: an event equals the answer.
    data = json.dumps(message_payload(message))
    channels = [
        conversation_channel(message.conversation_id),
        *sorted({inbox_channel(message.created_by_id), inbox_channel(message.sent_to_id)}),
    ]
    events = get_storage().append_events(channels, MESSAGE_EVENT, data)
    transaction.on_commit(partial(_deliver, events))
    transaction.on_commit(trim_expired)  # after the wake-up, at most once a minute


def _deliver(events: list[Event]) -> None:
    """The second half of the library's `send_event`, for events already in storage."""
    from django_eventstream import eventstream

    if settings.GRIP_URL:
        grip.publish_events(events)  # ids chained per channel (messaging.realtime.grip)
    redis = eventstream.redis_client
    if redis is not None:
        _publish_to_redis(redis, events)
        return
    manager = get_listener_manager()
    for event in events:
        manager.add_to_queues(event.channel, event)
    # The woken streams write on the event loop, which needs the interpreter lock this
    # thread holds while it finishes the answer: handing it over now brings the event
    # out ~0.3 ms (a sixth of a message's latency) sooner (bench/README.md).
    os.sched_yield()


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
    events = get_storage().append_events(channels, READ_EVENT, data)
    transaction.on_commit(partial(_deliver, events))


def publish_typing(
    *, conversation_id: uuid.UUID, user_id: uuid.UUID, to_user_id: uuid.UUID
) -> None:
    """`event: typing` to the other participant's streams only: never stored, no id.

    It goes on the conversation's channel (the typist's own streams of it drop it: the
    stream route compares `user_id`) and on the other's inbox channel, through the same
    fan-out as messages (local queues, or Redis to every worker process), but not
    through storage: a stream that resumes never sees it. Under Pushpin it goes to the
    other's own channels without ids (`grip.publish_now`), so the ids Pushpin checks on
    the stream channels stay chained.
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
            grip.publish_now(to_user_id, channel, TYPING_EVENT, data)


def _publish_to_redis(client: Any, events: list[Event]) -> bool:
    """Publish stored events to every worker, in one round trip; False (logged) when Redis fails.

    The events are already committed, so the send that stored them still answers 201; but
    some streams may now miss them live. So this worker's streams are ended (their clients
    resume from storage), and the other workers' subscribers end theirs when they
    notice the outage (`messaging.realtime.redis_listener`).
    """
    try:
        pipe = client.pipeline(transaction=False)
        for event in events:
            pipe.publish(
                "events_channel",
                json.dumps(
                    {
                        "channel": event.channel,
                        "event_type": event.type,
                        "data": event.data,
                        "pub_id": str(event.id),
                    }
                ),
            )
        pipe.execute()
    except RedisError as exc:
        logger.warning("Redis publish failed (%r): ending this worker's open streams", exc)
        redis_listener.lost("publish failed")
        return False
    return True
