"""Conversations between two users, their messages, and who has read what."""

from __future__ import annotations

import functools
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import connections, models
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.prepared import Prepared

if TYPE_CHECKING:
    from core.models import User

# A message body holds at most this many characters once trimmed (API.md).
BODY_MAX_LENGTH = 4000


class PrivateStorage(FileSystemStorage):
    """Files outside the public media URL (`PRIVATE_MEDIA_ROOT`); they have no URL of
    their own: an API endpoint checks who asks, then sends the file."""

    @property
    def base_location(self) -> str:  # type: ignore[override]
        return str(settings.PRIVATE_MEDIA_ROOT)

    @property
    def location(self) -> str:  # type: ignore[override]
        return os.path.abspath(self.base_location)

    def url(self, name: str | None) -> str:
        raise ValueError("Private files are served by the API, not by URL.")


private_storage = PrivateStorage()
# A report's optional note (API.md: `note?`).
REPORT_NOTE_MAX_LENGTH = 1000
# What a message hidden by staff answers as its body (detail, history, replay).
HIDDEN_BODY = "This message was hidden by stayhub staff."
# An unread-email check this late has been lost (a dead worker): queue another.
EMAIL_CHECK_OVERDUE = timedelta(hours=1)
# Stands in for "never read" so that one comparison covers both cases.
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@functools.cache
def _locked_with_users() -> Prepared[Conversation]:
    def build(pk: uuid.UUID) -> models.QuerySet[Conversation]:
        blocks = Block.objects.filter(
            Q(blocker=OuterRef("user_low"), blocked=OuterRef("user_high"))
            | Q(blocker=OuterRef("user_high"), blocked=OuterRef("user_low"))
        )

        def email_check(side: str) -> Subquery:
            sides = Participant.objects.filter(conversation=OuterRef("pk"), user=OuterRef(side))
            return Subquery(sides.values("email_check_at")[:1])

        return (
            Conversation.objects.with_users()
            .annotate(
                blocked=Exists(blocks),
                low_email_check_at=email_check("user_low"),
                high_email_check_at=email_check("user_high"),
            )
            .select_for_update(of=("self",))
            .filter(pk=pk)
        )

    return Prepared(build, Conversation._meta.pk)


@functools.cache
def _mark_activity_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    meta = Conversation._meta
    return (
        f"UPDATE {q(meta.db_table)} SET {q(meta.get_field('modified_at').column)} = %s "  # noqa: S608
        f"WHERE {q(meta.pk.column)} = %s"
    )


