"""Signing in, up and out in a real browser, and coming back to where one was going."""

from __future__ import annotations

import re

import pytest

from core.models import User
from tests.conftest import PASSWORD, make_user
from tests.web.conftest import shoot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_signed_out_visitor_to_inbox_logs_in_and_lands_on_inbox(new_context, live_server):
    make_user(email="guest@example.com", name="Gina Guest")
    page = new_context().new_page()

    page.goto("/inbox")
    assert re.search(r"/login\?next=%2Finbox$", page.url), page.url
    shoot(page, "login")
    page.get_by_label("Email").fill("guest@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.wait_for_url(f"{live_server.url}/inbox")
    assert page.get_by_role("heading", name="Inbox").is_visible()
    # the navigation now offers what signed-in people have
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name=re.compile("Inbox")).is_visible()
    assert nav.get_by_role("button", name=re.compile("Log out")).count() == 1


def test_wrong_password_is_refused_with_a_message_and_keeps_next(new_context, live_server):
    make_user(email="guest@example.com", name="Gina Guest")
    page = new_context().new_page()
    page.goto("/login?next=/favorites")
    page.get_by_label("Email").fill("guest@example.com")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()

    alert = page.get_by_role("alert")
    assert "Wrong email or password" in alert.inner_text()
    assert page.get_by_label("Email").input_value() == "guest@example.com"
    # a second, right try still goes where the visitor was going
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/favorites")


def test_expired_access_cookie_is_renewed_silently_by_the_login_page(new_context, live_server):
    user = make_user(name="Rita Returning")
    context = new_context()
    sign_in(context, live_server.url, user, access=False)  # only the refresh cookie is left
    page = context.new_page()

    page.goto("/inbox")
    # /inbox -> /login (silent refresh) -> /inbox, without typing anything
    page.wait_for_url(f"{live_server.url}/inbox")
    assert page.get_by_role("heading", name="Inbox").is_visible()
    names = {c["name"] for c in context.cookies()}
    assert {"stayhub_access", "stayhub_refresh"} <= names


def test_signup_then_logout(new_context, live_server):
    page = new_context().new_page()
    page.goto("/signup?next=/my/properties")
    shoot(page, "signup")
    page.get_by_label("Name").fill("Nora New")
    page.get_by_label("Email").fill("nora@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    assert "too short" in page.get_by_role("alert").inner_text()
    assert not User.objects.filter(email="nora@example.com").exists()

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{live_server.url}/my/properties")
    assert User.objects.filter(email="nora@example.com", name="Nora New").exists()

    page.goto("/logout")
    shoot(page, "logout")
    page.get_by_role("main").get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("link", name="Log in").is_visible()
    # the session is gone: a signed-in page asks for a login again, and the refresh
    # token was spent, so the login page cannot silently revive it
    page.goto("/inbox")
    page.wait_for_timeout(700)
    assert "/login?next=/inbox" in page.url
