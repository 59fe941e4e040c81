"""The access token expires under open pages: writes renew it, two tabs at once too.

The server here issues 5-second access tokens, so a page rendered a moment ago holds an
expired one. Refresh tokens rotate and a spent one answers 401, so two tabs renewing
with the same refresh cookie at the same moment must not log the person out: the pages
serialise renewals with a Web Lock (see core/static/core/js/session.js).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from listings.models import Favorite
from tests.conftest import make_user
from tests.web.factories import make_property

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

TTL = 5  # long enough for two pages to load on a busy machine before it runs out


@pytest.fixture
def live_server(live_server_factory, settings):
    settings.JWT_ACCESS_TTL = timedelta(seconds=TTL)  # the tokens the test signs in with
    return live_server_factory(JWT_ACCESS_TTL=str(TTL))


def test_two_tabs_renew_an_expired_token_at_once_and_stay_signed_in(new_context, live_server):
    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    flat = make_property(host, title="Sea view flat")
    cabin = make_property(host, title="Mountain cabin")
    context = new_context(user=guest)
    refresh_answers: list[int] = []
    context.on(
        "response",
        lambda r: refresh_answers.append(r.status) if r.url.endswith("/api/auth/refresh") else None,
    )
    tab_a, tab_b = context.new_page(), context.new_page()
    tab_a.goto("/")
    tab_b.goto("/")
    tab_a.wait_for_timeout((TTL + 1) * 1000)  # both pages' tokens are now expired

    heart_a = tab_a.get_by_role("button", name="Favorite: Sea view flat")
    heart_b = tab_b.get_by_role("button", name="Favorite: Mountain cabin")
    # Both tabs press their heart at the same wall-clock moment, so that both find
    # their token expired and renew at once.
    at = tab_a.evaluate("Date.now() + 400")
    for heart in (heart_a, heart_b):
        heart.evaluate("(el, at) => setTimeout(() => el.click(), at - Date.now())", at)
    expect(heart_a).to_have_attribute("aria-pressed", "true")
    expect(heart_b).to_have_attribute("aria-pressed", "true")
    assert set(Favorite.objects.filter(user=guest).values_list("property_id", flat=True)) == {
        flat.id,
        cabin.id,
    }
    # One renewal after the other, each with the cookie the previous one left: no 401.
    assert refresh_answers and all(status == 200 for status in refresh_answers), refresh_answers
    for tab in (tab_a, tab_b):
        assert "/login" not in tab.url


def test_expired_page_token_is_renewed_for_a_message(new_context, live_server):
    from messaging import services as chat

    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    conversation, _ = chat.conversation_start(user=guest, other_user_id=host.pk)
    page = new_context(user=guest).new_page()
    page.goto(f"/inbox/{conversation.pk}")
    expect(page.locator("[data-stream-state]")).to_have_text("Live")
    page.wait_for_timeout((TTL + 1) * 1000)
    box = page.get_by_label("Message to Hugo Host")
    box.fill("Still here")
    box.press("Enter")
    expect(page.locator("[data-messages] > li")).to_have_count(1)
    expect(box).to_have_value("")


def test_stream_dropped_after_the_cookie_expired_renews_and_resumes(new_context, live_server):
    """The browser's own reconnect is refused (401: the access cookie has expired), so
    the page renews the cookie and reopens the stream from the last event id it saw."""
    import re

    import httpx

    from core.tokens import issue_pair
    from messaging import services as chat

    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    conversation, _ = chat.conversation_start(user=guest, other_user_id=host.pk)
    url = f"{live_server.url}/api/chat/{conversation.pk}/messages"

    def post(text: str) -> None:
        r = httpx.post(
            url, json={"body": text}, headers={"Authorization": f"Bearer {issue_pair(host).access}"}
        )
        assert r.status_code == 201, r.text

    context = new_context(user=guest)
    renewals: list[int] = []
    context.on(
        "response",
        lambda r: renewals.append(r.status) if r.url.endswith("/api/auth/refresh") else None,
    )
    page = context.new_page()
    page.goto(f"/inbox/{conversation.pk}")
    state = page.locator("[data-stream-state]")
    expect(state).to_have_text("Live")
    post("Live before the drop")  # gives the page an event id to resume from
    expect(page.locator("[data-messages] > li")).to_have_count(1)
    page.wait_for_timeout((TTL + 1) * 1000)  # the page's token and cookie are expired now

    streams = re.compile(r"/api/chat/.*/events")
    page.route(streams, lambda route: route.abort())
    live_server.restart()
    expect(state).to_have_text("Reconnecting…")
    post("Sent during the drop")
    page.unroute(streams)
    expect(state).to_have_text("Live", timeout=20_000)
    expect(page.locator("[data-messages] .message-body")).to_have_text(
        ["Live before the drop", "Sent during the drop"]
    )
    # the stream's cookie was renewed (more than once if the 2-second token ran out
    # again while the reconnection was held), never refused
    assert renewals and set(renewals) == {200}, renewals


def test_stream_dropped_before_any_message_resumes_from_where_it_started(new_context, live_server):
    """No message had come before the drop, but `stream-open` carried where the stream
    started: the page reopens from that id (and the message posted during the drop
    arrives by the resume) instead of reloading its history as if it could not resume.

    Which reconnect carries the id depends on timing: the browser's own (the id in the
    `Last-Event-ID` header, once the inbox's renewal left a fresh cookie) or the page's
    (the id in `?lastEventId=`, after the browser gave up)."""
    import re
    from urllib.parse import parse_qs, urlparse

    import httpx

    from core.tokens import issue_pair
    from messaging import services as chat

    host = make_user(name="Hugo Host")
    guest = make_user(name="Gina Guest")
    conversation, _ = chat.conversation_start(user=guest, other_user_id=host.pk)
    context = new_context(user=guest)
    streams_opened: list = []
    history_loads: list[str] = []

    def seen(response) -> None:
        path = urlparse(response.url).path
        if path == f"/api/chat/{conversation.pk}/events" and response.status == 200:
            streams_opened.append(response.request)
        elif path == f"/api/chat/{conversation.pk}/" and response.status == 200:
            history_loads.append(response.url)  # (a 401 renewed and retried counts once)

    context.on("response", seen)
    page = context.new_page()
    page.goto(f"/inbox/{conversation.pk}")
    state = page.locator("[data-stream-state]")
    expect(state).to_have_text("Live")
    expect(page.get_by_text("No messages yet")).to_be_visible()
    page.wait_for_timeout((TTL + 1) * 1000)  # expired: the browser's own reconnect is refused

    streams = re.compile(r"/api/chat/.*/events")
    page.route(streams, lambda route: route.abort())
    live_server.restart()
    expect(state).to_have_text("Reconnecting…")
    r = httpx.post(
        f"{live_server.url}/api/chat/{conversation.pk}/messages",
        json={"body": "Sent during the drop"},
        headers={"Authorization": f"Bearer {issue_pair(host).access}"},
    )
    assert r.status_code == 201, r.text
    page.unroute(streams)
    expect(state).to_have_text("Live", timeout=20_000)
    expect(page.locator("[data-messages] .message-body")).to_have_text(["Sent during the drop"])
    resumed_from = [
        request.all_headers().get("last-event-id")
        or parse_qs(urlparse(request.url).query).get("lastEventId", [None])[-1]
        for request in streams_opened
    ]
    assert resumed_from[0] is None  # the first opening
    assert f"conversation-{conversation.pk}:0" in resumed_from[1:], resumed_from
    assert len(history_loads) == 1, history_loads  # loaded once, never reloaded
