"""Writes of the messaging app: start a conversation, send a message, mark read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.auth import TokenUser
from core.errors import BadRequest, Forbidden, Invalid, NotAuthenticated, NotFound
from core.models import User
from core.selectors import user_get
from messaging import masking
from messaging.images import PreparedImage, images_prepare
from messaging.models import (
    BODY_MAX_LENGTH,
    Attachment,
    Block,
    Conversation,
    ConversationMessage,
    MessageIdempotencyKey,
    MessageKind,
    Participant,
    Report,
    private_storage,
)
from messaging.notifications import services as notifications
from messaging.realtime import channels, publish
from messaging.realtime.rewrite import rewrite_message_events
from messaging.schemas import iso_utc, message_payload
from messaging.selectors import CONVERSATION_NOT_FOUND, block_exists
from messaging.stays import stay_confirmed_between

# Seconds between two typing events of one user in one conversation (API.md).
TYPING_INTERVAL = 3
BLOCKED = "You cannot message this person: one of you has blocked the other."

_TICK = timedelta(microseconds=1)
# How long an Idempotency-Key is honoured (API.md: 24 hours).
IDEMPOTENCY_WINDOW = timedelta(hours=24)


def conversation_start(*, user: User, other_user_id: UUID) -> tuple[Conversation, bool]:
    """The one conversation between `user` and another user, and whether it is new
    (400 with oneself, 404 for an unknown user, 403 while either blocks the other)."""
    if other_user_id == user.pk:
        raise BadRequest("You cannot start a conversation with yourself.")
    other = user_get(other_user_id)
    if block_exists(user, other):
        raise Forbidden(BLOCKED)
    return _pair_conversation(user, other)


def _clean_body(body: Any, *, allow_blank: bool = False) -> str:
    """The stored form of a message body: trimmed, 1 to BODY_MAX_LENGTH characters
    (or blank, when photos come with it).

    NUL is refused because PostgreSQL cannot store it in text (it would be a 500).
    """
    if not isinstance(body, str):
        raise Invalid("body must be a string.")
    text = body.strip()
    if not text and not allow_blank:
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
    images: list[UploadedFile] | None = None,
    idempotency_key: str | None = None,
) -> ConversationMessage:
    """Store a message from a participant, then announce it once it is committed.

    Streams must deliver messages in their stored order `(created_at, id)`, and they
    learn of messages in commit order. The two agree only if `created_at` is chosen
    while holding the conversation's write lock: the conversation row is locked
    first (`select_for_update` on PostgreSQL; on SQLite `BEGIN IMMEDIATE` already
    serialises writers), then `created_at` is set past the conversation's
    `modified_at`, which is the previous message's `created_at`. Timestamps thus
    increase strictly per conversation, in commit order, even if the clock steps
    back or two writers read the same instant.

    The message, the `modified_at` bump and the message's events are one
    transaction, so a failure leaves nothing behind. `publish.publish_message` is
    called inside it, under the same lock: it stores the events there, so event ids
    follow commit order too, and it wakes the streams only after commit
    (`on_commit`), so nobody is told of a message that was not stored.

    The sender's row comes with the conversation (both participants are joined for
    the message's answer anyway), so the endpoint's auth checks only the token
    (`JWTAuth(load_user=False)`) and a sender who is gone or inactive is refused here.

    Images (`images`, 1 to 4 uploads; the body may then be blank) are checked and
    re-encoded before the transaction (messaging.images), and their files written
    inside it: if anything fails, the files written are removed again, so a refused
    message leaves neither a row nor a file. Contact details in the body are masked
    while the two have no stay together (messaging.masking, messaging.stays); the stay
    is only asked about when the body holds something to mask.

    With an `idempotency_key`, a repeat of a key this sender used within
    `IDEMPOTENCY_WINDOW` returns the message first stored under it and stores and
    publishes nothing (`MessageIdempotencyKey`).
    """
    if idempotency_key is not None:
        earlier = _message_for_key(sender, idempotency_key)
        if earlier is not None:
            return earlier
    prepared = images_prepare(images or [])
    text = _clean_body(body, allow_blank=bool(prepared))
    try:
        return _store_message(conversation_id, sender, text, prepared, idempotency_key)
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
    conversation_id: UUID,
    sender: User | TokenUser,
    text: str,
    prepared: list[PreparedImage],
    idempotency_key: str | None,
) -> ConversationMessage:
    spans = masking.contact_spans(text, own_url=settings.PUBLIC_URL) if text else []
    written: list[str] = []
    try:
        with transaction.atomic():
            conversation = Conversation.objects.locked_with_users(conversation_id)
            if conversation is None:
                _refuse(sender)
            author = conversation.participant(sender.pk)
            if author is None or not author.is_active:
                _refuse(sender)
            recipient = conversation.other_user(author)
            if conversation.blocked:
                raise Forbidden(BLOCKED)
            masked = bool(spans) and not stay_confirmed_between(author.pk, recipient.pk)
            if masked:
                text, _ = masking.mask_contact_details(text, own_url=settings.PUBLIC_URL)
            created_at = max(timezone.now(), conversation.modified_at + _TICK)
            message = ConversationMessage(
                conversation=conversation,
                body=text,
                created_by=author,
                sent_to=recipient,
                created_at=created_at,
                masked=masked,
            )
            message.save(force_insert=True)
            message.attachment_list = _store_images(message, prepared, written)
            if idempotency_key is not None:
                keys = MessageIdempotencyKey.objects.filter(user_id=author.pk, key=idempotency_key)
                keys.filter(created_at__lt=timezone.now() - IDEMPOTENCY_WINDOW).delete()
                MessageIdempotencyKey.objects.create(
                    user_id=author.pk, key=idempotency_key, message=message
                )
            conversation.mark_activity(created_at)
            publish.publish_message(message)
            # The email if it stays unread (queued in this transaction; sent by the worker),
            # unless a check already waits for the recipient: it covers this message.
            if not conversation.email_check_waiting(recipient):
                notifications.message_sent(message)
    except BaseException:
        for name in written:
            private_storage.delete(name)
        raise
    return message


def _store_images(
    message: ConversationMessage, prepared: list[PreparedImage], written: list[str]
) -> list[Attachment]:
    """Write each image and its thumbnail (names noted in `written`), then their rows."""
    attachments = []
    for position, image in enumerate(prepared):
        attachment = Attachment(
            message=message,
            position=position,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
        )
        stem = f"{message.conversation_id}/{attachment.id.hex}"
        attachment.image.name = private_storage.save(
            f"{stem}.{image.extension}", ContentFile(image.content)
        )
        written.append(attachment.image.name)
        attachment.thumbnail.name = private_storage.save(
            f"{stem}-thumb.{image.extension}", ContentFile(image.thumbnail)
        )
        written.append(attachment.thumbnail.name)
        attachments.append(attachment)
    if attachments:
        Attachment.objects.bulk_create(attachments)
    return attachments


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
    unread. When the mark moves, both participants' streams get `event: read` (stored,
    in the same transaction), so the other side can show "Seen" and other tabs clear
    their badge; a read that changes nothing is not announced.
    """
    latest = (
        ConversationMessage.objects.filter(conversation_id=conversation_id)
        .order_by("-created_at", "-id")
        .values("created_at")[:1]
    )
    with transaction.atomic():
        marks = dict(
            Participant.objects.filter(conversation_id=conversation_id).values_list(
                "user_id", "last_read_at"
            )
        )
        if user.pk not in marks:
            raise NotFound(CONVERSATION_NOT_FOUND)
        mine = Participant.objects.filter(conversation_id=conversation_id, user=user)
        mine.update(last_read_at=Coalesce(Subquery(latest), F("last_read_at")))
        now_read = mine.values_list("last_read_at", flat=True).get()
        if now_read is None or now_read == marks[user.pk]:
            return
        [other_id] = [user_id for user_id in marks if user_id != user.pk]
        publish.publish_read(
            conversation_id=conversation_id,
            user_id=user.pk,
            other_user_id=other_id,
            last_read_at=iso_utc(now_read),
        )


