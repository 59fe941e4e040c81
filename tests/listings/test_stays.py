"""The booking loop (API.md, Reservations): instant book or request, confirm, decline,
cancel, expiry, and every change told in the guest-landlord thread.

Each refusal is checked to have changed nothing: stays, messages, conversations and
queued jobs are compared before and after.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from core.models import User
from listings.models import Property, Reservation
from messaging.models import Conversation, ConversationMessage
from tests.conftest import ApiClient, client_for, make_user
from tests.listings.conftest import book, days_from_today, make_property

pytestmark = pytest.mark.django_db


def stay(start: int, end: int, guests: int = 2) -> dict:
    return {
        "start_date": days_from_today(start).isoformat(),
        "end_date": days_from_today(end).isoformat(),
        "guests": guests,
    }


def fingerprint() -> tuple:
    """Everything a stay's write could change."""
    return (
        sorted(Reservation.objects.values_list("id", "status", "start_date", "end_date")),
        sorted(ConversationMessage.objects.values_list("id", "body")),
        sorted(Conversation.objects.values_list("id", "subject", "modified_at")),
        DBTaskResult.objects.count(),
    )


def thread_between(a: User, b: User) -> Conversation:
    low, high = Conversation.ordered_pair(a, b)
    return Conversation.objects.get(user_low=low, user_high=high)


def stay_messages(a: User, b: User) -> list[ConversationMessage]:
    return list(thread_between(a, b).messages.order_by("created_at", "id"))


class Cast:
    """A landlord with an instant-book and a request-to-book listing, and two guests."""

    def __init__(self) -> None:
        self.landlord = make_user(name="Helena Host")
        self.guest = make_user(name="Gabriel Guest")
        self.other_guest = make_user(name="Olga Other")
        self.stranger = make_user(name="Stan Stranger")
        self.instant = make_property(self.landlord, title="Instant cabin")
        self.on_request = make_property(self.landlord, title="Quiet loft", instant_book=False)

    def client(self, who: str) -> ApiClient:
        if who == "anonymous":
            return ApiClient()
        return client_for(getattr(self, who))

    def book(self, who: str, prop: Property, start: int, end: int, guests: int = 2) -> Any:
        return self.client(who).post(
            f"/api/properties/{prop.pk}/reservations", stay(start, end, guests)
        )

    def act(self, who: str, reservation_id: Any, action: str) -> Any:
        return self.client(who).post(f"/api/reservations/{reservation_id}/{action}")


@pytest.fixture
def cast() -> Cast:
    return Cast()


# ------------------------------------------------------------------ booking


def test_an_instant_book_listing_confirms_at_once_and_says_so_in_the_thread(cast):
    r = cast.book("guest", cast.instant, 5, 8)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "confirmed"
    assert body["guest"]["id"] == str(cast.guest.pk)
    assert body["property"]["instant_book"] is True
    assert "checkin_details" not in body["property"]  # the guest is not its landlord

    [message] = stay_messages(cast.guest, cast.landlord)
    assert message.kind == "reservation"
    assert message.created_by_id == cast.guest.pk
    assert message.sent_to_id == cast.landlord.pk
    assert "booked Instant cabin" in message.body and "confirmed" in message.body
    assert message.reservation == {
        "id": body["id"],
        "status": "confirmed",
        "property_id": str(cast.instant.pk),
        "property_title": "Instant cabin",
        "start_date": days_from_today(5).isoformat(),
        "end_date": days_from_today(8).isoformat(),
        "guests": 2,
        "total_price": 3 * cast.instant.price_per_night,
    }
    conversation = thread_between(cast.guest, cast.landlord)
    assert conversation.subject == {
        "property_id": str(cast.instant.pk),
        "title": "Instant cabin",
        "image_url": None,
    }


