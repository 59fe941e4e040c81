"""Inbox and conversation pages: two people talking live in two browsers."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from core.tokens import issue_pair
from messaging import services as chat
from tests.conftest import make_user
from tests.web.conftest import shoot
from tests.web.factories import make_property

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

UUID_RE = r"[0-9a-f-]{36}"
LIVE_MS = 2_000  # "appears within 2 seconds, without a reload"


def messages(page: Page):
    return page.locator("[data-messages] > li")


def send(page: Page, text: str, *, with_button: bool = False) -> None:
    box = page.get_by_label(re.compile("^Message to"))
    box.fill(text)
    if with_button:
        page.get_by_role("button", name="Send").click()
    else:
        box.press("Enter")


def nav_badge(page: Page):
    return page.get_by_role("navigation", name="Main").locator("[data-unread-badge]")


def test_guest_contacts_host_and_they_talk_live(new_context, live_server):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    flat = make_property(host, title="Sea view flat")

    host_inbox = new_context(user=host).new_page()
    host_inbox.goto("/inbox")
    expect(host_inbox.get_by_text("No conversations yet")).to_be_visible()
    expect(nav_badge(host_inbox)).to_be_hidden()

    guest_page = new_context(user=guest).new_page()
    guest_page.goto(f"/properties/{flat.id}")
    guest_page.get_by_role("button", name="Contact host").click()
    guest_page.wait_for_url(re.compile(rf"/inbox/{UUID_RE}$"))
    conversation_url = guest_page.url
    expect(guest_page.get_by_role("heading", name="Hugo Host")).to_be_visible()
    expect(guest_page.locator("[data-stream-state]")).to_have_text("Live")

    send(guest_page, "Hello! Is the flat free in May?")
    expect(messages(guest_page)).to_have_count(1)
    expect(messages(guest_page).first).to_have_class(re.compile(r"\bmine\b"))
    expect(guest_page.get_by_label(re.compile("^Message to"))).to_have_value("")

    # The host's open inbox shows the new conversation, unread, and the badge rises.
    row = host_inbox.get_by_role("link", name=re.compile("Gina Guest"))
    expect(row).to_contain_text("Hello! Is the flat free in May?", timeout=LIVE_MS)
    expect(row.locator(".badge")).to_have_text(re.compile(r"^1\b"), timeout=LIVE_MS)
    expect(nav_badge(host_inbox)).to_be_visible(timeout=LIVE_MS)
    expect(nav_badge(host_inbox).locator("[data-unread-count]")).to_have_text("1")
    shoot(host_inbox, "inbox")

    # Opening it marks it read: the badge goes.
    row.click()
    host_inbox.wait_for_url(conversation_url)
    host_page = host_inbox
    expect(messages(host_page)).to_have_count(1)
    expect(messages(host_page).first).to_have_class(re.compile(r"\btheirs\b"))
    expect(nav_badge(host_page)).to_be_hidden()
    expect(host_page.locator("[data-stream-state]")).to_have_text("Live")

    # Live both ways, within 2 seconds, each message once on each side.
    send(guest_page, "We are two adults and a dog.")
    expect(host_page.get_by_text("We are two adults and a dog.")).to_be_visible(timeout=LIVE_MS)
    send(host_page, "Yes, May is free. Dogs welcome!", with_button=True)
    reply = guest_page.get_by_text("Yes, May is free. Dogs welcome!")
    expect(reply).to_be_visible(timeout=LIVE_MS)
    expect(guest_page.locator("li.message.theirs")).to_have_count(1)
    for page in (guest_page, host_page):
        expect(messages(page)).to_have_count(3)
        ids = messages(page).evaluate_all("nodes => nodes.map(n => n.dataset.id)")
        assert len(set(ids)) == 3
    expect(guest_page.locator("[data-messages] .message-body")).to_have_text(
        [
            "Hello! Is the flat free in May?",
            "We are two adults and a dog.",
            "Yes, May is free. Dogs welcome!",
        ]
    )
    shoot(guest_page, "conversation")


def test_older_messages_load_when_scrolling_up(new_context, live_server):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    conversation, _ = chat.conversation_start(user=guest, other_user_id=host.pk)
    for n in range(1, 61):
        chat.message_send(conversation_id=conversation.pk, sender=guest, body=f"Message {n}")
    page = new_context(user=host).new_page()
    page.goto(f"/inbox/{conversation.pk}")
    expect(messages(page)).to_have_count(50)
    expect(messages(page).last).to_contain_text("Message 60")
    page.locator("[data-scroller]").evaluate("el => el.scrollTo(0, 0)")
    expect(messages(page)).to_have_count(60)
    expect(messages(page).first).to_contain_text("Message 1")
    expect(page.get_by_role("button", name="Load older messages")).to_be_hidden()


def test_stream_resumes_after_server_restart_without_gaps_or_repeats(new_context, live_server):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    conversation, _ = chat.conversation_start(user=guest, other_user_id=host.pk)
    chat.message_send(conversation_id=conversation.pk, sender=guest, body="Before the restart")
    page = new_context(user=guest).new_page()
    page.goto(f"/inbox/{conversation.pk}")
    state = page.locator("[data-stream-state]")
    expect(state).to_have_text("Live")
    expect(messages(page)).to_have_count(1)

    # Hold the page's reconnection until the messages below are stored, so they can
    # only arrive by the resume (Last-Event-ID), not live.
    blocked = re.compile(r"/api/chat/.*/events")
    page.route(blocked, lambda route: route.abort())
    live_server.restart()
    expect(state).to_have_text("Reconnecting…")
    token = issue_pair(host).access
    for text in ("Sent while you were away", "And once more"):
        r = httpx.post(
            f"{live_server.url}/api/chat/{conversation.pk}/messages",
            json={"body": text},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
    page.unroute(blocked)

    expect(state).to_have_text("Live", timeout=20_000)
    expect(messages(page)).to_have_count(3)
    expect(messages(page)).to_contain_text(
        ["Before the restart", "Sent while you were away", "And once more"]
    )
    # and the live path works again after the resume
    r = httpx.post(
        f"{live_server.url}/api/chat/{conversation.pk}/messages",
        json={"body": "Live again"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201
    expect(messages(page)).to_have_count(4, timeout=LIVE_MS)
    ids = messages(page).evaluate_all("nodes => nodes.map(n => n.dataset.id)")
    assert len(set(ids)) == 4


def test_a_message_that_cannot_be_sent_stays_in_the_box(new_context, live_server):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    conversation, _ = chat.conversation_start(user=guest, other_user_id=host.pk)
    page = new_context(user=guest).new_page()
    page.goto(f"/inbox/{conversation.pk}")
    expect(page.locator("[data-stream-state]")).to_have_text("Live")

    live_server.stop()  # a real network failure
    send(page, "Are you there?")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Not sent")
    expect(page.get_by_label(re.compile("^Message to"))).to_have_value("Are you there?")
    expect(messages(page)).to_have_count(0)

    live_server.start()
    page.get_by_role("button", name="Send").click()
    expect(messages(page)).to_have_count(1)
    expect(alert).to_be_hidden()
    expect(page.get_by_label(re.compile("^Message to"))).to_have_value("")


def test_strangers_get_not_found(new_context, live_server):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    conversation, _ = chat.conversation_start(user=guest, other_user_id=host.pk)
    page = new_context(user=make_user(name="Sam Stranger")).new_page()
    response = page.goto(f"/inbox/{conversation.pk}")
    assert response.status == 404
    expect(page.get_by_text("Hugo Host")).to_have_count(0)


def test_tabs_share_one_inbox_stream_and_hand_it_over_when_its_tab_closes(new_context, live_server):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    conversation, _ = chat.conversation_start(user=guest, other_user_id=host.pk)
    context = new_context(user=host)
    inbox_streams: list[str] = []
    context.on(
        "request", lambda r: inbox_streams.append(r.url) if "/api/chat/events" in r.url else None
    )
    first = context.new_page()
    first.goto("/favorites")
    expect(nav_badge(first)).to_be_hidden()
    second = context.new_page()
    second.goto("/inbox")
    expect(second.get_by_text("No messages yet")).to_be_visible()
    token = issue_pair(guest).access
    url = f"{live_server.url}/api/chat/{conversation.pk}/messages"

    httpx.post(url, json={"body": "One"}, headers={"Authorization": f"Bearer {token}"})
    row = second.get_by_role("link", name=re.compile("Gina Guest"))
    expect(row).to_contain_text("One", timeout=LIVE_MS)
    expect(nav_badge(first)).to_be_visible(timeout=LIVE_MS)
    assert len(inbox_streams) == 1  # the second tab listens through the first one's stream

    first.close()  # the tab holding the stream goes: the other takes it over
    httpx.post(url, json={"body": "Two"}, headers={"Authorization": f"Bearer {token}"})
    expect(row).to_contain_text("Two", timeout=LIVE_MS * 2)
    expect(row.locator(".badge")).to_have_text(re.compile(r"^2\b"))
    assert len(inbox_streams) == 2
