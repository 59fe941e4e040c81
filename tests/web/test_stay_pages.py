"""Stays on the site, in a real browser: booking from the property page (instant and
by request), the host confirming in the thread while the guest watches it change
live, the trips and host stays pages, the host creating a listing with a photo, and
"Contact host" carrying on after logging in.
"""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from django.utils import timezone
from PIL import Image
from playwright.sync_api import Page, expect

from listings import booking
from listings.models import Property, Reservation
from messaging.models import Conversation
from tests.conftest import PASSWORD, make_user
from tests.web.conftest import PHONE, shoot
from tests.web.factories import landscape_png, make_property

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

UUID_RE = r"[0-9a-f-]{36}"
LIVE_MS = 2_000  # "updates within 2 seconds, without a reload"


def day(offset: int) -> date:
    return timezone.localdate() + timedelta(days=offset)


def confirmed_stay(prop: Property, guest, start: date, end: date) -> Reservation:
    stay = Reservation(
        property=prop, guest=guest, start_date=start, end_date=end, guests=1, status="confirmed"
    )
    stay.price()
    stay.save()
    return stay


def calendar_day(page: Page, when: date):
    return page.locator(f'[data-availability] [data-day="{when.isoformat()}"]')


def show_month_of(page: Page, when: date) -> None:
    """Page the booking calendar forward until `when` is on it."""
    for _ in range(14):
        if calendar_day(page, when).count():
            return
        page.get_by_role("button", name="Next month").click()
    pytest.fail(f"{when} never shown")


def png_bytes(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "#0e7490").save(out, "PNG")
    return out.getvalue()