def test_a_request_to_book_waits_for_the_landlord(cast, settings):
    r = cast.book("guest", cast.on_request, 5, 8)
    assert r.status_code == 201, r.content
    assert r.json()["status"] == "requested"
    stored = Reservation.objects.get(pk=r.json()["id"])
    assert stored.expires_at == stored.created_at + settings.RESERVATION_REQUEST_TTL
    [message] = stay_messages(cast.guest, cast.landlord)
    assert message.kind == "reservation" and message.reservation["status"] == "requested"
    assert "requested to stay at Quiet loft" in message.body
    # its expiry is queued, due when the request expires
    job = DBTaskResult.objects.get(task_path="listings.tasks.reservation_expire_job")
    assert job.run_after == stored.expires_at
    assert job.args_kwargs["args"] == [str(stored.pk)]


def test_the_messages_read_as_the_thread_api_shows_them(cast):
    reservation_id = cast.book("guest", cast.on_request, 5, 8).json()["id"]
    cast.act("landlord", reservation_id, "confirm")
    conversation = thread_between(cast.guest, cast.landlord)
    landlord = cast.client("landlord")
    detail = landlord.get(f"/api/chat/{conversation.pk}").json()
    assert detail["subject"]["title"] == "Quiet loft"
    kinds = [
        (m["kind"], m["reservation"]["status"], m["created_by"]["id"]) for m in detail["messages"]
    ]
    assert kinds == [
        ("reservation", "requested", str(cast.guest.pk)),
        ("reservation", "confirmed", str(cast.landlord.pk)),
    ]
    # unread for the one who did not act: each side has the other's one message
    assert detail["unread_count"] == 1
    inbox = cast.client("guest").get("/api/chat").json()["items"]
    assert inbox[0]["unread_count"] == 1
    assert inbox[0]["subject"]["property_id"] == str(cast.on_request.pk)
    assert inbox[0]["last_message"]["reservation"]["status"] == "confirmed"


def test_a_text_message_has_no_reservation(cast):
    conversation_id = (
        cast.client("guest").post(f"/api/properties/{cast.instant.pk}/contact").json()["id"]
    )
    r = cast.client("guest").post(f"/api/chat/{conversation_id}/messages", {"body": "Hello"})
    assert r.status_code == 201
    assert (r.json()["kind"], r.json()["reservation"]) == ("text", None)


def test_requests_may_overlap_each_other(cast):
    assert cast.book("guest", cast.on_request, 5, 8).status_code == 201
    assert cast.book("other_guest", cast.on_request, 6, 9).status_code == 201
    assert Reservation.objects.filter(status="requested").count() == 2


def test_a_booking_overlapping_a_confirmed_stay_is_409_and_changes_nothing(cast):
    for prop in (cast.instant, cast.on_request):
        book(prop, cast.other_guest, days_from_today(5), nights=3)  # confirmed
    before = fingerprint()
    for prop in (cast.instant, cast.on_request):
        r = cast.book("guest", prop, 6, 7)
        assert r.status_code == 409, r.content
        assert r.json()["detail"]
    assert fingerprint() == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (stay(-1, 3), 422),
        (stay(5, 5), 422),
        (stay(6, 5), 422),
        (stay(5, 7, guests=5), 422),  # the listing takes 4
        ({**stay(5, 7), "total_price": 1}, 422),
    ],
    ids=["start-in-the-past", "end-equals-start", "end-before-start", "too-many-guests", "price"],
)
@pytest.mark.parametrize("listing", ["instant", "on_request"])
def test_bad_stays_are_refused_and_change_nothing(cast, body, code, listing):
    before = fingerprint()
    prop = getattr(cast, listing)
    r = cast.client("guest").post(f"/api/properties/{prop.pk}/reservations", body)
    assert r.status_code == code, r.content
    assert r.json()["detail"]
    assert fingerprint() == before


@pytest.mark.parametrize("listing", ["instant", "on_request"])
def test_booking_ones_own_listing_is_403_and_changes_nothing(cast, listing):
    before = fingerprint()
    r = cast.book("landlord", getattr(cast, listing), 5, 7)
    assert r.status_code == 403
    assert r.json()["detail"]
    assert fingerprint() == before


# ------------------------------------------------------------------ answering


