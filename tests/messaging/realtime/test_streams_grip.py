"""The streams behind a real Pushpin (GRIP): Django answers at once, Pushpin holds them.

Pushpin's requests carry `Grip-Sig`, so the ASGI route hands them to Django, where
the same checks run before the library's view answers with GRIP instructions; the
events then come through Pushpin from the library's GRIP publish.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection

from tests.conftest import ROOT, LiveServer, free_port, server_env
from tests.core.test_worker import start_worker, stop
from tests.messaging.realtime.sse import Stream, StreamClient, stream_client
from tests.messaging.realtime.test_stream_credentials import assert_ends_unauthorized, short_lived
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
    pushpin: Any  # tests.support.services.Pushpin


@pytest.fixture
def proxied(
    request: pytest.FixtureRequest, pushpin_factory: Any, transactional_db: None, tmp_path: Path
) -> Iterator[Proxied]:
    """The app behind Pushpin, publishing over ZeroMQ as `make cluster` sets it up (over
    HTTP to GRIP_URL alone when parametrized with "http")."""
    port = free_port()
    pushpin = pushpin_factory(port, sig_key=GRIP_KEY)
    publish_over = getattr(request, "param", "zmq")
    env = server_env(
        connection.settings_dict,
        GRIP_URL=pushpin.control_url,
        GRIP_PUSH_SPEC=pushpin.push_spec if publish_over == "zmq" else "",
        GRIP_KEY=GRIP_KEY,
        MEDIA_ROOT=str(tmp_path / "media"),
        **FAST_SENDING,
    )
    app = LiveServer(f"http://127.0.0.1:{port}", port, env, log_path=tmp_path / "app.log")
    app.start()
    try:
        yield Proxied(app=app, url=pushpin.url, pushpin=pushpin)
    finally:
        app.stop()


@pytest.fixture
def streams(proxied: Proxied) -> Iterator[StreamClient]:
    yield from stream_client()


@pytest.mark.parametrize("proxied", ["zmq", "http"], indirect=True)
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


def test_sending_goes_on_while_pushpin_is_down_and_reaches_it_once_it_is_back(
    proxied: Proxied, streams: StreamClient
) -> None:
    """The workers' ZeroMQ socket neither blocks a send nor needs a restart: messages sent
    while Pushpin is down are stored (and answered 201), and once Pushpin is back on the
    same socket, new streams get what they missed and then live messages."""
    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(proxied.app, ann, bob)
    before = send(proxied.app, ann, chat, "before the outage").text
    proxied.pushpin.kill()
    during = [send(proxied.app, bob, chat, f"during the outage {i}").text for i in range(3)]
    proxied.pushpin.restart()

    # Pushpin proxies before its handler takes holds. A stream opened in that moment is
    # answered 500 once its proxy gives up handing it over, 8 s later (its inspect
    # timeout), or cut without an answer (both seen in CI runs); a client tries again.
    headers = {**ann.auth, "Last-Event-ID": f"conversation-{chat}:1"}
    url = conversation_url(proxied, chat)
    deadline = time.monotonic() + 60
    while True:
        try:
            stream: Stream | None = streams.open(url, headers, timeout=20.0)
            failure: object = stream.status
        except AssertionError as exc:  # cut, or no answer within the timeout
            stream, failure = None, exc
        if stream is not None and stream.status == 200:
            break
        assert time.monotonic() < deadline, f"no stream through the restarted Pushpin: {failure}"
        assert stream is None or stream.status == 500, failure
        if stream is not None:
            streams.close(stream)
        time.sleep(0.5)
    assert [e.data for e in stream.messages(3, timeout=5.0)] == during
    # Past Pushpin's own recovery of a new subscription (1 s), which would also bring a
    # publish that was lost: only a publish that arrives gets this one through.
    time.sleep(1.5)
    live = send(proxied.app, bob, chat, "after the outage").text
    assert [e.data for e in stream.messages(1, timeout=5.0)] == [live]
    assert before not in during


def test_under_pushpin_a_stream_dropped_before_any_message_resumes_from_its_stream_open_id(
    proxied: Proxied, streams: StreamClient
) -> None:
    """Under GRIP too, `stream-open` carries the position the stream starts from."""
    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(proxied.app, ann, bob)
    earlier = send(proxied.app, ann, chat, "said before the stream opened").text
    stream = streams.open(conversation_url(proxied, chat), bob.auth)
    assert stream.opening is not None and not stream.replayed
    position = stream.opening.id
    assert position == f"conversation-{chat}:1"
    stream.no_message(within=0.3)
    streams.close(stream)

    missed = [send(proxied.app, (ann, bob)[i % 2], chat, f"missed {i}").text for i in range(3)]
    resumed = streams.open(conversation_url(proxied, chat), {**bob.auth, "Last-Event-ID": position})
    replayed = resumed.messages(3, timeout=3.0)
    assert [e.data for e in replayed] == missed
    assert earlier not in [e.data for e in replayed]
    assert resumed.opening.id == f"conversation-{chat}:4"  # after the replay, never ahead
    live = send(proxied.app, ann, chat, "live after the resume").text
    got = resumed.messages(1, timeout=3.0)
    assert [e.data for e in got] == [live]
    assert got[0].id == f"conversation-{chat}:5"
    resumed.no_message(within=0.3)


def test_many_new_streams_through_pushpin_get_their_messages_at_once(
    proxied: Proxied, streams: StreamClient
) -> None:
    """Streams opened together are not kept waiting on Pushpin's recoveries.

    Pushpin recovers every stream of a newly subscribed channel about a second after it
    subscribes, at most 10 recoveries a second, grouping streams whose recovery link is
    the same URI. With a link per stream, 60 new streams took 6 s to recover, and their
    messages waited; with one link for all they recover together.
    """
    pairs = [(person(f"A{i}"), person(f"B{i}")) for i in range(30)]
    chats = [start_chat(proxied.app, a, b) for a, b in pairs]
    with ThreadPoolExecutor(max_workers=60) as pool:  # all at once, as a crowd arrives
        futures = [
            [
                pool.submit(streams.open, conversation_url(proxied, chat), who.auth, timeout=30.0)
                for who in pair
            ]
            for chat, pair in zip(chats, pairs, strict=True)
        ]
        opened = [[f.result() for f in pair] for pair in futures]
    time.sleep(1.2)  # Pushpin's first-subscription recoveries are due now
    sent_at = {}
    for n, (chat, (a, _)) in enumerate(zip(chats, pairs, strict=True)):
        sent_at[chat] = time.monotonic()
        send(proxied.app, a, chat, f"hello chat {n}")  # no long digit runs: those are masked
    for n, (chat, pair) in enumerate(zip(chats, opened, strict=True)):
        for stream in pair:
            got = stream.messages(1, timeout=15.0)
            assert json.loads(got[0].data)["body"] == f"hello chat {n}"
            assert got[0].id == f"conversation-{chat}:1"
            arrived = next(t for t, e in stream.arrivals if e.event == "message")
            took = arrived - sent_at[chat]
            assert took < 2.5, f"{took:.1f} s from POST to arrival through Pushpin"


def test_the_recovery_link_answers_pushpin_only(proxied: Proxied) -> None:
    """The shared recovery link replays a channel only to a request Pushpin signed."""
    import jwt

    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(proxied.app, ann, bob)
    secret = send(proxied.app, ann, chat, "not for strangers").json()["body"]
    last = {"Grip-Last": f"events-conversation-{chat}; last-id=0"}
    genuine = jwt.encode({"iss": "pushpin", "exp": 4102444800}, GRIP_KEY, algorithm="HS256")
    forged = jwt.encode({"iss": "pushpin", "exp": 4102444800}, "x" * 40, algorithm="HS256")
    with httpx.stream(
        "GET",
        f"{proxied.app.url}/api/chat/{chat}/events",
        headers={**bob.auth, "Grip-Sig": genuine},
        timeout=5,
    ) as opened:
        link = opened.headers["grip-link"]
    path = link[link.index("<") + 1 : link.index(">")]
    assert "conversation" not in path and str(bob.user.pk) not in path  # one link for all
    url = f"{proxied.app.url}{path}"

    ok = httpx.get(url, headers={**last, "Grip-Sig": genuine}, timeout=5)
    assert ok.status_code == 200 and secret in ok.text
    assert ok.headers["grip-hold"] == "stream"
    assert f"events-conversation-{chat}; prev-id=1" in ok.headers["grip-channel"]
    for headers in ({**last, "Grip-Sig": forged}, last):
        refused = httpx.get(url, headers=headers, timeout=5)
        assert refused.status_code == 404 and secret not in refused.text
    no_key = httpx.get(url.split("?")[0], headers={**last, "Grip-Sig": genuine}, timeout=5)
    assert no_key.status_code == 404 and secret not in no_key.text


def _events_of(stream: Any, kind: str, within: float) -> list[Any]:
    """Every `kind` event that arrives on `stream` within `within` seconds."""
    out = []
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = stream.events.get(timeout=left)
        except queue.Empty:
            break
        if event.event == kind:
            out.append(event)
    return out


def test_under_pushpin_typing_reaches_only_the_other_and_keeps_messages_prompt(
    proxied: Proxied, streams: StreamClient
) -> None:
    """Typing goes through Pushpin to the other participant only, with no `id:`, and
    does not break the chain of ids Pushpin checks: the next message is not held back
    for a recovery (Pushpin waits up to 5 s for a missing id before it asks)."""
    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(proxied.app, ann, bob)
    send(proxied.app, ann, chat, "hello")
    ann_chat = streams.open(conversation_url(proxied, chat), ann.auth)
    ann_inbox = streams.open(inbox_url(proxied), ann.auth)
    bob_chat = streams.open(conversation_url(proxied, chat), bob.auth)
    time.sleep(1.5)  # past Pushpin's first-subscription recovery

    typed = httpx.post(f"{proxied.app.url}/api/chat/{chat}/typing", headers=bob.auth, timeout=10)
    assert typed.status_code == 204
    expected = {"conversation_id": chat, "user_id": str(bob.user.pk)}
    for stream in (ann_chat, ann_inbox):
        got = _events_of(stream, "typing", within=2.0)
        assert [json.loads(e.data) for e in got] == [expected]
        # No `id:` line: the client's last event id stays where the stream put it.
        assert [e.id for e in got] == [stream.opening.id]
    assert _events_of(bob_chat, "typing", within=0.3) == []  # not to the typist

    sent_at = time.monotonic()
    reply = send(proxied.app, ann, chat, "a message after the typing").text
    for stream in (ann_chat, bob_chat):
        got = stream.messages(1, timeout=10.0)
        assert [e.data for e in got] == [reply]
        assert got[0].id == f"conversation-{chat}:2"
        arrived = next(t for t, e in reversed(stream.arrivals) if e.event == "message")
        assert arrived - sent_at < 1.5, f"{arrived - sent_at:.1f} s through Pushpin after typing"


# ---------------------------------------------------------------- credentials under Pushpin


@pytest.fixture
def background_worker(proxied: Proxied, tmp_path: Path) -> Iterator[None]:
    """`manage.py worker` beside the app, with its settings (GRIP_URL included)."""
    worker = start_worker(tmp_path, env=proxied.app.env)
    yield
    stop(worker)


def test_under_pushpin_a_stream_ends_when_its_token_expires(
    proxied: Proxied, streams: StreamClient, background_worker: None
) -> None:
    """The worker ends the stream when its token expires, even while messages keep it
    busy (which pushes Pushpin's own timer back); a fresh token resumes it, losing nothing."""
    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(proxied.app, ann, bob)
    token = short_lived(bob.user, 4)
    stream = streams.open(conversation_url(proxied, chat), {"Authorization": f"Bearer {token}"})
    started = time.monotonic()
    seen = None
    while time.monotonic() - started < 2.5:  # busy while the token lives
        sent = send(proxied.app, ann, chat, "while the token lives").text
        seen = stream.messages(1)[0]
        assert seen.data == sent
        time.sleep(0.5)
    assert_ends_unauthorized(stream, within=8)
    assert time.monotonic() - started > 3, "ended before the token expired"

    missed = send(proxied.app, ann, chat, "after it expired").text
    assert seen is not None
    again = streams.open(conversation_url(proxied, chat), {**bob.auth, "Last-Event-ID": seen.id})
    assert again.status == 200
    assert [e.data for e in again.messages(1)] == [missed]


def test_under_pushpin_logging_out_ends_the_user_s_streams_at_once(
    proxied: Proxied, streams: StreamClient
) -> None:
    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(proxied.app, ann, bob)
    conversation = streams.open(conversation_url(proxied, chat), bob.auth)
    inbox = streams.open(inbox_url(proxied), bob.auth)
    others = streams.open(conversation_url(proxied, chat), ann.auth)

    out = httpx.post(f"{proxied.app.url}/api/auth/logout", headers=bob.auth, timeout=10)
    assert out.status_code == 204
    assert_ends_unauthorized(conversation, within=3)
    assert_ends_unauthorized(inbox, within=3)
    sent = send(proxied.app, ann, chat, "still here").text
    assert [e.data for e in others.messages(1)] == [sent]  # another user's stream goes on
    assert not others.ended.is_set()


def test_under_pushpin_deactivating_a_user_ends_their_streams_at_once(
    proxied: Proxied, streams: StreamClient
) -> None:
    """Deactivated by staff in another process (a management shell, as an admin would)."""
    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(proxied.app, ann, bob)
    stream = streams.open(conversation_url(proxied, chat), bob.auth)
    others = streams.open(inbox_url(proxied), ann.auth)
    command = (
        "from core.models import User; from core.services import user_deactivate; "
        f"user_deactivate(user=User.objects.get(pk='{bob.user.pk}'))"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", command],
        cwd=ROOT,
        env=proxied.app.env,
        check=True,
        timeout=60,
    )
    assert_ends_unauthorized(stream, within=3)
    assert not others.ended.is_set()
    assert streams.start(conversation_url(proxied, chat), bob.auth).status == 401
