"""The message streams against a real uvicorn server, read by a real SSE client.

Messages are posted over HTTP to the same server (its after-commit hook is what
wakes the streams); users are made directly in the shared test database.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from django.conf import settings
from django_eventstream.models import Event as StoredEvent
from django_eventstream.utils import parse_last_event_id

from core.models import User
from core.tokens import issue_pair
from tests.conftest import PASSWORD, ROOT, LiveServer, make_user
from tests.messaging.realtime.sse import Stream, StreamClient, stream_client

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

FAST_SENDING = {"MESSAGE_RATE": "100000"}


@dataclass
class Person:
    user: User
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def person(name: str) -> Person:
    user = make_user(name=name)
    return Person(user, issue_pair(user).access)


@pytest.fixture
def ann(transactional_db: None) -> Person:
    return person("Ann")


@pytest.fixture
def bob(transactional_db: None) -> Person:
    return person("Bob")


@pytest.fixture
def stranger(transactional_db: None) -> Person:
    return person("Stranger")


@pytest.fixture
def server(live_server_factory: Any) -> LiveServer:
    # STREAM_LIMIT lifted: one user holds the 200 streams of the memory test.
    return live_server_factory(STREAM_LIMIT="1000", **FAST_SENDING)


@pytest.fixture
def streams(live_server_factory: Any) -> Iterator[StreamClient]:
    # Set up after the server fixtures, so every stream is closed before a server stops.
    yield from stream_client()


def start_chat(server: LiveServer, a: Person, b: Person) -> str:
    r = httpx.post(f"{server.url}/api/chat/start/{b.user.pk}/", headers=a.auth, timeout=10)
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def send(server: LiveServer, who: Person, chat: str, body: str) -> httpx.Response:
    r = httpx.post(
        f"{server.url}/api/chat/{chat}/messages", json={"body": body}, headers=who.auth, timeout=20
    )
    assert r.status_code == 201, r.text
    return r


def conversation_url(server: LiveServer, chat: str, slash: bool = False) -> str:
    return f"{server.url}/api/chat/{chat}/events" + ("/" if slash else "")


def inbox_url(server: LiveServer, slash: bool = False) -> str:
    return f"{server.url}/api/chat/events" + ("/" if slash else "")


def seq(event_id: str) -> int:
    """The counter in an event id (`<channel>:<n>`): only to check ids increase."""
    return int(event_id.rsplit(":", 1)[1])


def history(server: LiveServer, who: Person, chat: str) -> list[str]:
    """Every message id of the conversation in stored order, through the history API."""
    ids: list[str] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        r = httpx.get(
            f"{server.url}/api/chat/{chat}/messages", params=params, headers=who.auth, timeout=10
        )
        assert r.status_code == 200, r.text
        page = r.json()
        ids[:0] = [m["id"] for m in page["items"]]
        if not page["has_more"]:
            return ids
        params["before"] = page["items"][0]["id"]


# ---------------------------------------------------------------- delivery


def test_a_message_reaches_both_participants_streams_equal_to_the_post_answer(
    server: LiveServer, streams: StreamClient, ann: Person, bob: Person, stranger: Person
) -> None:
    chat = start_chat(server, ann, bob)
    listening = {
        "ann conversation": streams.open(conversation_url(server, chat), ann.auth),
        "bob conversation/": streams.open(conversation_url(server, chat, slash=True), bob.auth),
        "ann inbox/": streams.open(inbox_url(server, slash=True), ann.auth),
        "bob inbox": streams.open(inbox_url(server), bob.auth),
    }
    strangers_inbox = streams.open(inbox_url(server), stranger.auth)
    for stream in listening.values():
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-accel-buffering"] == "no"

    answer = send(server, ann, chat, "  Is the flat free in May?  ")
    sent_at = time.monotonic()
    ids = set()
    for name, stream in listening.items():
        (event,) = stream.messages(1, timeout=1.0)
        assert time.monotonic() - sent_at < 1.0, name
        assert event.data == answer.text, name  # the very text of the POST answer
        assert json.loads(event.data)["body"] == "Is the flat free in May?"
        assert event.id, name
        ids.add(event.id)
    assert len(ids) == 3  # one id per channel: the conversation's and each inbox's
    strangers_inbox.no_message(within=0.3)


def test_the_inbox_stream_gets_conversations_started_after_it_opened(
    server: LiveServer, streams: StreamClient, ann: Person
) -> None:
    inbox = streams.open(inbox_url(server), ann.auth)
    carol = person("Carol")
    chat = start_chat(server, carol, ann)
    answer = send(server, carol, chat, "Hello from a new conversation")
    (event,) = inbox.messages(1, timeout=1.0)
    assert event.data == answer.text


def test_a_stream_opened_without_an_id_loses_no_message_posted_while_it_starts(
    server: LiveServer, streams: StreamClient, ann: Person, bob: Person
) -> None:
    """The message is posted the moment the response's headers are in, before its body.

    A stream that registered its listener after answering (the library's own view does
    so) loses it; here the start point is fixed before the headers are sent.
    """
    chat = start_chat(server, ann, bob)
    for attempt in range(15):
        stream = streams.start(conversation_url(server, chat), bob.auth)
        assert stream.status == 200
        answer = send(server, ann, chat, f"race {attempt}")
        (event,) = stream.messages(1, timeout=2.0)
        assert event.data == answer.text, attempt
        streams.close(stream)


def test_concurrent_writers_reach_a_listener_once_each_in_stored_order(
    server: LiveServer, streams: StreamClient, ann: Person, bob: Person
) -> None:
    chat = start_chat(server, ann, bob)
    conversation = streams.open(conversation_url(server, chat), ann.auth)
    inbox = streams.open(inbox_url(server), bob.auth)
    answers: dict[str, str] = {}
    failures: list[BaseException] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        who = (ann, bob)[n % 2]
        try:
            with httpx.Client(headers=who.auth, timeout=30) as client:
                for i in range(50):
                    r = client.post(
                        f"{server.url}/api/chat/{chat}/messages", json={"body": f"w{n} #{i}"}
                    )
                    assert r.status_code == 201, r.text
                    with lock:
                        answers[r.json()["id"]] = r.text
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures
    assert len(answers) == 250

    stored = history(server, ann, chat)
    assert len(stored) == 250
    for stream in (conversation, inbox):
        events = stream.messages(250, timeout=30)
        received = [json.loads(e.data)["id"] for e in events]
        assert received == stored  # all 250, each once, in the stored order
        assert [e.data for e in events] == [answers[i] for i in stored]
        counters = [seq(e.id) for e in events]
        assert counters == sorted(set(counters))
        stream.no_message(within=0.3)  # and nothing after them


# ---------------------------------------------------------------- refusals


STREAM_PATHS = [
    "/api/chat/{chat}/events",
    "/api/chat/{chat}/events/",
    "/api/chat/events",
    "/api/chat/events/",
]


def _expired_access(user: User) -> str:
    past = datetime.now(tz=UTC) - timedelta(hours=1)
    claims = {"sub": str(user.pk), "type": "access", "iat": past, "exp": past, "jti": "x"}
    return jwt.encode(claims, settings.JWT_SIGNING_KEY, algorithm="HS256")


def test_anonymous_and_bad_credentials_get_401_before_any_stream(
    server: LiveServer, streams: StreamClient, ann: Person, bob: Person
) -> None:
    chat = start_chat(server, ann, bob)
    gone = person("Gone")
    User.objects.filter(pk=gone.user.pk).update(is_active=False)
    credentials = {
        "none": {},
        "garbage token": {"Authorization": "Bearer not-a-jwt"},
        "refresh token": {"Authorization": f"Bearer {issue_pair(ann.user).refresh}"},
        "expired token": {"Authorization": f"Bearer {_expired_access(ann.user)}"},
        "other scheme": {"Authorization": f"Basic {ann.token}"},
        "bad cookie": {"Cookie": f"{settings.ACCESS_COOKIE_NAME}=not-a-jwt"},
        "inactive user": gone.auth,
    }
    for path in STREAM_PATHS:
        url = server.url + path.format(chat=chat)
        for name, headers in credentials.items():
            stream = streams.start(url, headers)
            assert stream.status == 401, (path, name)
            assert stream.headers["www-authenticate"].startswith("Bearer"), (path, name)
            assert stream.headers["content-type"].split(";")[0] == "application/json", (path, name)
            assert set(json.loads(stream.body)) == {"detail"}, (path, name)


def test_a_stranger_gets_404_for_the_conversation_stream(
    server: LiveServer, streams: StreamClient, ann: Person, bob: Person, stranger: Person
) -> None:
    chat = start_chat(server, ann, bob)
    unknown = "0b6c1f8e-9d76-4b35-a0b1-1f7a4c0f7a11"
    for slash in (False, True):
        for url, who in [
            (conversation_url(server, chat, slash), stranger),
            (conversation_url(server, unknown, slash), ann),
            (conversation_url(server, "not-a-uuid", slash), ann),
        ]:
            stream = streams.start(url, who.auth)
            assert stream.status == 404, url
            assert json.loads(stream.body) == {"detail": "Conversation not found."}
    # The same stranger's own inbox opens, and stays silent about others' messages.
    inbox = streams.open(inbox_url(server), stranger.auth)
    send(server, ann, chat, "not for strangers")
    inbox.no_message(within=0.3)


def test_the_access_cookie_from_login_opens_a_stream(
    server: LiveServer, streams: StreamClient, ann: Person, bob: Person
) -> None:
    chat = start_chat(server, ann, bob)
    login = httpx.post(
        f"{server.url}/api/auth/login", json={"email": bob.user.email, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    cookie = login.cookies[settings.ACCESS_COOKIE_NAME]
    headers = {"Cookie": f"{settings.ACCESS_COOKIE_NAME}={cookie}"}
    conversation = streams.open(conversation_url(server, chat), headers)
    inbox = streams.open(inbox_url(server), headers)
    answer = send(server, ann, chat, "cookie check")
    assert conversation.messages(1, timeout=1.0)[0].data == answer.text
    assert inbox.messages(1, timeout=1.0)[0].data == answer.text


def test_a_bad_last_event_id_is_a_400(
    server: LiveServer, streams: StreamClient, ann: Person, bob: Person
) -> None:
    chat = start_chat(server, ann, bob)
    for value in ["garbage", f"conversation-{chat}:x", "error"]:
        stream = streams.start(conversation_url(server, chat), {**bob.auth, "Last-Event-ID": value})
        assert stream.status == 400, value
        assert json.loads(stream.body) == {"detail": "Invalid Last-Event-ID."}


# ---------------------------------------------------------------- resume


def _resume(streams: StreamClient, url: str, who: Person, last_id: str, how: str) -> Stream:
    if how == "header":
        return streams.open(url, {**who.auth, "Last-Event-ID": last_id})
    return streams.open(url, who.auth, params={"lastEventId": last_id})


@pytest.mark.parametrize("kind", ["conversation", "inbox"])
def test_resume_gets_every_missed_message_once_in_order_then_live_ones(
    server: LiveServer, streams: StreamClient, ann: Person, bob: Person, kind: str
) -> None:
    chat = start_chat(server, ann, bob)
    url = conversation_url(server, chat) if kind == "conversation" else inbox_url(server)
    stream = streams.open(url, bob.auth)
    sent = [send(server, ann, chat, f"seen {i}").text for i in range(2)]
    received = stream.messages(2, timeout=2.0)
    assert [e.data for e in received] == sent

    for how in ("header", "query"):  # Last-Event-ID, then ?lastEventId=
        streams.close(stream)
        missed = [send(server, (ann, bob)[i % 2], chat, f"missed {how} {i}").text for i in range(3)]
        stream = _resume(streams, url, bob, received[-1].id, how)
        replayed = stream.messages(3, timeout=2.0)
        assert [e.data for e in replayed] == missed, how
        live = send(server, ann, chat, f"live after {how}").text
        (next_event,) = stream.messages(1, timeout=2.0)
        assert next_event.data == live, how  # nothing repeated before it
        sent += [*missed, live]
        received += [*replayed, next_event]
    assert [e.data for e in received] == sent
    assert [seq(e.id) for e in received] == list(range(1, len(sent) + 1))


def _channel(kind: str, chat: str, who: Person) -> str:
    return f"conversation-{chat}" if kind == "conversation" else f"inbox-{who.user.pk}"


@pytest.mark.parametrize("kind", ["conversation", "inbox"])
def test_a_stream_dropped_before_any_message_resumes_from_its_stream_open_id(
    server: LiveServer, streams: StreamClient, ann: Person, bob: Person, kind: str
) -> None:
    """Without an id to resume from, a reconnect would start at "now" and lose the gap."""
    chat = start_chat(server, ann, bob)
    url = conversation_url(server, chat) if kind == "conversation" else inbox_url(server)
    earlier = send(server, ann, chat, "said before the stream opened").text
    stream = streams.open(url, bob.auth)
    assert stream.opening is not None and not stream.replayed
    position = stream.opening.id
    # Where it starts: after the earlier message, in the ids' own format and parser.
    assert parse_last_event_id(position) == {_channel(kind, chat, bob): "1"}
    stream.no_message(within=0.3)  # stream-open alone
    streams.close(stream)

    missed = [send(server, (ann, bob)[i % 2], chat, f"missed {i}").text for i in range(3)]
    resumed = streams.open(url, {**bob.auth, "Last-Event-ID": position})
    replayed = resumed.messages(3, timeout=2.0)
    assert [e.data for e in replayed] == missed  # exactly those, in order
    assert earlier not in [e.data for e in replayed]
    assert [seq(e.id) for e in replayed] == [2, 3, 4]
    live = send(server, ann, chat, "live after the resume").text
    assert [e.data for e in resumed.messages(1, timeout=2.0)] == [live]
    resumed.no_message(within=0.3)


def test_a_resume_s_stream_open_id_is_the_last_replayed_one_never_ahead(
    server: LiveServer, streams: StreamClient, ann: Person, bob: Person
) -> None:
    chat = start_chat(server, ann, bob)
    url = conversation_url(server, chat)
    channel = f"conversation-{chat}"
    for i in range(6):
        send(server, ann, chat, f"stored {i}")
    for last, missed in [(1, 5), (4, 2), (6, 0)]:
        stream = streams.open(url, {**bob.auth, "Last-Event-ID": f"{channel}:{last}"})
        replayed = [stream.replayed.popleft() for _ in range(len(stream.replayed))]
        assert [seq(e.id) for e in replayed] == list(range(last + 1, last + missed + 1))
        assert stream.opening is not None
        assert stream.opening.id == (replayed[-1].id if replayed else f"{channel}:{last}")
        streams.close(stream)

    # Messages posted while streams open: whatever the race, the position is the last id
    # written before it, and the next message goes on from there, nothing skipped.
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            with httpx.Client(headers=ann.auth, timeout=20) as client:
                while not stop.is_set():
                    r = client.post(f"{server.url}/api/chat/{chat}/messages", json={"body": "r"})
                    assert r.status_code == 201, r.text
        except BaseException as exc:
            failures.append(exc)

    racing = threading.Thread(target=writer)
    racing.start()
    try:
        for _ in range(5):
            stream = streams.open(url, {**bob.auth, "Last-Event-ID": f"{channel}:3"})
            replayed = [seq(stream.replayed.popleft().id) for _ in range(len(stream.replayed))]
            assert stream.opening is not None
            position = seq(stream.opening.id)
            assert replayed == list(range(4, position + 1))
            (following,) = stream.messages(1, timeout=5.0)
            assert seq(following.id) == position + 1
            streams.close(stream)
    finally:
        stop.set()
        racing.join(30)
    assert not failures, failures


def test_a_resume_from_a_trimmed_id_is_reset_and_goes_on_from_the_reset_id(
    server: LiveServer, streams: StreamClient, ann: Person, bob: Person
) -> None:
    chat = start_chat(server, ann, bob)
    channel = f"conversation-{chat}"
    for i in range(3):
        send(server, ann, chat, f"old {i}")
    StoredEvent.objects.filter(channel=channel, eid__lte=1).delete()  # past the retention
    stream = streams.open(
        conversation_url(server, chat), {**bob.auth, "Last-Event-ID": f"{channel}:1"}
    )
    (reset,) = stream.replayed
    assert reset.event == "stream-reset"
    assert json.loads(reset.data) == {"channels": [channel]}
    assert stream.opening is not None
    assert reset.id == stream.opening.id == f"{channel}:3"
    live = send(server, ann, chat, "after the reset").text
    (event,) = stream.messages(1, timeout=2.0)
    assert (event.data, event.id) == (live, f"{channel}:4")


def test_resume_after_the_server_restarts_on_the_same_database(
    server: LiveServer, streams: StreamClient, ann: Person, bob: Person
) -> None:
    chat = start_chat(server, ann, bob)
    stream = streams.open(conversation_url(server, chat), bob.auth)
    first = send(server, ann, chat, "before the restart").text
    (event,) = stream.messages(1, timeout=2.0)
    assert event.data == first
    streams.close(stream)
    before = send(server, ann, chat, "missed before the restart").text

    server.restart()

    after = send(server, ann, chat, "missed after the restart").text
    resumed = _resume(streams, conversation_url(server, chat), bob, event.id, "header")
    assert [e.data for e in resumed.messages(2, timeout=2.0)] == [before, after]
    live = send(server, ann, chat, "live after the restart").text
    assert resumed.messages(1, timeout=2.0)[0].data == live


def test_a_missed_wake_up_is_filled_from_storage_in_order(
    live_server_factory: Any, streams: StreamClient, ann: Person, bob: Person
) -> None:
    """Two processes on one database and no Redis: a message posted through the other
    process wakes nobody here, so the next local event shows a gap in the ids; the
    stream then reads storage and writes both, in order, once each."""
    here = live_server_factory(**FAST_SENDING)
    elsewhere = live_server_factory(**FAST_SENDING)
    chat = start_chat(here, ann, bob)
    stream = streams.open(conversation_url(here, chat), bob.auth)
    unseen = send(elsewhere, ann, chat, "posted through the other process").text
    stream.no_message(within=0.3)
    local = send(here, ann, chat, "posted here").text
    events = stream.messages(2, timeout=2.0)
    assert [e.data for e in events] == [unseen, local]
    assert [seq(e.id) for e in events] == [1, 2]
    stream.no_message(within=0.3)


# ---------------------------------------------------------------- several processes


def test_redis_carries_events_between_worker_processes(
    live_server_factory: Any, redis_url: str, streams: StreamClient, ann: Person, bob: Person
) -> None:
    first = live_server_factory(REDIS_URL=redis_url, **FAST_SENDING)
    second = live_server_factory(REDIS_URL=redis_url, **FAST_SENDING)
    chat = start_chat(first, ann, bob)
    on_first = streams.open(conversation_url(first, chat), bob.auth)
    inbox_on_second = streams.open(inbox_url(second), ann.auth)
    sent = [
        send(second, ann, chat, "through the second").text,
        send(first, bob, chat, "through the first").text,
    ]
    assert [e.data for e in on_first.messages(2, timeout=1.0)] == sent
    assert [e.data for e in inbox_on_second.messages(2, timeout=1.0)] == sent
    on_first.no_message(within=0.3)


# ---------------------------------------------------------------- what an open stream costs


def _proc_status(pid: int) -> dict[str, int]:
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                fields[key] = int(value.split()[0])
    return fields


async def _hold_streams(port: int, path: str, token: str, count: int, pid: int) -> dict:
    """Open `count` idle streams on raw sockets; the server's status before and with them."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()

    async def one() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        seen = b""
        while b"stream-open" not in seen:
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            assert chunk, seen[:200]
            seen += chunk
        return writer

    warm = [await one() for _ in range(5)]
    await asyncio.sleep(0.5)
    before = _proc_status(pid)
    writers = [await one() for _ in range(count)]
    await asyncio.sleep(0.5)
    during = _proc_status(pid)
    for writer in warm + writers:
        writer.close()
    return {"before": before, "during": during}