def test_confirming_declines_the_overlapping_requests_each_in_its_thread(cast):
    mine = cast.book("guest", cast.on_request, 5, 8).json()["id"]
    clash = cast.book("other_guest", cast.on_request, 7, 10).json()["id"]
    elsewhere = cast.book("stranger", cast.on_request, 8, 10).json()["id"]  # starts as mine ends
    r = cast.act("landlord", mine, "confirm")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "confirmed"
    assert Reservation.objects.get(pk=clash).status == "declined"
    assert Reservation.objects.get(pk=elsewhere).status == "requested"
    told = stay_messages(cast.other_guest, cast.landlord)[-1]
    assert told.reservation["status"] == "declined"
    assert told.created_by_id == cast.landlord.pk
    assert "declined" in told.body
    # the declined one can no longer be confirmed
    assert cast.act("landlord", clash, "confirm").status_code == 409


def test_an_instant_booking_declines_the_requests_it_overlaps(cast):
    request = cast.book("other_guest", cast.on_request, 5, 8).json()["id"]
    Property.objects.filter(pk=cast.on_request.pk).update(instant_book=True)
    assert cast.book("guest", cast.on_request, 6, 7).json()["status"] == "confirmed"
    assert Reservation.objects.get(pk=request).status == "declined"
    assert stay_messages(cast.other_guest, cast.landlord)[-1].reservation["status"] == "declined"


def test_confirming_a_request_that_now_overlaps_a_confirmed_stay_is_409(cast):
    request = cast.book("guest", cast.on_request, 5, 8).json()["id"]
    book(cast.on_request, cast.other_guest, days_from_today(6), nights=1)  # confirmed meanwhile
    before = fingerprint()
    r = cast.act("landlord", request, "confirm")
    assert r.status_code == 409
    assert fingerprint() == before


def test_decline(cast):
    request = cast.book("guest", cast.on_request, 5, 8).json()["id"]
    r = cast.act("landlord", request, "decline")
    assert r.status_code == 200
    assert r.json()["status"] == "declined"
    last = stay_messages(cast.guest, cast.landlord)[-1]
    assert (last.reservation["status"], last.created_by_id) == ("declined", cast.landlord.pk)


@pytest.mark.parametrize("who", ["guest", "landlord"])
@pytest.mark.parametrize("listing", ["instant", "on_request"])
def test_guest_or_landlord_cancel(cast, who, listing):
    reservation_id = cast.book("guest", getattr(cast, listing), 5, 8).json()["id"]
    r = cast.act(who, reservation_id, "cancel")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "cancelled"
    last = stay_messages(cast.guest, cast.landlord)[-1]
    assert last.reservation["status"] == "cancelled"
    assert last.created_by_id == getattr(cast, who).pk
    assert last.sent_to_id != getattr(cast, who).pk


def test_cancelling_frees_the_dates(cast):
    reservation_id = cast.book("guest", cast.instant, 5, 8).json()["id"]
    cast.act("guest", reservation_id, "cancel")
    assert cast.book("other_guest", cast.instant, 5, 8).status_code == 201


def _arrange(cast: Cast, status: str, start: int = 5) -> Reservation:
    r = book(cast.on_request, cast.guest, days_from_today(start), nights=2)
    Reservation.objects.filter(pk=r.pk).update(status=status)
    return r


WRONG_STATUS = {
    "confirm": ["confirmed", "declined", "cancelled", "expired"],
    "decline": ["confirmed", "declined", "cancelled", "expired"],
    "cancel": ["declined", "cancelled", "expired"],
}


@pytest.mark.parametrize(
    ("action", "status"),
    [(action, status) for action, statuses in WRONG_STATUS.items() for status in statuses],
)
def test_acting_on_a_stay_in_the_wrong_status_is_409_and_changes_nothing(cast, action, status):
    reservation = _arrange(cast, status)
    before = fingerprint()
    r = cast.act("landlord", reservation.pk, action)
    assert r.status_code == 409, r.content
    assert r.json()["detail"]
    assert fingerprint() == before


@pytest.mark.parametrize("who", ["guest", "landlord"])
def test_a_confirmed_stay_that_has_started_cannot_be_cancelled(cast, who):
    started = book(cast.instant, cast.guest, days_from_today(-1), nights=3)
    before = fingerprint()
    assert cast.act(who, started.pk, "cancel").status_code == 409
    assert fingerprint() == before


