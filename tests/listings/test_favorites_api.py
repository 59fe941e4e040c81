"""Favorites (API.md, Listings): add and remove are idempotent, toggle flips."""

from __future__ import annotations

import uuid

import pytest

from listings.models import Favorite

pytestmark = pytest.mark.django_db


def favorites_of(user) -> int:
    return Favorite.objects.filter(user=user).count()


def test_favorite_twice_keeps_one(other_api, other_user, prop):
    for _ in range(2):
        r = other_api.post(f"/api/properties/{prop.pk}/favorite")
        assert r.status_code == 200
        assert r.json() == {"is_favorite": True}
    assert favorites_of(other_user) == 1
    assert other_api.get(f"/api/properties/{prop.pk}").json()["is_favorite"] is True


def test_unfavorite_twice_changes_nothing_more(other_api, other_user, prop):
    Favorite.objects.create(user=other_user, property=prop)
    for _ in range(2):
        r = other_api.delete(f"/api/properties/{prop.pk}/favorite")
        assert r.status_code == 200
        assert r.json() == {"is_favorite": False}
    assert favorites_of(other_user) == 0


def test_unfavorite_leaves_other_users_favorites_alone(other_api, user, other_user, prop):
    Favorite.objects.create(user=user, property=prop)
    Favorite.objects.create(user=other_user, property=prop)
    other_api.delete(f"/api/properties/{prop.pk}/favorite")
    assert favorites_of(user) == 1
    assert favorites_of(other_user) == 0


def test_toggle_flips_and_answers_the_new_state(other_api, other_user, prop):
    answers = [
        other_api.post(f"/api/properties/{prop.pk}/toggle_favorite").json()["is_favorite"]
        for _ in range(3)
    ]
    assert answers == [True, False, True]
    assert favorites_of(other_user) == 1


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("post", "favorite"), ("delete", "favorite"), ("post", "toggle_favorite")],
)
def test_favorites_of_an_unknown_property_are_404(other_api, other_user, method, suffix):
    r = getattr(other_api, method)(f"/api/properties/{uuid.uuid4()}/{suffix}")
    assert r.status_code == 404
    assert favorites_of(other_user) == 0


@pytest.mark.parametrize("suffix", ["favorite", "toggle_favorite"])
def test_favorites_of_a_malformed_id_are_422(other_api, suffix):
    assert other_api.post(f"/api/properties/nope/{suffix}").status_code == 422
