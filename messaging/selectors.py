"""Reads of the messaging app: the inbox, one conversation, history pages.

Every read is scoped to the caller: a conversation the caller is not part of is
"not found", so its existence is never revealed (API.md). Each function runs a
fixed number of queries whatever the number of conversations or messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from core.errors import NotFound
from core.models import User
from core.selectors import get_or_404
from messaging.models import (
    Attachment,
    Block,
    Conversation,
    ConversationMessage,
    ConversationQuerySet,
)

# Messages shown with a conversation (API.md: "the latest 50").
DETAIL_MESSAGES = 50
# What a conversation the caller is not part of answers: its existence stays hidden.
CONVERSATION_NOT_FOUND = "Conversation not found."


@dataclass(frozen=True)
class MessagePage:
    """A slice of history, oldest first, and whether older messages exist."""

    items: list[ConversationMessage]
    has_more: bool


def conversation_list(*, user: User) -> ConversationQuerySet:
    """The caller's conversations, latest activity first, ready to serialize.

    Three queries for any page: the conversations (with both users joined and the
    caller's unread count as a subquery), then one prefetch for the last messages.
    """
    return Conversation.objects.for_inbox(user)


def conversation_get(*, user: User, conversation_id: UUID) -> Conversation:
    """One of the caller's conversations with its latest messages in `history`.

    The last message is the newest item of that page, so it is taken from there
    rather than prefetched again.
    """
    conversation = get_or_404(
        Conversation.objects.of_user(user)
        .with_users()
        .with_unread_count(user)
        .with_other_last_read(user),
        pk=conversation_id,
    )
    page = _page(conversation_id=conversation.pk, before=None, limit=DETAIL_MESSAGES)
    conversation.history = page  # type: ignore[attr-defined]
    conversation.latest_messages = page.items[-1:]  # type: ignore[attr-defined]
    return conversation


def message_list(
    *, user: User, conversation_id: UUID, before: UUID | None, limit: int
) -> MessagePage:
    """The page of `limit` messages just older than message `before` (or the latest page).

    The cursor is `(created_at, id)` of that message, so pages neither skip nor
    repeat messages however many arrive meanwhile. A `before` id that is not a
    message of this conversation is "not found" (404), not an empty page: it is a
    client bug worth surfacing.
    """
    if not conversation_has_member(conversation_id=conversation_id, user=user):
        raise NotFound(CONVERSATION_NOT_FOUND)
    return _page(conversation_id=conversation_id, before=before, limit=limit)


def _page(*, conversation_id: UUID, before: UUID | None, limit: int) -> MessagePage:
    messages = ConversationMessage.objects.filter(conversation_id=conversation_id)
    if before is not None:
        cursor = messages.filter(pk=before).values("created_at", "id").first()
        if cursor is None:
            raise NotFound("Message not found in this conversation.")
        messages = messages.filter(
            Q(created_at__lt=cursor["created_at"])
            | Q(created_at=cursor["created_at"], id__lt=cursor["id"])
        )
    # One row more than asked tells whether an older page exists.
    newest_first = list(messages.with_people().order_by("-created_at", "-id")[: limit + 1])
    return MessagePage(items=newest_first[:limit][::-1], has_more=len(newest_first) > limit)


def conversation_has_member(*, conversation_id: Any, user: User) -> bool:
    """Whether `user` takes part in that conversation (one query).

    Takes a UUID or its string form; a malformed id is simply not a conversation
    of the user, so callers handling URL parts need no separate check.
    """
    try:
        return Conversation.objects.of_user(user).filter(pk=conversation_id).exists()
    except (ValidationError, ValueError):
        return False


def block_exists(a: Any, b: Any) -> bool:
    """Whether either of two users (or user ids) blocks the other (one query).

    What refuses a conversation's start, a message and a booking between them: the
    listings booking service asks it too (`reservation_create`).
    """
    a_id, b_id = getattr(a, "pk", a), getattr(b, "pk", b)
    return Block.objects.filter(
        Q(blocker_id=a_id, blocked_id=b_id) | Q(blocker_id=b_id, blocked_id=a_id)
    ).exists()


def block_state(*, user: User, other: User) -> tuple[bool, bool]:
    """`(user blocks other, other blocks user)`, in one query (the conversation page)."""
    blockers = set(
        Block.objects.filter(
            Q(blocker=user, blocked=other) | Q(blocker=other, blocked=user)
        ).values_list("blocker_id", flat=True)
    )
    return user.pk in blockers, other.pk in blockers


def blocked_users(*, user: User) -> QuerySet[User]:
    """The users `user` blocks, latest block first (`GET /api/users/me/blocked`)."""
    return User.objects.filter(blocks_received__blocker=user).order_by(
        "-blocks_received__created_at", "pk"
    )


def attachment_for_download(
    *, user: User, conversation_id: UUID, attachment_id: UUID
) -> Attachment:
    """An attachment of a message in one of `user`'s conversations, else NotFound.

    One query; an attachment of a message hidden by staff is not found either.
    """
    return get_or_404(
        Attachment.objects.filter(
            message__conversation_id=conversation_id,
            message__conversation__participants__user=user,
            message__hidden_at__isnull=True,
        ),
        pk=attachment_id,
    )
