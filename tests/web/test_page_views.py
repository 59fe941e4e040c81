"""The page views without a browser: who may see what, redirects, forms, query counts."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.views.defaults import server_error

from core.tokens import issue_pair
from listings.models import Favorite
from messaging import services as chat
from tests.conftest import PASSWORD, make_user
from tests.web.factories import make_property

pytestmark = pytest.mark.django_db


def browser_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.cookies[settings.ACCESS_COOKIE_NAME] = issue_pair(user).access
    return client


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Rate-limit counters live in the (in-process) cache: start and leave it empty."""
    cache.clear()
    yield
    cache.clear()


SIGNED_IN_PAGES = ["/favorites", "/my/properties", "/inbox"]


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
@pytest.mark.parametrize("slash", ["", "/"])
def test_signed_in_pages_send_visitors_to_login_and_serve_members(path, slash):
    target = path + slash
    r = browser_for().get(target)
    assert r.status_code == 302
    location = urlsplit(r["Location"])
    assert (location.path, parse_qs(location.query)) == ("/login", {"next": [target]})
    member = make_user()
    r = browser_for(member).get(target)
    assert r.status_code == 200
    # the page carries the visitor's access token for its scripts: never cached
    assert "no-store" in r["Cache-Control"] and "private" in r["Cache-Control"]
    assert str(member.pk) in r.content.decode()


def test_an_expired_or_forged_cookie_is_no_one():
    client = Client()
    client.cookies[settings.ACCESS_COOKIE_NAME] = "not-a-token"
    assert client.get("/favorites").status_code == 302
    r = client.get("/")
    assert r.status_code == 200 and b"Log in" in r.content


@pytest.mark.parametrize("path", ["/", "/properties/{pid}", "/hosts/{hid}", "/login", "/signup"])
def test_public_pages_answer_everyone(path):
    host = make_user(name="Hugo Host")
    flat = make_property(host)
    url = path.format(pid=flat.pk, hid=host.pk)
    assert browser_for().get(url).status_code == 200
    assert browser_for(make_user()).get(url).status_code in (200, 302)  # login/signup: away


def test_unknown_property_host_and_malformed_ids_are_404():
    client = browser_for(make_user())
    for url in ("/properties/2b1d3f5e-0000-4000-8000-000000000000", "/hosts/not-a-uuid"):
        assert client.get(url).status_code == 404


def test_conversation_page_matrix():
    host, guest, stranger = make_user(), make_user(), make_user()
    conversation, _ = chat.conversation_start(user=guest, other_user_id=host.pk)
    url = f"/inbox/{conversation.pk}"
    assert browser_for().get(url).status_code == 302
    assert browser_for(stranger).get(url).status_code == 404
    assert browser_for(guest).get(url).status_code == 200
    assert browser_for(host).get(url + "/").status_code == 200


def test_user_text_is_escaped():
    host = make_user(name="<img src=x onerror=alert(1)>")
    flat = make_property(host, title="<script>alert('t')</script>")
    html = browser_for().get(f"/properties/{flat.pk}").content.decode()
    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html


def test_login_form_sets_the_cookies_and_goes_to_next_but_never_off_site():
    make_user(email="ann@example.com")
    client = Client(enforce_csrf_checks=True)
    form = client.get("/login?next=/favorites")
    token = form.cookies["csrftoken"].value
    data = {"email": "ANN@example.com", "password": PASSWORD, "csrfmiddlewaretoken": token}
    r = client.post("/login", {**data, "next": "/favorites"})
    assert r.status_code == 302 and r["Location"] == "/favorites"
    access = r.cookies[settings.ACCESS_COOKIE_NAME]
    refresh = r.cookies[settings.REFRESH_COOKIE_NAME]
    assert access["httponly"] and access["path"] == "/"
    assert refresh["httponly"] and refresh["path"] == "/api/auth/"

    other = Client()
    r = other.post("/login", {**data, "next": "https://evil.example/steal"})
    assert r.status_code == 302 and r["Location"] == "/"
    r = other.post("/login", {**data, "next": "//evil.example/"})
    assert r["Location"] == "/"


