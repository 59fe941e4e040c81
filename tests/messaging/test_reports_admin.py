"""Staff handle reports in the admin: the message in its context, hide it, deactivate."""

from __future__ import annotations

import pytest
from django.test import Client

from core.models import User
from messaging import services
from messaging.models import HIDDEN_BODY, ConversationMessage, Report
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> User:
    return User.objects.create_superuser(email="staff@example.com", password="x", name="Staff")


@pytest.fixture
def admin_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def reported(alice, bob, chat) -> Report:
    for n in range(7):
        services.message_send(conversation_id=chat.pk, sender=alice, body=f"before {n}")
    bad = services.message_send(conversation_id=chat.pk, sender=bob, body="send me money first")
    for n in range(7):
        services.message_send(conversation_id=chat.pk, sender=alice, body=f"after {n}")
    report, _ = services.message_report(
        user=alice, conversation_id=chat.pk, message_id=bad.pk, reason="scam", note="off-site"
    )
    return report


def test_reports_are_listed(admin_client, reported):
    page = admin_client.get("/admin/messaging/report/")
    assert page.status_code == 200
    assert b"send me money first" in page.content
    assert b"Scam" in page.content


def test_a_report_shows_the_message_among_its_neighbours(admin_client, reported):
    page = admin_client.get(f"/admin/messaging/report/{reported.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "send me money first" in text and "off-site" in text
    shown = [f"before {n}" for n in range(2, 7)] + [f"after {n}" for n in range(5)]
    assert all(body in text for body in shown)
    assert "before 1" not in text and "after 5" not in text  # five either side
    table = text[text.index("before 2") :]
    assert table.index("before 6") < table.index("send me money first") < table.index("after 0")


def test_staff_hide_the_message_for_everyone(admin_client, reported, alice, chat, staff):
    response = admin_client.post(
        "/admin/messaging/report/",
        {"action": "hide_messages", "_selected_action": [str(reported.pk)]},
    )
    assert response.status_code == 302
    message = ConversationMessage.objects.get(pk=reported.message_id)
    assert message.hidden_at is not None
    assert message.body == "send me money first"  # kept for the record
    detail = client_for(alice).get(f"/api/chat/{chat.pk}").json()
    [shown] = [m for m in detail["messages"] if m["id"] == str(message.pk)]
    assert shown["body"] == HIDDEN_BODY
    assert shown["attachments"] == []
    reported.refresh_from_db()
    assert reported.status == "resolved" and reported.handled_by == staff


def test_staff_deactivate_the_sender(admin_client, reported, bob, chat):
    admin_client.post(
        "/admin/messaging/report/",
        {"action": "deactivate_senders", "_selected_action": [str(reported.pk)]},
    )
    bob.refresh_from_db()
    assert bob.is_active is False
    assert client_for(bob).get("/api/chat").status_code == 401
    reported.refresh_from_db()
    assert reported.status == "resolved"


def test_reports_cannot_be_added_by_staff(admin_client):
    assert admin_client.get("/admin/messaging/report/add/").status_code == 403


def test_hiding_rewrites_the_stored_event_and_closes_its_photos(
    admin_client, alice, bob, chat, settings, tmp_path
):
    import json

    from django_eventstream.models import Event as StoredEvent

    from tests.messaging.images import image_bytes, upload

    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    bad = services.message_send(
        conversation_id=chat.pk, sender=bob, body="look", images=[upload(image_bytes())]
    )
    [attachment] = bad.attachment_list
    url = f"/api/chat/{chat.pk}/attachments/{attachment.pk}"
    as_alice = client_for(alice)
    assert as_alice.get(url).status_code == 200
    report, _ = services.message_report(
        user=alice, conversation_id=chat.pk, message_id=bad.pk, reason="abuse"
    )
    admin_client.post(
        "/admin/messaging/report/",
        {"action": "hide_messages", "_selected_action": [str(report.pk)]},
    )
    stored = [
        json.loads(json.loads(event.data))
        for event in StoredEvent.objects.filter(type="message")
        if str(bad.pk) in event.data
    ]
    assert len(stored) == 3  # the conversation's channel and both inboxes
    assert all(e["body"] == HIDDEN_BODY and e["attachments"] == [] for e in stored)
    assert as_alice.get(url).status_code == 404
    assert as_alice.get(f"{url}/thumbnail").status_code == 404
