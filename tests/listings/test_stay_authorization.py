"""Every stay endpoint x every kind of caller: anonymous, a stranger, the stay's guest,
its landlord. A refused call changes nothing (stays, messages, conversations, jobs).

The stay acted on is a fresh request on a request-to-book listing, so that every
action is allowed in principle and only the caller decides the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ApiClient
from tests.listings.test_stays import Cast, fingerprint, stay

pytestmark = pytest.mark.django_db

CALLERS = ["anonymous", "stranger", "guest", "landlord"]

Call = Callable[[ApiClient, Cast, str], Any]
ENDPOINTS: dict[str, tuple[Call, dict[str, int]]] = {
    "book": (
        lambda c, w, r: c.post(f"/api/properties/{w.on_request.pk}/reservations", stay(20, 22)),
        {"anonymous": 401, "stranger": 201, "guest": 201, "landlord": 403},
    ),
    "listing's stays": (
        lambda c, w, r: c.get(f"/api/properties/{w.on_request.pk}/reservations"),
        {"anonymous": 200, "stranger": 200, "guest": 200, "landlord": 200},
    ),
    "my stays": (
        lambda c, w, r: c.get("/api/reservations"),
        {"anonymous": 401, "stranger": 200, "guest": 200, "landlord": 200},
    ),
    "my listings' stays": (
        lambda c, w, r: c.get("/api/reservations", params={"role": "host"}),
        {"anonymous": 401, "stranger": 200, "guest": 200, "landlord": 200},
    ),
    "detail": (
        lambda c, w, r: c.get(f"/api/reservations/{r}"),
        {"anonymous": 401, "stranger": 404, "guest": 200, "landlord": 200},
    ),
    "confirm": (
        lambda c, w, r: c.post(f"/api/reservations/{r}/confirm"),
        {"anonymous": 401, "stranger": 404, "guest": 403, "landlord": 200},
    ),
    "decline": (
        lambda c, w, r: c.post(f"/api/reservations/{r}/decline"),
        {"anonymous": 401, "stranger": 404, "guest": 403, "landlord": 200},
    ),
    "cancel": (
        lambda c, w, r: c.post(f"/api/reservations/{r}/cancel"),
        {"anonymous": 401, "stranger": 404, "guest": 200, "landlord": 200},
    ),
    "contact": (
        lambda c, w, r: c.post(f"/api/properties/{w.on_request.pk}/contact"),
        {"anonymous": 401, "stranger": 201, "guest": 200, "landlord": 400},
    ),
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_stay_endpoint_by_caller(endpoint: str, caller: str) -> None:
    world = Cast()
    reservation_id = world.book("guest", world.on_request, 5, 8).json()["id"]
    call, expected = ENDPOINTS[endpoint]
    before = fingerprint()
    r = call(world.client(caller), world, reservation_id)
    assert r.status_code == expected[caller], (endpoint, caller, r.content)
    body = r.json()
    if r.status_code >= 400:
        assert body["detail"]
        assert fingerprint() == before, "a refused call changed something"
    if endpoint == "detail" and r.status_code == 200:
        assert body["id"] == reservation_id and body["guest"]["id"] == str(world.guest.pk)
    if endpoint == "listing's stays":
        keys = {"start_date", "end_date"}
        if caller == "landlord":
            assert body["count"] == 1 and body["items"][0]["id"] == reservation_id
        else:
            assert body["count"] == 0  # a request is nobody else's business
        assert all(set(item) == keys for item in body["items"]) or caller == "landlord"
    if endpoint == "my stays" and caller in ("stranger", "landlord"):
        assert body["count"] == 0
    if endpoint == "my listings' stays" and caller != "anonymous":
        assert body["count"] == (1 if caller == "landlord" else 0)


@pytest.mark.parametrize("endpoint", ["detail", "confirm", "decline", "cancel"])
def test_an_unknown_or_malformed_stay(endpoint: str) -> None:
    world = Cast()
    client = world.client("landlord")
    suffix = "" if endpoint == "detail" else f"/{endpoint}"
    method = client.get if endpoint == "detail" else client.post
    assert (
        method(f"/api/reservations/00000000-0000-4000-8000-000000000000{suffix}").status_code == 404
    )
    assert method(f"/api/reservations/not-a-uuid{suffix}").status_code == 422
