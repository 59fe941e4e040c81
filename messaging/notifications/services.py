"""Deciding, claiming and sending the email about a conversation's unread messages.

The rule (API.md, Notifications): a message still unread NOTIFY_DELAY after it was
sent brings its recipient one email about the conversation, with the unread messages;
then none for that conversation until the recipient has read what was emailed. A
booking request is emailed to its landlord at once. Nobody whose `notify_email` is off,
or who is inactive, gets any.

Sending is at most once. The email is claimed in a committed transaction (the row of
`UnreadEmail` for the conversation and recipient moves to `sending`, with the newest
message it covers) BEFORE the mail server is contacted, and every job checks that row
under a lock first. So a worker that dies after the server accepted the email, and
before it could write `sent`, leaves a claim that no later run repeats. The price is
the opposite failure: a worker that dies between the claim and the hand-over loses
that one email (the conversation is emailed again after the next read and message),
and a connection that breaks in the middle of a transfer is not retried either, since
the server may already hold the email. Failures that certainly delivered nothing (the
server cannot be reached, or answers 4xx) release the claim (`failed`) and the job
queues itself again with a growing delay. Each email also has a stable Message-ID, so
a mail system that did receive one twice can tell.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
from dataclasses import dataclass
from datetime import date, timedelta
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core.background import defer
from core.models import User
from messaging.models import Conversation, ConversationMessage, Participant
from messaging.notifications.models import UnreadEmail
from messaging.notifications.tokens import unsubscribe_token

logger = logging.getLogger(__name__)

# Messages quoted in one email; the rest are counted.
SHOWN = 5
# The first send and this many retries at most (NOTIFY_RETRY_BASE, then doubling).
MAX_ATTEMPTS = 6
# Where links in emails point without PUBLIC_URL (API.md, Operating).
DEFAULT_SITE = "http://127.0.0.1:8000"
# Clocks of the web and worker processes may differ by a little.
_SLACK = timedelta(seconds=1)


def booking_request(message: Any) -> dict[str, Any] | None:
    """The stay of a reservation message that requests it (to its landlord), else None.

    Read defensively: reservation messages (`kind`, `reservation` as a StaySummary)
    come from the bookings code; a message without them is a plain text message.
    """
    if getattr(message, "kind", "text") != "reservation":
        return None
    stay = getattr(message, "reservation", None)
    if stay is None:
        return None
    summary = stay if isinstance(stay, dict) else _as_summary(stay)
    return summary if summary.get("status") == "requested" else None


def _as_summary(stay: Any) -> dict[str, Any]:
    names = ("id", "status", "property_id", "property_title", "start_date", "end_date")
    summary = {name: getattr(stay, name, None) for name in (*names, "guests", "total_price")}
    if summary["property_title"] is None and getattr(stay, "property", None) is not None:
        summary["property_title"] = getattr(stay.property, "title", None)
    return summary


def message_sent(message: ConversationMessage) -> None:
    """Queue the email check for a message just stored (call it in the send's transaction).

    The job runs NOTIFY_DELAY after the message, a booking request's at once. A send
    queues none while a check for the recipient waits (`Participant.email_check_at`,
    `Conversation.email_check_waiting`): that check covers the message, and queues
    itself again if by then the recipient has read some and the rest is not yet due. Nothing is
    queued for a recipient who asked for no emails (the row is at hand, so this costs no
    query).
    """
    recipient = message.sent_to
    if not (recipient.notify_email and recipient.is_active):
        return
    run_after = None
    if booking_request(message) is None:
        run_after = message.created_at + timedelta(seconds=settings.NOTIFY_DELAY)
    _check_schedule(str(message.conversation_id), str(recipient.pk), run_after)


def _check_schedule(conversation_id: str, recipient_id: str, run_after: Any) -> None:
    """Queue the check, and note on the recipient's side when it will run."""
    from messaging.tasks import unread_email

    defer(unread_email, conversation_id, recipient_id, run_after=run_after)
    Participant.objects.filter(conversation_id=conversation_id, user_id=recipient_id).update(
        email_check_at=run_after or timezone.now()
    )


@dataclass
class _Claim:
    record: UnreadEmail
    recipient: User
    conversation: Conversation
    unread: list[ConversationMessage]


def unread_email_send(*, conversation_id: str, recipient_id: str, attempt: int = 0) -> str:
    """The job: email `recipient` about the conversation if the rule says so.

    Answers what it did (`sent`, `retry`, `failed`, `lost`, or why it sent nothing),
    for the worker's log and the tests.
    """
    claim = _claim(conversation_id, recipient_id)
    if isinstance(claim, str):
        return claim
    email = unread_email_build(claim)
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except (OSError, smtplib.SMTPException) as exc:
        return _release(claim, attempt, f"cannot reach the mail server: {exc!r}")
    try:
        connection.send_messages([email])
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            return _release(claim, attempt, f"the mail server answered {exc.smtp_code}")
        return _give_up(claim, f"the mail server refused it: {exc.smtp_code}")
    except smtplib.SMTPRecipientsRefused as exc:
        return _give_up(claim, f"the recipient was refused: {exc.recipients!r}")
    except (OSError, smtplib.SMTPException) as exc:
        # The server may hold the email already: at most once means no second try.
        logger.warning(
            "unread email %s: transfer broke off (%r); not retried", claim.record.message_id, exc
        )
        return "lost"
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            connection.close()
    UnreadEmail.objects.filter(pk=claim.record.pk).update(
        state=UnreadEmail.State.SENT, sent_at=timezone.now()
    )
    return "sent"


def _claim(conversation_id: str, recipient_id: str) -> _Claim | str:
    """Decide under the row's lock, and claim the email in a committed transaction."""
    now = timezone.now()
    with transaction.atomic():
        recipient = User.objects.filter(pk=recipient_id).first()
        if recipient is None or not recipient.is_active:
            return "inactive"
        if not recipient.notify_email:
            return "opted out"
        # Locked as a send locks it: a message sent meanwhile is either seen here, or
        # sees this check gone (`email_check_at` cleared) and queues its own.
        conversation = (
            Conversation.objects.with_users()
            .select_for_update(of=("self",))
            .filter(pk=conversation_id)
            .first()
        )
        if conversation is None or conversation.participant(recipient.pk) is None:
            return "gone"
        Participant.objects.filter(conversation=conversation, user=recipient).update(
            email_check_at=None
        )
        record, _ = UnreadEmail.objects.select_for_update().get_or_create(
            conversation=conversation, recipient=recipient
        )
        last_read = (
            Participant.objects.filter(conversation=conversation, user=recipient)
            .values_list("last_read_at", flat=True)
            .first()
        )
        unread = ConversationMessage.objects.filter(conversation=conversation).exclude(
            created_by=recipient
        )
        if last_read is not None:
            unread = unread.filter(created_at__gt=last_read)
        unread_list = list(unread.with_people().order_by("created_at", "id"))
        if not unread_list:
            return "read"
        due_before = now - timedelta(seconds=settings.NOTIFY_DELAY) + _SLACK
        if unread_list[0].created_at > due_before and not any(
            booking_request(m) for m in unread_list
        ):
            # Read in part since this check was queued: check again when the oldest
            # message still unread is due (sends queue none while one is waiting).
            due = unread_list[0].created_at + timedelta(seconds=settings.NOTIFY_DELAY)
            _check_schedule(conversation_id, recipient_id, due)
            return "not due"
        # The last email covered messages not read since: nothing new until they are.
        through = record.through
        unanswered = through is not None and (last_read is None or last_read < through)
        if unanswered and record.state != UnreadEmail.State.FAILED:
            return "already emailed"
        record.through = unread_list[-1].created_at
        record.state = UnreadEmail.State.SENDING
        record.claimed_at = now
        record.attempts += 1
        record.message_id = _message_id(record)
        record.save()
    return _Claim(record, recipient, conversation, unread_list)


def _release(claim: _Claim, attempt: int, why: str) -> str:
    """Nothing was delivered: free the claim and try again later, up to MAX_ATTEMPTS."""
    from messaging.tasks import unread_email

    with transaction.atomic():
        UnreadEmail.objects.filter(pk=claim.record.pk).update(state=UnreadEmail.State.FAILED)
        if attempt + 1 >= MAX_ATTEMPTS:
            logger.error("unread email %s: %s; giving up", claim.record.message_id, why)
            return "failed"
        wait = timedelta(seconds=settings.NOTIFY_RETRY_BASE * 2**attempt)
        defer(
            unread_email,
            str(claim.conversation.pk),
            str(claim.recipient.pk),
            attempt + 1,
            run_after=timezone.now() + wait,
        )
    logger.warning("unread email %s: %s; again in %s", claim.record.message_id, why, wait)
    return "retry"


def _give_up(claim: _Claim, why: str) -> str:
    UnreadEmail.objects.filter(pk=claim.record.pk).update(state=UnreadEmail.State.FAILED)
    logger.error("unread email %s: %s; not retried", claim.record.message_id, why)
    return "failed"


def _mail_domain() -> str:
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return address.rpartition("@")[2] or urlsplit(_link("/")).hostname or "localhost"


def _message_id(record: UnreadEmail) -> str:
    """The same for every attempt at one claim: what a mail system dedupes by."""
    stamp = int(record.through.timestamp() * 1_000_000) if record.through else 0
    return f"<{record.pk.hex}.{stamp}@{_mail_domain()}>"


def _link(path: str) -> str:
    return f"{settings.PUBLIC_URL or DEFAULT_SITE}{path}"


def _readable(stay: dict[str, Any]) -> dict[str, Any]:
    """The stay with its dates as dates (a StaySummary carries ISO strings)."""
    out = dict(stay)
    for key in ("start_date", "end_date"):
        if isinstance(out.get(key), str):
            with contextlib.suppress(ValueError):
                out[key] = date.fromisoformat(out[key])
    return out


def _quoted(message: ConversationMessage) -> str:
    """What an email quotes of a message. Check-in details (door codes, key boxes) stay
    on the site, where they are removed after the stay; an email could not be."""
    if getattr(message, "kind", "text") == "checkin":
        return "Your check-in details are ready. Open the conversation to see them."
    return message.body


def unread_email_build(claim: _Claim) -> EmailMultiAlternatives:
    """The email: plain text and HTML, with the one-click unsubscribe headers (RFC 8058)."""
    recipient, conversation = claim.recipient, claim.conversation
    sender = conversation.other_user(recipient)
    shown = claim.unread[-SHOWN:]
    booking = next((stay for m in claim.unread if (stay := booking_request(m))), None)
    unsubscribe = _link(reverse("unsubscribe", args=[unsubscribe_token(recipient.pk)]))
    context = {
        "recipient": recipient,
        "sender_name": sender.name or "Someone",
        "messages": [{"body": _quoted(m), "at": m.created_at} for m in shown],
        "count": len(claim.unread),
        "more": len(claim.unread) - len(shown),
        "booking": _readable(booking) if booking else None,
        "conversation_url": _link(reverse("conversation", args=[conversation.pk])),
        "settings_url": _link(reverse("settings")),
        "unsubscribe_url": unsubscribe,
    }
    subject = " ".join(render_to_string("messaging/email/unread_subject.txt", context).split())
    email = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("messaging/email/unread.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient.email],
        headers={
            "Message-ID": claim.record.message_id,
            # Emails about one conversation thread together in mail clients.
            "References": f"<conversation.{conversation.pk}@{_mail_domain()}>",
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
    email.attach_alternative(render_to_string("messaging/email/unread.html", context), "text/html")
    return email
