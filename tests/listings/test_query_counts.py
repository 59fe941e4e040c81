"""List endpoints run a fixed number of SQL queries whatever the page size.

The numbers are pinned exactly, for a page of 1 and a page of 50 drawn from rows
with distinct landlords, favorites and properties (so that any per-row lookup would
show up as extra queries):

- browse, anonymous: 2 (count, page with landlord joined and is_favorite constant)
- browse, with a token (favorites=true or not): 3 (+ the token's user)
- my reservations: 4 (user, count, page, the page's properties with is_favorite)
- a listing's reservations, landlord: 5 (user, the listing, count, page, properties)
- a listing's reservations, anyone else: 3 (the listing, count, page of dates)
- my reservations by status, my listings' reservations (role=host, any status): 4
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import User
from listings.models import Favorite, Property, Reservation
from tests.conftest import ApiClient, client_for, make_user
from tests.listings.conftest import book, days_from_today, make_property

pytestmark = pytest.mark.django_db

ROWS = 60
PAGE_SIZES = [1, 50]


@pytest.fixture
def fan() -> User:
    """A user who keeps every listing as a favorite and has stayed at each of them."""
    return make_user(name="Fan")


@pytest.fixture
def catalogue(fan: User) -> list[Property]:
    now = timezone.now()
    props = []
    for i in range(ROWS):
        landlord = make_user(name=f"Host {i}")
        prop = make_property(landlord, title=f"p{i}", created_at=now - timedelta(minutes=i))
        Favorite.objects.create(user=fan, property=prop)
        book(prop, fan, days_from_today(1 + i), nights=1)
        props.append(prop)
    return props


def page(client: ApiClient, path: str, limit: int, **params) -> dict:
    r = client.get(path, params={"limit": limit, **params})
    assert r.status_code == 200, r.content
    body = r.json()
    assert len(body["items"]) == min(limit, body["count"])
    return body


@pytest.mark.parametrize("limit", PAGE_SIZES)
def test_browse_anonymous(catalogue, django_assert_num_queries, limit):
    with django_assert_num_queries(2):
        body = page(ApiClient(), "/api/properties", limit)
    assert body["count"] == ROWS
    assert {item["landlord"]["name"] for item in body["items"]} >= {"Host 0"}


@pytest.mark.parametrize("limit", PAGE_SIZES)
def test_browse_favorites_with_a_token(catalogue, fan, django_assert_num_queries, limit):
    client = client_for(fan)
    with django_assert_num_queries(3):
        body = page(client, "/api/properties", limit, favorites="true")
    assert body["count"] == ROWS
    assert all(item["is_favorite"] for item in body["items"])


@pytest.mark.parametrize("limit", PAGE_SIZES)
def test_browse_with_a_token_and_filters(catalogue, fan, django_assert_num_queries, limit):
    client = client_for(fan)
    stay = {"checkin": days_from_today(200), "checkout": days_from_today(202), "guests": 2}
    with django_assert_num_queries(3):
        body = page(client, "/api/properties", limit, country="pt", **stay)
    assert body["count"] == ROWS


@pytest.mark.parametrize("limit", PAGE_SIZES)
def test_my_reservations(catalogue, fan, django_assert_num_queries, limit):
    client = client_for(fan)
    with django_assert_num_queries(4):
        body = page(client, "/api/reservations", limit)
    assert body["count"] == ROWS
    assert all(item["property"]["is_favorite"] for item in body["items"])


@pytest.fixture
def busy_listing() -> Property:
    """One listing with 60 stays by 60 different guests."""
    prop = make_property(make_user(name="Busy Host"))
    for i in range(ROWS):
        book(prop, make_user(), days_from_today(1 + 2 * i), nights=1)
    return prop


@pytest.mark.parametrize("limit", PAGE_SIZES)
def test_listing_reservations_for_the_landlord(busy_listing, django_assert_num_queries, limit):
    client = client_for(busy_listing.landlord)
    with django_assert_num_queries(5):
        body = page(client, f"/api/properties/{busy_listing.pk}/reservations", limit)
    assert "total_price" in body["items"][0]


@pytest.mark.parametrize("limit", PAGE_SIZES)
def test_listing_reservations_for_anyone_else(busy_listing, django_assert_num_queries, limit):
    with django_assert_num_queries(3):
        body = page(ApiClient(), f"/api/properties/{busy_listing.pk}/reservations", limit)
    assert set(body["items"][0]) == {"start_date", "end_date"}


@pytest.mark.parametrize("limit", PAGE_SIZES)
def test_my_reservations_by_status(catalogue, fan, django_assert_num_queries, limit):
    client = client_for(fan)
    with django_assert_num_queries(4):
        body = page(client, "/api/reservations", limit, status="confirmed")
    assert body["count"] == ROWS
    assert all(item["guest"]["id"] == str(fan.pk) for item in body["items"])


@pytest.fixture
def landlord_of_many() -> User:
    """A landlord of 60 listings, each stayed at by a different guest, half of them asking."""
    landlord = make_user(name="Many")
    for i in range(ROWS):
        prop = make_property(landlord, title=f"m{i}")
        stay = book(prop, make_user(name=f"Guest {i}"), days_from_today(1 + i), nights=1)
        if i % 2:
            Reservation.objects.filter(pk=stay.pk).update(status="requested")
    return landlord


@pytest.mark.parametrize("status", [None, "requested"])
@pytest.mark.parametrize("limit", PAGE_SIZES)
def test_my_listings_reservations(landlord_of_many, django_assert_num_queries, limit, status):
    """role=host: user, count, page (guests joined), the page's properties: 4."""
    client = client_for(landlord_of_many)
    params = {"role": "host", **({"status": status} if status else {})}
    with django_assert_num_queries(4):
        body = page(client, "/api/reservations", limit, **params)
    assert body["count"] == (ROWS if status is None else ROWS // 2)
    assert len({item["guest"]["id"] for item in body["items"]}) == len(body["items"])
