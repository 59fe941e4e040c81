"""A stay's scheduled work done by a real `python manage.py worker` process: a request
expires after a short RESERVATION_REQUEST_TTL, check-in details are posted before the
stay and removed after it (row, history and stored stream events alike).

"Later" is arranged by moving the stay's dates into the past and its queued job's
`run_after` to now, as the clock would: the worker under test is untouched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection
from django.utils import timezone
from django_eventstream import models as stored
from django_tasks_db.models import DBTaskResult

from core.tokens import issue_pair
from listings import booking
from listings.models import Property, Reservation
from messaging.models import ConversationMessage
from tests.conftest import ROOT, LiveServer, make_user, server_env
from tests.core.test_worker import stop
from tests.listings.conftest import days_from_today, make_property
from tests.messaging.realtime.sse import StreamClient, stream_client

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

REMOVED = "Check-in details were removed after the stay."


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    workers: list[subprocess.Popen] = []

    def start(**env: str) -> subprocess.Popen:
        log = (tmp_path / "worker.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--interval", "0.2"],
            cwd=ROOT,
            env=server_env(connection.settings_dict, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        workers.append(proc)
        return proc

    yield start
    for proc in workers:
        stop(proc)


@pytest.fixture
def streams(live_server_factory: Any) -> Iterator[StreamClient]:
    yield from stream_client()


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_pair(user).access}"}


def wait_until(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def request_stay(server: LiveServer, guest: Any, prop: Property) -> str:
    r = httpx.post(
        f"{server.url}/api/properties/{prop.pk}/reservations",
        json={
            "start_date": days_from_today(5).isoformat(),
            "end_date": days_from_today(7).isoformat(),
            "guests": 1,
        },
        headers=bearer(guest),
        timeout=20,
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "requested"
    return r.json()["id"]


def test_an_unanswered_request_expires_in_the_worker(live_server_factory, worker_factory, streams):
    """In the default setup (no Redis) the worker's message reaches an open stream too:
    an idle stream looks in storage when its keep-alive is due (1 s here)."""
    server = live_server_factory(RESERVATION_REQUEST_TTL="2", STREAM_KEEPALIVE_SECONDS="1")
    landlord, guest = make_user(name="Hana Host"), make_user(name="Gus Guest")
    prop = make_property(landlord, instant_book=False)
    inbox = streams.open(f"{server.url}/api/chat/events", bearer(guest))
    reservation_id = request_stay(server, guest, prop)
    assert json.loads(inbox.messages(1)[0].data)["reservation"]["status"] == "requested"
    worker_factory()
    [live] = inbox.messages(1, timeout=30)
    assert json.loads(live.data)["reservation"]["status"] == "expired"
    assert Reservation.objects.get(pk=reservation_id).status == "expired"
    told = ConversationMessage.objects.order_by("created_at").last()
    assert (told.kind, told.created_by_id, told.sent_to_id) == (
        "reservation",
        landlord.pk,
        guest.pk,
    )
    assert told.reservation["status"] == "expired"
    with httpx.Client(base_url=server.url, timeout=20) as http:
        r = http.post(f"/api/reservations/{reservation_id}/confirm", headers=bearer(landlord))
        assert r.status_code == 409
        detail = http.get(f"/api/chat/{told.conversation_id}", headers=bearer(guest)).json()
    assert [m["reservation"]["status"] for m in detail["messages"]] == ["requested", "expired"]
    assert detail["unread_count"] == 1  # the expiry, told from the landlord
    time.sleep(1)  # the job ran once
    assert ConversationMessage.objects.count() == 2


@pytest.mark.services
def test_the_expiry_streams_live_with_redis_fan_out(
    live_server_factory, worker_factory, streams, redis_url
):
    """The worker is another process: its messages reach live streams through Redis."""
    server = live_server_factory(RESERVATION_REQUEST_TTL="3", REDIS_URL=redis_url)
    landlord, guest = make_user(name="Hana Host"), make_user(name="Gus Guest")
    prop = make_property(landlord, instant_book=False)
    inbox = streams.open(f"{server.url}/api/chat/events", bearer(guest))
    reservation_id = request_stay(server, guest, prop)
    [requested] = inbox.messages(1)
    assert json.loads(requested.data)["reservation"]["status"] == "requested"
    worker_factory(REDIS_URL=redis_url)
    [expired] = inbox.messages(1, timeout=30)
    payload = json.loads(expired.data)
    assert payload["reservation"] == {**payload["reservation"], "id": reservation_id}
    assert payload["reservation"]["status"] == "expired"
    assert payload["created_by"]["id"] == str(landlord.pk)


def test_checkin_details_are_posted_then_removed_by_the_worker(live_server, worker_factory):
    landlord, guest = make_user(name="Hana Host"), make_user(name="Gus Guest")
    prop = make_property(landlord)
    Property.objects.filter(pk=prop.pk).update(checkin_details="Key box KIWI by the blue door")
    stay = booking.reservation_create(
        property_id=prop.pk,
        guest=guest,
        start_date=days_from_today(1),  # within CHECKIN_DETAILS_LEAD: posted at once
        end_date=days_from_today(3),
        guests=1,
    )
    worker_factory()
    checkin = wait_until(lambda: ConversationMessage.objects.filter(kind="checkin").first())
    assert checkin.body == "Key box KIWI by the blue door"
    assert checkin.created_by_id == landlord.pk
    assert checkin.reservation["id"] == str(stay.pk)
    assert stored.Event.objects.filter(data__contains="KIWI").count() == 3  # three channels

    # The stay is over: the day after it, the removal job is due.
    Reservation.objects.filter(pk=stay.pk).update(
        start_date=days_from_today(-3), end_date=days_from_today(-1)
    )
    DBTaskResult.objects.filter(task_path="listings.tasks.checkin_remove_job").update(
        run_after=timezone.now()
    )
    wait_until(lambda: ConversationMessage.objects.get(pk=checkin.pk).body == REMOVED)
    assert not stored.Event.objects.filter(data__contains="KIWI").exists()
    with httpx.Client(base_url=live_server.url, timeout=20) as http:
        conversation = f"/api/chat/{checkin.conversation_id}"
        detail = http.get(conversation, headers=bearer(guest)).json()
        history = http.get(f"{conversation}/messages", headers=bearer(landlord)).json()
    for messages in (detail["messages"], history["items"]):
        [shown] = [m for m in messages if m["kind"] == "checkin"]
        assert shown["body"] == REMOVED
    assert "KIWI" not in json.dumps(detail) + json.dumps(history)
    assert ConversationMessage.objects.filter(kind="checkin").count() == 1  # posted once