def test_open_streams_hold_no_thread_and_little_memory(
    server: LiveServer, ann: Person, bob: Person
) -> None:
    chat = start_chat(server, ann, bob)
    count = 200
    status = asyncio.run(
        _hold_streams(server.port, f"/api/chat/{chat}/events", bob.token, count, server.proc.pid)
    )
    before, during = status["before"], status["during"]
    assert during["Threads"] - before["Threads"] <= 2, status  # not one per stream
    per_stream_kib = (during["VmRSS"] - before["VmRSS"]) / count
    # Measured about 20-25 KiB; a thread per stream costs about 230 KiB (NOTES).
    assert per_stream_kib < 64, status


# ---------------------------------------------------------------- keep-alive


def test_an_idle_stream_gets_keep_alives(
    live_server_factory: Any, streams: StreamClient, ann: Person, bob: Person
) -> None:
    quick = live_server_factory(STREAM_KEEPALIVE_SECONDS="1")
    chat = start_chat(quick, ann, bob)
    stream = streams.open(conversation_url(quick, chat), bob.auth)
    started = time.monotonic()
    assert stream.next_event(timeout=3.0).event == "keep-alive"
    assert stream.next_event(timeout=3.0).event == "keep-alive"
    assert time.monotonic() - started < 3.5


def test_the_keep_alive_interval_is_at_most_20_seconds() -> None:
    assert settings.STREAM_KEEPALIVE_SECONDS == 20
    env = {**os.environ, "STREAM_KEEPALIVE_SECONDS": "60"}
    configured = subprocess.run(
        [
            sys.executable,
            "-c",
            "from config import settings; print(settings.STREAM_KEEPALIVE_SECONDS)",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert configured.stdout.strip() == "20"
