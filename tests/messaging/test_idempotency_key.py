"""`Idempotency-Key` on `POST /api/chat/{id}/messages` (API.md, Conversations and messages).

A client that lost the answer to a send retries it with the same key and gets the
message stored the first time: nothing is stored or streamed twice, even when the
retries race each other.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_eventstream.models import Event

from messaging import services
from messaging.models import ConversationMessage, MessageIdempotencyKey
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def send(client, chat, body: str, key: str | None = None):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(f"/api/chat/{chat.pk}/messages", {"body": body}, headers=headers)


def test_a_repeated_key_answers_the_first_message_and_stores_and_streams_nothing(
    alice, bob, chat, django_capture_on_commit_callbacks
):
    client = client_for(alice)
    with django_capture_on_commit_callbacks(execute=True):
        first = send(client, chat, "Is May free?", key="retry-1")
    assert first.status_code == 201
    events = Event.objects.count()
    chat.refresh_from_db()
    modified = chat.modified_at
    with django_capture_on_commit_callbacks(execute=True) as published:
        again = send(client, chat, "Is May free?", key="retry-1")
        # even with another body: the key decides
        other_body = send(client, chat, "something else", key="retry-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert other_body.json()["id"] == first.json()["id"]
    assert ConversationMessage.objects.count() == 1
    assert Event.objects.count() == events  # nothing stored for the streams
    assert published == []  # and nothing announced to them
    chat.refresh_from_db()
    assert chat.modified_at == modified


def test_other_keys_and_no_key_store_new_messages(alice, bob, chat):
    client = client_for(alice)
    ids = {
        send(client, chat, "one", key="k1").json()["id"],
        send(client, chat, "two", key="k2").json()["id"],
        send(client, chat, "three").json()["id"],
        send(client, chat, "three").json()["id"],
    }
    assert len(ids) == 4
    assert ConversationMessage.objects.count() == 4


def test_a_key_belongs_to_its_user(alice, bob, chat):
    mine = send(client_for(alice), chat, "from alice", key="same")
    theirs = send(client_for(bob), chat, "from bob", key="same")
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["body"] == "from bob"


def test_a_key_is_honoured_for_24_hours(alice, bob, chat):
    client = client_for(alice)
    first = send(client, chat, "first", key="daily")
    MessageIdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    later = send(client, chat, "a day later", key="daily")
    assert later.status_code == 201
    assert later.json()["id"] != first.json()["id"]
    assert send(client, chat, "again", key="daily").json()["id"] == later.json()["id"]
    assert MessageIdempotencyKey.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 65, "has space", "tab\there", "caf\u00e9", "\x7f"])
def test_a_bad_key_answers_422_and_stores_nothing(alice, bob, chat, key):
    r = send(client_for(alice), chat, "hello", key=key)
    assert r.status_code == 422, r.content
    assert "detail" in r.json()
    assert not ConversationMessage.objects.exists()


@pytest.mark.parametrize("key", ["a", "x" * 64, "!~{}", "550e8400-e29b-41d4-a716-446655440000"])
def test_visible_ascii_keys_of_1_to_64_characters_are_taken(alice, bob, chat, key):
    assert send(client_for(alice), chat, "hello", key=key).status_code == 201


def test_the_schema_declares_the_header(anon):
    paths = anon.get("/api/openapi.json").json()["paths"]
    parameters = paths["/api/chat/{conversation_id}/messages"]["post"]["parameters"]
    [header] = [p for p in parameters if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key"
    assert header["required"] is False


@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_with_one_key_store_one_message(alice, bob, chat):
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def sender() -> None:
        try:
            start.wait()
            message = services.message_send(
                conversation_id=chat.pk, sender=alice, body="racing", idempotency_key="race"
            )
            results.append(str(message.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == 6
    assert len(set(results)) == 1
    assert ConversationMessage.objects.filter(conversation=chat).count() == 1
