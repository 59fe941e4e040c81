"""The thread people expect, in two browsers: Seen, typing, photos, block, report, masking."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from messaging import services as chat
from messaging.models import Report
from tests.conftest import make_user
from tests.messaging.images import jpeg_with_gps
from tests.web.conftest import shoot, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

LIVE_MS = 3_000


def messages(page: Page):
    return page.locator("[data-messages] > li.message")


def box(page: Page):
    return page.get_by_label(re.compile("^Message to"))


def open_pair(new_context):
    host, guest = make_user(name="Hugo Host"), make_user(name="Gina Guest")
    conversation, _ = chat.conversation_start(user=guest, other_user_id=host.pk)
    pages = []
    for person in (guest, host):
        page = new_context(user=person).new_page()
        page.on("pageerror", lambda e: print("PAGEERROR", e))
        page.goto(f"/inbox/{conversation.pk}")
        expect(page.locator("[data-stream-state]")).to_have_text("Live")
        pages.append(page)
    return pages[0], pages[1]


def test_seen_and_typing_live(new_context, live_server, tmp_path):
    guest_page, host_page = open_pair(new_context)
    # Focus starts in the message box.
    expect(box(guest_page)).to_be_focused()

    # The host types: the guest sees "Hugo Host is typing…", then their message replaces it.
    box(host_page).press_sequentially("Hello there", delay=20)
    typing = guest_page.locator("[data-typing]")
    expect(typing).to_be_visible(timeout=LIVE_MS)
    expect(typing).to_contain_text("Hugo Host is typing")
    expect(host_page.locator("[data-typing]")).to_be_hidden()  # never to oneself
    box(host_page).press("Enter")
    expect(guest_page.get_by_text("Hello there")).to_be_visible(timeout=LIVE_MS)
    expect(typing).to_be_hidden()

    # Guest answers twice; nobody has read them yet: no "Seen" on the guest's side.
    guest_page.bring_to_front()
    for text in ("Hi Hugo!", "Is the heater fixed?"):
        box(guest_page).fill(text)
        box(guest_page).press("Enter")
    expect(messages(guest_page)).to_have_count(3)
    # The host's open page reads them, and the guest sees "Seen" under the last one, live.
    expect(host_page.get_by_text("Is the heater fixed?")).to_be_visible(timeout=LIVE_MS)
    seen = guest_page.locator("[data-seen]")
    expect(seen).to_have_count(1, timeout=LIVE_MS)
    expect(seen).to_have_text("Seen")
    after = guest_page.locator("li.message.mine:has-text('Is the heater fixed?') [data-seen]")
    expect(after).to_have_count(1)
    # Bubbles of one sender close in time share a group: one timestamp for the two.
    mine = guest_page.locator("li.message.mine")
    expect(mine.nth(0)).not_to_have_class(re.compile(r"\bgroup-end\b"))
    expect(mine.nth(1)).to_have_class(re.compile(r"\bgroup-end\b"))
    assert mine.nth(0).locator("time").is_hidden()
    assert mine.nth(1).locator("time").is_visible()

    # A typing line also goes away by itself after about 5 s. (At most one typing event
    # per 3 s is forwarded: wait that long since the first.)
    host_page.wait_for_timeout(3_100)
    box(host_page).press_sequentially("Let me check", delay=20)
    expect(typing).to_be_visible(timeout=LIVE_MS)
    expect(typing).to_be_hidden(timeout=7_000)
    shoot(guest_page, "conversation-seen")


def test_a_photo_is_sent_and_seen_live_and_loads_with_the_cookie(
    new_context, live_server, tmp_path
):
    guest_page, host_page = open_pair(new_context)
    first = tmp_path / "heater.jpg"
    first.write_bytes(jpeg_with_gps((1200, 900)))
    second = tmp_path / "extra.jpg"
    second.write_bytes(jpeg_with_gps((600, 800)))
    image_requests: list[str] = []
    host_page.on(
        "request", lambda r: image_requests.append(r.url) if "/attachments/" in r.url else None
    )

    guest_page.locator("[data-photo-input]").set_input_files([str(first), str(second)])
    previews = guest_page.locator("[data-previews] li")
    expect(previews).to_have_count(2)
    guest_page.get_by_role("button", name="Remove photo 2").click()
    expect(previews).to_have_count(1)
    box(guest_page).fill("The heater is broken")
    shoot(guest_page, "conversation-photo-preview")
    box(guest_page).press("Enter")
    expect(previews).to_have_count(0)

    # The host sees it live, as a thumbnail that loaded (with the cookie, no token in URL).
    photo = host_page.get_by_role("img", name=re.compile("Photo 1 of 1 from Gina Guest"))
    expect(photo).to_be_visible(timeout=LIVE_MS)
    wait_until(photo, "img => img.complete && img.naturalWidth === 320")
    assert image_requests and all(
        "token" not in url and "access" not in url for url in image_requests
    )
    link = host_page.get_by_role("link", name="Open photo 1 full size")
    href = link.get_attribute("href")
    assert href and "/attachments/" in href
    full = host_page.request.get(href)  # the browser's cookie jar, as a click would send
    assert full.status == 200 and "private" in full.headers["cache-control"]
    assert Image.open(io.BytesIO(full.body())).size == (1200, 900)
    # A stranger's browser cannot load it.
    stranger = new_context(user=make_user(name="Sam")).new_page()
    stranger.goto("/")
    assert stranger.request.get(href).status == 404
    anonymous = new_context().new_page()
    assert anonymous.request.get(f"{live_server.url}{href}").status == 401
    shoot(host_page, "conversation-photo")


def test_blocking_from_the_conversation(new_context, live_server):
    guest_page, host_page = open_pair(new_context)
    box(host_page).fill("Hi, any questions?")
    box(host_page).press("Enter")
    expect(guest_page.get_by_text("Hi, any questions?")).to_be_visible(timeout=LIVE_MS)

    # Report the host's message with the small form.
    bubble = guest_page.locator("li.message.theirs").first
    bubble.hover()
    bubble.get_by_role("button", name="Report").click()
    dialog = guest_page.get_by_role("dialog", name="Report this message")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Spam").check()
    dialog.get_by_label(re.compile("Anything to add")).fill("copy-paste sales pitch")
    shoot(guest_page, "conversation-report")
    dialog.get_by_role("button", name="Send report").click()
    expect(dialog).to_be_hidden()
    expect(guest_page.locator("#notice")).to_contain_text("Thank you")
    report = Report.objects.get()
    assert (report.reason, report.note) == ("spam", "copy-paste sales pitch")

    # Block, with a confirmation; the box then says the conversation is blocked.
    guest_page.get_by_role("button", name="Block").click()
    confirm = guest_page.get_by_role("dialog", name="Block Hugo Host?")
    expect(confirm).to_be_visible()
    shoot(guest_page, "conversation-block-confirm")
    confirm.get_by_role("button", name="Block").click()
    note = guest_page.locator("[data-blocked-note]")
    expect(note).to_contain_text("You blocked Hugo Host")
    expect(box(guest_page)).to_be_hidden()
    expect(guest_page.get_by_role("button", name="Unblock")).to_be_visible()
    shoot(guest_page, "conversation-blocked")

    # The host's open page learns it on sending (refused: 403); after a reload too.
    box(host_page).fill("Hello?")
    box(host_page).press("Enter")
    expect(host_page.locator("[data-blocked-note]")).to_contain_text("can't reply")
    expect(box(host_page)).to_be_hidden()
    host_page.reload()
    expect(host_page.locator("[data-blocked-note]")).to_contain_text("can't reply")
    expect(box(host_page)).to_be_hidden()
    expect(guest_page.get_by_text("Hello?")).to_have_count(0)

    # Unblocking brings the box back.
    guest_page.get_by_role("button", name="Unblock").click()
    expect(box(guest_page)).to_be_visible()
    expect(note).to_be_hidden()


def test_a_masked_message_tells_its_sender_why(new_context, live_server):
    guest_page, host_page = open_pair(new_context)
    box(guest_page).fill("Call me on +44 20 7946 0958 or mail gina@example.org")
    box(guest_page).press("Enter")
    mine = guest_page.locator("li.message.mine").first
    expect(mine).to_contain_text("[hidden until a stay is confirmed]")
    expect(mine).to_contain_text("Contact details are shared once a stay is confirmed")
    theirs = host_page.locator("li.message.theirs").first
    expect(theirs).to_contain_text("[hidden until a stay is confirmed]", timeout=LIVE_MS)
    expect(theirs).not_to_contain_text("Contact details are shared")
    shoot(guest_page, "conversation-masked")
