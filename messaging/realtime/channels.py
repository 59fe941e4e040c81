"""The message streams' channels, and who may read them.

Channels (django-eventstream's, stored so that every event has an id):
- `conversation-<conversation id>`: what `GET /api/chat/{id}/events` streams;
- `inbox-<user id>`: what `GET /api/chat/events` streams. Every message is also sent to
  both participants' inbox channels, so an inbox stream sees conversations that were
  started after it opened without having to subscribe to them.

Event types: `message` and `read` are stored (ids, replayed on resume); `typing` is
not (no id, live only) and goes on the conversation's channel, which both participants'
streams read, so each stream drops its own user's (`is_own_typing`).
"""

from __future__ import annotations

import json
import uuid

from django_eventstream.channelmanager import DefaultChannelManager
from django_eventstream.event import Event

from core.models import User
from messaging.selectors import conversation_has_member

MESSAGE_EVENT = "message"
# Stored like messages (an id, replayed on resume).
READ_EVENT = "read"
# Never stored: no id, never replayed, only to the other participant.
TYPING_EVENT = "typing"
CONVERSATION_PREFIX = "conversation-"
INBOX_PREFIX = "inbox-"


def conversation_channel(conversation_id: uuid.UUID | str) -> str:
    return f"{CONVERSATION_PREFIX}{conversation_id}"


def inbox_channel(user_id: uuid.UUID | str) -> str:
    return f"{INBOX_PREFIX}{user_id}"


def stream_channels(user_id: uuid.UUID | str, conversation_id: uuid.UUID | None) -> list[str]:
    """The channel a stream reads: its conversation's, or without one the caller's inbox."""
    if conversation_id is None:
        return [inbox_channel(user_id)]
    return [conversation_channel(conversation_id)]


class ChannelManager(DefaultChannelManager):
    """`EVENTSTREAM_CHANNELMANAGER_CLASS`: the one place that says who may read a channel.

    The stream route asks it (through the library's `get_events`) before a stream opens
    and on every storage re-read, and so does the library under GRIP, where follow-up
    requests carry a signed `es-meta` instead of the caller's token.
    """

    def can_read_channel(self, user: User | None, channel: str) -> bool:
        if user is None or not user.is_authenticated:
            return False
        if channel.startswith(INBOX_PREFIX):
            return channel == inbox_channel(user.pk)
        if channel.startswith(CONVERSATION_PREFIX):
            conversation_id = channel.removeprefix(CONVERSATION_PREFIX)
            return conversation_has_member(conversation_id=conversation_id, user=user)
        return False


def is_own_typing(event: Event, user_id: uuid.UUID | str | None) -> bool:
    """Whether `event` is a typing event of `user_id` (never shown to its typist)."""
    if event.type != TYPING_EVENT:
        return False
    try:
        return json.loads(event.data).get("user_id") == str(user_id)
    except (ValueError, AttributeError):
        return True  # not ours to show
