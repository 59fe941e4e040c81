"""The real server (uvicorn in a subprocess) walked over real HTTP with httpx."""

from __future__ import annotations

import httpx
import pytest

from tests.listings.conftest import PROPERTY_BODY, days_from_today, image_bytes

pytestmark = pytest.mark.live


def signup(http: httpx.Client, email: str, name: str) -> dict[str, str]:
    r = http.post(
        "/api/auth/signup", json={"email": email, "password": "Zq7!long-pass", "name": name}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['access']}"}


def test_sign_up_list_a_place_upload_a_picture_favorite_and_book(live_server):
    with httpx.Client(base_url=live_server.url, timeout=10, follow_redirects=False) as http:
        host = signup(http, "host@example.com", "Hosting Hanna")
        guest = signup(http, "guest@example.com", "Guest Gil")

        r = http.post("/api/properties/", json=PROPERTY_BODY, headers=host)  # trailing slash
        assert r.status_code == 201, r.text
        prop = r.json()
        assert prop["landlord"]["name"] == "Hosting Hanna"

        picture = image_bytes("JPEG", size=(320, 200))
        r = http.post(
            f"/api/properties/{prop['id']}/image",
            files={"image": ("cabin.jpg", picture, "image/jpeg")},
            headers=host,
        )
        assert r.status_code == 200, r.text
        image_url = r.json()["image_url"]
        assert image_url.endswith(".jpg")
        served = http.get(image_url)
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/jpeg"
        assert served.content == picture

        r = http.post(f"/api/properties/{prop['id']}/favorite/", headers=guest)
        assert r.status_code == 200 and r.json() == {"is_favorite": True}

        r = http.get("/api/properties", params={"favorites": "true"}, headers=guest)
        assert r.status_code == 200
        favorites = r.json()
        assert favorites["count"] == 1
        assert favorites["items"][0]["id"] == prop["id"]
        assert favorites["items"][0]["is_favorite"] is True
        assert favorites["items"][0]["image_url"] == image_url
        assert http.get("/api/properties", params={"favorites": "true"}).status_code == 401

        stay = {
            "start_date": days_from_today(7).isoformat(),
            "end_date": days_from_today(9).isoformat(),
            "guests": 2,
        }
        r = http.post(f"/api/properties/{prop['id']}/reservations", json=stay, headers=guest)
        assert r.status_code == 201, r.text
        assert r.json()["total_price"] == 2 * PROPERTY_BODY["price_per_night"]
        r = http.get("/api/reservations/", headers=guest)
        assert [item["id"] for item in r.json()["items"]] == [r.json()["items"][0]["id"]]
        assert r.json()["items"][0]["property"]["is_favorite"] is True

        r = http.get(f"/api/properties/{prop['id']}/reservations")
        assert r.json()["items"] == [
            {"start_date": stay["start_date"], "end_date": stay["end_date"]}
        ]
