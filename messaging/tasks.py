"""Background jobs of the messaging app (run by `python manage.py worker`)."""

from __future__ import annotations

from django_tasks import task

from messaging.notifications.services import unread_email_send
from messaging.realtime import grip


@task()
def unread_email(conversation_id: str, recipient_id: str, attempt: int = 0) -> str:
    """Email a recipient about a conversation's unread messages, if they still are.

    Queued for every message (at sent + NOTIFY_DELAY) and by itself to retry a send the
    mail server refused; running it more often than needed, or late, is harmless.
    """
    return unread_email_send(
        conversation_id=conversation_id, recipient_id=recipient_id, attempt=attempt
    )


@task()
def held_streams_expire(auth_channel: str) -> None:
    """End the streams Pushpin holds with a token that has now expired (`grip`)."""
    grip.publish_expired(auth_channel)
