"""Emails about unread messages, decided and sent in this process to a real SMTP server.

The job (`unread_email_send`) is called directly here, so each rule can be checked in
isolation; tests/messaging/test_notifications_worker.py runs the same job in a real
worker process on its schedule.
"""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from core.models import User
from messaging import services
from messaging.models import Conversation, ConversationMessage
from messaging.notifications.models import UnreadEmail
from messaging.notifications.services import booking_request, unread_email_send
from messaging.notifications.tokens import unsubscribe_user_id
from tests.support.smtp import MailServer, parts


@pytest.fixture
def smtp(settings: Any, mail_server: MailServer) -> MailServer:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = mail_server.port
    settings.EMAIL_TIMEOUT = 5
    settings.NOTIFY_DELAY = 0
    settings.PUBLIC_URL = "https://stays.example.org"
    return mail_server


def send(conversation: Conversation, sender: User, body: str) -> ConversationMessage:
    return services.message_send(conversation_id=conversation.pk, sender=sender, body=body)


def run_job(chat: Conversation, recipient: User, attempt: int = 0) -> str:
    return unread_email_send(
        conversation_id=str(chat.pk), recipient_id=str(recipient.pk), attempt=attempt
    )


def test_the_email_names_the_writer_quotes_the_latest_five_and_links_the_conversation(
    smtp: MailServer, chat: Conversation, alice: User, bob: User
) -> None:
    for n in range(1, 8):
        send(chat, alice, f"Message number {n} <b>&amp;</b>")
    assert run_job(chat, bob) == "sent"
    [email] = smtp.wait_for(1)
    assert email["To"] == bob.email
    assert email["From"] == "stayhub <no-reply@localhost>"
    assert email["Subject"] == "7 new messages from Alice"
    text, html = parts(email)["text/plain"], parts(email)["text/html"]
    link = f"https://stays.example.org/inbox/{chat.pk}"
    for body in (text, html):
        assert link in body
        assert "2 earlier messages not shown" in body
        assert "Message number 1 " not in body and "Message number 2 " not in body
        for n in range(3, 8):
            assert f"Message number {n}" in body
    assert "Message number 7 <b>&amp;</b>" in text  # plain text is not escaped
    assert "Message number 7 &lt;b&gt;&amp;amp;&lt;/b&gt;" in html  # HTML is
    # no tracking: no image at all, no link but the conversation, settings and unsubscribe
    assert "<img" not in html.lower()
    hrefs = set(re.findall(r'href="([^"]+)"', html))
    unsubscribe = re.fullmatch(
        r"<(https://stays\.example\.org/unsubscribe/[^>]+)>", email["List-Unsubscribe"].strip()
    )
    assert unsubscribe is not None, email["List-Unsubscribe"]
    assert hrefs == {link, "https://stays.example.org/settings", unsubscribe.group(1)}
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = unsubscribe.group(1).rsplit("/", 1)[1]
    assert unsubscribe_user_id(token) == str(bob.pk)
    record = UnreadEmail.objects.get(conversation=chat, recipient=bob)
    assert email["Message-ID"] == record.message_id
    assert record.state == UnreadEmail.State.SENT


def test_one_email_until_read_then_again(
    smtp: MailServer, chat: Conversation, alice: User, bob: User
) -> None:
    send(chat, alice, "Is the flat free in May?")
    assert run_job(chat, bob) == "sent"
    send(chat, alice, "And is there parking?")
    assert run_job(chat, bob) == "already emailed"
    assert run_job(chat, bob) == "already emailed"
    send(chat, bob, "Let me check.")  # answering is not reading what was emailed
    assert run_job(chat, bob) == "already emailed"
    services.conversation_mark_read(conversation_id=chat.pk, user=bob)
    assert run_job(chat, bob) == "read"
    send(chat, alice, "Thanks, and the wifi?")
    assert run_job(chat, bob) == "sent"
    first, second = smtp.wait_for(2)
    assert len(smtp.emails()) == 2
    assert first["Subject"] == "Alice sent you a message"
    assert "Is the flat free in May?" in parts(first)["text/plain"]
    assert "Thanks, and the wifi?" in parts(second)["text/plain"]
    assert "parking" not in parts(second)["text/plain"]  # it was read
    assert first["Message-ID"] != second["Message-ID"]
    # alice gets nothing for bob's reply until the job for her runs; it was never queued
    # here, but it would be emailed to her as to anyone
    assert run_job(chat, alice) == "sent"
    assert smtp.wait_for(3)[2]["To"] == alice.email


