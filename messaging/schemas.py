"""Shapes of the messaging API (API.md: Message, Conversation) and the stream payload.

`message_payload` is the one place a Message becomes JSON outside an HTTP answer:
the streams send it as event data, so an event equals the POST answer exactly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from django.conf import settings
from ninja import Header, Schema
from pydantic import Field, PlainSerializer, WithJsonSchema

from core.schemas import UserOut
from messaging.models import (
    BODY_MAX_LENGTH,
    HIDDEN_BODY,
    REPORT_NOTE_MAX_LENGTH,
    Attachment,
    ConversationMessage,
    Report,
)


def iso_utc(value: datetime) -> str:
    """A time as every answer and event writes it: UTC, microseconds, "Z"."""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# Full microseconds, always UTC with "Z", in HTTP answers and stream events alike.
# (The default JSON encoder cuts to milliseconds, which would make messages sent
# within one millisecond look simultaneous and the event data differ from the
# POST answer.) A string in both dump modes, so both paths print the same text.
Timestamp = Annotated[
    datetime,
    PlainSerializer(iso_utc, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class MessageIn(Schema):
    # Checked by the service (`message_send`), the one check whoever sends a body.
    body: str = Field(..., description=f"Trimmed, then 1 to {BODY_MAX_LENGTH} characters.")


# A client's retry of a send whose answer it lost (API.md, messages): 1 to 64 visible
# ASCII characters, else 422.
IdempotencyKey = Annotated[
    str | None,
    Header(
        None,
        alias="Idempotency-Key",
        min_length=1,
        max_length=64,
        pattern=r"^[\x21-\x7e]+$",
        description="A repeat of the same key by the same user within 24 hours answers "
        "the message first stored under it, and stores and streams nothing new.",
    ),
]


class AttachmentOut(Schema):
    id: UUID
    url: str = Field(
        ..., description="The image; for the two participants only (Bearer or cookie)."
    )
    thumbnail_url: str = Field(..., description="At most 320 px wide; same access as `url`.")
    width: int
    height: int

    @staticmethod
    def resolve_url(obj: Attachment) -> str:
        return attachment_url(obj.message.conversation_id, obj.pk)

    @staticmethod
    def resolve_thumbnail_url(obj: Attachment) -> str:
        return attachment_url(obj.message.conversation_id, obj.pk, thumbnail=True)


def attachment_url(conversation_id: Any, attachment_id: Any, *, thumbnail: bool = False) -> str:
    """An attachment's stable, private address (`PUBLIC_URL` first when it is set)."""
    tail = "/thumbnail" if thumbnail else ""
    return f"{settings.PUBLIC_URL}/api/chat/{conversation_id}/attachments/{attachment_id}{tail}"


class StaySummaryOut(Schema):
    """A stay as it was when a message about it was posted (API.md, StaySummary)."""

    id: UUID
    status: Literal["requested", "confirmed", "declined", "cancelled", "expired"]
    property_id: UUID
    property_title: str
    start_date: date
    end_date: date
    guests: int
    total_price: int


class SubjectOut(Schema):
    """The listing a conversation is about (API.md, Conversation `subject`)."""

    property_id: UUID
    title: str
    image_url: str | None


class MessageOut(Schema):
    id: UUID
    conversation_id: UUID
    kind: Literal["text", "reservation", "checkin"] = Field(
        ...,
        description="`text`: written by a person; `reservation`: a stay's news, posted by "
        "the service; `checkin`: the landlord's check-in details, posted before a stay.",
    )
    body: str = Field(
        ...,
        description="The text as stored: contact details masked (see `masked`); a message "
        f"hidden by staff answers `{HIDDEN_BODY}` and no attachments.",
    )
    created_by: UserOut
    sent_to: UserOut
    created_at: Timestamp
    reservation: StaySummaryOut | None = Field(
        ..., description="The stay as it was when posted; null for `text`."
    )
    attachments: list[AttachmentOut] = Field(..., description="The photos, in order sent.")
    masked: bool = Field(
        ..., description="Contact details were hidden: the two have no confirmed stay yet."
    )

    @staticmethod
    def resolve_body(obj: ConversationMessage) -> str:
        return HIDDEN_BODY if obj.hidden_at is not None else obj.body

    @staticmethod
    def resolve_attachments(obj: ConversationMessage) -> list[Attachment]:
        if obj.hidden_at is not None:
            return []
        loaded = getattr(obj, "attachment_list", None)  # with_people(), message_send
        return loaded if loaded is not None else list(obj.attachments.order_by("position"))


def message_payload(message: ConversationMessage) -> dict[str, Any]:
    """A Message as a JSON-ready dict, equal to the body of the POST answer.

    Runs no query when `created_by` and `sent_to` are loaded (as `message_send`
    and `ConversationMessage.objects.with_people()` leave them).
    """
    return MessageOut.from_orm(message).model_dump(mode="json")


class ConversationOut(Schema):
    id: UUID
    users: list[UserOut] = Field(..., description="The two participants.")
    created_at: Timestamp
    modified_at: Timestamp = Field(..., description="Latest activity: the last message's time.")
    last_message: MessageOut | None
    unread_count: int = Field(..., description="The other side's messages not yet read.")
    other_last_read_at: Timestamp | None = Field(
        ...,
        description="The other participant's read mark (null: never): every message "
        "created at or before it has been seen.",
    )
    subject: SubjectOut | None = Field(
        ..., description="The listing the two last talked about (contact or booking)."
    )

    @staticmethod
    def resolve_users(obj: Any) -> list[Any]:
        return [obj.user_low, obj.user_high]

    @staticmethod
    def resolve_last_message(obj: Any) -> Any:
        latest = obj.latest_messages
        return latest[0] if latest else None


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut] = Field(..., description="The latest 50 messages, oldest first.")
    has_more: bool = Field(..., description="Whether older messages exist.")

    @staticmethod
    def resolve_messages(obj: Any) -> list[Any]:
        return obj.history.items

    @staticmethod
    def resolve_has_more(obj: Any) -> bool:
        return obj.history.has_more


class MessagePageOut(Schema):
    items: list[MessageOut] = Field(..., description="Oldest first.")
    has_more: bool = Field(..., description="Whether messages older than these exist.")


class HistoryQuery(Schema):
    before: UUID | None = Field(
        None,
        description="A message id of this conversation: the page just older than it. "
        "Leave out for the latest page. An id not in this conversation answers 404.",
    )
    limit: int = Field(50, ge=1, le=100)


class StartOut(Schema):
    id: UUID
    created: bool


class ReportIn(Schema):
    reason: Report.Reason = Field(..., description="spam, abuse, scam or other.")
    # No NUL: PostgreSQL cannot store it in text.
    note: str = Field(
        "",
        max_length=REPORT_NOTE_MAX_LENGTH,
        pattern=r"^[^\x00]*$",
        description="Optional details.",
    )


class ReportOut(Schema):
    id: UUID
    message_id: UUID
    reason: str
    note: str
    created_at: Timestamp
