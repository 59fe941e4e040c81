"""Placeholder for the event fan-out: the streams engineer replaces this module.

It exists only so that `messaging.services.send_message` can register its
after-commit hook before the real publisher lands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from messaging.models import ConversationMessage


def publish_message(message: ConversationMessage) -> None:
    """Tell every stream of the conversation about a stored message (no-op for now).

    The streams engineer replaces this with the django-eventstream publisher; it is
    called from `transaction.on_commit`, so only committed messages are announced.
    """
