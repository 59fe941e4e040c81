"""Browse, property, host, favorites and my properties in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from listings.models import Favorite
from tests.conftest import make_user
from tests.web.conftest import shoot
from tests.web.factories import landscape_png, make_property

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_heart_on_browse_keeps_it_in_my_favorites_and_removing_it_there_drops_it(
    new_context, live_server
):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    flat = make_property(host, title="Sea view flat")
    make_property(
        host, title="Mountain cabin", category="Cabins", country="Austria", country_code="AT"
    )
    page = new_context(user=guest).new_page()

    page.goto("/")
    heart = page.get_by_role("button", name="Favorite: Sea view flat")
    expect(heart).to_have_attribute("aria-pressed", "false")
    heart.click()
    expect(heart).to_have_attribute("aria-pressed", "true")
    assert Favorite.objects.filter(user=guest, property=flat).exists()
    shoot(page, "browse")

    page.get_by_role("link", name="My favorites").click()
    page.wait_for_url(f"{live_server.url}/favorites")
    cards = page.locator("[data-listing]")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Sea view flat")
    shoot(page, "favorites")

    page.get_by_role("button", name="Favorite: Sea view flat").click()
    # taken off the page at once, without a reload
    expect(cards).to_have_count(0)
    expect(page.get_by_text("No favorites yet")).to_be_visible()
    assert not Favorite.objects.filter(user=guest, property=flat).exists()
    page.reload()
    expect(page.locator("[data-listing]")).to_have_count(0)


def test_anonymous_heart_sends_to_login_and_back(new_context, live_server):
    host = make_user(name="Hugo Host")
    make_property(host, title="Sea view flat")
    page = new_context().new_page()
    page.goto("/")
    page.get_by_role("link", name=re.compile("Log in to save Sea view flat")).click()
    page.wait_for_url(re.compile(r"/login\?next=%2F$"))
    assert page.url.endswith("/login?next=%2F")
    expect(page.get_by_label("Email")).to_be_visible()


def test_filters_and_category_chips_narrow_the_browse(new_context, live_server):
    host = make_user(name="Hugo Host")
    make_property(host, title="Sea view flat", guests=4)
    make_property(host, title="Tiny studio", guests=1, category="Cabins")
    make_property(
        host,
        title="Alpine chalet",
        country="Austria",
        country_code="AT",
        guests=8,
        category="Cabins",
    )
    page = new_context().new_page()
    page.goto("/")
    titles = page.locator(".listing-title")
    expect(titles).to_have_count(3)

    page.get_by_role("navigation", name="Categories").get_by_role("link", name="Cabins").click()
    expect(titles).to_have_text(["Alpine chalet", "Tiny studio"], ignore_case=False)
    page.get_by_label("Guests").fill("2")
    page.get_by_role("button", name="Search").click()
    expect(titles).to_have_text(["Alpine chalet"])
    assert "category=Cabins" in page.url and "guests=2" in page.url


def test_property_page_shows_host_and_contact_only_for_others(new_context, live_server, settings):
    settings.MEDIA_ROOT = live_server.env["MEDIA_ROOT"]  # where the server reads uploads
    host = make_user(name="Hugo Host")
    flat = make_property(
        host, title="Sea view flat", description="Quiet <b>street</b>", image=landscape_png()
    )
    guest_page = new_context(user=make_user(name="Gina Guest")).new_page()
    guest_page.goto(f"/properties/{flat.id}")
    expect(guest_page.get_by_role("heading", name="Sea view flat")).to_be_visible()
    # user text is escaped, never markup
    expect(guest_page.get_by_text("Quiet <b>street</b>")).to_be_visible()
    expect(guest_page.get_by_role("button", name="Contact host")).to_be_visible()
    guest_page.get_by_role("link", name=re.compile("Hugo Host")).click()
    guest_page.wait_for_url(f"{live_server.url}/hosts/{host.id}")
    expect(guest_page.get_by_role("heading", name="Hugo Host", exact=True)).to_be_visible()
    expect(guest_page.locator(".listing-title")).to_have_text(["Sea view flat"])
    shoot(guest_page, "host")
    guest_page.goto(f"/properties/{flat.id}")
    photo = guest_page.locator(".property-photo img")
    expect(photo).to_have_js_property("complete", True)
    assert photo.evaluate("img => img.naturalWidth") == 960  # served back by the server
    shoot(guest_page, "property")

    host_page = new_context(user=host).new_page()
    host_page.goto(f"/properties/{flat.id}")
    expect(host_page.get_by_text("This is your listing.")).to_be_visible()
    expect(host_page.get_by_role("button", name="Contact host")).to_have_count(0)
    host_page.goto("/my/properties")
    expect(host_page.get_by_role("link", name="Sea view flat")).to_be_visible()
    shoot(host_page, "my-properties")


def test_keyboard_alone_reaches_and_presses_the_heart_with_visible_focus(new_context, live_server):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    flat = make_property(host, title="Sea view flat")
    page = new_context(user=guest).new_page()
    page.goto("/")
    for _ in range(25):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.favorite") == str(flat.id):
            break
    else:
        pytest.fail("the heart cannot be reached with Tab")
    assert page.evaluate("getComputedStyle(document.activeElement).boxShadow") != "none"
    page.keyboard.press("Space")
    heart = page.get_by_role("button", name="Favorite: Sea view flat")
    expect(heart).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Enter")
    expect(heart).to_have_attribute("aria-pressed", "false")
    assert not Favorite.objects.filter(user=guest).exists()
