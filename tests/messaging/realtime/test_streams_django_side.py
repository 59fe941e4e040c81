"""The stream endpoints' Django side: what answers when Django itself is asked.

Under `GRIP_URL`, Pushpin's requests reach these ninja operations (the ASGI route
hands them over), so they must refuse exactly as the route does before the library's
view runs; they also put the streams in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from core.tokens import issue_pair
from messaging import services
from tests.conftest import ApiClient, client_for, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(db: None) -> Any:
    ann, bob = make_user(name="Ann"), make_user(name="Bob")
    conversation, _ = services.conversation_start(user=ann, other_user_id=bob.pk)
    return conversation, ann, bob


def paths(conversation: Any) -> list[str]:
    return [
        f"/api/chat/{conversation.pk}/events",
        f"/api/chat/{conversation.pk}/events/",
        "/api/chat/events",
        "/api/chat/events/",
    ]


def test_participants_get_the_librarys_stream(chat: Any) -> None:
    conversation, _, bob = chat
    for path in paths(conversation):
        r = client_for(bob).get(path)
        assert r.status_code == 200, path
        assert r["Content-Type"] == "text/event-stream"
        assert r["Cache-Control"] == "no-cache" and r["X-Accel-Buffering"] == "no"


def test_refusals_match_the_asgi_route(chat: Any) -> None:
    conversation, ann, _ = chat
    stranger = make_user(name="Stranger")
    for path in paths(conversation):
        for headers in [{}, {"Authorization": f"Bearer {issue_pair(ann).refresh}"}]:
            r = ApiClient().get(path, headers=headers)
            assert r.status_code == 401, path
            assert r["WWW-Authenticate"].startswith("Bearer")
    for path in paths(conversation)[:2]:
        r = client_for(stranger).get(path)
        assert r.status_code == 404 and r.json() == {"detail": "Conversation not found."}
    r = client_for(ann).get(paths(conversation)[0], headers={"Last-Event-ID": "nonsense"})
    assert r.status_code == 400


@pytest.fixture
def grip(settings: Any) -> Client:
    """Django as it runs behind Pushpin: GripMiddleware first, a proxy without a key."""
    settings.GRIP_URL = "http://127.0.0.1:9"
    settings.GRIP_PROXIES = []
    settings.MIDDLEWARE = ["django_grip.GripMiddleware", *settings.MIDDLEWARE]
    return Client(headers={"Grip-Sig": "from-pushpin"})


def test_through_pushpin_the_answer_is_grip_instructions_after_the_same_checks(
    chat: Any, grip: Client
) -> None:
    conversation, ann, bob = chat
    services.message_send(conversation_id=conversation.pk, sender=ann, body="stored first")
    path = f"/api/chat/{conversation.pk}/events"

    assert grip.get(path).status_code == 401
    stranger = issue_pair(make_user(name="Stranger")).access
    assert grip.get(path, headers={"Authorization": f"Bearer {stranger}"}).status_code == 404

    token = issue_pair(bob).access
    r = grip.get(
        path,
        headers={
            "Authorization": f"Bearer {token}",
            "Last-Event-ID": f"conversation-{conversation.pk}:0",
        },
    )
    assert r.status_code == 200
    assert r["Grip-Hold"] == "stream"
    assert f"events-conversation-{conversation.pk}" in r["Grip-Channel"]
    assert "stored first" in r.content.decode()

    # Pushpin's follow-up (recovery) names the channels and last ids in Grip-Last, not
    # the caller's token; the link is the same for every stream.
    next_link = r["Grip-Link"].split(";")[0].strip("<>")
    assert str(conversation.pk) not in next_link
    assert f"events-conversation-{conversation.pk}; prev-id=1" in r["Grip-Channel"]
    last = f"events-conversation-{conversation.pk}; last-id=0"
    follow_up = grip.get(next_link, headers={"Grip-Last": last})
    assert follow_up.status_code == 200
    assert follow_up["Grip-Hold"] == "stream"
    assert "stored first" in follow_up.content.decode()
    assert grip.get(next_link).status_code == 400  # no Grip-Last: nothing to recover
    # A follow-up of the library's kind (an older version's link) with a forged es-meta.
    query = parse_qs(urlsplit(next_link).query)
    forged = grip.get(path, data={"link": "next", "es-meta": "forged"})
    assert forged.status_code == 401
    assert query  # the recovery link carries its key


def test_the_openapi_schema_documents_both_streams() -> None:
    schema = Client().get("/api/openapi.json").json()
    for path in ["/api/chat/events", "/api/chat/{conversation_id}/events"]:
        responses = schema["paths"][path]["get"]["responses"]
        assert "text/event-stream" in responses["200"]["content"], path
        assert {"400", "401"} <= set(responses), path
    assert "404" in schema["paths"]["/api/chat/{conversation_id}/events"]["get"]["responses"]
