"""The contact-detail detector (messaging.masking) on real-world messages.

Each row is a message as people write them; MASK rows must come out with every
contact detail replaced (and the rest of the text as it was), KEEP rows unchanged.
"""

from __future__ import annotations

import pytest

from messaging.masking import HIDDEN, mask_contact_details

SITE = "https://stayhub.example"

# (message, the text it must become) : contact details in several countries' styles.
MASK = [
    # phone numbers, international and national formats
    ("Call me on +44 20 7946 0958 tomorrow", f"Call me on {HIDDEN} tomorrow"),
    ("my cell: +1 (415) 555-0132", f"my cell: {HIDDEN}"),
    ("(555) 123-4567 after 6pm", f"{HIDDEN} after 6pm"),
    ("text 555.123.4567 pls", f"text {HIDDEN} pls"),
    ("+1-202-555-0143", HIDDEN),
    ("Ruf mich an: 030 12345678", f"Ruf mich an: {HIDDEN}"),
    ("Handy 0151/12345678, danke", f"Handy {HIDDEN}, danke"),
    ("+49 (0)30 1234 5678", HIDDEN),
    ("mon numéro: 06 12 34 56 78 !", f"mon numéro: {HIDDEN} !"),
    ("appelez le 01.23.45.67.89", f"appelez le {HIDDEN}"),
    ("llámame al 612 345 678", f"llámame al {HIDDEN}"),
    ("WhatsApp +34 612 345 678", f"WhatsApp {HIDDEN}"),
    ("chiamami 347 123 4567", f"chiamami {HIDDEN}"),
    ("bel me op 06-12345678", f"bel me op {HIDDEN}"),
    ("ligue 11 98765-4321", f"ligue {HIDDEN}"),
    ("UK mobile 07700 900123", f"UK mobile {HIDDEN}"),
    ("電話 090-1234-5678 です", f"電話 {HIDDEN} です"),
    ("+81 3-1234-5678", HIDDEN),
    ("0041 44 668 18 00", HIDDEN),
    ("number is 0612345678.", f"number is {HIDDEN}."),
    ("digits 1234567", f"digits {HIDDEN}"),
    # email addresses, plain and spelled out
    ("write to ann.smith+trip@gmail.com please", f"write to {HIDDEN} please"),
    ("Mail: JOHN_DOE@Example.CO.UK.", f"Mail: {HIDDEN}."),
    ("ann (at) gmail (dot) com", HIDDEN),
    ("ann[at]mail[dot]de", HIDDEN),
    ("maria at outlook dot es", HIDDEN),
    # outside links
    ("see https://airbnb.com/rooms/123 instead", f"see {HIDDEN} instead"),
    ("book at www.example.org, cheaper", f"book at {HIDDEN}, cheaper"),
    ("my site: villa-rosa.it/contact", f"my site: {HIDDEN}"),
    ("(http://bit.ly/abc)", f"({HIDDEN})"),
    ("pay via paypal.me/annsmith", f"pay via {HIDDEN}"),
    # several at once, and around what must stay
    (
        "Arrive 12.05.2027, call +33 6 12 34 56 78 or mail a@b.fr",
        f"Arrive 12.05.2027, call {HIDDEN} or mail {HIDDEN}",
    ),
    (
        f"Listing {SITE}/properties/1, or my own https://villa.example.com",
        f"Listing {SITE}/properties/1, or my own {HIDDEN}",
    ),
]

# Ordinary numbers and this site's links: never touched.
KEEP = [
    "We arrive 12.05.2027 and leave 15.05.2027",
    "Dates: 12.05.2027-15.05.2027",
    "check-in 2027-05-12, check-out 2027-05-19",
    "From 05/12/2027 to 05/19/2027 please",
    "12/05/27 works too",
    "We are 2 adults and 3 kids, 5 guests in total",
    "Check-in is at 14:30, check-out 11:00",
    "arriving around 9h30 or 10h15",
    "The price is €1.200.000 for the villa",
    "1,250,000 USD is too much",
    "Total 1 450 € for 7 nights",
    "It costs $950 per week, 120 EUR a night",
    "Room 12, floor 3, code 4521",
    "Flight LH 1234 lands at 18:05",
    "Our budget is 2500 to 3000",
    "We are 4 people, 2 dogs and 1 cat",
    "See you in 2027!",
    f"Here is the listing: {SITE}/properties/9b2f",
    f"{SITE}/inbox/abc",
    "Version 3.11 of the app",
    "Booking reference HX9921 0043 is in the email",
    "The boiler's serial is SN20270512",
    "Hello! Is the flat free in May?",
    "It's 25 km from the airport, 3.5 km to the beach",
    "",
]


@pytest.mark.parametrize(("text", "expected"), MASK, ids=[row[0][:40] for row in MASK])
def test_contact_details_are_masked(text: str, expected: str) -> None:
    masked, changed = mask_contact_details(text, own_url=SITE)
    assert masked == expected
    assert changed is True


@pytest.mark.parametrize("text", KEEP, ids=[text[:40] or "empty" for text in KEEP])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_contact_details(text, own_url=SITE) == (text, False)


def test_without_a_public_url_every_link_is_outside() -> None:
    masked, changed = mask_contact_details(f"{SITE}/properties/1", own_url="")
    assert (masked, changed) == (HIDDEN, True)


def test_a_link_that_only_looks_like_ours_is_masked() -> None:
    text = "https://stayhub.example.evil.com/pay"
    assert mask_contact_details(text, own_url=SITE) == (HIDDEN, True)