# ------------------------------------------------------------------ expiry, before its job


def test_a_stale_request_is_expired_everywhere_before_its_job_runs(cast):
    request = cast.book("guest", cast.on_request, 5, 8).json()["id"]
    Reservation.objects.filter(pk=request).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Reservation.objects.get(pk=request).status == "requested"  # the job has not run
    guest, landlord = cast.client("guest"), cast.client("landlord")
    assert guest.get(f"/api/reservations/{request}").json()["status"] == "expired"
    listed = landlord.get(f"/api/properties/{cast.on_request.pk}/reservations").json()
    assert [item["status"] for item in listed["items"]] == ["expired"]
    assert guest.get("/api/reservations", params={"status": "expired"}).json()["count"] == 1
    assert guest.get("/api/reservations", params={"status": "requested"}).json()["count"] == 0
    before = fingerprint()
    for action in ("confirm", "decline"):
        r = cast.act("landlord", request, action)
        assert r.status_code == 409 and "expired" in r.json()["detail"]
    assert cast.act("guest", request, "cancel").status_code == 409
    assert fingerprint() == before


def test_the_expiry_job_marks_it_and_tells_the_thread_from_the_landlord(cast):
    from listings.booking import reservation_expire

    request = cast.book("guest", cast.on_request, 5, 8).json()["id"]
    reservation_expire(reservation_id=request)  # early: nothing, but queued again
    assert Reservation.objects.get(pk=request).status == "requested"
    Reservation.objects.filter(pk=request).update(expires_at=timezone.now())
    reservation_expire(reservation_id=request)
    reservation_expire(reservation_id=request)  # twice: once
    assert Reservation.objects.get(pk=request).status == "expired"
    messages = stay_messages(cast.guest, cast.landlord)
    assert [m.reservation["status"] for m in messages] == ["requested", "expired"]
    assert messages[-1].created_by_id == cast.landlord.pk
    assert "expired" in messages[-1].body


def test_the_expiry_job_leaves_an_answered_request_alone(cast):
    from listings.booking import reservation_expire

    request = cast.book("guest", cast.on_request, 5, 8).json()["id"]
    cast.act("landlord", request, "confirm")
    Reservation.objects.filter(pk=request).update(expires_at=timezone.now())
    before = fingerprint()
    reservation_expire(reservation_id=request)
    assert fingerprint() == before


# ------------------------------------------------------------------ reading


def test_role_and_status_filters(cast):
    a = cast.book("guest", cast.on_request, 9, 10).json()["id"]
    b = cast.book("guest", cast.instant, 3, 4).json()["id"]
    c = cast.book("other_guest", cast.instant, 5, 6).json()["id"]
    guest, landlord = cast.client("guest"), cast.client("landlord")

    def ids(client: ApiClient, **params: str) -> list[str]:
        r = client.get("/api/reservations", params=params)
        assert r.status_code == 200, r.content
        return [item["id"] for item in r.json()["items"]]

    assert ids(guest) == ids(guest, role="guest") == [b, a]
    assert ids(guest, status="requested") == [a]
    assert ids(landlord, role="host") == [b, c, a]
    assert ids(landlord, role="host", status="confirmed") == [b, c]
    assert ids(landlord) == []  # the landlord's own stays as a guest
    assert guest.get("/api/reservations", params={"role": "admin"}).status_code == 422
    assert guest.get("/api/reservations", params={"status": "maybe"}).status_code == 422


def test_others_see_only_the_dates_of_confirmed_stays(cast):
    cast.book("guest", cast.on_request, 5, 8)
    confirmed = book(cast.on_request, cast.other_guest, days_from_today(10), nights=2)
    for who in ("anonymous", "stranger", "guest"):
        body = cast.client(who).get(f"/api/properties/{cast.on_request.pk}/reservations").json()
        assert body == {
            "items": [
                {
                    "start_date": confirmed.start_date.isoformat(),
                    "end_date": confirmed.end_date.isoformat(),
                }
            ],
            "count": 1,
        }
    whole = cast.client("landlord").get(f"/api/properties/{cast.on_request.pk}/reservations")
    assert [item["status"] for item in whole.json()["items"]] == ["requested", "confirmed"]


