"""Accounts (API.md, Accounts): sign-up, login, refresh with rotation, me, users."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.test import Client

from core.models import SpentRefreshToken, User
from tests.conftest import PASSWORD, ApiClient, make_user

pytestmark = pytest.mark.django_db

STRONG = "Zq7!long-pass-phrase"


def signup(client: ApiClient, email: str = "ann@example.com", password: str = STRONG, **kw):
    return client.post(
        "/api/auth/signup", {"email": email, "password": password, "name": kw.get("name", "Ann")}
    )


# ------------------------------------------------------------------ sign-up


def test_signup_answers_me_and_a_working_token_pair(anon):
    r = signup(anon, email="Ann@Example.COM")
    assert r.status_code == 201, r.content
    body = r.json()
    assert set(body) == {"user", "access", "refresh"}
    assert set(body["user"]) == {"id", "name", "avatar_url", "email", "notify_email"}
    # the domain part is normalised, the local part kept as typed
    assert body["user"]["email"] == "Ann@example.com"
    assert body["user"]["avatar_url"] is None
    me = anon.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access']}"})
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]
    assert User.objects.filter(pk=body["user"]["id"]).exists()


@pytest.mark.parametrize("again", ["ann@example.com", "ANN@EXAMPLE.COM", "  Ann@example.com "])
def test_signup_refuses_an_existing_email_whatever_its_case(anon, again):
    assert signup(anon).status_code == 201
    r = signup(anon, email=again)
    assert r.status_code == 409, r.content
    assert "detail" in r.json()
    assert User.objects.filter(email__iexact="ann@example.com").count() == 1


@pytest.mark.parametrize(
    "password",
    ["short1!", "password", "123456789012", "ann@example.com"],
    ids=["too-short", "common", "numeric", "like-the-email"],
)
def test_signup_refuses_a_weak_password(anon, password):
    r = signup(anon, password=password)
    assert r.status_code == 422, r.content
    assert r.json()["detail"]
    assert not User.objects.exists()


@pytest.mark.parametrize("email", ["not-an-email", "ann@", "@example.com", "ann example@x.org", ""])
def test_signup_refuses_a_bad_email(anon, email):
    r = signup(anon, email=email)
    assert r.status_code == 422, r.content
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.com", "password": STRONG},
        {"email": "a@example.com", "password": STRONG, "name": "   "},
        {"email": "a@example.com", "password": STRONG, "name": "x" * 151},
        {"email": "a@example.com", "password": 12345, "name": "A"},
    ],
    ids=["no-name", "blank-name", "long-name", "password-not-a-string"],
)
def test_signup_refuses_bad_fields(anon, body):
    r = anon.post("/api/auth/signup", body)
    assert r.status_code == 422, r.content
    assert not User.objects.exists()


# ------------------------------------------------------------------ login


@pytest.mark.parametrize("typed", ["ann@example.com", "ANN@example.com", "Ann@Example.Com"])
def test_login_matches_the_email_whatever_its_case(anon, typed):
    user = make_user(email="Ann@example.com", name="Ann")
    r = anon.post("/api/auth/login", {"email": typed, "password": PASSWORD})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["user"]["id"] == str(user.pk)
    assert body["user"]["email"] == "Ann@example.com"
    assert body["access"] and body["refresh"]


def test_login_answers_the_same_for_an_unknown_email_and_a_wrong_password(anon):
    make_user(email="ann@example.com")
    wrong_password = anon.post("/api/auth/login", {"email": "ann@example.com", "password": "nope"})
    unknown_email = anon.post("/api/auth/login", {"email": "bob@example.com", "password": "nope"})
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password["WWW-Authenticate"].startswith("Bearer")


def test_login_refuses_a_deactivated_account(anon):
    make_user(email="gone@example.com", is_active=False)
    r = anon.post("/api/auth/login", {"email": "gone@example.com", "password": PASSWORD})
    assert r.status_code == 401


def test_login_is_rate_limited_per_address(anon, settings):
    settings.AUTH_RATE = 3
    answers = [
        anon.post("/api/auth/login", {"email": "x@example.com", "password": "nope"}).status_code
        for _ in range(3)
    ]
    assert answers == [401, 401, 401]
    r = anon.post("/api/auth/login", {"email": "x@example.com", "password": "nope"})
    assert r.status_code == 429
    assert int(r["Retry-After"]) > 0


# ------------------------------------------------------------------ refresh


def login(client: ApiClient, user: User) -> dict:
    r = client.post("/api/auth/login", {"email": user.email, "password": PASSWORD})
    assert r.status_code == 200, r.content
    return r.json()


def test_refresh_rotates_and_the_spent_token_answers_401(anon, user):
    first = login(anon, user)["refresh"]
    r = anon.post("/api/auth/refresh", {"refresh": first})
    assert r.status_code == 200, r.content
    pair = r.json()
    assert set(pair) == {"access", "refresh"}
    assert pair["refresh"] != first
    assert ApiClient(token=pair["access"]).get("/api/auth/me").status_code == 200

    # the new one works, exactly once
    assert anon.post("/api/auth/refresh", {"refresh": pair["refresh"]}).status_code == 200
    assert anon.post("/api/auth/refresh", {"refresh": pair["refresh"]}).status_code == 401
    assert SpentRefreshToken.objects.filter(user=user).count() == 2
    again = anon.post("/api/auth/refresh", {"refresh": first})
    assert again.status_code == 401
    assert again["WWW-Authenticate"].startswith("Bearer")


def test_refresh_without_any_token_answers_401(anon):
    assert anon.post("/api/auth/refresh", {}).status_code == 401


def test_refresh_cookie_flow_for_browsers(user):
    browser = ApiClient(client=Client())
    login(browser, user)
    jar = browser.client.cookies
    refresh_cookie = jar[settings.REFRESH_COOKIE_NAME]
    access_cookie = jar[settings.ACCESS_COOKIE_NAME]
    assert refresh_cookie["httponly"] and access_cookie["httponly"]
    assert refresh_cookie["path"] == "/api/auth/"
    assert refresh_cookie["samesite"] == "Strict"
    spent = refresh_cookie.value

    # no body: the HttpOnly cookie is the credential, and it rotates
    r = browser.post("/api/auth/refresh", {})
    assert r.status_code == 200, r.content
    assert r.json()["refresh"] == jar[settings.REFRESH_COOKIE_NAME].value != spent

    # a page replaying the old cookie is refused
    replay = ApiClient(client=Client())
    replay.client.cookies[settings.REFRESH_COOKIE_NAME] = spent
    assert replay.post("/api/auth/refresh", {}).status_code == 401


def test_logout_spends_the_refresh_cookie_and_clears_both(user):
    browser = ApiClient(client=Client())
    tokens = login(browser, user)
    r = browser.post("/api/auth/logout", {})
    assert r.status_code == 204
    assert r.cookies[settings.REFRESH_COOKIE_NAME].value == ""
    assert r.cookies[settings.ACCESS_COOKIE_NAME].value == ""
    assert ApiClient().post("/api/auth/refresh", {"refresh": tokens["refresh"]}).status_code == 401


# ------------------------------------------------------------------ me, users


def test_me_answers_the_caller_with_email(api, user):
    r = api.get("/api/auth/me")
    assert r.status_code == 200
    assert r.json() == {
        "id": str(user.pk),
        "name": user.name,
        "avatar_url": None,
        "email": user.email,
        "notify_email": True,
    }


def test_me_without_a_token_answers_401_with_the_bearer_challenge(anon):
    r = anon.get("/api/auth/me")
    assert r.status_code == 401
    assert r["WWW-Authenticate"].startswith("Bearer")
    assert "detail" in r.json()


def test_user_detail_is_public_and_hides_the_email(anon, user):
    r = anon.get(f"/api/users/{user.pk}")
    assert r.status_code == 200
    assert r.json() == {"id": str(user.pk), "name": user.name, "avatar_url": None}


def test_user_detail_of_an_unknown_or_inactive_user_is_404(anon):
    gone = make_user(is_active=False)
    assert anon.get(f"/api/users/{uuid.uuid4()}").status_code == 404
    assert anon.get(f"/api/users/{gone.pk}").status_code == 404


@pytest.mark.parametrize("bad", ["42", "not-a-uuid", "0" * 40])
def test_user_detail_of_a_malformed_id_is_422(anon, bad):
    r = anon.get(f"/api/users/{bad}")
    assert r.status_code == 422
    assert r.json()["detail"]
