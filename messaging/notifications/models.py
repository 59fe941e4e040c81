"""What has been emailed about a conversation to one of its participants."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class UnreadEmail(models.Model):
    """One row per conversation and recipient: the latest email claimed for it.

    `through` is the `created_at` of the newest message that email covered. While the
    recipient's read mark is before it, that email is still "unanswered" and no other
    is sent for the conversation; once they have read up to it, the next unread
    message may be emailed again. The row is claimed (`state = sending`) in a
    committed transaction BEFORE the mail server is contacted (see
    `services.unread_email_send` for why).
    """

    class State(models.TextChoices):
        SENDING = "sending", "claimed, handed to the mail server"
        SENT = "sent", "accepted by the mail server"
        FAILED = "failed", "the mail server refused or was unreachable: may be retried"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    through = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.SENT)
    message_id = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "recipient"], name="unread_email_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id} about {self.conversation_id}: {self.state}"
