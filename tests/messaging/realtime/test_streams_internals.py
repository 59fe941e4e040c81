"""The pieces the stream route is built from: ids, ordering, publishing, disconnects.

The live tests (`test_streams.py`) show the behaviour end to end; these pin the
mechanisms down where a live server cannot force the case (wake-ups arriving out of
order, a rolled-back message) or cannot be looked into (the listener registry).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from django.db import connection, transaction
from django.test import RequestFactory
from django_eventstream.event import Event
from django_eventstream.utils import get_storage
from django_eventstream.views import Listener, get_listener_manager

from core.errors import BadRequest
from core.tokens import issue_pair
from messaging import services
from messaging.realtime.channels import conversation_channel, inbox_channel
from messaging.realtime.live import take_in_order
from messaging.realtime.request import last_event_ids
from tests.conftest import free_port, make_user
from tests.messaging.realtime.sse import StreamClient, stream_client

CH = "conversation-7c0e8f52-5b0e-4b43-9d0e-3d0f3c1b2a10"


def queued(*ids: int) -> dict[str, list[Event]]:
    return {CH: [Event(CH, "message", f'{{"n": {i}}}', id=i) for i in ids]}


def written_ids(text: str) -> list[int]:
    return [int(line.rsplit(":", 1)[1]) for line in text.splitlines() if line.startswith("id: ")]


# ---------------------------------------------------------------- ordering of live events


def test_wake_ups_that_arrive_out_of_order_are_written_in_id_order() -> None:
    last = {CH: "4"}
    text, complete = take_in_order(queued(6, 5, 7), last)
    assert complete
    assert written_ids(text) == [5, 6, 7]
    assert last == {CH: "7"}
    assert text.count("event: message\n") == 3


def test_ids_already_written_are_skipped() -> None:
    last = {CH: "5"}
    text, complete = take_in_order(queued(4, 5, 6), last)
    assert complete and written_ids(text) == [6]


def test_a_gap_stops_at_the_last_contiguous_id_and_asks_for_a_storage_read() -> None:
    last = {CH: "4"}
    text, complete = take_in_order(queued(5, 7, 8), last)
    assert not complete
    assert written_ids(text) == [5]
    assert last == {CH: "5"}  # the storage read resumes from here


def test_events_of_channels_the_stream_does_not_read_are_ignored() -> None:
    last = {CH: "1"}
    text, complete = take_in_order(
        {"inbox-other": [Event("inbox-other", "message", "{}", 2)]}, last
    )
    assert (text, complete, last) == ("", True, {CH: "1"})


# ---------------------------------------------------------------- resume ids


def _request(**kw: Any) -> Any:
    return RequestFactory().get("/api/chat/events", **kw)


def test_last_event_id_header_wins_over_the_query_parameter() -> None:
    request = _request(data={"lastEventId": f"{CH}:3"}, HTTP_LAST_EVENT_ID=f"{CH}:9")
    assert last_event_ids(request, [CH]) == {CH: "9"}


def test_the_last_non_empty_query_parameter_is_used() -> None:
    request = RequestFactory().get(f"/x?lastEventId={CH}:2&lastEventId={CH}:5&lastEventId=")
    assert last_event_ids(request, [CH]) == {CH: "5"}


def test_ids_of_other_channels_are_ignored_and_no_id_means_from_now() -> None:
    assert last_event_ids(_request(HTTP_LAST_EVENT_ID="inbox-someone:4"), [CH]) == {}
    assert last_event_ids(_request(), [CH]) == {}


@pytest.mark.parametrize("value", ["nonsense", f"{CH}:x", f"{CH}:-1", "error", "a:1:2"])
def test_malformed_ids_are_refused(value: str) -> None:
    with pytest.raises(BadRequest):
        last_event_ids(_request(HTTP_LAST_EVENT_ID=value), [CH])


# ---------------------------------------------------------------- publishing


@pytest.fixture
def chat(transactional_db: None) -> Any:
    ann, bob = make_user(name="Ann"), make_user(name="Bob")
    conversation, _ = services.conversation_start(user=ann, other_user_id=bob.pk)
    return conversation, ann, bob


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A real listener in this process's registry, on a loop that only collects wake-ups."""
    listener = Listener()
    listener.loop = asyncio.new_event_loop()
    yield listener
    get_listener_manager().remove_listener(listener)
    listener.loop.close()


def test_events_are_stored_with_the_message_and_announced_only_after_commit(
    chat: Any, listener: Listener
) -> None:
    conversation, ann, bob = chat
    channel = conversation_channel(conversation.pk)
    listener.channels = {channel}
    get_listener_manager().add_listener(listener)
    storage = get_storage()

    with pytest.raises(RuntimeError), transaction.atomic():
        services.message_send(conversation_id=conversation.pk, sender=ann, body="rolled back")
        assert storage.get_current_id(channel) == 1  # stored in the message's transaction
        assert listener.channel_items == {}  # nobody told before commit
        raise RuntimeError
    assert storage.get_current_id(channel) == 0  # gone with it: no event, no gap

    with transaction.atomic():
        message = services.message_send(conversation_id=conversation.pk, sender=ann, body="kept")
        assert listener.channel_items == {}
    (event,) = listener.channel_items[channel]
    assert event.id == 1
    for other in (inbox_channel(ann.pk), inbox_channel(bob.pk)):
        (stored,) = storage.get_events(other, 0)
        assert stored.data == event.data
    assert f'"id": "{message.pk}"' in event.data


def test_streams_are_woken_before_the_stored_events_are_trimmed(chat: Any) -> None:
    """Once a minute the trim deletes a minute's worth of expired events: after the wake-up."""
    conversation, ann, _ = chat
    with transaction.atomic():
        services.message_send(conversation_id=conversation.pk, sender=ann, body="hi")
        after_commit = [getattr(f, "func", f).__name__ for _, f, _ in connection.run_on_commit]
    assert after_commit.index("_deliver") < after_commit.index("trim_expired")


# ---------------------------------------------------------------- disconnects (in-process server)


@pytest.fixture
def inprocess_server(transactional_db: None) -> Iterator[str]:
    """The real ASGI app under uvicorn in a thread, so its listener registry can be seen."""
    from config.asgi import application

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "in-process uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def streams(inprocess_server: str) -> Iterator[StreamClient]:
    yield from stream_client()


def _listening(channel: str) -> int:
    manager = get_listener_manager()
    with manager.lock:
        return len(manager.listeners_by_channel.get(channel, ()))


def _until(predicate: Any, within: float) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < within, f"not within {within} s"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_client_that_leaves_is_dropped_at_once_and_refusals_leave_no_listener(
    inprocess_server: str, streams: StreamClient, chat: Any
) -> None:
    conversation, _, bob = chat
    stranger = make_user(name="Stranger")
    channel = conversation_channel(conversation.pk)
    url = f"{inprocess_server}/api/chat/{conversation.pk}/events"

    refused = streams.start(url, {"Authorization": f"Bearer {issue_pair(stranger).access}"})
    assert refused.status == 404
    assert _listening(channel) == 0

    stream = streams.open(url, {"Authorization": f"Bearer {issue_pair(bob).access}"})
    assert _listening(channel) == 1
    streams.close(stream)
    assert _until(lambda: _listening(channel) == 0, within=1.0) < 1.0
