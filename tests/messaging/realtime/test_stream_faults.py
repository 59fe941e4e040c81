"""Redis failing under two real workers: streams, sends and logins through an outage.

A `redis-server` of the test's own (`tests.support.services.RedisServer`) is killed,
restarted and stalled (SIGSTOP) under two uvicorn processes whose `REDIS_URL` points
at it. What must hold (issue 10, API.md "Conventions" and "The event streams"):

- no stream silently misses an event: when the fan-out breaks, open streams end, so
  that clients resume from storage with `Last-Event-ID`;
- the fan-out comes back by itself (the subscriber reconnects, and says so in the
  log): live delivery works again on every worker without a restart;
- while Redis is unavailable, sending, login, sign-up and opening a stream answer
  503 JSON with `Retry-After`, never 500; a stalled Redis never hangs a request;
- a send answered 201 is never lost, and one answered otherwise stored nothing.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, LiveServer
from tests.messaging.realtime.sse import Stream, StreamClient, stream_client
from tests.messaging.realtime.test_streams import (
    FAST_SENDING,
    Person,
    conversation_url,
    history,
    inbox_url,
    person,
    send,
    start_chat,
)
from tests.support.services import RedisServer

pytestmark = [pytest.mark.live, pytest.mark.services, pytest.mark.django_db(transaction=True)]

# How long a worker may take to notice Redis is gone or stalled, and to come back.
NOTICE_SECONDS = 10.0
RECOVER_SECONDS = 20.0


@pytest.fixture
def workers(live_server_factory: Any, redis_server: RedisServer) -> list[LiveServer]:
    env = {"REDIS_URL": redis_server.url, "AUTH_RATE": "100000", **FAST_SENDING}
    return [live_server_factory(**env), live_server_factory(**env)]


@pytest.fixture
def streams(workers: list[LiveServer]) -> Any:
    # After the servers, so that every stream is closed before they stop.
    yield from stream_client()


def assert_unavailable(response: httpx.Response) -> None:
    """503 JSON `{"detail"}` with a whole-seconds `Retry-After`: never a 500 or HTML."""
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert response.json()["detail"]
    assert int(response.headers["retry-after"]) >= 1


def open_when_ready(streams: StreamClient, url: str, who: Person, last_id: str | None) -> Stream:
    """Reopen a stream as a client would: 503s (with Retry-After) until the fan-out is back."""
    headers = dict(who.auth)
    if last_id:
        headers["Last-Event-ID"] = last_id
    deadline = time.monotonic() + RECOVER_SECONDS
    while True:
        stream = streams.open(url, headers)
        if stream.status == 200:
            return stream
        assert stream.status == 503, (stream.status, stream.body[:300])
        assert stream.headers is not None and int(stream.headers["retry-after"]) >= 1
        assert time.monotonic() < deadline, "the stream did not come back after Redis did"
        time.sleep(0.3)


def wait_ended(*opened: Stream) -> None:
    for stream in opened:
        assert stream.ended.wait(NOTICE_SECONDS), f"{stream.url} stayed open without fan-out"


class Sender(threading.Thread):
    """Sends a numbered message every `every` seconds until stopped; keeps every answer."""

    def __init__(self, server: LiveServer, who: Person, chat: str, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.url = f"{server.url}/api/chat/{chat}/messages"
        self.who, self.every = who, every
        # body, status (-1: no answer), seconds taken, the stored id of a 201
        self.answers: list[tuple[str, int, float, str | None]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        n = 0
        with httpx.Client(timeout=30) as client:
            while not self.stopping.is_set():
                n += 1
                body = f"through the outage {n}"
                started = time.monotonic()
                try:
                    r = client.post(self.url, json={"body": body}, headers=self.who.auth)
                except httpx.HTTPError as exc:  # a dropped answer: its fate is in storage
                    self.answers.append((body, -1, time.monotonic() - started, None))
                    print("send failed:", exc)
                    if isinstance(exc, httpx.ConnectError):  # the server is gone
                        return
                else:
                    stored = r.json()["id"] if r.status_code == 201 else None
                    self.answers.append((body, r.status_code, time.monotonic() - started, stored))
                    if r.status_code not in (201, 503):
                        print("unexpected answer:", r.status_code, r.text[:300])
                self.stopping.wait(self.every)

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


@pytest.fixture
def senders(workers: list[LiveServer]) -> Any:
    """`senders(server, who, chat)`: a started `Sender`, stopped at teardown whatever happens."""
    started: list[Sender] = []

    def start(server: LiveServer, who: Person, chat: str) -> Sender:
        sender = Sender(server, who, chat)
        sender.start()
        started.append(sender)
        return sender

    yield start
    for sender in started:
        sender.stop()


def logs(server: LiveServer) -> str:
    assert server.log_path is not None
    return server.log_path.read_text(errors="replace")


def test_a_redis_outage_ends_streams_answers_503_and_live_delivery_comes_back(
    workers: list[LiveServer], redis_server: RedisServer, streams: StreamClient, senders: Any
) -> None:
    first, second = workers
    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(first, ann, bob)
    on_first = streams.open(conversation_url(first, chat), bob.auth)
    on_second = streams.open(inbox_url(second), ann.auth)
    before = send(second, ann, chat, "before the outage").text
    last_first = on_first.messages(1)[0]
    last_second = on_second.messages(1)[0]
    assert last_first.data == last_second.data == before

    sender = senders(first, ann, chat)
    time.sleep(0.3)
    redis_server.kill()
    wait_ended(on_first, on_second)

    # While it is down: 503 JSON with Retry-After, for sending, login, sign-up, streams.
    assert_unavailable(
        httpx.post(
            f"{second.url}/api/chat/{chat}/messages",
            json={"body": "while down"},
            headers=bob.auth,
            timeout=10,
        )
    )
    assert_unavailable(
        httpx.post(
            f"{first.url}/api/auth/login",
            json={"email": ann.user.email, "password": PASSWORD},
            timeout=10,
        )
    )
    assert_unavailable(
        httpx.post(
            f"{second.url}/api/auth/signup",
            json={"email": "newcomer@example.com", "password": PASSWORD, "name": "New"},
            timeout=10,
        )
    )
    down = streams.open(inbox_url(first), ann.auth)
    assert down.status == 503, down.status
    assert down.headers is not None and int(down.headers["retry-after"]) >= 1
    time.sleep(1.0)

    redis_server.start()
    resumed_first = open_when_ready(streams, conversation_url(first, chat), bob, last_first.id)
    resumed_second = open_when_ready(streams, inbox_url(second), ann, last_second.id)
    time.sleep(0.5)
    sender.stop()
    statuses = {status for _, status, _, _ in sender.answers}
    assert statuses <= {201, 503}, sender.answers
    assert 201 in statuses and 503 in statuses, statuses

    # Every send answered 201 is stored and streamed, once, in order; no other is stored.
    accepted = [body for body, status, _, _ in sender.answers if status == 201]
    accepted_ids = [stored for _, status, _, stored in sender.answers if status == 201]
    before_id = httpx.Response(200, content=before).json()["id"]
    assert history(first, ann, chat) == [before_id, *accepted_ids]
    live = send(second, bob, chat, "after the outage").text
    for resumed in (resumed_first, resumed_second):
        got = resumed.messages(len(accepted) + 1, timeout=15)
        bodies = [json.loads(e.data)["body"] for e in got]
        assert bodies == [*accepted, "after the outage"]
        assert got[-1].data == live
        resumed.no_message(within=0.3)

    for server in workers:  # log lines are written by a thread: they may trail
        deadline = time.monotonic() + 10
        while "Redis fan-out reconnected" not in logs(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        text = logs(server)
        assert "Redis fan-out lost" in text, text[-2000:]
        assert "Redis fan-out reconnected" in text, text[-2000:]


def test_a_stalled_redis_hangs_no_request_and_delivery_comes_back(
    workers: list[LiveServer], redis_server: RedisServer, streams: StreamClient
) -> None:
    first, second = workers
    ann, bob = person("Ann"), person("Bob")
    chat = start_chat(first, ann, bob)
    on_first = streams.open(conversation_url(first, chat), bob.auth)
    on_second = streams.open(conversation_url(second, chat), ann.auth)
    send(first, ann, chat, "before the stall")
    last_first, last_second = on_first.messages(1)[0], on_second.messages(1)[0]

    redis_server.pause()
    try:
        for call in (
            lambda: httpx.post(
                f"{second.url}/api/chat/{chat}/messages",
                json={"body": "while stalled"},
                headers=bob.auth,
                timeout=30,
            ),
            lambda: httpx.post(
                f"{first.url}/api/auth/login",
                json={"email": bob.user.email, "password": PASSWORD},
                timeout=30,
            ),
        ):
            started = time.monotonic()
            answer = call()
            assert time.monotonic() - started < 8, "a stalled Redis held the request"
            assert_unavailable(answer)
        wait_ended(on_first, on_second)
    finally:
        redis_server.resume()

    resumed_first = open_when_ready(streams, conversation_url(first, chat), bob, last_first.id)
    resumed_second = open_when_ready(streams, conversation_url(second, chat), ann, last_second.id)
    live = send(second, bob, chat, "after the stall").text
    assert [e.data for e in resumed_first.messages(1, timeout=10)] == [live]
    assert [e.data for e in resumed_second.messages(1, timeout=10)] == [live]
    # nothing half-written: the stalled sends stored nothing
    assert len(history(first, ann, chat)) == 2
