"""The chat REST API end to end: answers, validation, read state, paging, limits, queries."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.tokens import issue_pair
from messaging import services
from messaging.models import Conversation, ConversationMessage
from messaging.schemas import message_payload
from tests.conftest import client_for, make_user


@pytest.fixture
def as_alice(alice):
    return client_for(alice)


@pytest.fixture
def as_bob(bob):
    return client_for(bob)


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def seed(conversation: Conversation, count: int, *, same_time: bool = False) -> list[Any]:
    """`count` stored messages, alternating senders, one second apart (or all at one instant).

    Written directly (not through the API) so paging tests are fast and not rate limited.
    """
    low, high = conversation.user_low, conversation.user_high
    start = timezone.now() - timedelta(days=1)
    messages = [
        ConversationMessage(
            conversation=conversation,
            body=f"m{i}",
            created_by=low if i % 2 else high,
            sent_to=high if i % 2 else low,
            created_at=start if same_time else start + timedelta(seconds=i),
        )
        for i in range(count)
    ]
    ConversationMessage.objects.bulk_create(messages)
    Conversation.objects.filter(pk=conversation.pk).update(modified_at=messages[-1].created_at)
    # The stored order, which every page must follow.
    return list(
        ConversationMessage.objects.filter(conversation=conversation).order_by("created_at", "id")
    )


def bodies(items: list[dict]) -> list[str]:
    return [item["body"] for item in items]


# ------------------------------------------------------------------ start


def test_start_answers_201_then_200_with_the_same_id(as_alice, as_bob, alice, bob):
    first = as_alice.post(f"/api/chat/start/{bob.pk}")
    assert first.status_code == 201
    assert first.json() == {"id": first.json()["id"], "created": True}
    again = as_alice.post(f"/api/chat/start/{bob.pk}/")
    reverse = as_bob.post(f"/api/chat/start/{alice.pk}")
    for answer in (again, reverse):
        assert answer.status_code == 200
        assert answer.json() == {"id": first.json()["id"], "created": False}
    assert Conversation.objects.count() == 1


def test_start_refuses_oneself_unknown_and_malformed_users(as_alice, alice):
    assert as_alice.post(f"/api/chat/start/{alice.pk}").status_code == 400
    assert as_alice.post(f"/api/chat/start/{uuid.uuid4()}").status_code == 404
    malformed = as_alice.post("/api/chat/start/not-a-uuid")
    assert malformed.status_code == 422
    assert "detail" in malformed.json()
    assert not Conversation.objects.exists()


# ------------------------------------------------------------------ list


def test_list_shows_conversations_latest_activity_first(as_alice, alice, bob):
    carol, dave = make_user(name="Carol"), make_user(name="Dave")
    with_bob = services.conversation_start(user=alice, other_user_id=bob.pk)[0]
    with_carol = services.conversation_start(user=carol, other_user_id=alice.pk)[0]
    with_dave = services.conversation_start(user=alice, other_user_id=dave.pk)[0]
    services.message_send(conversation_id=with_bob.pk, sender=bob, body="hi from bob")

    response = as_alice.get("/api/chat")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [c["id"] for c in body["items"]] == [
        str(with_bob.pk),
        str(with_dave.pk),
        str(with_carol.pk),
    ]
    first = body["items"][0]
    assert set(first) == {
        "id",
        "users",
        "created_at",
        "modified_at",
        "last_message",
        "unread_count",
        "other_last_read_at",
        "subject",
    }
    assert {u["id"] for u in first["users"]} == {str(alice.pk), str(bob.pk)}
    assert set(first["users"][0]) == {"id", "name", "avatar_url"}
    assert first["last_message"]["body"] == "hi from bob"
    assert first["modified_at"] == first["last_message"]["created_at"]
    assert first["unread_count"] == 1
    assert body["items"][1]["last_message"] is None

    page = as_alice.get("/api/chat", params={"limit": 1, "offset": 1}).json()
    assert page["count"] == 3
    assert [c["id"] for c in page["items"]] == [str(with_dave.pk)]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}])
def test_list_refuses_bad_paging(as_alice, params):
    assert as_alice.get("/api/chat", params=params).status_code == 422


@pytest.mark.parametrize("conversations", [1, 30])
def test_list_runs_a_fixed_number_of_queries(
    alice, as_alice, conversations, django_assert_num_queries
):
    for _ in range(conversations):
        chat = services.conversation_start(user=alice, other_user_id=make_user().pk)[0]
        seed(chat, 3)
    # token user, count, conversations (users joined, unread counted, the other's read
    # mark), last messages, their attachments
    with django_assert_num_queries(5):
        response = as_alice.get("/api/chat", params={"limit": 100})
    items = response.json()["items"]
    assert len(items) == conversations
    assert all(item["last_message"]["body"] == "m2" for item in items)
    assert all(item["unread_count"] in (1, 2) for item in items)


# ------------------------------------------------------------------ send


def test_send_answers_the_stored_message(as_bob, chat, alice, bob):
    response = as_bob.post(f"/api/chat/{chat.pk}/messages/", {"body": "  Is the flat free?  "})
    assert response.status_code == 201, response.content
    answer = response.json()
    stored = ConversationMessage.objects.with_people().get()
    assert answer == message_payload(stored)
    assert answer["body"] == "Is the flat free?"
    assert answer["conversation_id"] == str(chat.pk)
    assert answer["created_by"] == {"id": str(bob.pk), "name": "Bob", "avatar_url": None}
    assert answer["sent_to"]["id"] == str(alice.pk)
    assert Conversation.objects.get(pk=chat.pk).modified_at == stored.created_at


@pytest.mark.parametrize(
    "payload",
    [
        {"body": ""},
        {"body": "   \n\t  "},
        {"body": "x" * 4001},
        {"body": "  " + "x" * 4001 + "  "},
        {"body": 42},
        {"body": None},
        {"body": ["hi"]},
        {"body": {"text": "hi"}},
        {},
        {"text": "hi"},
    ],
    ids=[
        "empty",
        "blank",
        "4001",
        "4001-trimmed",
        "int",
        "null",
        "list",
        "object",
        "none",
        "other",
    ],
)
def test_send_refuses_invalid_bodies_with_422_and_stores_nothing(as_alice, chat, payload):
    response = as_alice.post(f"/api/chat/{chat.pk}/messages", payload)
    assert response.status_code == 422, response.content
    assert "detail" in response.json()
    assert not ConversationMessage.objects.exists()


def test_send_refuses_nul_and_malformed_json(as_alice, chat):
    assert as_alice.post(f"/api/chat/{chat.pk}/messages", {"body": "a\x00b"}).status_code == 422
    broken = as_alice.post(f"/api/chat/{chat.pk}/messages", '{"body": "unclosed')
    assert broken.status_code in (400, 422)
    assert "detail" in broken.json()
    assert not ConversationMessage.objects.exists()


def test_send_accepts_4000_characters_after_trimming(as_alice, chat):
    response = as_alice.post(f"/api/chat/{chat.pk}/messages", {"body": "\n " + "ü" * 4000 + " \n"})
    assert response.status_code == 201, response.content
    assert ConversationMessage.objects.get().body == "ü" * 4000


def test_send_refuses_a_body_over_1_mib_with_413(as_alice, chat):
    response = as_alice.post(f"/api/chat/{chat.pk}/messages", {"body": "x" * (1024 * 1024)})
    assert response.status_code == 413
    assert "detail" in response.json()
    assert not ConversationMessage.objects.exists()


def test_send_is_rate_limited_per_user(settings, as_alice, as_bob, chat):
    settings.MESSAGE_RATE = 3
    for n in range(3):
        assert as_alice.post(f"/api/chat/{chat.pk}/messages", {"body": f"m{n}"}).status_code == 201
    refused = as_alice.post(f"/api/chat/{chat.pk}/messages", {"body": "one too many"})
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "detail" in refused.json()
    assert ConversationMessage.objects.count() == 3
    assert not ConversationMessage.objects.filter(body="one too many").exists()
    # the limit is the sender's own: the other side may still write
    assert as_bob.post(f"/api/chat/{chat.pk}/messages", {"body": "bob"}).status_code == 201


# ------------------------------------------------------------------ read state


def unread(client, conversation: Conversation) -> int:
    listed = {c["id"]: c for c in client.get("/api/chat").json()["items"]}
    detail = client.get(f"/api/chat/{conversation.pk}").json()
    assert listed[str(conversation.pk)]["unread_count"] == detail["unread_count"]
    return detail["unread_count"]


def test_unread_counts_the_other_sides_messages_until_read(as_alice, as_bob, chat):
    def send(client, body):
        assert client.post(f"/api/chat/{chat.pk}/messages", {"body": body}).status_code == 201

    assert (unread(as_alice, chat), unread(as_bob, chat)) == (0, 0)
    for body in ("one", "two", "three"):
        send(as_bob, body)
    assert unread(as_alice, chat) == 3
    assert unread(as_bob, chat) == 0  # one's own messages never count

    # reading the conversation or its history does not mark it read
    as_alice.get(f"/api/chat/{chat.pk}")
    as_alice.get(f"/api/chat/{chat.pk}/messages")
    assert unread(as_alice, chat) == 3

    read = as_alice.post(f"/api/chat/{chat.pk}/read/")
    assert read.status_code == 204 and read.content == b""
    assert unread(as_alice, chat) == 0

    send(as_alice, "my answer")
    assert unread(as_alice, chat) == 0
    assert unread(as_bob, chat) == 1  # bob never read: every message of alice counts
    send(as_bob, "four")
    send(as_bob, "five")
    assert unread(as_alice, chat) == 2  # later messages count again

    assert as_bob.post(f"/api/chat/{chat.pk}/read").status_code == 204
    assert (unread(as_alice, chat), unread(as_bob, chat)) == (2, 0)


def test_read_on_an_empty_conversation_is_fine(as_alice, chat, bob):
    assert as_alice.post(f"/api/chat/{chat.pk}/read").status_code == 204
    services.message_send(conversation_id=chat.pk, sender=bob, body="first")
    assert unread(as_alice, chat) == 1


# ------------------------------------------------------------------ detail and history


def test_detail_holds_exactly_the_latest_50_messages_oldest_first(as_alice, chat, alice, bob):
    stored = seed(chat, 51)
    response = as_alice.get(f"/api/chat/{chat.pk}")
    assert response.status_code == 200
    body = response.json()
    assert bodies(body["messages"]) == [m.body for m in stored[1:]]
    assert body["has_more"] is True
    assert body["last_message"] == body["messages"][-1] == message_payload(stored[-1])
    assert body["id"] == str(chat.pk)
    assert {u["id"] for u in body["users"]} == {str(alice.pk), str(bob.pk)}
    assert body["unread_count"] == len([m for m in stored if m.created_by_id == bob.pk])

    ConversationMessage.objects.filter(pk=stored[0].pk).delete()
    assert as_alice.get(f"/api/chat/{chat.pk}").json()["has_more"] is False


def test_detail_of_an_empty_conversation(as_alice, chat):
    body = as_alice.get(f"/api/chat/{chat.pk}").json()
    assert (body["messages"], body["has_more"], body["last_message"]) == ([], False, None)


@pytest.mark.parametrize("same_time", [False, True], ids=["distinct-times", "one-instant"])
def test_history_pages_walk_back_without_gaps_or_repeats(as_alice, chat, same_time):
    stored = seed(chat, 23, same_time=same_time)
    seen: list[str] = []
    before = None
    pages = 0
    while True:
        params = {"limit": 5} | ({"before": before} if before else {})
        response = as_alice.get(f"/api/chat/{chat.pk}/messages", params=params)
        assert response.status_code == 200, response.content
        page = response.json()
        pages += 1
        assert len(page["items"]) == (5 if page["has_more"] else 3)
        seen = bodies(page["items"]) + seen
        if not page["has_more"]:
            break
        before = page["items"][0]["id"]  # the oldest of this page
    assert pages == 5
    assert seen == [m.body for m in stored]


def test_history_defaults_to_the_latest_50(as_alice, chat):
    stored = seed(chat, 60)
    page = as_alice.get(f"/api/chat/{chat.pk}/messages").json()
    assert bodies(page["items"]) == [m.body for m in stored[10:]]
    assert page["has_more"] is True
    older = as_alice.get(
        f"/api/chat/{chat.pk}/messages", params={"before": page["items"][0]["id"], "limit": 100}
    ).json()
    assert bodies(older["items"]) == [m.body for m in stored[:10]]
    assert older["has_more"] is False


@pytest.mark.parametrize("limit", [0, 101, -1, "many"])
def test_history_refuses_limits_outside_1_to_100(as_alice, chat, limit):
    response = as_alice.get(f"/api/chat/{chat.pk}/messages", params={"limit": limit})
    assert response.status_code == 422


def test_history_refuses_a_cursor_from_elsewhere(as_alice, chat, alice):
    elsewhere = services.conversation_start(user=alice, other_user_id=make_user().pk)[0]
    foreign = seed(elsewhere, 1)[0]
    for before in (uuid.uuid4(), foreign.pk):
        response = as_alice.get(f"/api/chat/{chat.pk}/messages", params={"before": before})
        assert response.status_code == 404
        assert response.json() == {"detail": "Message not found in this conversation."}
    malformed = as_alice.get(f"/api/chat/{chat.pk}/messages", params={"before": "nope"})
    assert malformed.status_code == 422


@pytest.mark.parametrize("messages", [1, 120])
def test_detail_runs_a_fixed_number_of_queries(as_alice, chat, messages, django_assert_num_queries):
    seed(chat, messages)
    # token user, conversation (users joined, unread counted), latest messages, attachments
    with django_assert_num_queries(4):
        response = as_alice.get(f"/api/chat/{chat.pk}")
    assert len(response.json()["messages"]) == min(messages, 50)


def test_send_runs_a_fixed_number_of_queries_and_one_read_of_both_users(as_bob, chat):
    as_bob.post(f"/api/chat/{chat.pk}/messages", {"body": "first"})  # counters exist now
    with CaptureQueriesContext(connection) as ran:
        response = as_bob.post(f"/api/chat/{chat.pk}/messages", {"body": "second"})
    assert response.status_code == 201
    statements = [q["sql"] for q in ran.captured_queries if "SAVEPOINT" not in q["sql"]]
    # conversation (locked) with both users, whether they block each other and whether
    # an unread-email check waits for the recipient, message, modified_at, the events
    # (PostgreSQL: counters locked and bumped and events inserted in ONE statement;
    # SQLite: counters bumped with RETURNING, events inserted). No email job: the check
    # queued with "first" waits, and covers "second" (messaging.notifications).
    assert len(statements) == (4 if connection.vendor == "postgresql" else 5), statements
    assert '"messaging_block"' in statements[0]
    reads_of_users = [sql for sql in statements if '"core_user"' in sql]
    # the sender's token was not looked up on its own: both users come with the conversation
    assert reads_of_users == [statements[0]]
    assert statements[0].count('JOIN "core_user"') == 2
    assert str(chat.pk).replace("-", "") in statements[0].replace("-", "")
    if connection.vendor == "postgresql":
        # the conversation's row, not the users'
        assert statements[0].endswith('FOR UPDATE OF "messaging_conversation"')


def test_a_conversations_first_message_creates_no_event_counters(as_bob, chat):
    """The channels' counters come with the conversation (`channels_open`): its first
    message runs what any later one runs, plus the unread-email check (its job row and
    the recipient's mark that it waits)."""
    with CaptureQueriesContext(connection) as ran:
        response = as_bob.post(f"/api/chat/{chat.pk}/messages", {"body": "first"})
    assert response.status_code == 201
    statements = [q["sql"] for q in ran.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert not [sql for sql in statements if 'INSERT INTO "django_eventstream_eventcounter"' in sql]
    assert len(statements) == (6 if connection.vendor == "postgresql" else 7), statements


@pytest.mark.parametrize("limit", [1, 100])
def test_history_runs_a_fixed_number_of_queries(as_alice, chat, limit, django_assert_num_queries):
    stored = seed(chat, 150)
    url = f"/api/chat/{chat.pk}/messages"
    # token user, participation, page, its attachments
    with django_assert_num_queries(4):
        latest = as_alice.get(url, params={"limit": limit})
    # ... and the cursor
    with django_assert_num_queries(5):
        older = as_alice.get(url, params={"limit": limit, "before": stored[-1].pk})
    assert len(latest.json()["items"]) == len(older.json()["items"]) == limit


# ------------------------------------------------------------------ concurrency over HTTP


@pytest.mark.live
def test_concurrent_requests_on_a_real_server(live_server_factory):
    """20 simultaneous starts leave one conversation; 5 writers x 50 store all 250 in order."""
    server = live_server_factory(MESSAGE_RATE="100000")
    alice, bob = make_user(name="Alice"), make_user(name="Bob")
    tokens = {user.pk: issue_pair(user).access for user in (alice, bob)}

    def at_once(count: int, work) -> list[Any]:
        barrier = threading.Barrier(count)
        results: list[Any] = [None] * count

        def target(i: int) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                barrier.wait(timeout=10)
                results[i] = work(client, i)

        threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
        return results

    def start(client: httpx.Client, i: int) -> httpx.Response:
        me, other = (alice, bob) if i % 2 else (bob, alice)
        auth = {"Authorization": f"Bearer {tokens[me.pk]}"}
        return client.post(f"/api/chat/start/{other.pk}", headers=auth)

    starts = at_once(20, start)
    assert sorted(r.status_code for r in starts) == [200] * 19 + [201]
    assert Conversation.objects.count() == 1
    conversation_id = Conversation.objects.get().pk
    assert {r.json()["id"] for r in starts} == {str(conversation_id)}

    def write(client: httpx.Client, i: int) -> list[int]:
        auth = {"Authorization": f"Bearer {tokens[(alice if i % 2 else bob).pk]}"}
        return [
            client.post(
                f"/api/chat/{conversation_id}/messages", json={"body": f"w{i}-{n}"}, headers=auth
            ).status_code
            for n in range(50)
        ]

    statuses = at_once(5, write)
    assert all(code == 201 for codes in statuses for code in codes)
    stored = list(
        ConversationMessage.objects.filter(conversation_id=conversation_id).order_by(
            "created_at", "id"
        )
    )
    assert len(stored) == 250
    assert all(a.created_at < b.created_at for a, b in pairwise(stored))
    for i in range(5):
        assert [m.body for m in stored if m.body.startswith(f"w{i}-")] == [
            f"w{i}-{n}" for n in range(50)
        ]


# ------------------------------------------------------------------ admin


def test_admin_pages_render_for_staff(chat, bob):
    message = services.message_send(conversation_id=chat.pk, sender=bob, body="hello admin")
    staff = Client()
    staff.force_login(make_user(name="Staff", is_staff=True, is_superuser=True))
    for url in (
        "/admin/messaging/conversation/",
        f"/admin/messaging/conversation/{chat.pk}/change/",
        "/admin/messaging/conversationmessage/",
        f"/admin/messaging/conversationmessage/{message.pk}/change/",
    ):
        response = staff.get(url)
        assert response.status_code == 200, url
    assert b"hello admin" in staff.get("/admin/messaging/conversationmessage/").content
