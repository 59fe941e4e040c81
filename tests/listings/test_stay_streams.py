"""A stay's messages arrive on live SSE streams like any message (real uvicorn, real
SSE client), and a resumed stream replays check-in details only as removed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django_eventstream import models as stored

from core.tokens import issue_pair
from listings import booking
from listings.models import Property
from tests.conftest import LiveServer, make_user
from tests.listings.conftest import days_from_today, make_property
from tests.messaging.realtime.sse import StreamClient, stream_client

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def streams(live_server_factory: Any) -> Iterator[StreamClient]:
    yield from stream_client()


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_pair(user).access}"}


def test_booking_and_confirmation_stream_to_both_sides(live_server: LiveServer, streams):
    landlord, guest = make_user(name="Hana Host"), make_user(name="Gus Guest")
    prop = make_property(landlord, title="Stream loft", instant_book=False)
    guest_inbox = streams.open(f"{live_server.url}/api/chat/events", bearer(guest))
    landlord_inbox = streams.open(f"{live_server.url}/api/chat/events", bearer(landlord))

    with httpx.Client(base_url=live_server.url, timeout=20) as http:
        r = http.post(
            f"/api/properties/{prop.pk}/reservations",
            json={
                "start_date": days_from_today(5).isoformat(),
                "end_date": days_from_today(7).isoformat(),
                "guests": 2,
            },
            headers=bearer(guest),
        )
        assert r.status_code == 201, r.text
        reservation_id = r.json()["id"]

        [to_landlord] = landlord_inbox.messages(1)
        [to_guest] = guest_inbox.messages(1)
        assert to_landlord.data == to_guest.data
        requested = json.loads(to_landlord.data)
        assert requested["kind"] == "reservation"
        assert requested["created_by"]["id"] == str(guest.pk)
        assert requested["reservation"]["id"] == reservation_id
        assert requested["reservation"]["status"] == "requested"
        conversation_id = requested["conversation_id"]
        detail = http.get(f"/api/chat/{conversation_id}", headers=bearer(landlord)).json()
        assert detail["messages"] == [requested]  # the event is the stored message
        assert detail["unread_count"] == 1

        conversation = streams.open(
            f"{live_server.url}/api/chat/{conversation_id}/events", bearer(guest)
        )
        r = http.post(f"/api/reservations/{reservation_id}/confirm", headers=bearer(landlord))
        assert r.status_code == 200, r.text
        for stream in (conversation, guest_inbox, landlord_inbox):
            [event] = stream.messages(1)
            confirmed = json.loads(event.data)
            assert confirmed["reservation"]["status"] == "confirmed"
            assert confirmed["created_by"]["id"] == str(landlord.pk)
        inbox = http.get("/api/chat", headers=bearer(guest)).json()["items"][0]
        assert inbox["unread_count"] == 1  # the confirmation; the request is its own
        assert inbox["subject"]["title"] == "Stream loft"


def test_a_resumed_stream_replays_removed_checkin_details(live_server: LiveServer, streams):
    landlord, guest = make_user(name="Hana Host"), make_user(name="Gus Guest")
    prop = make_property(landlord, title="Code house")
    Property.objects.filter(pk=prop.pk).update(checkin_details="Gate code WOMBAT")
    stay = booking.reservation_create(
        property_id=prop.pk,
        guest=guest,
        start_date=days_from_today(1),
        end_date=days_from_today(2),
        guests=1,
    )
    first = streams.open(f"{live_server.url}/api/chat/events", bearer(guest))
    booking.checkin_post(reservation_id=stay.pk)  # in this process: stored, not woken there
    booking.reservation_cancel(reservation_id=stay.pk, user=guest)
    resumed = streams.open(
        f"{live_server.url}/api/chat/events",
        {**bearer(guest), "Last-Event-ID": first.opening.id},
    )
    replayed = [json.loads(event.data) for event in resumed.messages(2)]
    assert [m["kind"] for m in replayed] == ["checkin", "reservation"]
    assert replayed[0]["body"] == "Check-in details were removed after the stay."
    assert replayed[1]["reservation"]["status"] == "cancelled"
    # nowhere in the event storage any more (all three channels' copies rewritten)
    assert stored.Event.objects.filter(type="message").count() == 3 * 3
    assert not stored.Event.objects.filter(data__contains="WOMBAT").exists()