class ConversationQuerySet(models.QuerySet["Conversation"]):
    """Per-caller reads of conversations, each computed inside the one SQL query."""

    def of_user(self, user: User | Any) -> ConversationQuerySet:
        """The conversations `user` (or a user id) takes part in: the one membership rule.

        Sending, reading and streaming all ask this (or `Conversation.participant` on a
        loaded row): a member is one of the pair, whose columns the constraints guard.
        """
        user_id = getattr(user, "pk", user)
        return self.filter(Q(user_low_id=user_id) | Q(user_high_id=user_id))

    def with_users(self) -> ConversationQuerySet:
        # The pair columns always name the two participants, so a join is enough.
        return self.select_related("user_low", "user_high")

    def locked_with_users(self, conversation_id: uuid.UUID) -> Conversation | None:
        """The conversation with both users loaded, its row locked until the transaction ends,
        and `blocked`: whether either user blocks the other (a send's checks, one query).

        PostgreSQL locks the conversation's row only, not the users'; on SQLite
        `BEGIN IMMEDIATE` already holds the database's write lock. None if there is none.
        Its SQL is built once per connection (`core.prepared`): building it cost ten
        times running it, on every message.
        """
        return _locked_with_users().get(conversation_id, using=self.db)

    def with_unread_count(self, user: User) -> ConversationQuerySet:
        """Annotate `unread_count`: the other side's messages newer than `user` last read.

        Own messages never count; with no read mark yet, every message of the other
        side counts.
        """
        last_read = Participant.objects.filter(
            conversation=OuterRef("conversation"), user=user
        ).values("last_read_at")[:1]
        unread = (
            ConversationMessage.objects.filter(conversation=OuterRef("pk"))
            .exclude(created_by=user)
            .filter(created_at__gt=Coalesce(Subquery(last_read), Value(_NEVER)))
            .order_by()
            .values("conversation")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return self.annotate(unread_count=Coalesce(Subquery(unread), 0))

    def with_other_last_read(self, user: User) -> ConversationQuerySet:
        """Annotate `other_last_read_at`: the other participant's read mark (None: never)."""
        mark = (
            Participant.objects.filter(conversation=OuterRef("pk"))
            .exclude(user=user)
            .values("last_read_at")[:1]
        )
        return self.annotate(other_last_read_at=Subquery(mark))

    def with_last_message(self) -> ConversationQuerySet:
        """Prefetch each conversation's latest message into `latest_messages` (0 or 1 item).

        A sliced Prefetch is one query for any number of conversations (Django ranks
        the rows with a window function).
        """
        latest = ConversationMessage.objects.with_people().order_by("-created_at", "-id")[:1]
        return self.prefetch_related(
            Prefetch("messages", queryset=latest, to_attr="latest_messages")
        )

    def for_inbox(self, user: User) -> ConversationQuerySet:
        return (
            self.of_user(user)
            .with_users()
            .with_unread_count(user)
            .with_other_last_read(user)
            .with_last_message()
            .order_by("-modified_at", "-id")
        )


class Conversation(models.Model):
    """A conversation between exactly two different users, at most one per pair.

    `user_low`/`user_high` hold the pair ordered by id; the unique constraint on them
    is what makes concurrent "start" calls for one pair leave one row. `users` (through
    `Participant`) is the seed app's many-to-many and carries each side's read state.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Participant", related_name="conversations"
    )
    user_low = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    user_high = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # What the two last talked about, as the caller handed it (a listing's
    # `{"property_id", "title", "image_url"}`): stored, never looked up, so that
    # messaging knows nothing of listings.
    subject = models.JSONField(null=True, blank=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user_low", "user_high"], name="conversation_pair_unique"
            ),
            models.CheckConstraint(
                condition=Q(user_low__lt=F("user_high")), name="conversation_pair_ordered"
            ),
        ]
        ordering = ["-modified_at"]

    def __str__(self) -> str:
        return f"Conversation {self.id}"

    @staticmethod
    def ordered_pair(a: Any, b: Any) -> tuple[Any, Any]:
        """`(low, high)` of two users (or ids) as the pair key stores them.

        UUIDs compare the same way in Python, SQLite (hex text) and PostgreSQL (uuid),
        so the check constraint agrees with this order.
        """
        a_id, b_id = getattr(a, "pk", a), getattr(b, "pk", b)
        return (a, b) if uuid.UUID(str(a_id)) < uuid.UUID(str(b_id)) else (b, a)

    def mark_activity(self, at: datetime) -> None:
        """Set `modified_at` to `at`, in the database and on this instance (every message:
        its UPDATE is built once, `_mark_activity_sql`)."""
        alias = self._state.db or "default"
        connection = connections[alias]
        meta = Conversation._meta
        with connection.cursor() as cursor:
            cursor.execute(
                _mark_activity_sql(alias),
                [
                    meta.get_field("modified_at").get_db_prep_value(at, connection),
                    meta.pk.get_db_prep_value(self.pk, connection),
                ],
            )
        self.modified_at = at

    def email_check_waiting(self, user: User) -> bool:
        """Whether an unread-email check for `user` waits to run (loaded by
        `locked_with_users`; False otherwise). One long overdue (its worker died, say)
        counts as none, so that the next message queues another."""
        if user.pk == self.user_low_id:
            due = getattr(self, "low_email_check_at", None)
        else:
            due = getattr(self, "high_email_check_at", None)
        return due is not None and due > timezone.now() - EMAIL_CHECK_OVERDUE

    def participant(self, user_id: Any) -> User | None:
        """The participant whose id is `user_id` (loaded with `with_users()`), else None."""
        if user_id == self.user_low_id:
            return self.user_low
        if user_id == self.user_high_id:
            return self.user_high
        return None

    def other_user(self, user: User) -> User:
        """The participant who is not `user` (the recipient of what `user` sends)."""
        return self.user_high if self.user_low_id == user.pk else self.user_low


class Participant(models.Model):
    """One side of a conversation, with the moment up to which it has read."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="participants"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    last_read_at = models.DateTimeField(null=True, blank=True)
    # When the unread-email check queued for this side will run (None: none waiting).
    # While one waits, a message to this side queues no other: the check covers it
    # (messaging.notifications). Set and cleared under the conversation's lock.
    email_check_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="participant_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.conversation_id}"


class MessageKind(models.TextChoices):
    """Who wrote it: a person (`text`), or the service about a stay between the two."""

    TEXT = "text"
    RESERVATION = "reservation"
    CHECKIN = "checkin"


class ConversationMessageQuerySet(models.QuerySet["ConversationMessage"]):
    def with_people(self) -> ConversationMessageQuerySet:
        """Join sender and recipient and fetch the attachments into `attachment_list`
        (one query for any number of messages), so serializing Messages runs no further
        query per message. A plain list, not the related manager's cache: that one keeps
        a queryset pointing back at the message, a cycle only the cyclic GC frees."""
        attachments = Prefetch(
            "attachments",
            queryset=Attachment.objects.order_by("position"),
            to_attr="attachment_list",
        )
        return self.select_related("created_by", "sent_to").prefetch_related(attachments)


class ConversationMessage(models.Model):
    """One message. Within a conversation, `(created_at, id)` orders messages as stored.

    `created_at` is a plain default, not `auto_now_add`, because `message_send` sets it
    itself under the conversation's write lock so that it increases strictly in commit
    order (see `messaging.services.message_send`).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    body = models.TextField(max_length=BODY_MAX_LENGTH)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sent_messages"
    )
    sent_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="received_messages"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Contact details were replaced before storage (messaging.masking): the sender's
    # page says why.
    masked = models.BooleanField(default=False)
    # Hidden by staff after a report: kept for the record, answered as HIDDEN_BODY.
    hidden_at = models.DateTimeField(null=True, blank=True)
    kind = models.CharField(
        max_length=16, choices=MessageKind.choices, default=MessageKind.TEXT.value
    )
    # A stay's summary as it was when the message was posted (API.md, StaySummary),
    # handed over by whoever posted it; null for a person's `text` message.
    reservation = models.JSONField(null=True, blank=True)

    objects = ConversationMessageQuerySet.as_manager()

    class Meta:
        # History pages walk (created_at, id) backwards from a cursor.
        indexes = [
            models.Index(fields=["conversation", "-created_at", "-id"], name="message_history")
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.created_by_id} -> {self.sent_to_id}: {self.body[:40]}"


class MessageIdempotencyKey(models.Model):
    """The message a user first stored under an `Idempotency-Key` (API.md, messages).

    A client whose answer was lost sends the same POST again with the same key, and is
    answered with the message stored the first time instead of a second copy. The
    unique constraint decides between concurrent sends with one key: exactly one insert
    wins, the others read its message. A key is honoured for `IDEMPOTENCY_WINDOW`; an
    older row is replaced when its key is used again.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    message = models.ForeignKey(ConversationMessage, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="message_idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.key}"


def _attachment_path(instance: Attachment, filename: str) -> str:
    # Random names in one folder per conversation: nothing about the upload is kept.
    return f"{instance.message.conversation_id}/{filename}"


class Attachment(models.Model):
    """An image sent with a message, stored re-encoded (no metadata) with its thumbnail.

    The files live in `PRIVATE_MEDIA_ROOT`, never under the public media URL: they are
    served by `GET /api/chat/{id}/attachments/{attachment_id}` to the two participants
    only (messaging.api). `position` keeps the order in which they were sent.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(
        ConversationMessage, on_delete=models.CASCADE, related_name="attachments"
    )
    position = models.PositiveSmallIntegerField()
    image = models.FileField(storage=private_storage, upload_to=_attachment_path, max_length=200)
    thumbnail = models.FileField(
        storage=private_storage, upload_to=_attachment_path, max_length=200
    )
    content_type = models.CharField(max_length=32)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["message", "position"], name="attachment_position")
        ]

    def __str__(self) -> str:
        return f"Attachment {self.position} of {self.message_id}"


class Block(models.Model):
    """`blocker` blocks `blocked`: neither can start a conversation with, write to, or
    book with the other while it exists (API.md, Safety). Nothing said is deleted."""

    blocker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_made"
    )
    blocked = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_received"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique"),
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="block_not_self"),
        ]
        indexes = [models.Index(fields=["blocked", "blocker"], name="block_reverse")]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"


class Report(models.Model):
    """A participant's report of the other's message, for staff (one per message and
    reporter). Staff act from the admin: hide the message, deactivate its sender."""

    class Reason(models.TextChoices):
        SPAM = "spam", "Spam"
        ABUSE = "abuse", "Abuse"
        SCAM = "scam", "Scam"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        DISMISSED = "dismissed", "Dismissed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(
        ConversationMessage, on_delete=models.CASCADE, related_name="reports"
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports_made"
    )
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.TextField(max_length=REPORT_NOTE_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "reporter"], name="report_once"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} report on {self.message_id}"
