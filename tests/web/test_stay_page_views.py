"""The stay pages without a browser: who may see what, what the server renders, the
listing form without scripts, and a fixed number of queries per page."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from PIL import Image

from core.tokens import issue_pair
from listings import booking
from listings.models import Property, Reservation
from messaging.models import Conversation
from tests.conftest import make_user
from tests.web.factories import make_property

pytestmark = pytest.mark.django_db


def browser_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.cookies[settings.ACCESS_COOKIE_NAME] = issue_pair(user).access
    return client


def day(offset: int):
    return timezone.localdate() + timedelta(days=offset)


def book(prop: Property, guest, start: int, end: int, guests: int = 1) -> Reservation:
    return booking.reservation_create(
        property_id=prop.pk, guest=guest, start_date=day(start), end_date=day(end), guests=guests
    )


def png(width: int = 64, height: int = 48) -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "#0e7490").save(out, "PNG")
    return SimpleUploadedFile("photo.png", out.getvalue(), content_type="image/png")


def listing_form(**changes):
    data = {
        "title": "Lake house",
        "description": "By the lake.",
        "price_per_night": "150",
        "guests": "5",
        "bedrooms": "2",
        "bathrooms": "1",
        "country": "Austria",
        "country_code": "at",
        "category": "Cabins",
        "instant_book": "on",
        "checkin_details": "Key box code 4711.",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.mark.parametrize(
    "path",
    [
        "/trips",
        "/host/stays",
        "/my/properties/new",
        f"/stays/{'0' * 8}-0000-0000-0000-{'0' * 12}/thread",
    ],
)
def test_stay_pages_send_visitors_to_login(path):
    r = browser_for().get(path)
    assert r.status_code == 302
    location = urlsplit(r["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [path]


def inline_scripts(html: str) -> list[str]:
    """Script tags that hold code (not data, not the import map, not a module file)."""
    tags = re.findall(r"<script\b[^>]*>", html)
    return [
        tag
        for tag in tags
        if "src=" not in tag and 'type="application/json"' not in tag and "importmap" not in tag
    ]


def test_property_page_carries_the_dates_and_offers_the_right_button():
    host = make_user(name="Hugo Host")
    instant = make_property(host, title="Sea view flat", instant_book=True)
    on_request = make_property(host, title="Mountain cabin", instant_book=False)
    guest = browser_for(make_user())
    html = guest.get(
        f"/properties/{instant.id}?checkin={day(3)}&checkout={day(5)}&guests=2"
    ).content.decode()
    assert f'name="checkin" value="{day(3)}"' in html
    assert f'name="checkout" value="{day(5)}"' in html
    assert 'name="guests" min="1" max="4" value="2"' in html
    assert ">Reserve</button>" in html and "Request to book" not in html
    assert inline_scripts(html) == []
    html = guest.get(f"/properties/{on_request.id}?checkin=nonsense").content.decode()
    assert ">Request to book</button>" in html
    assert 'name="checkin" value=""' in html
    # Its host sees links to manage it instead of a booking panel.
    html = browser_for(host).get(f"/properties/{instant.id}").content.decode()
    assert "data-booking" not in html
    assert f'href="/my/properties/{instant.id}/edit"' in html


def test_browse_with_dates_shows_each_total_and_links_with_the_dates():
    host = make_user()
    make_property(host, title="Sea view flat", price_per_night=120)
    html = browser_for().get(f"/?checkin={day(3)}&checkout={day(6)}&guests=2").content.decode()
    assert "<strong>$360</strong> total for 3 nights" in html
    assert f"?checkin={day(3)}&amp;checkout={day(6)}&amp;guests=2" in html
    plain = browser_for().get("/").content.decode()
    assert "total for" not in plain


def test_trips_group_the_guests_stays_by_status_in_a_fixed_number_of_queries(
    django_assert_max_num_queries,
):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    flat = make_property(host, title="Sea view flat", instant_book=True)
    cabin = make_property(host, title="Mountain cabin", instant_book=False)
    upcoming = book(flat, guest, 3, 5)
    requested = book(cabin, guest, 10, 12)
    declined = book(cabin, guest, 20, 22)
    booking.reservation_decline(reservation_id=declined.pk, user=host)
    past = Reservation(
        property=flat,
        guest=guest,
        start_date=day(-9),
        end_date=day(-6),
        guests=1,
        status="confirmed",
    )
    past.price()
    past.save()
    someone_elses = book(flat, make_user(), 30, 31)

    client = browser_for(guest)
    client.get("/trips")  # warm up (sessions, content types)
    with django_assert_max_num_queries(8) as few:
        html = client.get("/trips").content.decode()
    for _ in range(5):
        book(flat, guest, 40 + _ * 3, 41 + _ * 3)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/trips")

    sections = dict(
        re.findall(
            r'<section class="stay-section" aria-labelledby="stays-(\w+)">(.*?)</section>',
            html,
            re.S,
        )
    )
    assert str(upcoming.pk) in sections["upcoming"]
    assert str(requested.pk) in sections["requested"]
    assert str(declined.pk) in sections["cancelled"]
    assert str(past.pk) in sections["past"] and "Completed" in sections["past"]
    assert str(someone_elses.pk) not in html
    # Cancel where allowed: the request and the upcoming stay, not the past or declined.
    assert f'data-stay-action="cancel" data-stay-id="{upcoming.pk}"' in html
    assert f'data-stay-action="cancel" data-stay-id="{requested.pk}"' in html
    assert f'data-stay-id="{past.pk}"' not in html
    assert f'data-stay-id="{declined.pk}"' not in html
    assert 'data-stay-action="confirm"' not in html  # guests do not answer requests
    assert f'href="/stays/{upcoming.pk}/thread"' in html
    assert inline_scripts(html) == []


def test_host_stays_offer_confirm_and_decline_on_requests_only():
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    cabin = make_property(host, title="Mountain cabin", instant_book=False)
    flat = make_property(host, title="Sea view flat", instant_book=True)
    request = book(cabin, guest, 10, 12)
    confirmed = book(flat, guest, 3, 5)
    html = browser_for(host).get("/host/stays").content.decode()
    assert f'data-stay-action="confirm" data-stay-id="{request.pk}"' in html
    assert f'data-stay-action="decline" data-stay-id="{request.pk}"' in html
    assert f'data-stay-action="confirm" data-stay-id="{confirmed.pk}"' not in html
    # A host declines a request (no Cancel beside it) and may cancel a confirmed stay.
    assert f'data-stay-action="cancel" data-stay-id="{request.pk}"' not in html
    assert f'data-stay-action="cancel" data-stay-id="{confirmed.pk}"' in html
    assert "Guest: Gina Guest" in html
    assert str(request.pk) not in browser_for(make_user()).get("/host/stays").content.decode()


def test_a_stays_thread_is_for_its_guest_and_landlord_only():
    host = make_user()
    guest = make_user()
    stay = book(make_property(host, instant_book=True), guest, 3, 5)
    conversation = Conversation.objects.get()
    for person in (guest, host):
        r = browser_for(person).get(f"/stays/{stay.pk}/thread")
        assert r.status_code == 302 and r["Location"] == f"/inbox/{conversation.pk}"
    assert browser_for(make_user()).get(f"/stays/{stay.pk}/thread").status_code == 404


def test_the_listing_form_works_without_scripts(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    host = make_user()
    client = browser_for(host)
    form_page = client.get("/my/properties/new")
    assert form_page.status_code == 200 and inline_scripts(form_page.content.decode()) == []
    r = client.post("/my/properties/new", {**listing_form(), "image": png()})
    listing = Property.objects.get(landlord=host)
    assert (
        r.status_code == 302 and r["Location"] == f"/my/properties/{listing.pk}/edit?saved=created"
    )
    assert (listing.title, listing.country_code, listing.instant_book) == ("Lake house", "AT", True)
    assert listing.checkin_details == "Key box code 4711." and listing.image.name

    # Unchecked instant book is off; a bad field is shown and changes nothing.
    r = client.post(
        f"/my/properties/{listing.pk}/edit", listing_form(instant_book=None, price_per_night="0")
    )
    assert r.status_code == 400 and 'aria-invalid="true"' in r.content.decode()
    listing.refresh_from_db()
    assert listing.instant_book is True and listing.price_per_night == 150
    r = client.post(f"/my/properties/{listing.pk}/edit", listing_form(instant_book=None))
    assert r.status_code == 302
    listing.refresh_from_db()
    assert listing.instant_book is False

    # A file that is not an image: nothing created, what was typed is kept.
    bad = SimpleUploadedFile("x.png", b"not an image", content_type="image/png")
    r = client.post("/my/properties/new", {**listing_form(title="Second place"), "image": bad})
    assert r.status_code == 422
    assert "not an image" in r.content.decode() and 'value="Second place"' in r.content.decode()
    assert Property.objects.filter(landlord=host).count() == 1


def test_only_the_landlord_edits_a_listing():
    host = make_user()
    listing = make_property(host, title="Sea view flat")
    stranger = browser_for(make_user())
    assert stranger.get(f"/my/properties/{listing.pk}/edit").status_code == 403
    assert stranger.post(f"/my/properties/{listing.pk}/edit", listing_form()).status_code == 403
    listing.refresh_from_db()
    assert listing.title == "Sea view flat"
    # The host's own form shows the private details to the host.
    listing.checkin_details = "Door code 1234"
    listing.save()
    assert (
        "Door code 1234"
        in browser_for(host).get(f"/my/properties/{listing.pk}/edit").content.decode()
    )
