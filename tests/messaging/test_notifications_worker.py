"""Unread-message emails end to end: a real worker process, a real SMTP server.

Messages are sent through the messaging service in this process (which queues the
job in the message's transaction, as the API does); `python manage.py worker` runs
it on its schedule, with NOTIFY_DELAY=2, against aiosmtpd on loopback. A read in
time, a second message, a mail server that is down, a killed worker: each must end
with exactly the emails the rule allows, never one more.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from core.models import User
from messaging import services
from messaging.models import Conversation
from messaging.notifications.models import UnreadEmail
from tests.conftest import ROOT, make_user, server_env
from tests.core.test_worker import stop
from tests.support.smtp import MailServer, parts

pytestmark = pytest.mark.live

DELAY = 2


@pytest.fixture(autouse=True)
def _short_delay(settings: Any) -> None:
    # the delay this process schedules with; the worker gets the same in its environment
    settings.NOTIFY_DELAY = DELAY


def start_worker(tmp_path: Path, mail: MailServer, delay: int = DELAY) -> subprocess.Popen:
    log = (tmp_path / "worker.log").open("ab")
    env = server_env(
        connection.settings_dict,
        EMAIL_URL=mail.url,
        NOTIFY_DELAY=str(delay),
        NOTIFY_RETRY_BASE="1",
    )
    path = tmp_path / "worker.log"
    started = path.read_text().count("Starting worker") if path.exists() else 0
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    # Timings below count from a running worker: on a busy machine Django's start alone
    # can take many seconds.
    deadline = time.monotonic() + 90
    while path.read_text().count("Starting worker") == started:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            pytest.fail(f"the worker did not start: {path.read_text()[-2000:]}")
        time.sleep(0.1)
    return proc


def send(chat: Conversation, sender: User, body: str) -> None:
    services.message_send(conversation_id=chat.pk, sender=sender, body=body)


def failed(chat: Conversation, recipient: User) -> bool:
    return UnreadEmail.objects.filter(
        conversation=chat, recipient=recipient, state=UnreadEmail.State.FAILED
    ).exists()


def texts(mail: MailServer) -> list[str]:
    return [parts(email)["text/plain"] for email in mail.emails()]


@pytest.fixture
def people(transactional_db: None) -> tuple[User, User, Conversation]:
    guest, host = make_user(name="Gita Guest"), make_user(name="Hugo Host")
    chat = services.conversation_start(user=guest, other_user_id=host.pk)[0]
    return guest, host, chat


def test_an_unread_message_is_emailed_once_after_the_delay_and_again_after_a_read(
    people: tuple[User, User, Conversation], mail_server: MailServer, tmp_path: Path
) -> None:
    guest, host, chat = people
    worker = start_worker(tmp_path, mail_server)
    try:
        sent_at = time.monotonic()
        send(chat, guest, "Hi! Is the loft free from 3 May?")
        send(chat, guest, "We are two adults.")
        [email] = mail_server.wait_for(1)
        assert time.monotonic() - sent_at >= DELAY - 0.1  # not before the delay
        assert email["To"] == host.email
        assert email["Subject"] == "2 new messages from Gita Guest"
        assert "Is the loft free" in texts(mail_server)[0]
        assert "We are two adults." in texts(mail_server)[0]
        time.sleep(DELAY + 1.5)  # the second message's own job has run by now
        assert len(mail_server.emails()) == 1  # one email for the two messages
        send(chat, guest, "Still there?")  # not read yet: no new email
        time.sleep(DELAY + 1.5)
        assert len(mail_server.emails()) == 1
        services.conversation_mark_read(conversation_id=chat.pk, user=host)
        send(chat, guest, "We booked elsewhere, thanks anyway.")
        emails = mail_server.wait_for(2)
        assert len(emails) == 2
        assert "We booked elsewhere" in texts(mail_server)[1]
        assert "Still there?" not in texts(mail_server)[1]
        time.sleep(1)
        assert len(mail_server.emails()) == 2
    finally:
        stop(worker)
    # the one-click unsubscribe of the email, as a mail client sends it: no login, no CSRF
    link = emails[1]["List-Unsubscribe"].strip()[1:-1]
    path = link.removeprefix("http://127.0.0.1:8000")
    response = Client(enforce_csrf_checks=True).post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    host.refresh_from_db()
    assert host.notify_email is False


def test_a_message_read_in_time_is_not_emailed(
    people: tuple[User, User, Conversation], mail_server: MailServer, tmp_path: Path
) -> None:
    guest, host, chat = people
    other = make_user(name="Olga Other")
    control = services.conversation_start(user=other, other_user_id=host.pk)[0]
    worker = start_worker(tmp_path, mail_server)
    try:
        send(chat, guest, "read me quickly")
        services.conversation_mark_read(conversation_id=chat.pk, user=host)
        send(control, other, "nobody reads this one")  # the worker is running: this arrives
        [email] = mail_server.wait_for(1)
        time.sleep(1.5)
    finally:
        stop(worker)
    assert [e["Subject"] for e in mail_server.emails()] == ["Olga Other sent you a message"]
    assert "nobody reads this one" in parts(email)["text/plain"]


def test_a_mail_server_that_is_down_when_the_email_is_due_gets_it_once_when_back(
    people: tuple[User, User, Conversation], mail_server_down: MailServer, tmp_path: Path
) -> None:
    guest, host, chat = people
    worker = start_worker(tmp_path, mail_server_down)
    try:
        send(chat, guest, "Are pets allowed?")
        # due, tried, failed (nothing listens): the claim is released for a retry. The
        # warning is logged once the release has committed, so it may trail the state.
        log = tmp_path / "worker.log"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            failed(chat, host) and "cannot reach the mail server" in log.read_text()
        ):
            time.sleep(0.1)
        assert failed(chat, host)
        assert "cannot reach the mail server" in log.read_text()
        mail_server_down.start()
        [email] = mail_server_down.wait_for(1, timeout=30)
        assert "Are pets allowed?" in parts(email)["text/plain"]
        time.sleep(5)  # later retries, if any were left queued, must not send it again
        assert len(mail_server_down.emails()) == 1
    finally:
        stop(worker)


def test_a_worker_killed_before_the_email_is_due_sends_it_after_a_restart(
    people: tuple[User, User, Conversation], mail_server: MailServer, tmp_path: Path
) -> None:
    guest, host, chat = people
    worker = start_worker(tmp_path, mail_server)
    send(chat, guest, "Do you have a cot for a baby?")
    time.sleep(0.8)
    stop(worker, signal.SIGKILL)  # the job is in the database, not in the worker
    time.sleep(DELAY)  # due while no worker runs
    assert mail_server.emails() == []
    worker = start_worker(tmp_path, mail_server)
    try:
        [email] = mail_server.wait_for(1)
        time.sleep(1.5)
    finally:
        stop(worker)
    assert len(mail_server.emails()) == 1
    assert email["To"] == host.email
    assert "cot for a baby" in parts(email)["text/plain"]


@pytest.mark.skipif(
    not hasattr(services, "message_post"), reason="reservation messages are not on this branch"
)
def test_a_booking_request_reaches_its_landlord_at_once(
    people: tuple[User, User, Conversation],
    mail_server: MailServer,
    tmp_path: Path,
    settings: Any,
) -> None:
    guest, host, chat = people
    settings.NOTIFY_DELAY = 600  # text would wait ten minutes; a request does not
    worker = start_worker(tmp_path, mail_server, delay=600)
    try:
        services.message_post(
            author=guest,
            recipient=host,
            kind="reservation",
            body="Gita Guest asks to stay 3 to 7 May 2027.",
            reservation={
                "id": "8b0b8f5e-8d1c-4d7a-9a53-3c8a1f1b2c11",
                "status": "requested",
                "property_id": "0f6c7c1e-3f7b-4c49-8f0a-6d8e2b1a9c22",
                "property_title": "Loft by the canal",
                "start_date": "2027-05-03",
                "end_date": "2027-05-07",
                "guests": 2,
                "total_price": 480,
            },
        )
        send(chat, guest, "Looking forward to it!")  # text: waits its ten minutes
        [email] = mail_server.wait_for(1)
        time.sleep(1.5)
    finally:
        stop(worker)
    assert len(mail_server.emails()) == 1
    assert email["To"] == host.email
    assert email["Subject"] == "Booking request from Gita Guest: Loft by the canal"