def test_browse_with_dates_ignores_requests(cast):
    cast.book("guest", cast.on_request, 5, 8)
    params = {"checkin": days_from_today(5).isoformat(), "checkout": days_from_today(8).isoformat()}
    titles = {p["title"] for p in ApiClient().get("/api/properties", params=params).json()["items"]}
    assert "Quiet loft" in titles


# ------------------------------------------------------------------ check-in details


def test_checkin_details_are_the_landlords_alone(cast):
    landlord = cast.client("landlord")
    r = landlord.patch(
        f"/api/properties/{cast.instant.pk}", {"checkin_details": " Key under the mat "}
    )
    assert r.status_code == 200, r.content
    assert r.json()["checkin_details"] == "Key under the mat"
    assert landlord.get(f"/api/properties/{cast.instant.pk}").json()["checkin_details"] == (
        "Key under the mat"
    )
    for who in ("anonymous", "stranger", "guest"):
        client = cast.client(who)
        detail = client.get(f"/api/properties/{cast.instant.pk}")
        assert "checkin_details" not in detail.json()
        assert "Key under the mat" not in client.get("/api/properties").content.decode()
    r = cast.book("guest", cast.instant, 5, 8)
    assert "Key under the mat" not in r.content.decode()
    assert "checkin_details" not in r.json()["property"]
    assert (
        cast.client("stranger")
        .patch(f"/api/properties/{cast.instant.pk}", {"checkin_details": "x"})
        .status_code
        == 403
    )
    assert Property.objects.get(pk=cast.instant.pk).checkin_details == "Key under the mat"


def test_instant_book_can_be_switched_off(cast):
    r = cast.client("landlord").patch(f"/api/properties/{cast.instant.pk}", {"instant_book": False})
    assert r.json()["instant_book"] is False
    assert cast.book("guest", cast.instant, 5, 8).json()["status"] == "requested"


def test_a_listing_is_instant_book_unless_said_otherwise(cast):
    from tests.listings.conftest import PROPERTY_BODY

    landlord = cast.client("landlord")
    assert landlord.post("/api/properties", PROPERTY_BODY).json()["instant_book"] is True
    r = landlord.post("/api/properties", {**PROPERTY_BODY, "instant_book": False})
    assert r.json()["instant_book"] is False


def test_checkin_details_are_posted_once_and_removed_after_the_stay(cast):
    from listings import booking

    Property.objects.filter(pk=cast.instant.pk).update(checkin_details="Door code 4471")
    reservation_id = cast.book("guest", cast.instant, 1, 3).json()["id"]
    job = DBTaskResult.objects.get(task_path="listings.tasks.checkin_post_job")
    assert job.run_after <= timezone.now()  # within the lead: at once
    booking.checkin_post(reservation_id=reservation_id)
    booking.checkin_post(reservation_id=reservation_id)  # twice: once
    checkin = [m for m in stay_messages(cast.guest, cast.landlord) if m.kind == "checkin"]
    assert len(checkin) == 1
    assert checkin[0].body == "Door code 4471"
    assert checkin[0].created_by_id == cast.landlord.pk
    removal = DBTaskResult.objects.get(task_path="listings.tasks.checkin_remove_job")
    assert removal.run_after.date() == days_from_today(4)
    booking.checkin_remove(reservation_id=reservation_id)  # too early: nothing
    checkin[0].refresh_from_db()
    assert checkin[0].body == "Door code 4471"
    Reservation.objects.filter(pk=reservation_id).update(
        start_date=days_from_today(-3), end_date=days_from_today(-1)
    )
    booking.checkin_remove(reservation_id=reservation_id)
    checkin[0].refresh_from_db()
    assert checkin[0].body == "Check-in details were removed after the stay."


