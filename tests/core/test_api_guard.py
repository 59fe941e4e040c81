"""Bad input answers a clear 4xx JSON and changes nothing (API.md, Conventions; issue 10).

Each case here answered 500 or HTML before (or acted on a cross-site form). They run on
SQLite and, in the suite's PostgreSQL pass, on PostgreSQL, where a NUL character used to
reach the database and fail there.
"""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.test import Client
from PIL import Image

from core.models import RevokedTokenFamily, User
from listings.models import Property
from messaging.models import ConversationMessage
from messaging.services import conversation_start
from tests.conftest import PASSWORD, ApiClient
from tests.listings.conftest import PROPERTY_BODY, make_property

pytestmark = pytest.mark.django_db

TOO_BIG = 2**63


def _json_detail(response) -> object:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert "detail" in body
    return body["detail"]


# ---------------------------------------------------------- 415: JSON endpoints


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", '{"email": "%s", "password": "%s"}'),
        ("text/plain;charset=UTF-8", '{"email": "%s", "password": "%s"}'),
        ("application/x-www-form-urlencoded", "email=%s&password=%s"),
    ],
)
def test_login_from_a_cross_site_form_answers_415_and_sets_no_cookie(user, content_type, body):
    """The login CSRF: a form on another site could log the victim in as the attacker."""
    client = Client()
    r = client.post(
        "/api/auth/login", data=body % (user.email, PASSWORD), content_type=content_type
    )
    assert r.status_code == 415
    assert "JSON" in _json_detail(r)
    assert not r.cookies
    # the same body as JSON works
    ok = client.post(
        "/api/auth/login",
        data=json.dumps({"email": user.email, "password": PASSWORD}),
        content_type="application/json",
    )
    assert ok.status_code == 200
    assert ok.cookies


def test_signup_from_a_multipart_form_answers_415_and_stores_nothing():
    r = Client().post(
        "/api/auth/signup",
        data={"email": "form@example.com", "password": "Zq7!long-pass", "name": "Form"},
    )
    assert r.status_code == 415
    assert not User.objects.filter(email="form@example.com").exists()


