"""Reservations (API.md, Reservations): the server prices stays; no two share a night."""

from __future__ import annotations

import uuid

import pytest

from listings.models import Reservation
from tests.conftest import client_for, make_user
from tests.listings.conftest import book, days_from_today, make_property

pytestmark = pytest.mark.django_db

RESERVATION_KEYS = {
    "id",
    "property",
    "start_date",
    "end_date",
    "number_of_nights",
    "guests",
    "total_price",
    "created_at",
    "guest",
    "status",
}


def stay(start: int, end: int, guests: int = 2) -> dict:
    return {
        "start_date": days_from_today(start).isoformat(),
        "end_date": days_from_today(end).isoformat(),
        "guests": guests,
    }


def test_booking_answers_201_with_nights_and_price_computed_by_the_server(other_api, prop):
    r = other_api.post(f"/api/properties/{prop.pk}/reservations", stay(5, 8, guests=3))
    assert r.status_code == 201, r.content
    body = r.json()
    assert set(body) == RESERVATION_KEYS
    assert body["number_of_nights"] == 3
    assert body["total_price"] == 3 * prop.price_per_night
    assert body["guests"] == 3
    assert body["start_date"] == days_from_today(5).isoformat()
    assert body["property"]["id"] == str(prop.pk)
    assert body["property"]["is_favorite"] is False
    stored = Reservation.objects.get(pk=body["id"])
    assert (stored.number_of_nights, stored.total_price) == (3, 360)


def test_a_client_cannot_set_the_price(other_api, prop):
    r = other_api.post(f"/api/properties/{prop.pk}/reservations", {**stay(5, 8), "total_price": 1})
    assert r.status_code == 422
    assert not Reservation.objects.exists()


def test_booking_today_is_allowed(other_api, prop):
    assert other_api.post(f"/api/properties/{prop.pk}/reservations", stay(0, 1)).status_code == 201


OVERLAPS = {
    "same-dates": (10, 13),
    "inside": (11, 12),
    "covering": (9, 14),
    "overlapping-start": (8, 11),
    "overlapping-end": (12, 15),
}


@pytest.mark.parametrize(("start", "end"), OVERLAPS.values(), ids=list(OVERLAPS))
def test_an_overlapping_stay_is_409(other_api, prop, user_factory, start, end):
    book(prop, user_factory(), days_from_today(10), nights=3)  # nights of days 10-12
    r = other_api.post(f"/api/properties/{prop.pk}/reservations", stay(start, end))
    assert r.status_code == 409, r.content
    assert r.json()["detail"]
    assert Reservation.objects.count() == 1


@pytest.mark.parametrize(
    ("start", "end"), [(13, 15), (7, 10)], ids=["starts-as-other-ends", "ends-as-other-starts"]
)
def test_a_stay_may_start_the_day_another_ends(other_api, prop, user_factory, start, end):
    book(prop, user_factory(), days_from_today(10), nights=3)
    r = other_api.post(f"/api/properties/{prop.pk}/reservations", stay(start, end))
    assert r.status_code == 201, r.content


def test_the_same_dates_at_another_property_are_free(other_api, user, prop, user_factory):
    book(prop, user_factory(), days_from_today(10), nights=3)
    elsewhere = make_property(user, title="elsewhere")
    assert (
        other_api.post(f"/api/properties/{elsewhere.pk}/reservations", stay(10, 13)).status_code
        == 201
    )


INVALID_STAYS = {
    "end-equals-start": stay(5, 5),
    "end-before-start": stay(6, 5),
    "start-in-the-past": stay(-1, 3),
    "too-many-guests": stay(5, 7, guests=5),
    "no-guests": stay(5, 7, guests=0),
    "over-a-year": stay(1, 400),
    "bad-date": {"start_date": "2030-02-30", "end_date": "2030-03-02", "guests": 1},
    "missing-end": {"start_date": "2030-02-01", "guests": 1},
    "guests-as-text": {**stay(5, 7), "guests": "two"},
}


@pytest.mark.parametrize("body", INVALID_STAYS.values(), ids=list(INVALID_STAYS))
def test_an_impossible_stay_is_422_and_nothing_is_stored(other_api, prop, body):
    r = other_api.post(f"/api/properties/{prop.pk}/reservations", body)
    assert r.status_code == 422, r.content
    assert r.json()["detail"]
    assert not Reservation.objects.exists()


def test_booking_an_unknown_property_is_404(other_api):
    r = other_api.post(f"/api/properties/{uuid.uuid4()}/reservations", stay(3, 5))
    assert r.status_code == 404


def test_the_landlord_cannot_book_their_own_listing(api, prop):
    r = api.post(f"/api/properties/{prop.pk}/reservations", stay(3, 5))
    assert r.status_code == 403
    assert not Reservation.objects.exists()


# ------------------------------------------------------------------ reading


def test_the_landlord_sees_whole_reservations_of_their_listing(api, prop, user_factory):
    guest = user_factory()
    later = book(prop, guest, days_from_today(20), nights=2)
    sooner = book(prop, guest, days_from_today(5), nights=3, guests=2)
    r = api.get(f"/api/properties/{prop.pk}/reservations")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 2
    assert [item["id"] for item in body["items"]] == [str(sooner.pk), str(later.pk)]
    assert set(body["items"][0]) == RESERVATION_KEYS
    assert body["items"][0]["total_price"] == sooner.total_price


@pytest.mark.parametrize("caller", ["anonymous", "stranger", "the guest"])
def test_anyone_else_sees_only_the_dates(anon, prop, user_factory, caller):
    guest = user_factory()
    book(prop, guest, days_from_today(5), nights=3)
    client = {
        "anonymous": anon,
        "stranger": client_for(make_user()),
        "the guest": client_for(guest),
    }[caller]
    r = client.get(f"/api/properties/{prop.pk}/reservations")
    assert r.status_code == 200
    assert r.json() == {
        "items": [
            {
                "start_date": days_from_today(5).isoformat(),
                "end_date": days_from_today(8).isoformat(),
            }
        ],
        "count": 1,
    }


def test_reservations_of_an_unknown_property_are_404(anon):
    assert anon.get(f"/api/properties/{uuid.uuid4()}/reservations").status_code == 404


def test_my_reservations_are_mine_only_soonest_first(other_api, other_user, user, user_factory):
    a = make_property(user, title="a")
    b = make_property(user, title="b")
    later = book(a, other_user, days_from_today(30), nights=2)
    sooner = book(b, other_user, days_from_today(3), nights=1)
    book(a, user_factory(), days_from_today(10), nights=2)  # someone else's
    r = other_api.get("/api/reservations")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 2
    assert [item["id"] for item in body["items"]] == [str(sooner.pk), str(later.pk)]
    assert body["items"][0]["property"]["title"] == "b"
    assert set(body["items"][0]) == RESERVATION_KEYS


def test_my_reservations_need_a_token(anon):
    r = anon.get("/api/reservations")
    assert r.status_code == 401
    assert r["WWW-Authenticate"].startswith("Bearer")
