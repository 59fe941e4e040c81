"""Every listings endpoint x every kind of caller: anonymous, the landlord, a stranger.

Each refused write is also checked to have left the data as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import User
from listings.models import Favorite, Property, Reservation
from tests.conftest import ApiClient, client_for
from tests.listings.conftest import PROPERTY_BODY, days_from_today, image_bytes, make_property

pytestmark = pytest.mark.django_db


@dataclass
class World:
    landlord: User
    stranger: User
    prop: Property

    def client(self, caller: str) -> ApiClient:
        if caller == "anonymous":
            return ApiClient()
        return client_for(self.landlord if caller == "owner" else self.stranger)

    def fingerprint(self) -> tuple:
        """Everything a write could change, to compare before and after a refusal."""
        prop = Property.objects.filter(pk=self.prop.pk).values_list("title", "image").first()
        return (
            prop,
            Property.objects.count(),
            sorted(Favorite.objects.values_list("user_id", "property_id")),
            Reservation.objects.count(),
        )


def _image(client: ApiClient, path: str) -> Any:
    upload = SimpleUploadedFile("p.png", image_bytes(), content_type="image/png")
    return client.client.post(path, data={"image": upload}, headers=client._headers(None))


def _stay() -> dict:
    return {
        "start_date": days_from_today(3).isoformat(),
        "end_date": days_from_today(5).isoformat(),
        "guests": 2,
    }


Call = Callable[[ApiClient, str], Any]
WRITES: dict[str, tuple[Call, dict[str, int]]] = {
    "create": (
        lambda c, p: c.post("/api/properties", PROPERTY_BODY),
        {"anonymous": 401, "owner": 201, "stranger": 201},
    ),
    "patch": (
        lambda c, p: c.patch(p, {"title": "changed"}),
        {"anonymous": 401, "owner": 200, "stranger": 403},
    ),
    "delete": (
        lambda c, p: c.delete(p),
        {"anonymous": 401, "owner": 204, "stranger": 403},
    ),
    "image": (
        lambda c, p: _image(c, f"{p}/image"),
        {"anonymous": 401, "owner": 200, "stranger": 403},
    ),
    "favorite": (
        lambda c, p: c.post(f"{p}/favorite"),
        {"anonymous": 401, "owner": 200, "stranger": 200},
    ),
    "unfavorite": (
        lambda c, p: c.delete(f"{p}/favorite"),
        {"anonymous": 401, "owner": 200, "stranger": 200},
    ),
    "toggle_favorite": (
        lambda c, p: c.post(f"{p}/toggle_favorite"),
        {"anonymous": 401, "owner": 200, "stranger": 200},
    ),
    "book": (
        lambda c, p: c.post(f"{p}/reservations", _stay()),
        {"anonymous": 401, "owner": 403, "stranger": 201},
    ),
}
READS: dict[str, tuple[Call, dict[str, int]]] = {
    "browse": (
        lambda c, p: c.get("/api/properties"),
        dict.fromkeys(("anonymous", "owner", "stranger"), 200),
    ),
    "detail": (lambda c, p: c.get(p), dict.fromkeys(("anonymous", "owner", "stranger"), 200)),
    "reservations-of-listing": (
        lambda c, p: c.get(f"{p}/reservations"),
        dict.fromkeys(("anonymous", "owner", "stranger"), 200),
    ),
    "my-reservations": (
        lambda c, p: c.get("/api/reservations"),
        {"anonymous": 401, "owner": 200, "stranger": 200},
    ),
    "my-favorites": (
        lambda c, p: c.get("/api/properties", params={"favorites": "true"}),
        {"anonymous": 401, "owner": 200, "stranger": 200},
    ),
}
CALLERS = ["anonymous", "owner", "stranger"]


@pytest.fixture
def world(user: User, other_user: User) -> World:
    return World(landlord=user, stranger=other_user, prop=make_property(user))


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", list(WRITES))
def test_write_endpoints(world: World, endpoint: str, caller: str) -> None:
    call, expected = WRITES[endpoint]
    before = world.fingerprint()
    r = call(world.client(caller), f"/api/properties/{world.prop.pk}")
    assert r.status_code == expected[caller], (endpoint, caller, r.content)
    if r.status_code >= 400:
        assert world.fingerprint() == before
        assert "detail" in r.json()
    if r.status_code == 401:
        assert r["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", list(READS))
def test_read_endpoints(world: World, endpoint: str, caller: str) -> None:
    call, expected = READS[endpoint]
    r = call(world.client(caller), f"/api/properties/{world.prop.pk}")
    assert r.status_code == expected[caller], (endpoint, caller, r.content)
