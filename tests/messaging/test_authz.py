"""Who may call each chat endpoint: every endpoint x every kind of caller.

Anonymous callers get 401 with `WWW-Authenticate: Bearer`; a stranger gets 404 for a
conversation that exists, the same answer as for one that does not (API.md: its
existence is not revealed), and changes nothing; participants get their answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.conf import settings

from core.models import User
from core.tokens import issue_pair
from messaging import services
from messaging.models import ConversationMessage, Participant
from tests.conftest import ApiClient, client_for, make_user

pytestmark = pytest.mark.django_db


@dataclass
class World:
    alice: object
    bob: object
    carol: object
    conversation_id: uuid.UUID


@pytest.fixture
def world() -> World:
    alice, bob, carol = make_user(name="Alice"), make_user(name="Bob"), make_user(name="Carol")
    conversation, _ = services.conversation_start(user=alice, other_user_id=bob.pk)
    services.message_send(conversation_id=conversation.pk, sender=bob, body="hello")
    return World(alice, bob, carol, conversation.pk)


# (method, path; {id} is the conversation, {peer} the participant's partner)
CONVERSATION_ENDPOINTS = [
    ("GET", "/api/chat/{id}"),
    ("GET", "/api/chat/{id}/messages"),
    ("POST", "/api/chat/{id}/messages"),
    ("POST", "/api/chat/{id}/read"),
]
ALL_ENDPOINTS = [("GET", "/api/chat"), ("POST", "/api/chat/start/{peer}"), *CONVERSATION_ENDPOINTS]
PARTICIPANT_STATUS = {
    ("GET", "/api/chat"): 200,
    ("POST", "/api/chat/start/{peer}"): 200,  # it exists already
    ("GET", "/api/chat/{id}"): 200,
    ("GET", "/api/chat/{id}/messages"): 200,
    ("POST", "/api/chat/{id}/messages"): 201,
    ("POST", "/api/chat/{id}/read"): 204,
}


def call(client: ApiClient, method: str, path: str, world: World, peer=None, slash=False):
    peer = peer or world.bob
    url = path.format(id=world.conversation_id, peer=peer.pk) + ("/" if slash else "")
    if method == "GET":
        return client.get(url)
    return client.post(url, {"body": "sent by the test"})


def state(world: World) -> tuple:
    """Everything a chat endpoint could write."""
    return (
        ConversationMessage.objects.count(),
        sorted(Participant.objects.values_list("user_id", "last_read_at")),
    )


@pytest.mark.parametrize(("method", "path"), ALL_ENDPOINTS)
@pytest.mark.parametrize("credential", ["none", "garbage", "refresh token", "cookie only"])
def test_anonymous_callers_get_401(world, method, path, credential):
    client = ApiClient()
    if credential == "garbage":
        client.token = "not.a.jwt"
    elif credential == "refresh token":
        client.token = issue_pair(world.alice).refresh
    elif credential == "cookie only":
        # The browser cookie is for streams and pages; writing here needs the header.
        client.client.cookies[settings.ACCESS_COOKIE_NAME] = issue_pair(world.alice).access
    before = state(world)
    response = call(client, method, path, world)
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "detail" in response.json()
    assert state(world) == before


@pytest.mark.parametrize(("method", "path"), ALL_ENDPOINTS)
@pytest.mark.parametrize("account", ["deactivated", "deleted"])
def test_a_participant_whose_account_is_gone_gets_401(world, method, path, account):
    """A still-valid token of a deactivated or deleted participant opens nothing.

    Sending a message checks only the token at the door (`JWTAuth(load_user=False)`)
    and reads the sender with the conversation: it must refuse the same way.
    """
    client = client_for(world.alice)
    if account == "deactivated":
        User.objects.filter(pk=world.alice.pk).update(is_active=False)
    else:
        User.objects.filter(pk=world.alice.pk).delete()
    before = state(world)
    response = call(client, method, path, world)
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert state(world) == before


@pytest.mark.parametrize(("method", "path"), ALL_ENDPOINTS)
@pytest.mark.parametrize("who", ["alice", "bob"])
@pytest.mark.parametrize("slash", [False, True])
def test_participants_get_their_answer(world, method, path, who, slash):
    me = getattr(world, who)
    peer = world.bob if me == world.alice else world.alice
    response = call(client_for(me), method, path, world, peer=peer, slash=slash)
    assert response.status_code == PARTICIPANT_STATUS[(method, path)], response.content
    conversation_id = str(world.conversation_id)
    if path == "/api/chat":
        assert [c["id"] for c in response.json()["items"]] == [conversation_id]
    elif "{peer}" in path:
        assert response.json() == {"id": conversation_id, "created": False}
    elif path == "/api/chat/{id}":
        assert response.json()["id"] == conversation_id
    elif method == "GET":
        assert [m["body"] for m in response.json()["items"]] == ["hello"]
    elif path.endswith("/messages"):
        assert response.json()["conversation_id"] == conversation_id
        assert response.json()["created_by"]["id"] == str(me.pk)
    else:
        assert response.content == b""


@pytest.mark.parametrize(("method", "path"), CONVERSATION_ENDPOINTS)
def test_strangers_get_404_as_if_the_conversation_did_not_exist(world, method, path):
    stranger = client_for(world.carol)
    before = state(world)
    response = call(stranger, method, path, world)
    assert response.status_code == 404, response.content
    assert state(world) == before

    missing = World(world.alice, world.bob, world.carol, uuid.uuid4())
    answer_for_missing = call(client_for(world.alice), method, path, missing)
    assert answer_for_missing.status_code == 404
    assert response.json() == answer_for_missing.json()


def test_strangers_list_does_not_show_others_conversations(world):
    response = client_for(world.carol).get("/api/chat")
    assert response.status_code == 200
    assert response.json() == {"items": [], "count": 0}


def test_a_stranger_starting_with_a_participant_gets_a_conversation_of_their_own(world):
    response = client_for(world.carol).post(f"/api/chat/start/{world.alice.pk}")
    assert response.status_code == 201
    assert response.json()["id"] != str(world.conversation_id)
    assert response.json()["created"] is True