def test_a_json_write_with_a_form_body_answers_415_and_changes_nothing(api, user):
    r = api.client.post(
        "/api/properties",
        data="title=x",
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert r.status_code == 415
    assert not Property.objects.exists()


def test_a_write_without_a_body_needs_no_content_type(api, user, other_user):
    prop = make_property(other_user)
    r = api.client.post(
        f"/api/properties/{prop.pk}/favorite",
        data="",
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert r.status_code == 200


def test_the_page_logout_form_needs_its_csrf_token(user):
    browser = Client(enforce_csrf_checks=True)
    browser.post(
        "/api/auth/login",
        data=json.dumps({"email": user.email, "password": PASSWORD}),
        content_type="application/json",
    )
    r = browser.post("/logout")
    assert r.status_code == 403
    assert not r.cookies  # nothing cleared


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_api_logout_refuses_a_cross_site_request(user, headers):
    browser = Client()
    login = browser.post(
        "/api/auth/login",
        data=json.dumps({"email": user.email, "password": PASSWORD}),
        content_type="application/json",
    )
    refresh = login.json()["refresh"]
    # what another site's empty <form method=post> (or no-cors fetch) sends
    r = browser.post(
        "/api/auth/logout",
        data="",
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )
    assert r.status_code == 403
    _json_detail(r)
    assert not r.cookies  # the cookies are not cleared
    # and the refresh token is not spent
    assert ApiClient().post("/api/auth/refresh", {"refresh": refresh}).status_code == 200


def test_api_logout_from_the_site_itself_works(user):
    browser = Client()
    browser.post(
        "/api/auth/login",
        data=json.dumps({"email": user.email, "password": PASSWORD}),
        content_type="application/json",
    )
    r = browser.post(
        "/api/auth/logout",
        data="",
        content_type="application/json",
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert r.status_code == 204
    assert r.cookies["stayhub_access"].value == ""


# ---------------------------------------------------------- offsets past 2^63


@pytest.fixture
def lists(user, other_user) -> list[str]:
    prop = make_property(user)
    conversation_start(user=user, other_user_id=other_user.pk)
    return [
        "/api/properties",
        "/api/chat",
        "/api/chat/",
        f"/api/properties/{prop.pk}/reservations",
        "/api/reservations?role=guest",
        "/api/reservations?role=host",
    ]


@pytest.mark.parametrize("offset", [TOO_BIG, TOO_BIG + 1, 10**40])
def test_an_offset_at_or_past_2_63_answers_422_on_every_list(api, lists, offset):
    for path in lists:
        sep = "&" if "?" in path else "?"
        r = api.get(f"{path}{sep}offset={offset}")
        assert r.status_code == 422, (path, r.status_code, r.content[:200])
        _json_detail(r)


def test_the_largest_offset_answers_an_empty_page(api, lists):
    for path in lists:
        sep = "&" if "?" in path else "?"
        r = api.get(f"{path}{sep}offset={TOO_BIG - 1}")
        assert r.status_code == 200, (path, r.content[:200])
        assert r.json()["items"] == []


# ---------------------------------------------------------- NUL characters


def test_nul_in_the_login_email_answers_422(anon, user):
    r = anon.post("/api/auth/login", {"email": f"{user.email}\x00", "password": PASSWORD})
    assert r.status_code == 422
    assert "NUL" in _json_detail(r)


def test_nul_in_a_signup_field_answers_422_and_stores_nothing(anon):
    r = anon.post(
        "/api/auth/signup", {"email": "nul@example.com", "password": "Zq7!long", "name": "a\x00b"}
    )
    assert r.status_code == 422
    assert not User.objects.filter(email="nul@example.com").exists()


def test_nul_in_a_listing_answers_422_and_stores_nothing(api, user):
    r = api.post("/api/properties", {**PROPERTY_BODY, "title": "Cabin\x00"})
    assert r.status_code == 422
    assert not Property.objects.exists()
    prop = make_property(user)
    r = api.patch(f"/api/properties/{prop.pk}", {"description": "\x00"})
    assert r.status_code == 422
    prop.refresh_from_db()
    assert "\x00" not in prop.description


def test_nul_in_a_field_name_answers_422(api):
    r = api.post("/api/properties", {**PROPERTY_BODY, "ti\x00tle": "x"})
    assert r.status_code == 422


def test_an_escaped_backslash_before_u0000_is_text_not_nul(api):
    r = api.post("/api/properties", {**PROPERTY_BODY, "description": "a \\u0000 b"})
    assert r.status_code == 201, r.content
    assert Property.objects.get().description == "a \\u0000 b"


@pytest.mark.parametrize(
    "query", ["country=Portu%00gal", "category=%00", "landlord_id=%00", "c%00=1"]
)
def test_nul_in_a_filter_answers_422(anon, query):
    r = anon.get(f"/api/properties?{query}")
    assert r.status_code == 422
    _json_detail(r)


@pytest.mark.parametrize("path", ["/", "/?country=Port%00ugal", "/?category=%00"])
def test_nul_in_a_page_filter_answers_400(anon, path):
    r = anon.get(path)
    assert r.status_code == (200 if "%00" not in path else 400)


def test_the_page_login_redirect_carrying_tokens_says_no_store(user):
    r = Client().post("/login", {"email": user.email, "password": PASSWORD, "next": "/"})
    assert r.status_code == 302
    assert r.cookies["stayhub_access"].value
    assert "no-store" in r["Cache-Control"]


def test_nul_in_a_message_answers_422_and_stores_nothing(api, user, other_user):
    conversation, _ = conversation_start(user=user, other_user_id=other_user.pk)
    r = api.post(f"/api/chat/{conversation.pk}/messages", {"body": "hi\x00"})
    assert r.status_code == 422
    assert not ConversationMessage.objects.exists()


# ---------------------------------------------------------- parameters, methods, routes


def test_more_than_1000_query_parameters_answer_400_json(anon):
    query = "&".join(f"p{i}=1" for i in range(1001))
    r = anon.get(f"/api/properties?{query}")
    assert r.status_code == 400
    _json_detail(r)
    query = "&".join(f"p{i}=1" for i in range(900))
    assert anon.get(f"/api/properties?{query}").status_code == 200


@pytest.mark.parametrize("path", ["/api/properties", "/api/properties/"])
def test_put_on_a_collection_answers_405_json_with_allow(api, path):
    r = api.client.put(path, data="{}", content_type="application/json", headers=api._headers(None))
    assert r.status_code == 405
    _json_detail(r)
    assert "POST" in r["Allow"]


@pytest.mark.parametrize(
    "path", ["/api/nothing-here", "/api/properties/x/y/z", "/api/", "/api/chat/events//x"]
)
def test_an_unknown_api_path_answers_404_json(anon, path):
    r = anon.get(path)
    assert r.status_code == 404
    _json_detail(r)


def test_an_unknown_page_answers_the_branded_404_page(anon):
    r = anon.get("/no-such-page")
    assert r.status_code == 404
    assert r["Content-Type"].startswith("text/html")
    assert b"Find a stay" in r.content


def test_an_image_upload_without_a_multipart_boundary_answers_400_json(api, user):
    prop = make_property(user)
    r = api.client.post(
        f"/api/properties/{prop.pk}/image",
        data=b"--x\r\nContent-Disposition: form-data; name=image\r\n\r\nabc\r\n--x--\r\n",
        content_type="multipart/form-data",
        headers=api._headers(None),
    )
    assert r.status_code == 400
    assert "multipart" in _json_detail(r).lower()


def test_an_image_over_40_megapixels_answers_422(api, user):
    prop = make_property(user)
    buffer = io.BytesIO()
    Image.new("L", (8000, 5001)).save(buffer, format="PNG")  # 40,008,000 pixels
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("big.png", buffer.getvalue(), content_type="image/png")
    r = api.client.post(
        f"/api/properties/{prop.pk}/image", data={"image": upload}, headers=api._headers(None)
    )
    assert r.status_code == 422
    assert "pixels" in _json_detail(r)
    prop.refresh_from_db()
    assert not prop.image


# ---------------------------------------------------------- tokens


def _login(client: ApiClient, user: User):
    return client.post("/api/auth/login", {"email": user.email, "password": PASSWORD})


def test_every_answer_with_tokens_says_no_store(anon, user):
    signed_up = anon.post(
        "/api/auth/signup", {"email": "store@example.com", "password": "Zq7!long-pass", "name": "S"}
    )
    logged_in = _login(anon, user)
    refreshed = anon.post("/api/auth/refresh", {"refresh": logged_in.json()["refresh"]})
    for answer in (signed_up, logged_in, refreshed):
        assert answer.status_code in (200, 201)
        assert "no-store" in answer["Cache-Control"]


def test_reusing_a_spent_refresh_token_revokes_the_ones_issued_from_it_since(anon, user):
    first = _login(anon, user).json()["refresh"]
    second = anon.post("/api/auth/refresh", {"refresh": first}).json()["refresh"]
    third = anon.post("/api/auth/refresh", {"refresh": second}).json()["refresh"]
    # a thief replays the first one: refused, and the live third one dies with it
    assert anon.post("/api/auth/refresh", {"refresh": first}).status_code == 401
    assert anon.post("/api/auth/refresh", {"refresh": third}).status_code == 401
    assert RevokedTokenFamily.objects.filter(user=user).count() == 1
    # another login (another family) is untouched
    other = _login(anon, user).json()["refresh"]
    assert anon.post("/api/auth/refresh", {"refresh": other}).status_code == 200


def test_refresh_counts_against_auth_rate(anon, settings):
    settings.AUTH_RATE = 3
    bogus = {"refresh": "not-a-token"}
    assert [anon.post("/api/auth/refresh", bogus).status_code for _ in range(3)] == [401] * 3
    r = anon.post("/api/auth/refresh", bogus)
    assert r.status_code == 429
    assert int(r["Retry-After"]) > 0
    _json_detail(r)


def test_the_admin_login_counts_against_auth_rate(settings):
    settings.AUTH_RATE = 3
    client = Client()
    form = {"username": "admin@example.com", "password": "wrong", "next": "/admin/"}
    assert [client.post("/admin/login/", form).status_code for _ in range(3)] == [200] * 3
    r = client.post("/admin/login/", form)
    assert r.status_code == 429
    assert int(r["Retry-After"]) > 0
    # shared with the API's counter: the same address is refused there too
    assert (
        ApiClient(client=client)
        .post("/api/auth/login", {"email": "a", "password": "b"})
        .status_code
        == 429
    )


# ---------------------------------------------------------- the schema says all of it


def test_the_schema_declares_415_413_429_and_503_with_retry_after(anon):
    paths = anon.get("/api/openapi.json").json()["paths"]
    login = paths["/api/auth/login"]["post"]["responses"]
    for code in ("413", "415", "422", "429", "503"):
        assert code in login, code
    for code in ("429", "503"):
        assert login[code]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    refresh = paths["/api/auth/refresh"]["post"]["responses"]
    assert "429" in refresh
    for operations in paths.values():
        for operation in operations.values():
            assert "503" in operation["responses"]
            assert "400" in operation["responses"]
    offset = next(p for p in paths["/api/properties"]["get"]["parameters"] if p["name"] == "offset")
    assert offset["schema"]["maximum"] == TOO_BIG - 1


def test_an_unknown_uuid_is_still_404(api):
    assert api.get(f"/api/properties/{uuid.uuid4()}").status_code == 404