def test_checkin_details_written_late_still_reach_the_stays_due(cast):
    from listings import booking

    soon = cast.book("guest", cast.instant, 1, 3).json()["id"]
    later = cast.book("other_guest", cast.instant, 20, 22).json()["id"]
    booking.checkin_post(reservation_id=soon)  # no details yet: nothing to post
    assert not ConversationMessage.objects.filter(kind="checkin").exists()
    DBTaskResult.objects.all().delete()
    r = cast.client("landlord").patch(
        f"/api/properties/{cast.instant.pk}", {"checkin_details": "Code 1212"}
    )
    assert r.status_code == 200
    jobs = DBTaskResult.objects.filter(task_path="listings.tasks.checkin_post_job")
    due = {job.args_kwargs["args"][0]: job.run_after for job in jobs}
    assert set(due) == {soon, later}
    assert due[soon] <= timezone.now() < due[later]
    booking.checkin_post(reservation_id=soon)
    assert ConversationMessage.objects.get(kind="checkin").body == "Code 1212"


def test_checkin_details_wait_for_their_time(cast, settings):
    reservation_id = cast.book("guest", cast.instant, 10, 12).json()["id"]
    job = DBTaskResult.objects.get(task_path="listings.tasks.checkin_post_job")
    starts = timezone.make_aware(datetime.combine(days_from_today(10), time.min))
    assert job.run_after == starts - settings.CHECKIN_DETAILS_LEAD
    assert job.args_kwargs["args"] == [reservation_id]


def test_a_cancelled_stay_gets_no_checkin_details_and_loses_posted_ones(cast):
    from listings import booking

    Property.objects.filter(pk=cast.instant.pk).update(checkin_details="Door code QUOKKA")
    early = cast.book("guest", cast.instant, 1, 2).json()["id"]
    cast.act("guest", early, "cancel")
    booking.checkin_post(reservation_id=early)
    assert not ConversationMessage.objects.filter(kind="checkin").exists()

    later = cast.book("guest", cast.instant, 3, 5).json()["id"]
    booking.checkin_post(reservation_id=later)
    posted = ConversationMessage.objects.get(kind="checkin")
    assert cast.act("landlord", later, "cancel").status_code == 200
    posted.refresh_from_db()
    assert posted.body == "Check-in details were removed after the stay."
    detail = cast.client("guest").get(f"/api/chat/{posted.conversation_id}").json()
    # A word no id or timestamp can hold (ids are hex): "4471" once matched a UUID.
    assert "QUOKKA" not in str(detail)


# ------------------------------------------------------------------ contact the host


def test_contact_the_host_starts_or_finds_the_conversation_about_the_listing(cast):
    guest = cast.client("guest")
    first = guest.post(f"/api/properties/{cast.instant.pk}/contact")
    assert first.status_code == 201, first.content
    assert first.json()["created"] is True
    again = guest.post(f"/api/properties/{cast.on_request.pk}/contact/")
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "created": False}
    detail = guest.get(f"/api/chat/{first.json()['id']}").json()
    assert detail["subject"] == {
        "property_id": str(cast.on_request.pk),
        "title": "Quiet loft",
        "image_url": None,
    }


def test_contact_refusals_change_nothing(cast):
    before = fingerprint()
    own = cast.client("landlord").post(f"/api/properties/{cast.instant.pk}/contact")
    assert own.status_code == 400 and own.json()["detail"]
    unknown = cast.client("guest").post(f"/api/properties/{uuid.uuid4()}/contact")
    assert unknown.status_code == 404
    assert ApiClient().post(f"/api/properties/{cast.instant.pk}/contact").status_code == 401
    assert fingerprint() == before


def test_a_confirmed_stay_between_two_users_is_known_either_way_round(cast):
    from listings.selectors import stay_confirmed_between

    request = cast.book("guest", cast.on_request, 5, 8).json()["id"]
    pair = (cast.guest.pk, cast.landlord.pk)
    assert not stay_confirmed_between(*pair)
    cast.act("landlord", request, "confirm")
    assert stay_confirmed_between(*pair) and stay_confirmed_between(*reversed(pair))
    assert not stay_confirmed_between(cast.guest.pk, cast.stranger.pk)
    cast.act("guest", request, "cancel")
    assert not stay_confirmed_between(*pair)