def test_nothing_for_a_message_read_in_time_or_not_yet_due(
    smtp: MailServer, settings: Any, chat: Conversation, alice: User, bob: User
) -> None:
    send(chat, alice, "hello")
    services.conversation_mark_read(conversation_id=chat.pk, user=bob)
    assert run_job(chat, bob) == "read"
    settings.NOTIFY_DELAY = 600
    send(chat, alice, "are you there?")
    assert run_job(chat, bob) == "not due"
    assert smtp.wait_for(1, timeout=0.5) == []


def test_nothing_for_people_who_turned_emails_off_or_are_inactive(
    smtp: MailServer, chat: Conversation, alice: User, bob: User
) -> None:
    send(chat, alice, "hello")
    User.objects.filter(pk=bob.pk).update(notify_email=False)
    assert run_job(chat, bob) == "opted out"
    User.objects.filter(pk=bob.pk).update(notify_email=True, is_active=False)
    assert run_job(chat, bob) == "inactive"
    assert smtp.wait_for(1, timeout=0.5) == []


def test_a_claim_left_by_a_worker_that_died_while_sending_is_never_sent_again(
    smtp: MailServer, chat: Conversation, alice: User, bob: User
) -> None:
    message = send(chat, alice, "hello")
    # what a worker leaves when it dies after the server took the email, before `sent`
    UnreadEmail.objects.create(
        conversation=chat,
        recipient=bob,
        through=message.created_at,
        state=UnreadEmail.State.SENDING,
        claimed_at=timezone.now(),
    )
    assert run_job(chat, bob) == "already emailed"
    assert smtp.wait_for(1, timeout=0.5) == []


def test_a_busy_mail_server_gets_the_email_later_once(
    smtp: MailServer, settings: Any, chat: Conversation, alice: User, bob: User
) -> None:
    settings.NOTIFY_RETRY_BASE = 30
    send(chat, alice, "hello")
    DBTaskResult.objects.all().delete()  # the message's own job: run by hand here
    smtp.busy = True  # 451 to everything
    before = timezone.now()
    assert run_job(chat, bob) == "retry"
    assert UnreadEmail.objects.get(recipient=bob).state == UnreadEmail.State.FAILED
    [retry] = DBTaskResult.objects.all()
    assert retry.task_path == "messaging.tasks.unread_email"
    assert retry.args_kwargs["args"] == [str(chat.pk), str(bob.pk), 1]
    assert (
        before + timedelta(seconds=30) <= retry.run_after <= timezone.now() + timedelta(seconds=30)
    )
    smtp.busy = False
    assert run_job(chat, bob, attempt=1) == "sent"
    assert run_job(chat, bob, attempt=1) == "already emailed"
    assert len(smtp.wait_for(1)) == 1
    assert UnreadEmail.objects.get(recipient=bob).state == UnreadEmail.State.SENT


