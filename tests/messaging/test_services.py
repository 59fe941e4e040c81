"""Messaging services and selectors on the real database, including concurrent callers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from core.errors import BadRequest, Invalid, NotFound
from messaging import selectors, services
from messaging.models import Conversation, ConversationMessage, Participant
from messaging.schemas import message_payload
from tests.conftest import make_user

# ------------------------------------------------------------------ start


def test_start_creates_one_conversation_with_both_participants(alice, bob):
    conversation, created = services.conversation_start(user=alice, other_user_id=bob.pk)
    assert created is True
    assert {conversation.user_low_id, conversation.user_high_id} == {alice.pk, bob.pk}
    assert conversation.user_low_id < conversation.user_high_id
    assert set(conversation.participants.values_list("user_id", flat=True)) == {alice.pk, bob.pk}

    again, created_again = services.conversation_start(user=bob, other_user_id=alice.pk)
    assert (again.pk, created_again) == (conversation.pk, False)
    assert Conversation.objects.count() == 1
    assert Participant.objects.count() == 2


def test_start_with_oneself_is_refused(alice):
    with pytest.raises(BadRequest):
        services.conversation_start(user=alice, other_user_id=alice.pk)
    assert not Conversation.objects.exists()


def test_start_with_unknown_or_inactive_user_is_not_found(alice):
    ghost = make_user(name="Ghost", is_active=False)
    for other_id in (uuid.uuid4(), ghost.pk):
        with pytest.raises(NotFound):
            services.conversation_start(user=alice, other_user_id=other_id)
    assert not Conversation.objects.exists()


# ------------------------------------------------------------------ send


def test_send_stores_trimmed_message_to_the_other_side_and_bumps_activity(chat, alice, bob):
    before = Conversation.objects.get(pk=chat.pk).modified_at
    message = services.message_send(conversation_id=chat.pk, sender=bob, body="  hello\n")

    stored = ConversationMessage.objects.get(pk=message.pk)
    assert stored.body == "hello"
    assert (stored.created_by_id, stored.sent_to_id) == (bob.pk, alice.pk)
    modified = Conversation.objects.get(pk=chat.pk).modified_at
    assert modified == stored.created_at > before


def test_send_by_a_stranger_is_not_found_and_stores_nothing(chat, carol):
    with pytest.raises(NotFound):
        services.message_send(conversation_id=chat.pk, sender=carol, body="hi")
    with pytest.raises(NotFound):
        services.message_send(conversation_id=uuid.uuid4(), sender=carol, body="hi")
    assert not ConversationMessage.objects.exists()


@pytest.mark.parametrize("body", ["", "   \n\t ", "x" * 4001, "a\x00b", 42, None, ["hi"]])
def test_send_refuses_bad_bodies_and_stores_nothing(chat, alice, body):
    with pytest.raises(Invalid):
        services.message_send(conversation_id=chat.pk, sender=alice, body=body)
    assert not ConversationMessage.objects.exists()


def test_send_accepts_4000_characters_after_trimming(chat, alice):
    message = services.message_send(
        conversation_id=chat.pk, sender=alice, body="  " + "é" * 4000 + "  "
    )
    assert len(ConversationMessage.objects.get(pk=message.pk).body) == 4000


def test_created_at_stays_after_the_previous_message_when_the_clock_is_behind(chat, alice):
    # As if the previous message came from a host whose clock ran an hour ahead.
    ahead = timezone.now() + timedelta(hours=1)
    Conversation.objects.filter(pk=chat.pk).update(modified_at=ahead)
    first = services.message_send(conversation_id=chat.pk, sender=alice, body="one")
    second = services.message_send(conversation_id=chat.pk, sender=alice, body="two")
    assert first.created_at == ahead + timedelta(microseconds=1)
    assert second.created_at == ahead + timedelta(microseconds=2)
    assert list(ConversationMessage.objects.values_list("body", flat=True)) == ["one", "two"]


def test_message_payload_needs_no_query_once_people_are_loaded(
    chat, alice, django_assert_num_queries
):
    sent = services.message_send(conversation_id=chat.pk, sender=alice, body="hi")
    with django_assert_num_queries(0):
        payload = message_payload(sent)
    loaded = ConversationMessage.objects.with_people().get(pk=sent.pk)
    with django_assert_num_queries(0):
        assert message_payload(loaded) == payload
    assert payload["body"] == "hi"
    assert payload["created_by"]["id"] == str(alice.pk)
    assert payload["created_at"].endswith("Z")


# ------------------------------------------------------------------ read state


def test_mark_read_sets_the_mark_to_the_latest_message(chat, alice, bob):
    services.conversation_mark_read(conversation_id=chat.pk, user=alice)  # nothing to read yet
    assert Participant.objects.get(conversation=chat, user=alice).last_read_at is None
    services.message_send(conversation_id=chat.pk, sender=bob, body="one")
    latest = services.message_send(conversation_id=chat.pk, sender=bob, body="two")
    services.conversation_mark_read(conversation_id=chat.pk, user=alice)
    assert Participant.objects.get(conversation=chat, user=alice).last_read_at == latest.created_at
    assert Participant.objects.get(conversation=chat, user=bob).last_read_at is None


def test_mark_read_by_a_stranger_is_not_found(chat, carol):
    with pytest.raises(NotFound):
        services.conversation_mark_read(conversation_id=chat.pk, user=carol)


def test_participation_selectors(chat, alice, bob, carol):
    other = services.conversation_start(user=alice, other_user_id=carol.pk)[0]
    assert selectors.conversation_has_member(conversation_id=chat.pk, user=bob)
    assert selectors.conversation_has_member(conversation_id=str(chat.pk), user=bob)
    assert not selectors.conversation_has_member(conversation_id=other.pk, user=bob)
    assert not selectors.conversation_has_member(conversation_id=chat.pk, user=carol)
    assert not selectors.conversation_has_member(conversation_id="not-a-uuid", user=bob)


# ------------------------------------------------------------------ concurrency


def run_at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in `count` threads released together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    if errors:
        raise errors[0]
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_for_one_pair_leave_one_conversation():
    alice, bob = make_user(name="Alice"), make_user(name="Bob")

    def start(i: int) -> tuple[uuid.UUID, bool]:
        me, other = (alice, bob) if i % 2 else (bob, alice)
        conversation, created = services.conversation_start(user=me, other_user_id=other.pk)
        return conversation.pk, created

    results = run_at_once(20, start)
    assert Conversation.objects.count() == 1
    assert {pk for pk, _ in results} == {Conversation.objects.get().pk}
    assert [created for _, created in results].count(True) == 1
    assert Participant.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_store_every_message_in_strictly_increasing_order():
    alice, bob = make_user(name="Alice"), make_user(name="Bob")
    chat = services.conversation_start(user=alice, other_user_id=bob.pk)[0]
    writers, each = 5, 50

    def write(i: int) -> None:
        sender = alice if i % 2 else bob
        for n in range(each):
            services.message_send(conversation_id=chat.pk, sender=sender, body=f"w{i}-{n}")

    run_at_once(writers, write)
    stored = list(
        ConversationMessage.objects.filter(conversation=chat).order_by("created_at", "id")
    )
    assert len(stored) == writers * each
    times = [m.created_at for m in stored]
    assert all(a < b for a, b in pairwise(times)), "created_at not strictly up"
    for i in range(writers):  # each writer's messages keep its own sending order
        own = [m.body for m in stored if m.body.startswith(f"w{i}-")]
        assert own == [f"w{i}-{n}" for n in range(each)]
    assert Conversation.objects.get(pk=chat.pk).modified_at == times[-1]
