"""The admin pages for listings load, and refuse an overlapping stay with a message."""

from __future__ import annotations

import pytest
from django.test import Client

from core.models import User
from listings.models import Favorite, Reservation
from tests.conftest import make_user
from tests.listings.conftest import book, days_from_today, make_property

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    admin = User.objects.create_superuser(email="admin@example.com", password="x", name="Admin")
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def data(user, other_user):
    prop = make_property(user)
    Favorite.objects.create(user=other_user, property=prop)
    stay = book(prop, other_user, days_from_today(10), nights=3)
    return prop, stay


@pytest.mark.parametrize("model", ["property", "favorite", "reservation"])
def test_changelists_and_add_forms_load(admin_client, data, model):
    assert admin_client.get(f"/admin/listings/{model}/").status_code == 200
    assert admin_client.get(f"/admin/listings/{model}/add/").status_code == 200


def test_the_property_page_shows_its_favorites_and_stays(admin_client, data):
    prop, stay = data
    r = admin_client.get(f"/admin/listings/property/{prop.pk}/change/")
    assert r.status_code == 200
    assert r.content.count(str(stay.guest).encode()) >= 2  # one favorite, one stay


def test_the_property_list_counts_favorites(admin_client, data):
    r = admin_client.get("/admin/listings/property/")
    assert r.status_code == 200
    [row] = r.context["cl"].result_list
    assert row._favorites_count == 1


def _reservation_form(prop, guest, start: int, end: int) -> dict:
    return {
        "property": str(prop.pk),
        "guest": str(guest.pk),
        "start_date": days_from_today(start).isoformat(),
        "end_date": days_from_today(end).isoformat(),
        "guests": "1",
        "status": "confirmed",
        "created_at_0": days_from_today(0).isoformat(),
        "created_at_1": "00:00:00",
    }


def test_an_overlapping_stay_is_refused_with_a_message(admin_client, data):
    prop, _ = data
    r = admin_client.post(
        "/admin/listings/reservation/add/", _reservation_form(prop, make_user(), 11, 12)
    )
    assert r.status_code == 200  # the form again, not a redirect
    assert b"overlap" in r.content
    assert Reservation.objects.count() == 1


def test_a_stay_added_in_the_admin_is_priced_by_the_server(admin_client, data):
    prop, _ = data
    r = admin_client.post(
        "/admin/listings/reservation/add/", _reservation_form(prop, make_user(), 13, 15)
    )
    assert r.status_code == 302, r.content
    added = Reservation.objects.get(start_date=days_from_today(13))
    assert (added.number_of_nights, added.total_price) == (2, 2 * prop.price_per_night)
