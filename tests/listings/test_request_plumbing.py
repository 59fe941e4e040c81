"""Every listings path answers the same with and without its trailing slash (no redirect),
refuses over-long and malformed bodies with a 4xx, and documents its answers."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from listings.models import Property
from tests.conftest import ApiClient
from tests.listings.conftest import PROPERTY_BODY, days_from_today, image_bytes, make_property

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


def _stay() -> dict:
    return {
        "start_date": days_from_today(2).isoformat(),
        "end_date": days_from_today(4).isoformat(),
        "guests": 1,
    }


def _image(client: ApiClient, path: str):
    upload = SimpleUploadedFile("p.png", image_bytes(), content_type="image/png")
    return client.client.post(path, data={"image": upload}, headers=client._headers(None))


# (caller, method-and-body, path under /api, expected status)
CALLS = [
    ("anyone", lambda c, p: c.get(p), "/properties", 200),
    ("host", lambda c, p: c.post(p, PROPERTY_BODY), "/properties", 201),
    ("anyone", lambda c, p: c.get(p), "/properties/{id}", 200),
    ("host", lambda c, p: c.patch(p, {"title": "New"}), "/properties/{id}", 200),
    ("host", _image, "/properties/{id}/image", 200),
    ("guest", lambda c, p: c.post(p), "/properties/{id}/favorite", 200),
    ("guest", lambda c, p: c.delete(p), "/properties/{id}/favorite", 200),
    ("guest", lambda c, p: c.post(p), "/properties/{id}/toggle_favorite", 200),
    ("guest", lambda c, p: c.post(p, _stay()), "/properties/{id}/reservations", 201),
    ("anyone", lambda c, p: c.get(p), "/properties/{id}/reservations", 200),
    ("guest", lambda c, p: c.get(p), "/reservations", 200),
    ("host", lambda c, p: c.delete(p), "/properties/{id}", 204),
]


@pytest.mark.parametrize("slash", ["", "/"], ids=["bare", "slash"])
@pytest.mark.parametrize(
    ("caller", "call", "path", "expected"),
    CALLS,
    ids=[f"{caller}-{code}-{path}" for caller, _, path, code in CALLS],
)
def test_every_listings_path_answers_with_and_without_its_slash(
    api, other_api, user, caller, call, path, expected, slash
):
    prop = make_property(user)
    client = {"anyone": ApiClient(), "host": api, "guest": other_api}[caller]
    r = call(client, "/api" + path.format(id=prop.pk) + slash)
    assert r.status_code == expected, r.content


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("post", ""), ("patch", "/{id}"), ("post", "/{id}/reservations")],
)
def test_a_json_body_over_one_mib_is_413(api, user, method, suffix):
    prop = make_property(user)
    body = json.dumps({**PROPERTY_BODY, "description": "x" * (MIB + 1)})
    r = getattr(api, method)(f"/api/properties{suffix.format(id=prop.pk)}", body)
    assert r.status_code == 413
    assert Property.objects.get().title == PROPERTY_BODY["title"]


@pytest.mark.parametrize("raw", ['{"title": ', "[]", "null", "\x00\xff", '"x"'])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("post", ""), ("patch", "/{id}"), ("post", "/{id}/reservations")],
)
def test_malformed_json_is_4xx_not_500(api, other_api, user, method, suffix, raw):
    prop = make_property(user)
    client = other_api if "reservations" in suffix else api
    r = getattr(client, method)(f"/api/properties{suffix.format(id=prop.pk)}", raw)
    assert r.status_code in (400, 422), (r.status_code, r.content)
    assert "detail" in r.json()
    assert Property.objects.count() == 1


def test_the_openapi_schema_documents_every_answer(anon):
    r = anon.get("/api/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert set(paths["/api/properties/{property_id}"]["patch"]["responses"]) >= {
        "200",
        "401",
        "403",
        "404",
        "422",
    }
    booking = paths["/api/properties/{property_id}/reservations"]["post"]["responses"]
    assert set(booking) >= {"201", "401", "403", "404", "409", "422"}
    assert set(paths["/api/properties"]["get"]["responses"]) >= {"200", "401", "422"}
    assert "/api/reservations" in paths


def test_every_operation_documents_the_503_of_an_unavailable_database(anon):
    paths = anon.get("/api/openapi.json").json()["paths"]
    methods = [
        (path, method, operation["responses"])
        for path, operations in paths.items()
        for method, operation in operations.items()
    ]
    writes = [(path, method, answers) for path, method, answers in methods if method != "get"]
    assert len(writes) >= 15  # accounts, properties, favorites, reservations, chat
    # a write may find SQLite busy, any request a database that is down
    for path, method, answers in methods:
        busy = answers.get("503")
        assert busy is not None, (method, path)
        assert busy["headers"]["Retry-After"]["schema"]["type"] == "integer"
        schema = busy["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorOut"}
    for path, method, answers in writes:
        assert {"413", "415"} <= set(answers), (method, path)