def test_dates_from_browse_carry_over_and_the_guest_reserves_at_once(new_context, live_server):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    flat = make_property(host, title="Sea view flat", price_per_night=120, instant_book=True)
    taken = confirmed_stay(flat, make_user(name="Olga Other"), day(20), day(23))
    checkin, checkout = day(10), day(13)

    page = new_context(user=guest).new_page()
    page.goto("/")
    page.get_by_label("Check-in").fill(checkin.isoformat())
    page.get_by_label("Check-out").fill(checkout.isoformat())
    page.get_by_role("button", name="Search").click()
    card = page.locator(f'[data-listing="{flat.id}"]')
    # Search results name the total for those dates: 3 nights x $120.
    expect(card.locator("[data-stay-total]")).to_have_text("$360 total for 3 nights")
    shoot(page, "browse-with-dates")

    card.get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/properties/{flat.id}\?.*checkin={checkin.isoformat()}"))
    expect(page.get_by_label("Check-in")).to_have_value(checkin.isoformat())
    expect(page.get_by_label("Check-out")).to_have_value(checkout.isoformat())
    panel = page.locator("[data-booking]")
    expect(panel.locator("[data-total]")).to_have_text("$360")
    expect(panel).to_contain_text("$120 \u00d7 3 nights")

    # The nights someone else booked cannot be picked, and picking around them
    # refuses the stay before it is sent.
    show_month_of(page, taken.start_date)
    expect(calendar_day(page, taken.start_date)).to_be_disabled()
    expect(calendar_day(page, taken.start_date + timedelta(days=1))).to_have_attribute(
        "aria-label", re.compile("booked")
    )
    page.get_by_label("Check-in").fill(day(19).isoformat())
    page.get_by_label("Check-out").fill(day(21).isoformat())
    expect(page.locator("[data-booking-problem]")).to_contain_text("already booked")
    expect(page.get_by_role("button", name="Reserve")).to_be_disabled()

    # Picking in the calendar: check-in, then check-out.
    page.get_by_label("Check-in").fill("")
    page.get_by_label("Check-out").fill("")
    page.get_by_label("Check-in").dispatch_event("input")
    show_month_of(page, checkin)
    calendar_day(page, checkin).click()
    expect(page.get_by_label("Check-in")).to_have_value(checkin.isoformat())
    # Then by keyboard: one Tab stop, arrow keys between days, Enter picks.
    expect(calendar_day(page, checkin)).to_be_focused()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(calendar_day(page, checkout)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Check-out")).to_have_value(checkout.isoformat())
    assert page.locator('[data-availability] button[tabindex="0"]').count() == 1
    page.get_by_label("Guests", exact=True).fill("2")
    expect(panel.locator("[data-total]")).to_have_text("$360")
    shoot(page, "property-booking")

    page.get_by_role("button", name="Reserve").click()
    result = panel.locator("[data-booking-result]")
    expect(result).to_contain_text("Your stay is confirmed")
    expect(result).to_contain_text("Total $360 for 3 nights")
    stay = Reservation.objects.get(guest=guest)
    assert (stay.status, stay.start_date, stay.end_date, stay.guests, stay.total_price) == (
        "confirmed",
        checkin,
        checkout,
        2,
        360,
    )
    expect(result.get_by_role("link", name="See your trips")).to_have_attribute("href", "/trips")
    expect(result.get_by_role("link", name="Message the host")).to_have_attribute(
        "href", f"/stays/{stay.id}/thread"
    )
    shoot(page, "property-booked")

    # Booking the same nights again: the server's refusal is shown in the panel.
    page.get_by_label("Check-in").fill(checkin.isoformat())
    page.get_by_label("Check-out").fill(checkout.isoformat())
    page.get_by_label("Check-in").dispatch_event("input")
    expect(page.locator("[data-booking-problem]")).to_contain_text("already booked")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Trips").click()
    page.wait_for_url(f"{live_server.url}/trips")
    upcoming = page.get_by_role("region", name=re.compile("^Upcoming"))
    expect(upcoming.locator("[data-stay]")).to_have_count(1)
    expect(upcoming).to_contain_text("Sea view flat")
    expect(upcoming.get_by_role("button", name=re.compile("^Cancel"))).to_be_visible()
    shoot(page, "trips")


def test_request_to_book_then_the_host_confirms_and_the_guest_sees_it_live(
    new_context, live_server
):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    cabin = make_property(
        host,
        title="Mountain cabin",
        price_per_night=90,
        guests=3,
        instant_book=False,
        checkin_details="Key box left of the door, code 4711.",
    )
    checkin, checkout = day(30), day(32)

    guest_page = new_context(user=guest).new_page()
    guest_page.goto(f"/properties/{cabin.id}?checkin={checkin}&checkout={checkout}&guests=2")
    expect(guest_page.get_by_role("button", name="Reserve")).to_have_count(0)
    guest_page.get_by_role("button", name="Request to book").click()
    result = guest_page.locator("[data-booking-result]")
    expect(result).to_contain_text("Request sent")
    stay = Reservation.objects.get(guest=guest)
    assert stay.status == "requested" and stay.total_price == 180

    # The thread: the listing at the top, the request as a card.
    result.get_by_role("link", name="Message the host").click()
    guest_page.wait_for_url(re.compile(rf"/inbox/{UUID_RE}$"))
    expect(guest_page.locator("[data-subject]")).to_contain_text("Mountain cabin")
    card = guest_page.locator(f'[data-card-stay="{stay.id}"]')
    expect(card).to_have_count(1)
    expect(card).to_contain_text("2 nights · 2 guests · $180 total")
    expect(card.locator("[data-card-status]")).to_have_text("Requested")
    # The guest may withdraw a request, not answer it.
    expect(card.get_by_role("button", name=re.compile("^Cancel"))).to_be_visible()
    expect(card.get_by_role("button", name=re.compile("^Confirm"))).to_have_count(0)

    host_page = new_context(user=host).new_page()
    host_page.goto("/host/stays")
    requests = host_page.get_by_role("region", name=re.compile("^Requests waiting"))
    expect(requests).to_contain_text("Mountain cabin")
    expect(requests).to_contain_text("Gina Guest")
    shoot(host_page, "host-stays")
    requests.get_by_role("link", name="Messages").click()
    host_page.wait_for_url(guest_page.url)
    host_card = host_page.locator(f'[data-card-stay="{stay.id}"]')
    expect(host_card.locator("[data-card-status]")).to_have_text("Requested")
    shoot(host_page, "conversation-request")

    host_card.get_by_role("button", name=re.compile("^Confirm")).click()

    # Live on the guest's page, without a reload: the confirmation arrives as a new
    # card and the request's card now says Confirmed too, its Cancel for a stay not
    # yet begun.
    cards = guest_page.locator(f'[data-card-stay="{stay.id}"]')
    expect(cards).to_have_count(2, timeout=LIVE_MS)
    expect(cards.locator("[data-card-status]")).to_have_text(
        ["Confirmed", "Confirmed"], timeout=LIVE_MS
    )
    expect(cards.first.get_by_role("button")).to_have_count(0)
    stay.refresh_from_db()
    assert stay.status == "confirmed"
    expect(host_page.locator(f'[data-card-stay="{stay.id}"] [data-card-action]')).to_have_count(
        1  # Cancel on the newest card only
    )
    shoot(guest_page, "conversation-confirmed")

    # The check-in details, posted by their job, are a card of the same stay.
    booking.checkin_post(reservation_id=stay.pk)
    guest_page.reload()
    details = guest_page.locator('[data-card-stay][data-kind="checkin"]')
    expect(details).to_contain_text("Key box left of the door, code 4711.")
    expect(details).to_contain_text("Check-in details")
    expect(details.locator("[data-card-status]")).to_have_text("Confirmed")
    expect(guest_page.locator(f'[data-card-stay="{stay.id}"] [data-card-action]')).to_have_count(1)
    shoot(guest_page, "conversation-checkin")

    guest_page.goto("/trips")
    upcoming = guest_page.get_by_role("region", name=re.compile("^Upcoming"))
    expect(upcoming).to_contain_text("Mountain cabin")
    guest_page.goto("/inbox")
    expect(guest_page.get_by_role("link", name=re.compile("Hugo Host"))).to_contain_text(
        "Mountain cabin"
    )
    shoot(guest_page, "inbox-subjects")


def test_the_host_declines_a_request_on_the_stays_page(new_context, live_server):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    cabin = make_property(host, title="Mountain cabin", instant_book=False)
    stay = Reservation(property=cabin, guest=guest, start_date=day(5), end_date=day(7), guests=1)
    stay.status = "requested"
    stay.price()
    stay.save()
    page = new_context(user=host).new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/host/stays")
    row = page.locator(f'[data-stay="{stay.id}"]')
    row.get_by_role("button", name=re.compile("^Decline")).click()
    expect(row.locator("[data-status-label]")).to_have_text("Declined")
    expect(row.get_by_role("button")).to_have_count(0)
    stay.refresh_from_db()
    assert stay.status == "declined"
    page.reload()
    cancelled = page.get_by_role("region", name=re.compile("^Cancelled, declined or expired"))
    expect(cancelled.locator("[data-stay]")).to_have_count(1)


def test_the_host_creates_a_listing_with_a_photo_and_edits_it(new_context, live_server, settings):
    settings.MEDIA_ROOT = live_server.env["MEDIA_ROOT"]
    host = make_user(name="Hugo Host")
    page = new_context(user=host).new_page()
    page.goto("/my/properties")
    expect(page.get_by_text("Listings are created through the API")).to_have_count(0)
    page.get_by_role("link", name="New listing").click()
    page.wait_for_url(f"{live_server.url}/my/properties/new")

    page.get_by_label("Title").fill("Lake house")
    page.get_by_label("Description").fill("A wooden house by the lake.\nCanoe included.")
    page.get_by_label("Country", exact=True).fill("Austria")
    page.get_by_label("Country code").fill("at")
    page.get_by_label("Category").fill("Cabins")
    page.get_by_label("Guests").fill("5")
    page.get_by_label("Bedrooms").fill("2")
    page.get_by_label("Bathrooms").fill("1")
    page.get_by_label("Price per night ($)").fill("150")
    page.get_by_label("Instant book").uncheck()
    page.get_by_label("Check-in details (private)").fill("Key box by the door, code 4711.")
    page.get_by_label("Photo").set_input_files(
        {"name": "lake.png", "mimeType": "image/png", "buffer": png_bytes()}
    )
    preview = page.locator("[data-preview-image]")
    expect(preview).to_have_js_property("complete", True)
    assert preview.evaluate("img => img.naturalWidth") == 800
    shoot(page, "listing-new")

    page.get_by_role("button", name="Create listing").click()
    page.wait_for_url(re.compile(rf"/my/properties/{UUID_RE}/edit\?saved=created$"))
    expect(page.get_by_text("Your listing is live.")).to_be_visible()
    listing = Property.objects.get(landlord=host)
    assert (listing.title, listing.country_code, listing.guests, listing.price_per_night) == (
        "Lake house",
        "AT",
        5,
        150,
    )
    assert listing.instant_book is False
    assert listing.checkin_details == "Key box by the door, code 4711."
    assert listing.image.name
    expect(page.get_by_label("Title")).to_have_value("Lake house")
    expect(page.get_by_label("Instant book")).not_to_be_checked()
    expect(page.locator("[data-host-calendar] .cal-month")).to_have_count(2)
    shoot(page, "listing-edit")

    # A file that is not an image: refused, nothing changed, what was typed kept.
    page.get_by_label("Price per night ($)").fill("175")
    page.get_by_label("Replace the photo").set_input_files(
        {"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture at all"}
    )
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("[data-photo-error]")).to_contain_text("not an image")
    expect(page.get_by_label("Price per night ($)")).to_have_value("175")
    listing.refresh_from_db()
    assert listing.price_per_night == 150

    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Changes saved.")).to_be_visible()
    listing.refresh_from_db()
    assert listing.price_per_night == 175

    page.goto(f"/properties/{listing.id}")
    photo = page.locator(".property-photo img")
    expect(photo).to_have_js_property("complete", True)
    assert photo.evaluate("img => img.naturalWidth") == 800
    expect(page.get_by_role("link", name="Edit listing")).to_be_visible()


