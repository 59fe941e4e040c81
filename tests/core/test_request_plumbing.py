"""What every API path owes its callers: the trailing slash, body limits, bad JSON."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.conftest import PASSWORD, ApiClient

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


@pytest.mark.parametrize("slash", ["", "/"], ids=["bare", "slash"])
def test_every_accounts_path_answers_with_and_without_its_slash(user, slash):
    """Same answer either way, and never a redirect (a redirected POST loses its body)."""
    anon = ApiClient()
    r = anon.post(f"/api/auth/login{slash}", {"email": user.email, "password": PASSWORD})
    assert r.status_code == 200, r.content
    tokens = r.json()
    r = anon.post(f"/api/auth/refresh{slash}", {"refresh": tokens["refresh"]})
    assert r.status_code == 200, r.content
    signed_in = ApiClient(token=r.json()["access"])
    assert signed_in.get(f"/api/auth/me{slash}").status_code == 200
    assert anon.get(f"/api/users/{user.pk}{slash}").status_code == 200
    r = anon.post(
        f"/api/auth/signup{slash}",
        {"email": f"new{len(slash)}@example.com", "password": "Zq7!long-pass", "name": "N"},
    )
    assert r.status_code == 201, r.content
    assert anon.post(f"/api/auth/logout{slash}", {}).status_code == 204


@pytest.mark.parametrize(
    "path", ["/api/auth/signup", "/api/auth/login", "/api/auth/refresh", "/api/properties"]
)
def test_a_body_over_one_mib_answers_413(api, path):
    body = json.dumps({"email": "a@example.com", "password": "x" * (MIB + 10), "name": "A"})
    r = api.post(path, body)
    assert r.status_code == 413, r.content
    assert "detail" in r.json()


def test_a_body_just_under_the_limit_is_read(anon):
    """The control for the 413 test: size alone, not the endpoint, decides."""
    filler = "x" * (MIB - 200)
    r = anon.post("/api/auth/login", {"email": "a@example.com", "password": "p", "pad": filler})
    assert r.status_code == 401


@pytest.mark.parametrize(
    "raw",
    ['{"email": "a@example.com", ', "not json", "\xff\xfe\x00", "[1, 2]", '"a string"', "null"],
    ids=["truncated", "text", "binary", "array", "string", "null"],
)
@pytest.mark.parametrize("path", ["/api/auth/signup", "/api/auth/login", "/api/auth/refresh"])
def test_malformed_json_answers_4xx_not_500(anon, path, raw):
    r = anon.post(path, raw)
    assert 400 <= r.status_code < 500, (r.status_code, r.content)
    assert r.status_code != 404
    assert "detail" in r.json()


def test_api_requests_pass_by_the_session_auth_and_messages_middleware(user):
    """They serve the pages and the admin; an API request gets none of their state."""
    client = Client()
    client.force_login(user)  # a session cookie, which only the pages may read
    api = client.get(f"/api/users/{user.pk}")
    assert api.status_code == 200
    for attribute in ("session", "user", "_messages"):
        assert not hasattr(api.wsgi_request, attribute), attribute
    page = client.get("/")
    assert page.status_code == 200
    # the pages (and the admin) still get the session, its user and the flash messages
    assert page.wsgi_request.session["_auth_user_id"] == str(user.pk)
    assert hasattr(page.wsgi_request, "user")
    assert hasattr(page.wsgi_request, "_messages")
