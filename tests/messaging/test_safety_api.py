"""Blocking and reporting (API.md: Conversations and messages, Safety), and masking in sends."""

from __future__ import annotations

import pytest

from messaging import services, stays
from messaging.masking import HIDDEN
from messaging.models import Block, ConversationMessage, Report
from messaging.selectors import block_exists
from tests.conftest import client_for, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_alice(alice):
    return client_for(alice)


@pytest.fixture
def as_bob(bob):
    return client_for(bob)


# ---------------------------------------------------------------- blocking


def test_block_is_idempotent_and_listed(alice, bob, carol, as_alice):
    for _ in range(2):
        response = as_alice.post(f"/api/users/{bob.pk}/block")
        assert response.status_code == 204
        assert response.content == b""
    as_alice.post(f"/api/users/{carol.pk}/block/")
    assert Block.objects.filter(blocker=alice).count() == 2
    listed = as_alice.get("/api/users/me/blocked").json()
    assert listed["count"] == 2
    assert [u["id"] for u in listed["items"]] == [str(carol.pk), str(bob.pk)]
    assert set(listed["items"][0]) == {"id", "name", "avatar_url"}
    for _ in range(2):
        assert as_alice.delete(f"/api/users/{bob.pk}/block").status_code == 204
    assert [u["id"] for u in as_alice.get("/api/users/me/blocked").json()["items"]] == [
        str(carol.pk)
    ]


def test_blocking_oneself_is_400_and_an_unknown_user_404(alice, as_alice):
    assert as_alice.post(f"/api/users/{alice.pk}/block").status_code == 400
    assert as_alice.delete(f"/api/users/{alice.pk}/block").status_code == 400
    unknown = "00000000-0000-4000-8000-000000000000"
    assert as_alice.post(f"/api/users/{unknown}/block").status_code == 404
    assert as_alice.delete(f"/api/users/{unknown}/block").status_code == 404
    assert as_alice.post("/api/users/not-a-uuid/block").status_code == 422
    assert Block.objects.count() == 0


@pytest.mark.parametrize("who_blocks", ["sender", "recipient"])
def test_while_either_blocks_neither_can_post_nor_start(
    alice, bob, chat, as_alice, as_bob, who_blocks
):
    services.message_send(conversation_id=chat.pk, sender=bob, body="before the block")
    blocker = as_alice if who_blocks == "sender" else as_bob
    target = bob if who_blocks == "sender" else alice
    blocker.post(f"/api/users/{target.pk}/block")
    for client in (as_alice, as_bob):
        response = client.post(f"/api/chat/{chat.pk}/messages", {"body": "hello?"})
        assert response.status_code == 403
        assert "blocked" in response.json()["detail"]
    assert as_alice.post(f"/api/chat/start/{bob.pk}").status_code == 403
    assert as_bob.post(f"/api/chat/start/{alice.pk}").status_code == 403
    # Nothing said before is deleted; reading still works.
    assert ConversationMessage.objects.count() == 1
    detail = as_alice.get(f"/api/chat/{chat.pk}")
    assert detail.status_code == 200
    assert [m["body"] for m in detail.json()["messages"]] == ["before the block"]
    # Unblocked: they can talk again.
    blocker.delete(f"/api/users/{target.pk}/block")
    assert as_alice.post(f"/api/chat/{chat.pk}/messages", {"body": "ok"}).status_code == 201


def test_a_block_by_each_needs_both_lifted(alice, bob, chat, as_alice, as_bob):
    as_alice.post(f"/api/users/{bob.pk}/block")
    as_bob.post(f"/api/users/{alice.pk}/block")
    as_alice.delete(f"/api/users/{bob.pk}/block")
    assert block_exists(alice, bob) and block_exists(bob.pk, alice.pk)
    assert as_alice.post(f"/api/chat/{chat.pk}/messages", {"body": "x"}).status_code == 403
    as_bob.delete(f"/api/users/{alice.pk}/block")
    assert not block_exists(alice, bob)


def test_blocked_list_runs_a_fixed_number_of_queries(alice, as_alice, django_assert_num_queries):
    for _ in range(5):
        as_alice.post(f"/api/users/{make_user().pk}/block")
    with django_assert_num_queries(3):  # the caller, the count, the page
        assert as_alice.get("/api/users/me/blocked").json()["count"] == 5


# ---------------------------------------------------------------- reporting


def test_report_once_then_200_unchanged(alice, bob, chat, as_alice):
    message = services.message_send(conversation_id=chat.pk, sender=bob, body="buy my crypto")
    url = f"/api/chat/{chat.pk}/messages/{message.pk}/report"
    first = as_alice.post(url, {"reason": "scam", "note": "asks for bitcoin"})
    assert first.status_code == 201, first.content
    report = first.json()
    assert report["reason"] == "scam" and report["note"] == "asks for bitcoin"
    assert report["message_id"] == str(message.pk)
    again = as_alice.post(f"{url}/", {"reason": "spam"})
    assert again.status_code == 200
    assert again.json() == report
    assert Report.objects.get().reason == "scam"


