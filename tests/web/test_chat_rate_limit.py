"""A refused message (429) is shown with when to retry, and its text is kept."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from messaging import services as chat
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_server(live_server_factory):
    return live_server_factory(MESSAGE_RATE="2")


def test_rate_limited_message_is_refused_visibly_and_kept(new_context, live_server):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    conversation, _ = chat.conversation_start(user=guest, other_user_id=host.pk)
    page = new_context(user=guest).new_page()
    page.goto(f"/inbox/{conversation.pk}")
    box = page.get_by_label(re.compile("^Message to"))
    for text in ("one", "two"):
        box.fill(text)
        box.press("Enter")
        expect(box).to_have_value("")
    box.fill("three is too many")
    box.press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(re.compile(r"Too many requests\. Try again in \d+ s"))
    expect(box).to_have_value("three is too many")
    expect(page.locator("[data-messages] > li")).to_have_count(2)