def test_an_unreachable_mail_server_is_retried_with_growing_waits_then_given_up(
    settings: Any, chat: Conversation, alice: User, bob: User
) -> None:
    down = MailServer()  # nothing listens on its port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", down.port, 2
    settings.NOTIFY_DELAY, settings.NOTIFY_RETRY_BASE = 0, 10
    send(chat, alice, "hello")
    DBTaskResult.objects.all().delete()
    for attempt, wait in enumerate([10, 20, 40, 80, 160]):
        started = timezone.now()
        assert run_job(chat, bob, attempt) == "retry"
        finished = timezone.now()
        queued = DBTaskResult.objects.get()
        assert started + timedelta(seconds=wait) <= queued.run_after
        assert queued.run_after <= finished + timedelta(seconds=wait)
        queued.delete()
    assert run_job(chat, bob, 5) == "failed"  # the sixth attempt is the last
    assert not DBTaskResult.objects.exists()


def test_sending_a_message_queues_its_check_for_after_the_delay(
    settings: Any, chat: Conversation, alice: User, bob: User
) -> None:
    settings.NOTIFY_DELAY = 600
    message = send(chat, alice, "hello")
    [job] = DBTaskResult.objects.all()
    assert job.task_path == "messaging.tasks.unread_email"
    assert job.args_kwargs["args"] == [str(chat.pk), str(bob.pk)]
    assert job.run_after == message.created_at + timedelta(seconds=600)
    User.objects.filter(pk=alice.pk).update(notify_email=False)
    send(chat, bob, "hi")  # alice wants no emails: nothing queued for her
    assert DBTaskResult.objects.count() == 1


def test_one_check_waits_per_recipient_and_covers_the_messages_sent_meanwhile(
    smtp: MailServer, settings: Any, chat: Conversation, alice: User, bob: User
) -> None:
    """A message to someone a check already waits for queues none of its own (a busy
    conversation would otherwise leave a job row per message)."""
    settings.NOTIFY_DELAY = 600
    first = send(chat, alice, "hello")
    send(chat, bob, "hi")  # to alice: her own check
    send(chat, alice, "are you there?")
    send(chat, alice, "the keys are under the mat")
    for_bob = DBTaskResult.objects.filter(args_kwargs__args=[str(chat.pk), str(bob.pk)])
    assert [job.run_after for job in for_bob] == [first.created_at + timedelta(seconds=600)]
    assert DBTaskResult.objects.count() == 2
    # The check runs when due (here by hand, with the delay passed): one email for all.
    settings.NOTIFY_DELAY = 0
    assert run_job(chat, bob) == "sent"
    assert "the keys are under the mat" in parts(smtp.wait_for(1)[0])["text/plain"]
    settings.NOTIFY_DELAY = 600
    services.conversation_mark_read(conversation_id=chat.pk, user=bob)
    later = send(chat, alice, "see you")  # the check has run: this one queues the next
    assert sorted(job.run_after for job in for_bob.all()) == [
        first.created_at + timedelta(seconds=600),
        later.created_at + timedelta(seconds=600),
    ]


def test_a_check_that_finds_younger_unread_messages_comes_back_when_they_are_due(
    smtp: MailServer, settings: Any, chat: Conversation, alice: User, bob: User
) -> None:
    """Read in part while its check waited: the check queues itself for what is left,
    which no send did (the waiting check covered it)."""
    settings.NOTIFY_DELAY = 600
    send(chat, alice, "hello")
    services.conversation_mark_read(conversation_id=chat.pk, user=bob)
    later = send(chat, alice, "still there?")
    assert DBTaskResult.objects.count() == 1  # covered by the first message's check
    DBTaskResult.objects.all().delete()  # that check runs now, by hand
    assert run_job(chat, bob) == "not due"
    [again] = DBTaskResult.objects.all()
    assert again.args_kwargs["args"] == [str(chat.pk), str(bob.pk)]
    assert again.run_after == later.created_at + timedelta(seconds=600)


def test_a_check_lost_long_ago_does_not_silence_the_conversation(
    settings: Any, chat: Conversation, alice: User, bob: User
) -> None:
    """A check whose worker died never clears its mark: an hour late, it counts as none."""
    from messaging.models import Participant

    settings.NOTIFY_DELAY = 600
    send(chat, alice, "hello")
    DBTaskResult.objects.all().delete()  # the job is lost
    Participant.objects.filter(conversation=chat, user=bob).update(
        email_check_at=timezone.now() - timedelta(hours=2)
    )
    send(chat, alice, "anyone?")
    assert DBTaskResult.objects.count() == 1