def conversation_typing(*, conversation_id: UUID, user: User) -> bool:
    """Tell the other participant's streams that `user` is typing; whether it was sent.

    At most one every `TYPING_INTERVAL` seconds per user and conversation, counted from
    the last one sent: the first call within the interval claims it in the cache (shared
    by every worker process when `REDIS_URL` is set), the others are dropped. Nothing
    is stored. Between users who block each other nothing is sent.
    """
    conversation = (
        Conversation.objects.of_user(user).with_users().filter(pk=conversation_id).first()
    )
    if conversation is None:
        raise NotFound(CONVERSATION_NOT_FOUND)
    other = conversation.other_user(user)
    if block_exists(user, other):
        return False
    if not cache.add(f"typing:{conversation_id}:{user.pk}", True, timeout=TYPING_INTERVAL):
        return False
    publish.publish_typing(conversation_id=conversation.pk, user_id=user.pk, to_user_id=other.pk)
    return True


def user_block(*, user: User, other_user_id: UUID) -> None:
    """`user` blocks another user; blocking twice changes nothing. Nothing is deleted."""
    if other_user_id == user.pk:
        raise BadRequest("You cannot block yourself.")
    other = user_get(other_user_id)
    Block.objects.bulk_create([Block(blocker=user, blocked=other)], ignore_conflicts=True)