def test_reporting_ones_own_message_is_400(alice, chat, as_alice):
    message = services.message_send(conversation_id=chat.pk, sender=alice, body="mine")
    response = as_alice.post(
        f"/api/chat/{chat.pk}/messages/{message.pk}/report", {"reason": "spam"}
    )
    assert response.status_code == 400
    assert Report.objects.count() == 0


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"reason": "rude"},
        {"reason": 3},
        {"reason": "spam", "note": "x" * 1001},
        {"reason": "spam", "note": "a\x00b"},
    ],
)
def test_bad_reports_are_422(bob, chat, as_alice, payload):
    message = services.message_send(conversation_id=chat.pk, sender=bob, body="hi")
    url = f"/api/chat/{chat.pk}/messages/{message.pk}/report"
    assert as_alice.post(url, payload).status_code == 422
    assert Report.objects.count() == 0


def test_report_of_a_message_of_another_conversation_is_404(alice, bob, carol, chat, as_alice):
    elsewhere, _ = services.conversation_start(user=bob, other_user_id=carol.pk)
    message = services.message_send(conversation_id=elsewhere.pk, sender=bob, body="hi")
    response = as_alice.post(
        f"/api/chat/{chat.pk}/messages/{message.pk}/report", {"reason": "spam"}
    )
    assert response.status_code == 404
    assert Report.objects.count() == 0


# ---------------------------------------------------------------- masking in sends


def test_contact_details_are_masked_until_a_stay(alice, bob, chat, as_alice, monkeypatch):
    sent = as_alice.post(
        f"/api/chat/{chat.pk}/messages", {"body": "Call +44 20 7946 0958 on 12.05.2027"}
    ).json()
    assert sent["body"] == f"Call {HIDDEN} on 12.05.2027"
    assert sent["masked"] is True
    assert ConversationMessage.objects.get().body == sent["body"]  # masked before storage
    plain = as_alice.post(f"/api/chat/{chat.pk}/messages", {"body": "2 guests, 14:00"}).json()
    assert plain["masked"] is False
    # Once listings says they have a stay, nothing is masked between them.
    asked = []

    def stay(a, b):
        asked.append({a, b})
        return True

    monkeypatch.setitem(stays._installed, "check", stay)
    sent = as_alice.post(f"/api/chat/{chat.pk}/messages", {"body": "ann@mail.com"}).json()
    assert (sent["body"], sent["masked"]) == ("ann@mail.com", False)
    assert asked == [{alice.pk, bob.pk}]


def test_listings_installs_its_stay_check(alice, bob):
    from listings.models import Reservation
    from tests.web.factories import make_property

    flat = make_property(bob)
    assert stays.stay_confirmed_between(alice.pk, bob.pk) is False
    Reservation.objects.create(
        property=flat,
        guest=alice,
        start_date="2027-05-12",
        end_date="2027-05-15",
        guests=2,
        number_of_nights=3,
        total_price=360,
    )
    assert stays.stay_confirmed_between(alice.pk, bob.pk) is True
    assert stays.stay_confirmed_between(bob.pk, alice.pk) is True
    assert stays.stay_confirmed_between(alice.pk, make_user().pk) is False


def test_booking_between_blocked_users_is_403(alice, bob, as_alice):
    from tests.web.factories import make_property

    flat = make_property(bob)
    services.user_block(user=bob, other_user_id=alice.pk)
    response = as_alice.post(
        f"/api/properties/{flat.pk}/reservations",
        {"start_date": "2030-05-12", "end_date": "2030-05-15", "guests": 2},
    )
    assert response.status_code == 403
    assert "blocked" in response.json()["detail"]
    assert flat.reservations.count() == 0


# ---------------------------------------------------------------- who may call what


@pytest.mark.parametrize(
    ("method", "path", "participant", "stranger"),
    [
        ("POST", "/api/chat/{chat}/typing", 204, 404),
        ("POST", "/api/chat/{chat}/read", 204, 404),
        ("POST", "/api/chat/{chat}/messages/{message}/report", 201, 404),
        ("POST", "/api/users/{peer}/block", 204, 204),
        ("DELETE", "/api/users/{peer}/block", 204, 204),
        ("GET", "/api/users/me/blocked", 200, 200),
    ],
)
def test_authorization_matrix_of_the_new_endpoints(
    alice, bob, carol, chat, method, path, participant, stranger
):
    """Anonymous: 401 with WWW-Authenticate; a stranger: 404 for the conversation's
    endpoints (its existence stays hidden) and nothing changes; the participant: the
    answer. Blocking and the blocked list belong to the caller alone, so anyone may."""
    from messaging.models import Report
    from tests.conftest import ApiClient

    message = services.message_send(conversation_id=chat.pk, sender=bob, body="hi")
    url = path.format(chat=chat.pk, message=message.pk, peer=bob.pk)
    body = {"reason": "spam"} if "report" in path else None

    def call(client):
        if method == "GET":
            return client.get(url)
        if method == "DELETE":
            return client.delete(url)
        return client.post(url, body)

    anonymous = call(ApiClient())
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    with_cookie_only = ApiClient()
    with_cookie_only.client.cookies["stayhub_access"] = client_for(alice).token
    assert call(with_cookie_only).status_code == 401  # writes never act on the cookie
    before = (Report.objects.count(), ConversationMessage.objects.count())
    answer = call(client_for(carol))
    assert answer.status_code == stranger
    if stranger == 404:
        assert answer.json() == {"detail": "Conversation not found."}
        assert (Report.objects.count(), ConversationMessage.objects.count()) == before
    assert call(client_for(alice)).status_code == participant