def test_a_booking_request_is_recognised_in_either_shape() -> None:
    stay = {"id": "1", "status": "requested", "property_title": "Loft", "guests": 2}
    assert booking_request(SimpleNamespace(kind="reservation", reservation=stay)) == stay
    as_object = SimpleNamespace(kind="reservation", reservation=SimpleNamespace(**stay))
    assert booking_request(as_object)["property_title"] == "Loft"
    confirmed = {**stay, "status": "confirmed"}
    assert booking_request(SimpleNamespace(kind="reservation", reservation=confirmed)) is None
    assert booking_request(SimpleNamespace(kind="text", reservation=None)) is None
    assert booking_request(SimpleNamespace(body="no kind at all")) is None


# Reservation messages (kind "reservation", a StaySummary) are posted by the bookings
# code through `messaging.services.message_post`; until that is on this branch these
# tests say so by skipping.
needs_reservation_messages = pytest.mark.skipif(
    not hasattr(services, "message_post"), reason="reservation messages are not on this branch"
)


def stay(status: str) -> dict[str, Any]:
    return {
        "id": "8b0b8f5e-8d1c-4d7a-9a53-3c8a1f1b2c11",
        "status": status,
        "property_id": "0f6c7c1e-3f7b-4c49-8f0a-6d8e2b1a9c22",
        "property_title": "Loft by the canal",
        "start_date": "2027-05-03",
        "end_date": "2027-05-07",
        "guests": 2,
        "total_price": 480,
    }


@needs_reservation_messages
def test_a_booking_request_is_emailed_to_its_landlord_at_once(
    smtp: MailServer, settings: Any, alice: User, bob: User
) -> None:
    settings.NOTIFY_DELAY = 600  # a text message would wait ten minutes
    message = services.message_post(
        author=alice,
        recipient=bob,
        kind="reservation",
        body="Alice asks to stay 3 to 7 May 2027.",
        reservation=stay("requested"),
    )
    [job] = DBTaskResult.objects.filter(task_path="messaging.tasks.unread_email")
    assert job.args_kwargs["args"] == [str(message.conversation_id), str(bob.pk)]
    assert DBTaskResult.objects.ready().filter(pk=job.pk).exists()  # due at once
    assert run_job(message.conversation, bob) == "sent"
    [email] = smtp.wait_for(1)
    assert email["Subject"] == "Booking request from Alice: Loft by the canal"
    text = parts(email)["text/plain"]
    assert "would like to stay at Loft by the canal, 3 May 2027 to 7 May 2027, 2 guests" in text


@needs_reservation_messages
def test_other_stay_news_waits_like_any_message(
    smtp: MailServer, settings: Any, alice: User, bob: User
) -> None:
    settings.NOTIFY_DELAY = 600
    message = services.message_post(
        author=bob,
        recipient=alice,
        kind="reservation",
        body="Bob confirmed your stay.",
        reservation=stay("confirmed"),
    )
    [job] = DBTaskResult.objects.filter(task_path="messaging.tasks.unread_email")
    assert job.run_after == message.created_at + timedelta(seconds=600)
    assert run_job(message.conversation, alice) == "not due"


@needs_reservation_messages
def test_check_in_details_are_announced_not_quoted(
    smtp: MailServer, alice: User, bob: User
) -> None:
    message = services.message_post(
        author=bob, recipient=alice, kind="checkin", body="Key box by the door, code 4711."
    )
    assert run_job(message.conversation, alice) == "sent"
    [email] = smtp.wait_for(1)
    for body in parts(email).values():
        assert "4711" not in body  # an email cannot be taken back after the stay
        assert "Your check-in details are ready." in body
