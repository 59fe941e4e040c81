"""Listings (API.md, Listings): browse with filters, detail, create, change, delete."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from listings.models import Favorite, Property
from tests.conftest import make_user
from tests.listings.conftest import PROPERTY_BODY, book, days_from_today, make_property

pytestmark = pytest.mark.django_db

PROPERTY_KEYS = {
    "id",
    "title",
    "description",
    "price_per_night",
    "bedrooms",
    "bathrooms",
    "guests",
    "country",
    "country_code",
    "category",
    "image_url",
    "landlord",
    "created_at",
    "is_favorite",
    "instant_book",
}


def titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["title"] for item in response.json()["items"]]


# ------------------------------------------------------------------ browse


def test_browse_answers_a_collection_of_properties_newest_first(anon, user):
    now = timezone.now()
    for age, title in [(3, "old"), (1, "newest"), (2, "middle")]:
        make_property(user, title=title, created_at=now - timedelta(days=age))
    r = anon.get("/api/properties")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"items", "count"}
    assert body["count"] == 3
    assert [item["title"] for item in body["items"]] == ["newest", "middle", "old"]
    first = body["items"][0]
    assert set(first) == PROPERTY_KEYS
    assert first["landlord"] == {"id": str(user.pk), "name": user.name, "avatar_url": None}
    assert first["is_favorite"] is False
    assert first["image_url"] is None
    assert isinstance(first["price_per_night"], int)


def test_browse_pages_with_limit_and_offset(anon, user):
    now = timezone.now()
    for i in range(25):
        make_property(user, title=f"p{i:02}", created_at=now - timedelta(minutes=i))
    default = anon.get("/api/properties").json()
    assert default["count"] == 25
    assert len(default["items"]) == 20
    page = anon.get("/api/properties", params={"limit": 10, "offset": 20}).json()
    assert page["count"] == 25
    assert [i["title"] for i in page["items"]] == ["p20", "p21", "p22", "p23", "p24"]
    assert len(anon.get("/api/properties", params={"limit": 100}).json()["items"]) == 25


def test_pages_neither_repeat_nor_skip_listings_created_in_the_same_instant(anon, user):
    same = timezone.now()
    made = {str(make_property(user, created_at=same).pk) for _ in range(7)}
    seen = []
    for offset in range(0, 7, 2):
        page = anon.get("/api/properties", params={"limit": 2, "offset": offset}).json()
        seen += [item["id"] for item in page["items"]]
    assert sorted(seen) == sorted(made)


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}])
def test_browse_refuses_bad_paging(anon, params):
    r = anon.get("/api/properties", params=params)
    assert r.status_code == 422
    assert r.json()["detail"]


def test_browse_filters_each_narrow_and_combine(anon, user):
    host2 = make_user(name="Other Host")
    make_property(user, title="pt-beach-4", country="Portugal", country_code="PT",
                  category="beach", guests=4, bedrooms=2, bathrooms=1)  # fmt: skip
    make_property(user, title="pt-cabin-2", country="Portugal", country_code="PT",
                  category="cabins", guests=2, bedrooms=1, bathrooms=1)  # fmt: skip
    make_property(host2, title="fr-beach-8", country="France", country_code="FR",
                  category="Beach", guests=8, bedrooms=4, bathrooms=3)  # fmt: skip

    def browse(**params):
        return sorted(titles(anon.get("/api/properties", params=params)))

    assert browse(landlord_id=str(host2.pk)) == ["fr-beach-8"]
    assert browse(country="portugal") == ["pt-beach-4", "pt-cabin-2"]
    assert browse(country="fr") == ["fr-beach-8"]
    assert browse(category="beach") == ["fr-beach-8", "pt-beach-4"]
    assert browse(guests=4) == ["fr-beach-8", "pt-beach-4"]
    assert browse(bedrooms=2) == ["fr-beach-8", "pt-beach-4"]
    assert browse(bathrooms=2) == ["fr-beach-8"]
    assert browse(guests=0) == ["fr-beach-8", "pt-beach-4", "pt-cabin-2"]
    assert browse(country="PT", category="beach", guests=3) == ["pt-beach-4"]
    assert browse(country="Spain") == []
    assert anon.get("/api/properties", params={"category": "beach"}).json()["count"] == 2


def test_browse_by_dates_keeps_only_properties_free_for_the_whole_stay(anon, user, other_user):
    taken = make_property(user, title="taken")
    adjacent = make_property(user, title="adjacent")
    make_property(user, title="free")
    book(taken, other_user, days_from_today(10), nights=3)  # nights of days 10, 11, 12
    book(adjacent, other_user, days_from_today(7), nights=3)  # leaves on day 10
    book(adjacent, other_user, days_from_today(13), nights=2)  # arrives on day 13

    def free(checkin: int, checkout: int) -> list[str]:
        params = {"checkin": days_from_today(checkin), "checkout": days_from_today(checkout)}
        return sorted(titles(anon.get("/api/properties", params=params)))

    assert free(10, 13) == ["adjacent", "free"]  # a stay may start the day another ends
    assert free(12, 14) == ["free"]
    assert free(8, 11) == ["free"]
    assert free(1, 5) == ["adjacent", "free", "taken"]
    assert free(13, 20) == ["free", "taken"]


@pytest.mark.parametrize(
    "params",
    [
        {"checkin": "2030-01-05"},
        {"checkout": "2030-01-05"},
        {"checkin": "2030-01-05", "checkout": "2030-01-05"},
        {"checkin": "2030-01-06", "checkout": "2030-01-05"},
        {"checkin": "05/01/2030", "checkout": "2030-01-07"},
        {"guests": -1},
        {"bedrooms": "two"},
        {"landlord_id": "not-a-uuid"},
        {"favorites": "perhaps"},
        {"country": "x" * 101},
    ],
    ids=[
        "only-checkin",
        "only-checkout",
        "same-day",
        "checkout-first",
        "bad-date",
        "negative-guests",
        "text-bedrooms",
        "bad-landlord-id",
        "bad-bool",
        "long-country",
    ],
)
def test_browse_refuses_bad_filters_with_422(anon, params):
    r = anon.get("/api/properties", params=params)
    assert r.status_code == 422, r.content
    assert r.json()["detail"]


@pytest.mark.parametrize("flag", ["favorites", "is_favorites"])
def test_favorites_filter_lists_only_the_callers_favorites(api, user, other_user, flag):
    liked = make_property(other_user, title="liked")
    make_property(other_user, title="not liked")
    someone_elses = make_property(other_user, title="liked by someone else")
    Favorite.objects.create(user=user, property=liked)
    Favorite.objects.create(user=other_user, property=someone_elses)
    r = api.get("/api/properties", params={flag: "true"})
    assert titles(r) == ["liked"]
    assert r.json()["items"][0]["is_favorite"] is True
    assert r.json()["count"] == 1
    # false is the same as leaving it out
    assert len(titles(api.get("/api/properties", params={flag: "false"}))) == 3


@pytest.mark.parametrize("flag", ["favorites", "is_favorites"])
def test_favorites_filter_without_a_token_answers_401(anon, flag):
    r = anon.get("/api/properties", params={flag: "true"})
    assert r.status_code == 401
    assert r["WWW-Authenticate"].startswith("Bearer")


def test_is_favorite_is_per_caller_and_false_for_anonymous(anon, api, other_api, user, prop):
    Favorite.objects.create(user=user, property=prop)
    assert api.get("/api/properties").json()["items"][0]["is_favorite"] is True
    assert other_api.get("/api/properties").json()["items"][0]["is_favorite"] is False
    assert anon.get("/api/properties").json()["items"][0]["is_favorite"] is False


# ------------------------------------------------------------------ detail


def test_detail_answers_one_property(anon, api, user, prop):
    Favorite.objects.create(user=user, property=prop)
    r = anon.get(f"/api/properties/{prop.pk}")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == PROPERTY_KEYS
    assert body["id"] == str(prop.pk)
    assert body["is_favorite"] is False
    assert api.get(f"/api/properties/{prop.pk}").json()["is_favorite"] is True


def test_detail_of_an_unknown_property_is_404(anon):
    r = anon.get(f"/api/properties/{uuid.uuid4()}")
    assert r.status_code == 404
    assert r.json()["detail"]


@pytest.mark.parametrize("bad", ["1", "abc", "00000000-0000-0000-0000-00000000000g"])
def test_detail_of_a_malformed_id_is_422(anon, bad):
    assert anon.get(f"/api/properties/{bad}").status_code == 422


# ------------------------------------------------------------------ create


def test_create_answers_201_with_the_caller_as_landlord(api, user):
    r = api.post("/api/properties", {**PROPERTY_BODY, "title": "  Trimmed  "})
    assert r.status_code == 201, r.content
    body = r.json()
    assert set(body) == PROPERTY_KEYS | {"checkin_details"}  # the landlord's own
    assert body["landlord"]["id"] == str(user.pk)
    assert body["title"] == "Trimmed"
    assert body["country_code"] == "PT"  # sent as "pt"
    assert body["is_favorite"] is False
    stored = Property.objects.get(pk=body["id"])
    assert stored.landlord == user
    assert stored.price_per_night == PROPERTY_BODY["price_per_night"]


def test_create_needs_only_the_essential_fields(api):
    body = {k: v for k, v in PROPERTY_BODY.items() if k not in {"description", "category"}}
    r = api.post("/api/properties", body)
    assert r.status_code == 201, r.content
    assert r.json()["description"] == "" and r.json()["category"] == ""


INVALID_FIELDS = {
    "title-empty": {"title": "   "},
    "title-201": {"title": "x" * 201},
    "description-5001": {"description": "x" * 5001},
    "country-101": {"country": "x" * 101},
    "country-empty": {"country": ""},
    "country-code-3": {"country_code": "PRT"},
    "country-code-digits": {"country_code": "P1"},
    "category-51": {"category": "x" * 51},
    "price-0": {"price_per_night": 0},
    "price-negative": {"price_per_night": -5},
    "price-huge": {"price_per_night": 10**9},
    "price-fraction": {"price_per_night": 12.5},
    "price-text": {"price_per_night": "cheap"},
    "bedrooms-negative": {"bedrooms": -1},
    "bathrooms-huge": {"bathrooms": 10_000},
    "guests-0": {"guests": 0},
    "title-not-text": {"title": ["a"]},
    "unknown-field": {"landlord": str(uuid.uuid4())},
}


@pytest.mark.parametrize("change", INVALID_FIELDS.values(), ids=list(INVALID_FIELDS))
def test_create_refuses_invalid_fields_with_422_and_stores_nothing(api, change):
    r = api.post("/api/properties", {**PROPERTY_BODY, **change})
    assert r.status_code == 422, r.content
    assert r.json()["detail"]
    assert not Property.objects.exists()


@pytest.mark.parametrize("missing", ["title", "price_per_night", "guests", "country_code"])
def test_create_refuses_a_missing_required_field(api, missing):
    body = {k: v for k, v in PROPERTY_BODY.items() if k != missing}
    assert api.post("/api/properties", body).status_code == 422
    assert not Property.objects.exists()


def test_create_answers_4xx_for_malformed_json(api):
    r = api.post("/api/properties", '{"title": "x",')
    assert r.status_code in (400, 422)
    assert not Property.objects.exists()


# ------------------------------------------------------------------ change


def test_patch_changes_only_the_fields_sent(api, prop):
    r = api.patch(f"/api/properties/{prop.pk}", {"price_per_night": 99, "country_code": "es"})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["price_per_night"] == 99
    assert body["country_code"] == "ES"
    assert body["title"] == prop.title
    prop.refresh_from_db()
    assert (prop.price_per_night, prop.country_code, prop.title) == (
        99,
        "ES",
        PROPERTY_BODY["title"],
    )


def test_patch_with_nothing_changes_nothing(api, prop):
    r = api.patch(f"/api/properties/{prop.pk}", {})
    assert r.status_code == 200
    assert r.json()["title"] == prop.title


@pytest.mark.parametrize(
    "change",
    [
        {"title": None},
        {"price_per_night": None},
        {"title": ""},
        {"guests": 0},
        {"country_code": "Portugal"},
        {"id": str(uuid.uuid4())},
        {"created_at": "2020-01-01T00:00:00Z"},
    ],
    ids=["null-title", "null-price", "empty-title", "no-guests", "bad-code", "id", "created_at"],
)
def test_patch_refuses_invalid_changes_and_keeps_the_listing(api, prop, change):
    r = api.patch(f"/api/properties/{prop.pk}", change)
    assert r.status_code == 422, r.content
    fresh = Property.objects.get(pk=prop.pk)
    assert (fresh.title, fresh.price_per_night, fresh.guests, fresh.country_code) == (
        prop.title,
        prop.price_per_night,
        prop.guests,
        prop.country_code,
    )


def test_patch_by_a_stranger_is_403_and_changes_nothing(other_api, prop):
    r = other_api.patch(f"/api/properties/{prop.pk}", {"title": "Mine now"})
    assert r.status_code == 403
    assert r.json()["detail"]
    prop.refresh_from_db()
    assert prop.title == PROPERTY_BODY["title"]


def test_patch_of_an_unknown_property_is_404(api):
    assert api.patch(f"/api/properties/{uuid.uuid4()}", {"title": "x"}).status_code == 404


# ------------------------------------------------------------------ delete


def test_delete_answers_204_and_the_listing_is_gone(api, anon, prop, other_user):
    Favorite.objects.create(user=other_user, property=prop)
    book(prop, other_user, days_from_today(3), nights=2)
    r = api.delete(f"/api/properties/{prop.pk}")
    assert r.status_code == 204
    assert r.content == b""
    assert anon.get(f"/api/properties/{prop.pk}").status_code == 404
    assert not Favorite.objects.exists()


def test_delete_by_a_stranger_is_403_and_keeps_the_listing(other_api, prop):
    assert other_api.delete(f"/api/properties/{prop.pk}").status_code == 403
    assert Property.objects.filter(pk=prop.pk).exists()


def test_delete_of_an_unknown_property_is_404(api):
    assert api.delete(f"/api/properties/{uuid.uuid4()}").status_code == 404