def test_login_form_needs_the_csrf_token():
    make_user(email="ann@example.com")
    client = Client(enforce_csrf_checks=True)
    r = client.post("/login", {"email": "ann@example.com", "password": PASSWORD})
    assert r.status_code == 403
    assert settings.ACCESS_COOKIE_NAME not in r.cookies


def test_login_form_refusals():
    make_user(email="ann@example.com")
    client = Client()
    r = client.post("/login", {"email": "ann@example.com", "password": "wrong"})
    assert r.status_code == 401 and b"Wrong email or password" in r.content
    assert settings.ACCESS_COOKIE_NAME not in r.cookies
    r = client.post("/login", {"email": "", "password": ""})
    assert r.status_code == 400 and b'aria-invalid="true"' in r.content


def test_login_and_signup_forms_share_the_auth_rate_limit(settings):
    settings.AUTH_RATE = 3
    make_user(email="ann@example.com")
    client = Client()
    for _ in range(3):
        assert (
            client.post("/login", {"email": "ann@example.com", "password": "x"}).status_code == 401
        )
    r = client.post("/signup", {"name": "N", "email": "n@example.com", "password": PASSWORD})
    assert r.status_code == 429 and int(r["Retry-After"]) > 0
    r = client.post("/login", {"email": "ann@example.com", "password": PASSWORD})
    assert r.status_code == 429  # even the right password waits


def test_signup_form_conflict_and_weak_password_write_nothing():
    from core.models import User

    make_user(email="ann@example.com")
    client = Client()
    r = client.post("/signup", {"name": "Ann", "email": "ANN@example.com", "password": PASSWORD})
    assert r.status_code == 409
    r = client.post("/signup", {"name": "Bo", "email": "bo@example.com", "password": "123"})
    assert r.status_code == 422
    assert not User.objects.filter(email="bo@example.com").exists()


def test_logout_form_clears_the_cookies():
    user = make_user()
    client = browser_for(user)
    r = client.post("/logout")
    assert r.status_code == 302
    assert r.cookies[settings.ACCESS_COOKIE_NAME].value == ""
    assert r.cookies[settings.REFRESH_COOKIE_NAME]["path"] == "/api/auth/"


@pytest.mark.parametrize("path", ["/", "/favorites", "/my/properties", "/hosts/{hid}"])
def test_listing_pages_run_a_fixed_number_of_queries(path, django_assert_num_queries):
    host = make_user()
    viewer = host  # sees "/my/properties" and favorites of their own
    client = browser_for(viewer)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path.format(hid=host.pk)).status_code == 200
        return len(ctx.captured_queries)

    props = [make_property(host, category=f"C{i % 3}") for i in range(2)]
    Favorite.objects.bulk_create([Favorite(user=viewer, property=p) for p in props])
    small = count()
    more = [make_property(host, category=f"C{i % 3}") for i in range(22)]
    Favorite.objects.bulk_create([Favorite(user=viewer, property=p) for p in more])
    assert count() == small
    # user, count, page (+ categories on browse)
    expected = {"/": 4, "/favorites": 3, "/my/properties": 3, "/hosts/{hid}": 4}[path]
    with django_assert_num_queries(expected):
        client.get(path.format(hid=host.pk))


def test_error_pages_lead_back_to_browsing():
    """403, 404 and 500 pages render (500 with no request context) with the way back."""
    browse = f'href="{reverse("browse")}"'
    host, stranger = make_user(), browser_for(make_user())
    listing = make_property(host, title="Sea view flat")
    forbidden = stranger.get(f"/my/properties/{listing.pk}/edit")
    missing = stranger.get("/properties/2b1d3f5e-0000-4000-8000-000000000000")
    broken = server_error(RequestFactory().get("/"))
    for response, status, title in (
        (forbidden, 403, "Not allowed"),
        (missing, 404, None),
        (broken, 500, "Something went wrong"),
    ):
        html = response.content.decode()
        assert response.status_code == status
        assert browse in html and "Find a stay" in html
        assert title is None or title in html
