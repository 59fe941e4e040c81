"""`event: read` and `event: typing` on live streams (real uvicorn, real SSE reads).

Read events are stored: they carry an `id:` line and come back on resume. Typing
events are not: raw stream text is read here (an SSE client library would carry the
previous id over to an event without one, hiding whether the line was there).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.messaging.realtime.sse import StreamClient, stream_client
from tests.messaging.realtime.test_streams import (
    FAST_SENDING,
    Person,
    conversation_url,
    inbox_url,
    person,
    send,
    seq,
    start_chat,
)

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


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
    return live_server_factory(**FAST_SENDING)


@pytest.fixture
def streams(live_server_factory: Any) -> Iterator[StreamClient]:
    yield from stream_client()


class RawStream:
    """A stream read as text, split into events (blocks), by a thread of its own."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.blocks: queue.Queue[str] = queue.Queue()
        self.opened = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self.thread.start()
        assert self.opened.wait(10), f"{url}: no stream-open"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            self._read_blocks(url, headers)
        except httpx.HTTPError:
            return  # the server went away at the end of the test

    def _read_blocks(self, url: str, headers: dict[str, str]) -> None:
        buffer = ""
        with (
            httpx.Client(timeout=httpx.Timeout(10, read=None)) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            assert response.status_code == 200
            for chunk in response.iter_text():
                buffer += chunk.replace("\r\n", "\n")
                while "\n\n" in buffer:
                    block, buffer = buffer.split("\n\n", 1)
                    if block.startswith("event: stream-open"):
                        self.opened.set()
                    elif block.strip() and not block.startswith(":"):
                        self.blocks.put(block)
                if self.stop.is_set():
                    return

    def events(self, kind: str, within: float) -> list[dict[str, Any]]:
        """Every `kind` event that arrives within `within` seconds: fields, raw lines."""
        found, deadline = [], time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                block = self.blocks.get(timeout=left)
            except queue.Empty:
                break
            lines = block.split("\n")
            fields = dict(line.split(": ", 1) for line in lines if ": " in line)
            if fields.get("event") == kind:
                found.append({"lines": lines, "id": fields.get("id"), "data": fields["data"]})
        return found

    def first(self, kind: str, within: float = 3.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                block = self.blocks.get(timeout=left)
            except queue.Empty:
                break
            lines = block.split("\n")
            fields = dict(line.split(": ", 1) for line in lines if ": " in line)
            if fields.get("event") == kind:
                return {"lines": lines, "id": fields.get("id"), "data": fields["data"]}
        raise AssertionError(f"no {kind} event within {within} s")

    def close(self) -> None:
        self.stop.set()


@pytest.fixture
def raw() -> Iterator[Any]:
    opened: list[RawStream] = []

    def open_raw(url: str, who: Person) -> RawStream:
        stream = RawStream(url, who.auth)
        opened.append(stream)
        return stream

    yield open_raw
    for stream in opened:
        stream.close()


def post(server: LiveServer, who: Person, path: str, body: Any = None) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, headers=who.auth, timeout=20)


# ---------------------------------------------------------------- read


def test_read_goes_to_both_participants_with_an_id(server, streams, ann, bob):
    chat = start_chat(server, ann, bob)
    sent = json.loads(send(server, ann, chat, "Is the flat free in May?").text)
    ann_chat = streams.open(conversation_url(server, chat), ann.auth)
    ann_inbox = streams.open(inbox_url(server), ann.auth)
    bob_inbox = streams.open(inbox_url(server), bob.auth)

    assert post(server, bob, f"/api/chat/{chat}/read").status_code == 204
    expected = {
        "conversation_id": chat,
        "user_id": str(bob.user.pk),
        "last_read_at": sent["created_at"],
    }
    for stream in (ann_chat, ann_inbox, bob_inbox):
        event = stream.next_event(timeout=3)
        assert event.event == "read"
        assert json.loads(event.data) == expected
        assert event.id and seq(event.id) >= 1
    # The conversation tells the sender where the other has read up to.
    detail = httpx.get(f"{server.url}/api/chat/{chat}", headers=ann.auth).json()
    assert detail["other_last_read_at"] == sent["created_at"]
    listed = httpx.get(f"{server.url}/api/chat", headers=ann.auth).json()["items"][0]
    assert listed["other_last_read_at"] == sent["created_at"]
    assert (
        httpx.get(f"{server.url}/api/chat/{chat}", headers=bob.auth).json()["other_last_read_at"]
        is None
    )
    # Reading again with nothing new announces nothing.
    assert post(server, bob, f"/api/chat/{chat}/read").status_code == 204
    send(server, ann, chat, "next")
    assert ann_chat.next_event(timeout=3).event == "message"


def test_read_events_are_replayed_on_resume_in_order(server, streams, ann, bob):
    chat = start_chat(server, ann, bob)
    send(server, ann, chat, "one")
    first = streams.open(conversation_url(server, chat), ann.auth)
    position = first.opening.id
    streams.close(first)
    # While Ann is away: Bob reads, writes, Ann's second tab... reads.
    post(server, bob, f"/api/chat/{chat}/read")
    reply = json.loads(send(server, bob, chat, "two").text)
    post(server, ann, f"/api/chat/{chat}/read")
    resumed = streams.open(conversation_url(server, chat), {**ann.auth, "Last-Event-ID": position})
    replayed = [resumed.next_event(timeout=3) for _ in range(3)]
    assert [e.event for e in replayed] == ["read", "message", "read"]
    assert json.loads(replayed[0].data)["user_id"] == str(bob.user.pk)
    assert json.loads(replayed[1].data)["id"] == reply["id"]
    assert json.loads(replayed[2].data) == {
        "conversation_id": chat,
        "user_id": str(ann.user.pk),
        "last_read_at": reply["created_at"],
    }
    ids = [seq(e.id) for e in replayed]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert seq(replayed[0].id) > seq(position)


# ---------------------------------------------------------------- typing


def test_typing_reaches_only_the_other_without_an_id(server, raw, ann, bob):
    chat = start_chat(server, ann, bob)
    send(server, ann, chat, "hello")  # so the streams have ids to carry
    ann_chat, ann_inbox = raw(conversation_url(server, chat), ann), raw(inbox_url(server), ann)
    bob_chat, bob_inbox = raw(conversation_url(server, chat), bob), raw(inbox_url(server), bob)

    response = post(server, bob, f"/api/chat/{chat}/typing")
    assert response.status_code == 204 and response.content == b""
    expected = {"conversation_id": chat, "user_id": str(bob.user.pk)}
    for stream in (ann_chat, ann_inbox):
        event = stream.first("typing")
        assert json.loads(event["data"]) == expected
        assert event["id"] is None
        assert not any(line.startswith("id:") for line in event["lines"])
    assert bob_chat.events("typing", within=0.5) == []
    assert bob_inbox.events("typing", within=0.1) == []

    # Within 3 s of the one forwarded: answered 204, dropped (not delayed).
    for _ in range(3):
        assert post(server, bob, f"/api/chat/{chat}/typing").status_code == 204
    assert ann_chat.events("typing", within=2.0) == []
    time.sleep(1.2)  # 3 s after the first one forwarded
    assert post(server, bob, f"/api/chat/{chat}/typing").status_code == 204
    assert json.loads(ann_chat.first("typing")["data"]) == expected
    # Ann's own typing is limited on its own, and reaches Bob.
    assert post(server, ann, f"/api/chat/{chat}/typing").status_code == 204
    assert json.loads(bob_chat.first("typing")["data"])["user_id"] == str(ann.user.pk)


def test_typing_is_never_stored_nor_replayed(server, streams, ann, bob):
    chat = start_chat(server, ann, bob)
    send(server, ann, chat, "hello")
    first = streams.open(conversation_url(server, chat), ann.auth)
    position = first.opening.id
    streams.close(first)
    post(server, bob, f"/api/chat/{chat}/typing")
    later = json.loads(send(server, bob, chat, "written after typing").text)
    resumed = streams.open(conversation_url(server, chat), {**ann.auth, "Last-Event-ID": position})
    event = resumed.next_event(timeout=3)
    assert (event.event, json.loads(event.data)["id"]) == ("message", later["id"])
    from django_eventstream.models import Event as StoredEvent

    assert not StoredEvent.objects.filter(type="typing").exists()


def test_typing_crosses_worker_processes_through_redis(
    live_server_factory: Any, redis_url: str, raw, ann: Person, bob: Person
) -> None:
    first = live_server_factory(REDIS_URL=redis_url, **FAST_SENDING)
    second = live_server_factory(REDIS_URL=redis_url, **FAST_SENDING)
    chat = start_chat(first, ann, bob)
    on_second = raw(conversation_url(second, chat), ann)
    assert post(first, bob, f"/api/chat/{chat}/typing").status_code == 204
    event = on_second.first("typing")
    assert json.loads(event["data"])["user_id"] == str(bob.user.pk) and event["id"] is None
    # The 3-second limit is shared by the processes (the cache is Redis too).
    assert post(second, bob, f"/api/chat/{chat}/typing").status_code == 204
    assert on_second.events("typing", within=1.0) == []


# ---------------------------------------------------------------- who may call


@pytest.mark.parametrize("path", ["typing", "read"])
def test_typing_and_read_authorization(server, ann, bob, stranger, path):
    chat = start_chat(server, ann, bob)
    url = f"{server.url}/api/chat/{chat}/{path}"
    anonymous = httpx.post(url)
    assert anonymous.status_code == 401 and "detail" in anonymous.json()
    assert httpx.post(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    not_found = httpx.post(url, headers=stranger.auth)
    assert not_found.status_code == 404 and "detail" in not_found.json()
    unknown = f"{server.url}/api/chat/00000000-0000-4000-8000-000000000000/{path}"
    assert httpx.post(unknown, headers=ann.auth).status_code == 404
    assert httpx.post(f"{server.url}/api/chat/x/{path}", headers=ann.auth).status_code == 422
    for who in (ann, bob):
        assert httpx.post(url, headers=who.auth).status_code == 204
        assert httpx.post(f"{url}/", headers=who.auth).status_code == 204
