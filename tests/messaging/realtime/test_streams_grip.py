"""The streams behind a real Pushpin (GRIP): Django answers at once, Pushpin holds them.

Pushpin's requests carry `Grip-Sig`, so the ASGI route hands them to Django, where
the same checks run before the library's view answers with GRIP instructions; the
events then come through Pushpin from the library's GRIP publish.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.conftest import LiveServer, free_port, server_env
from tests.messaging.realtime.sse import StreamClient, stream_client
from tests.messaging.realtime.test_streams import (
    FAST_SENDING,
    conversation_url,
    inbox_url,
    person,
    send,
    start_chat,
)

# Pushpin's sig_key, shared with the app as GRIP_KEY (32+ bytes, as HS256 wants).
GRIP_KEY = "stayhub-test-grip-key-0123456789abcdef"

pytestmark = [pytest.mark.live, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@dataclass
class Proxied:
    app: LiveServer  # the app itself (POSTs go here)
    url: str  # Pushpin, where clients open streams


@pytest.fixture
def proxied(pushpin_factory: Any, transactional_db: None, tmp_path: Path) -> Iterator[Proxied]:
    port = free_port()
    pushpin = pushpin_factory(port, sig_key=GRIP_KEY)
    env = server_env(
        connection.settings_dict,
        GRIP_URL=pushpin.control_url,
        GRIP_KEY=GRIP_KEY,
        MEDIA_ROOT=str(tmp_path / "media"),
        **FAST_SENDING,
    )
    app = LiveServer(f"http://127.0.0.1:{port}", port, env, log_path=tmp_path / "app.log")
    app.start()
    try:
        yield Proxied(app=app, url=pushpin.url)
    finally:
        app.stop()


@pytest.fixture
def streams(proxied: Proxied) -> Iterator[StreamClient]:
    yield from stream_client()


def test_streams_through_pushpin_deliver_once_with_ids_and_refuse_like_the_api(
    proxied: Proxied, streams: StreamClient
) -> None:
    ann, bob, stranger = person("Ann"), person("Bob"), person("Stranger")
    chat = start_chat(proxied.app, ann, bob)

    assert streams.start(conversation_url(proxied, chat)).status == 401
    assert streams.start(conversation_url(proxied, chat), stranger.auth).status == 404

    conversation = streams.open(conversation_url(proxied, chat), bob.auth)
    inbox = streams.open(inbox_url(proxied), ann.auth)
    # Django answered (its middleware's headers), Pushpin holds the stream.
    assert "x-frame-options" in conversation.headers

    sent = [send(proxied.app, (ann, bob)[i % 2], chat, f"via pushpin {i}").text for i in range(3)]
    events = conversation.messages(3, timeout=5.0)
    assert [e.data for e in events] == sent
    assert [e.id for e in events] == [f"conversation-{chat}:{n}" for n in (1, 2, 3)]
    assert [e.data for e in inbox.messages(3, timeout=5.0)] == sent
    conversation.no_message(within=0.5)  # each once

    streams.close(conversation)
    missed = send(proxied.app, ann, chat, "while away").text
    resumed = streams.open(
        conversation_url(proxied, chat), {**bob.auth, "Last-Event-ID": events[-1].id}
    )
    assert resumed.messages(1, timeout=5.0)[0].data == missed


def test_a_forged_grip_signature_gets_no_grip_instructions(proxied: Proxied) -> None:
    """Someone who reaches the app directly cannot pose as Pushpin without its key."""
    import httpx
    import jwt

    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(proxied.app, ann, bob)
    forged = jwt.encode(
        {"iss": "pushpin", "exp": 4102444800}, "not-the-key-" + "x" * 32, algorithm="HS256"
    )
    genuine = jwt.encode({"iss": "pushpin", "exp": 4102444800}, GRIP_KEY, algorithm="HS256")
    url = f"{proxied.app.url}/api/chat/{chat}/events"
    headers = {**ann.auth, "Accept": "text/event-stream"}

    with httpx.stream("GET", url, headers={**headers, "Grip-Sig": genuine}, timeout=5) as ok:
        assert ok.status_code == 200
        assert ok.headers.get("grip-hold") == "stream"
    with httpx.stream("GET", url, headers={**headers, "Grip-Sig": forged}, timeout=5) as bad:
        assert bad.status_code == 200
        assert "grip-hold" not in bad.headers
