"""Conversations between two users, their messages, and who has read what."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q


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


class Participant(models.Model):
    """One side of a conversation, with the moment up to which it has read."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="participants"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    last_read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="participant_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.conversation_id}"


class ConversationMessage(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    body = models.TextField(max_length=4000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sent_messages"
    )
    sent_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="received_messages"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # History pages walk (created_at, id) backwards from a cursor.
        indexes = [
            models.Index(fields=["conversation", "-created_at", "-id"], name="message_history")
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.created_by_id} -> {self.sent_to_id}: {self.body[:40]}"