def test_the_listing_form_is_only_for_its_host(new_context, live_server):
    host = make_user(name="Hugo Host")
    flat = make_property(host, title="Sea view flat", image=landscape_png())
    page = new_context(user=make_user(name="Mallory")).new_page()
    answer = page.goto(f"/my/properties/{flat.id}/edit")
    assert answer is not None and answer.status == 403
    stranger_post = page.request.post(
        f"/my/properties/{flat.id}/edit", form={"title": "Mine now"}, fail_on_status_code=False
    )
    assert stranger_post.status == 403
    flat.refresh_from_db()
    assert flat.title == "Sea view flat"


def test_contact_host_signed_out_carries_on_after_login(new_context, live_server):
    host = make_user(name="Hugo Host")
    guest = make_user(email="gina@example.com", name="Gina Guest")
    flat = make_property(host, title="Sea view flat")
    page = new_context(viewport=PHONE).new_page()
    page.goto(f"/properties/{flat.id}")
    page.get_by_role("link", name="Contact host").click()
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_label("Email").fill("gina@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Back on the property page, which goes on to the conversation by itself.
    page.wait_for_url(re.compile(rf"/inbox/{UUID_RE}$"))
    conversation = Conversation.objects.get()
    assert page.url.endswith(f"/inbox/{conversation.id}")
    assert {conversation.user_low_id, conversation.user_high_id} == {host.pk, guest.pk}
    expect(page.locator("[data-subject]")).to_contain_text("Sea view flat")
    # Back to the property: it does not start again.
    page.go_back()
    page.wait_for_url(re.compile(rf"/properties/{flat.id}$"))
    expect(page.get_by_role("button", name="Contact host")).to_be_enabled()
    assert re.search(rf"/properties/{flat.id}$", page.url)
