"""Writes of the messaging app: start a conversation, send a message, mark it read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import F, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.auth import TokenUser
from core.errors import BadRequest, Invalid, NotAuthenticated, NotFound
from core.models import User
from core.selectors import get_user
from messaging.models import (
    BODY_MAX_LENGTH,
    Conversation,
    ConversationMessage,
    MessageIdempotencyKey,
    MessageKind,
    Participant,
)
from messaging.realtime import channels, publish
from messaging.realtime.rewrite import rewrite_message_events
from messaging.selectors import CONVERSATION_NOT_FOUND

_TICK = timedelta(microseconds=1)
# How long an Idempotency-Key is honoured (API.md: 24 hours).
IDEMPOTENCY_WINDOW = timedelta(hours=24)


def conversation_start(*, user: User, other_user_id: UUID) -> tuple[Conversation, bool]:
    """The one conversation between `user` and another user, and whether it is new.

    Race-safe without locks: the unique pair key lets exactly one concurrent insert
    win; the losers' IntegrityError means "it exists now", so they read the winner's
    row. Both participants are created in the same transaction as the conversation,
    so nobody ever sees a conversation without its read state.
    """
    if other_user_id == user.pk:
        raise BadRequest("You cannot start a conversation with yourself.")
    other = get_user(other_user_id)
    low, high = Conversation.ordered_pair(user, other)
    pair = Conversation.objects.filter(user_low=low, user_high=high)
    existing = pair.first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(user_low=low, user_high=high)
            Participant.objects.bulk_create(
                [
                    Participant(conversation=conversation, user=low),
                    Participant(conversation=conversation, user=high),
                ]
            )
    except IntegrityError:
        existing = pair.first()
        if existing is None:  # not the pair key (e.g. the other user was just deleted)
            raise
        return existing, False
    return conversation, True


def _clean_body(body: Any) -> str:
    """The stored form of a message body: trimmed, 1 to BODY_MAX_LENGTH characters.

    The one check of a body, whoever sends it (the API's `MessageIn` only asks for a
    string). NUL is refused because PostgreSQL cannot store it in text.
    """
    if not isinstance(body, str):
        raise Invalid("body must be a string.")
    text = body.strip()
    if not text:
        raise Invalid("body must not be blank.")
    if len(text) > BODY_MAX_LENGTH:
        raise Invalid(f"body must be at most {BODY_MAX_LENGTH} characters.")
    if "\x00" in text:
        raise Invalid("body must not contain NUL characters.")
    return text


def message_send(
    *,
    conversation_id: UUID,
    sender: User | TokenUser,
    body: str,
    idempotency_key: str | None = None,
) -> ConversationMessage:
    """Store a message from a member, its events with it, and wake the streams after commit.

    The conversation's row is locked first and `created_at` set past its `modified_at`
    (the previous message's time) while holding it: the ordering guarantee's first step
    (`messaging.realtime.publish`). The sender's row comes with the conversation, so the
    endpoint's auth checks only the token (`JWTAuth(load_user=False)`) and a sender who
    is gone or inactive is refused here.

    With an `idempotency_key`, a repeat of a key this sender used within
    `IDEMPOTENCY_WINDOW` returns the message first stored under it and stores and
    publishes nothing (`MessageIdempotencyKey`).
    """
    if idempotency_key is not None:
        earlier = _message_for_key(sender, idempotency_key)
        if earlier is not None:
            return earlier
    text = _clean_body(body)
    try:
        return _store_message(conversation_id, sender, text, idempotency_key)
    except IntegrityError:
        # a concurrent send with the same key won the unique constraint: its message
        earlier = _message_for_key(sender, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        return earlier


def _message_for_key(sender: User | TokenUser, key: str) -> ConversationMessage | None:
    row = (
        MessageIdempotencyKey.objects.filter(
            user_id=sender.pk, key=key, created_at__gte=timezone.now() - IDEMPOTENCY_WINDOW
        )
        .select_related("message__created_by", "message__sent_to")
        .first()
    )
    return row.message if row is not None else None


def _store_message(
    conversation_id: UUID, sender: User | TokenUser, text: str, idempotency_key: str | None
) -> ConversationMessage:
    with transaction.atomic():
        conversation = Conversation.objects.locked_with_users(conversation_id)
        if conversation is None:
            _refuse(sender)
        author = conversation.participant(sender.pk)
        if author is None or not author.is_active:
            _refuse(sender)
        created_at = max(timezone.now(), conversation.modified_at + _TICK)
        message = ConversationMessage.objects.create(
            conversation=conversation,
            body=text,
            created_by=author,
            sent_to=conversation.other_user(author),
            created_at=created_at,
        )
        if idempotency_key is not None:
            keys = MessageIdempotencyKey.objects.filter(user_id=author.pk, key=idempotency_key)
            keys.filter(created_at__lt=timezone.now() - IDEMPOTENCY_WINDOW).delete()
            MessageIdempotencyKey.objects.create(
                user_id=author.pk, key=idempotency_key, message=message
            )
        conversation.mark_activity(created_at)
        publish.publish_message(message)
    return message


def _refuse(sender: User | TokenUser) -> NoReturn:
    """Why `sender` may not post: gone or inactive is a 401 (as `JWTAuth` answers it),
    otherwise the conversation does not exist for them (404, as for a stranger)."""
    if not User.objects.filter(pk=sender.pk, is_active=True).exists():
        raise NotAuthenticated("Invalid token.")
    raise NotFound(CONVERSATION_NOT_FOUND)


def conversation_mark_read(*, conversation_id: UUID, user: User) -> None:
    """Mark everything up to the conversation's latest message as read by `user`.

    The mark is that message's `created_at`, not "now": a message committed a moment
    later always has a later `created_at` (see `message_send`), so it still counts as
    unread. One UPDATE both checks membership and writes.
    """
    latest = (
        ConversationMessage.objects.filter(conversation_id=conversation_id)
        .order_by("-created_at", "-id")
        .values("created_at")[:1]
    )
    membership = Conversation.objects.of_user(user).filter(pk=conversation_id)
    updated = Participant.objects.filter(conversation__in=membership, user=user).update(
        last_read_at=Coalesce(Subquery(latest), F("last_read_at"))
    )
    if not updated:
        raise NotFound(CONVERSATION_NOT_FOUND)


# ------------------------------------------------------------------ posted by the service
#
# Other apps (listings: a stay's news) post into the thread between two users through
# these. Messaging stores what it is handed (a stay's summary, a subject) and never
# looks anything up in the app that handed it.


def _pair_conversation(a: User, b: User) -> Conversation:
    """The conversation between `a` and `b`, started (with both read states) if none.

    No activity or block checks: the caller has decided the two must talk (a stay).
    """
    low, high = Conversation.ordered_pair(a, b)
    pair = Conversation.objects.filter(user_low=low, user_high=high)
    existing = pair.first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(user_low=low, user_high=high)
            Participant.objects.bulk_create(
                [
                    Participant(conversation=conversation, user=low),
                    Participant(conversation=conversation, user=high),
                ]
            )
    except IntegrityError:
        existing = pair.first()
        if existing is None:
            raise
        return existing
    return conversation


def conversation_subject_set(*, conversation_id: UUID, subject: dict[str, Any]) -> None:
    """Set what the conversation is about (`{"property_id", "title", "image_url"}`)."""
    Conversation.objects.filter(pk=conversation_id).update(subject=subject)


def message_post(
    *,
    author: User,
    recipient: User,
    kind: str,
    body: str,
    reservation: dict[str, Any] | None = None,
    subject: dict[str, Any] | None = None,
) -> ConversationMessage:
    """Post a message from `author` to `recipient` in their thread (started if none).

    For news the service itself tells (a stay requested, confirmed...): meant to be
    called inside the transaction of the change it tells of, so that both are stored
    or neither is. Like a person's message it is ordered under the conversation's
    lock, bumps `modified_at`, is unread for `recipient` and is streamed after commit;
    `subject`, when given, becomes the conversation's subject.
    """
    if kind not in MessageKind.values:
        raise ValueError(f"unknown message kind {kind!r}")
    with transaction.atomic():
        pair = _pair_conversation(author, recipient)
        conversation = Conversation.objects.select_for_update().get(pk=pair.pk)
        created_at = max(timezone.now(), conversation.modified_at + _TICK)
        message = ConversationMessage(
            conversation=conversation,
            kind=kind,
            body=body[:BODY_MAX_LENGTH],
            reservation=reservation,
            created_by=author,
            sent_to=recipient,
            created_at=created_at,
        )
        message.save(force_insert=True)
        changes: dict[str, Any] = {"modified_at": created_at}
        if subject is not None:
            changes["subject"] = subject
        Conversation.objects.filter(pk=conversation.pk).update(**changes)
        publish.publish_message(message)
    return message


def message_redact(*, message_id: UUID, body: str) -> bool:
    """Replace a message's body everywhere it is kept: its row and its stored events.

    Whatever the old words were, they are gone once this commits: the detail, the
    history and a stream's replay all carry `body`. Answers whether the message
    exists. Idempotent.
    """
    with transaction.atomic():
        message = (
            ConversationMessage.objects.select_for_update()
            .filter(pk=message_id)
            .values("conversation_id", "created_by_id", "sent_to_id")
            .first()
        )
        if message is None:
            return False
        ConversationMessage.objects.filter(pk=message_id).update(body=body)
        where = [
            channels.conversation_channel(message["conversation_id"]),
            channels.inbox_channel(message["created_by_id"]),
            channels.inbox_channel(message["sent_to_id"]),
        ]
        rewrite_message_events(where, str(message_id), lambda payload: payload.update(body=body))
    return True
