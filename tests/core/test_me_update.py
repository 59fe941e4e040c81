"""`PATCH /api/auth/me` (API.md, Accounts): name and notify_email, JSON only."""

from __future__ import annotations

import pytest

from core.models import User
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_me_carries_notify_email_on_by_default(api: ApiClient, user: User) -> None:
    assert api.get("/api/auth/me").json()["notify_email"] is True


def test_patch_changes_only_what_was_sent(api: ApiClient, user: User) -> None:
    r = api.patch("/api/auth/me", {"notify_email": False})
    assert r.status_code == 200
    assert r.json() == {
        "id": str(user.pk),
        "name": "Alice Owner",
        "avatar_url": None,
        "email": user.email,
        "notify_email": False,
    }
    r = api.patch("/api/auth/me/", {"name": "  Alice Cooper  "})  # trailing slash too
    assert r.status_code == 200
    assert r.json()["name"] == "Alice Cooper"
    assert r.json()["notify_email"] is False
    user.refresh_from_db()
    assert (user.name, user.notify_email) == ("Alice Cooper", False)
    assert api.patch("/api/auth/me", {}).json()["name"] == "Alice Cooper"  # nothing sent
    assert api.get("/api/auth/me").json()["notify_email"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 151},
        {"name": None},
        {"name": 5},
        {"notify_email": "no"},
        {"notify_email": 0},
        {"notify_email": None},
        {"email": "new@example.com"},  # not changeable here: said, not ignored
        ["name"],
    ],
)
def test_bad_input_is_422_and_changes_nothing(api: ApiClient, user: User, body: object) -> None:
    r = api.patch("/api/auth/me", body)
    assert r.status_code == 422, r.content
    assert "detail" in r.json()
    user.refresh_from_db()
    assert (user.name, user.notify_email, user.email) == ("Alice Owner", True, user.email)


def test_a_name_with_a_nul_character_is_refused(api: ApiClient, user: User) -> None:
    r = api.patch("/api/auth/me", {"name": "Al\x00ice"})
    assert r.status_code == 422
    user.refresh_from_db()
    assert user.name == "Alice Owner"


def test_malformed_json_is_refused(api: ApiClient, user: User) -> None:
    r = api.patch("/api/auth/me", '{"name": ')
    assert r.status_code in (400, 422)
    assert "detail" in r.json()


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/x-www-form-urlencoded", "notify_email=false"),
        ("text/plain", '{"notify_email": false}'),
        (
            "multipart/form-data; boundary=x",
            '--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nEve\r\n--x--\r\n',
        ),
    ],
)
def test_a_body_that_is_not_json_is_415_and_changes_nothing(
    api: ApiClient, user: User, content_type: str, body: str
) -> None:
    r = api.patch("/api/auth/me", body, content_type=content_type)
    assert r.status_code == 415, r.content
    assert "detail" in r.json()
    user.refresh_from_db()
    assert (user.name, user.notify_email) == ("Alice Owner", True)


def test_anonymous_and_refresh_tokens_are_401(anon: ApiClient, user: User) -> None:
    from core.tokens import issue_pair

    assert anon.patch("/api/auth/me", {"notify_email": False}).status_code == 401
    refresh = ApiClient(token=issue_pair(user).refresh)
    assert refresh.patch("/api/auth/me", {"notify_email": False}).status_code == 401
    user.refresh_from_db()
    assert user.notify_email is True


def test_each_caller_changes_only_themselves(
    api: ApiClient, other_api: ApiClient, user: User, other_user: User
) -> None:
    other_api.patch("/api/auth/me", {"notify_email": False, "name": "Bob"})
    user.refresh_from_db()
    other_user.refresh_from_db()
    assert (user.name, user.notify_email) == ("Alice Owner", True)
    assert (other_user.name, other_user.notify_email) == ("Bob", False)