def user_unblock(*, user: User, other_user_id: UUID) -> None:
    """Lift `user`'s block of another user (their own block of `user`, if any, stays)."""
    if other_user_id == user.pk:
        raise BadRequest("You cannot block yourself.")
    other = user_get(other_user_id)
    Block.objects.filter(blocker=user, blocked=other).delete()


def message_report(
    *, user: User, conversation_id: UUID, message_id: UUID, reason: str, note: str = ""
) -> tuple[Report, bool]:
    """Report the other participant's message for staff; the report and whether it is new.

    Once per message and reporter (the unique key decides between concurrent calls): a
    repeat answers the first report unchanged.
    """
    message = (
        ConversationMessage.objects.filter(
            conversation_id=conversation_id, conversation__participants__user=user
        )
        .filter(pk=message_id)
        .first()
    )
    if message is None:
        if not Participant.objects.filter(conversation_id=conversation_id, user=user).exists():
            raise NotFound(CONVERSATION_NOT_FOUND)
        raise NotFound("Message not found in this conversation.")
    if message.created_by_id == user.pk:
        raise BadRequest("You cannot report your own message.")
    existing = Report.objects.filter(message=message, reporter=user).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            report = Report.objects.create(
                message=message, reporter=user, reason=reason, note=note.strip()
            )
    except IntegrityError:
        existing = Report.objects.filter(message=message, reporter=user).first()
        if existing is None:
            raise
        return existing, False
    return report, True


def message_hide(*, message: ConversationMessage, staff: User) -> None:
    """Hide a message for everyone (staff, after a report); its row and files stay for
    the record. Its body answers as HIDDEN_BODY and it has no attachments any more, in
    the detail, the history and the replay of stored events."""
    now = timezone.now()
    with transaction.atomic():
        ConversationMessage.objects.filter(pk=message.pk, hidden_at__isnull=True).update(
            hidden_at=now
        )
        message.hidden_at = message.hidden_at or now
        hidden = message_payload(ConversationMessage.objects.with_people().get(pk=message.pk))
        rewrite_message_events(
            _message_channels(message.conversation_id, message.created_by_id, message.sent_to_id),
            str(message.pk),
            lambda payload: payload.update(hidden),
        )
        reports_resolve(reports=Report.objects.filter(message=message), staff=staff)


def reports_resolve(
    *, reports: QuerySet[Report], staff: User, status: str = Report.Status.RESOLVED
) -> int:
    """Close the open reports among `reports`, noting who did it and when."""
    return reports.filter(status=Report.Status.OPEN).update(
        status=status, handled_by=staff, handled_at=timezone.now()
    )


# ------------------------------------------------------------------ posted by the service
#
# Other apps (listings: a stay's news) post into the thread between two users through
# these. Messaging stores what it is handed (a stay's summary, a subject) and never
# looks anything up in the app that handed it.


def _pair_conversation(a: User, b: User) -> tuple[Conversation, bool]:
    """The one conversation between `a` and `b` (started, with both read states, if
    none), and whether it is new. No activity or block checks: callers make them.

    Race-safe without locks: the unique pair key lets exactly one concurrent insert
    win; the losers' IntegrityError means "it exists now", so they read the winner's
    row. Both participants are created in the same transaction as the conversation,
    so nobody ever sees a conversation without its read state.
    """
    low, high = Conversation.ordered_pair(a, b)
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
            publish.channels_open(conversation_id=conversation.pk, user_ids=[low.pk, high.pk])
    except IntegrityError:
        existing = pair.first()
        if existing is None:  # not the pair key (e.g. the other user was just deleted)
            raise
        return existing, False
    return conversation, True


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
        pair, _ = _pair_conversation(author, recipient)
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
        message.attachment_list = []
        changes: dict[str, Any] = {"modified_at": created_at}
        if subject is not None:
            changes["subject"] = subject
        Conversation.objects.filter(pk=conversation.pk).update(**changes)
        publish.publish_message(message)
        # The email if it stays unread (a booking request: at once), as for any message.
        notifications.message_sent(message)
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
        where = _message_channels(
            message["conversation_id"], message["created_by_id"], message["sent_to_id"]
        )
        rewrite_message_events(where, str(message_id), lambda payload: payload.update(body=body))
    return True


def _message_channels(conversation_id: Any, sender_id: Any, recipient_id: Any) -> list[str]:
    """The channels a message's events went to: its conversation's and both inboxes."""
    return [
        channels.conversation_channel(conversation_id),
        channels.inbox_channel(sender_id),
        channels.inbox_channel(recipient_id),
    ]
