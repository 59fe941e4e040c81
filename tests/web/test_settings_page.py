"""The settings page and the signed-in header in a real browser.

Emails on and off from the switch (read back through the API), name and picture, the
account menu on a phone, the unread count in the tab's title, and browser
notifications that are only ever asked for from the settings page's button.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from core.models import User
from core.tokens import issue_pair
from messaging import services as chat
from tests.conftest import ApiClient, make_user
from tests.web.conftest import PHONE, shoot, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]
LIVE_MS = 15_000  # a shared, busy test machine: bounded, but generous

# Records what the page does with notifications, and lets the test hide the tab.
SPY = """
window.__notes = [];
window.__asked = 0;
window.__hidden = false;
const Real = window.Notification;
class Spy {
  constructor(title, options) { window.__notes.push({ title, ...options }); }
  addEventListener() {}
  close() {}
  static get permission() { return Real.permission; }
  static requestPermission() { window.__asked += 1; return Real.requestPermission(); }
}
window.Notification = Spy;
window.__streamsOpen = 0;
const RealEventSource = window.EventSource;
window.EventSource = class extends RealEventSource {
  constructor(...args) {
    super(...args);
    this.addEventListener("open", () => { window.__streamsOpen += 1; });
  }
};
Object.defineProperty(document, "visibilityState", {
  get() { return window.__hidden ? "hidden" : "visible"; },
});
"""


def account_menu(page: Page):
    return page.get_by_role("navigation", name="Main").locator("summary")


def email_switch(page: Page):
    return page.get_by_label("Email me about unread messages")


def friend_says(url: str, friend: User, conversation_id: object):
    """Send as `friend` through the live server's API, as their browser would: the
    server's own process publishes it to the streams."""
    token = issue_pair(friend).access

    def say(body: str) -> None:
        response = httpx.post(
            f"{url}/api/chat/{conversation_id}/messages",
            json={"body": body},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text

    return say


def me(user: User) -> dict:
    return ApiClient(token=issue_pair(user).access).get("/api/auth/me").json()


def test_the_email_switch_saves_and_reads_back(new_context, live_server, tmp_path: Path):
    user = make_user(name="Sam Settings")
    page = new_context(user=user).new_page()
    page.goto("/")
    # the header says who is signed in; the menu leads to the settings
    expect(account_menu(page)).to_contain_text("Sam Settings")
    account_menu(page).click()
    page.get_by_role("link", name="Settings").click()
    page.wait_for_url(f"{live_server.url}/settings")
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    expect(email_switch(page)).to_be_checked()
    shoot(page, "settings")

    email_switch(page).uncheck()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Your settings are saved.")).to_be_visible()
    expect(email_switch(page)).not_to_be_checked()
    assert me(user)["notify_email"] is False

    # on again, by clicking the switch's words (its label), with a new name
    page.get_by_text("Email me about unread messages").click()
    page.get_by_label("Name").fill("Samira Settings")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Your settings are saved.")).to_be_visible()
    expect(email_switch(page)).to_be_checked()
    assert (me(user)["notify_email"], me(user)["name"]) == (True, "Samira Settings")
    expect(account_menu(page)).to_contain_text("Samira Settings")

    # a blank name is refused on the page, and nothing changes
    page.get_by_label("Name").fill("  ")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("This field is required.")).to_be_visible()
    assert me(user)["name"] == "Samira Settings"


def test_a_picture_shows_in_the_header_and_a_file_that_is_no_picture_is_refused(
    new_context, live_server, tmp_path: Path
):
    user = make_user(name="Pia Picture")
    picture = tmp_path / "me.png"
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(buffer, "PNG")
    picture.write_bytes(buffer.getvalue())
    not_a_picture = tmp_path / "me.jpg"
    not_a_picture.write_text("<html>not an image</html>")

    page = new_context(user=user).new_page()
    page.goto("/settings")
    page.get_by_label("Picture", exact=True).set_input_files(str(not_a_picture))
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("The file is not a picture")).to_be_visible()
    user.refresh_from_db()
    assert not user.avatar

    page.get_by_label("Picture", exact=True).set_input_files(str(picture))
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Your settings are saved.")).to_be_visible()
    user.refresh_from_db()
    assert user.avatar.name.startswith("avatars/")
    header_picture = account_menu(page).locator("img.avatar")
    expect(header_picture).to_have_attribute("src", re.compile(r"/media/avatars/"))
    assert me(user)["avatar_url"].endswith(user.avatar.name)
    with Image.open(Path(live_server.env["MEDIA_ROOT"]) / user.avatar.name) as stored:
        assert stored.size == (256, 256)  # cut to a square, re-encoded


def test_on_a_phone_the_account_menu_opens_and_logs_out(new_context, live_server):
    user = make_user(name="Phil Phone")
    page = new_context(user=user, viewport=PHONE).new_page()
    page.goto("/")
    expect(page.get_by_role("button", name="Log out")).to_be_hidden()  # inside the menu
    account_menu(page).click()
    expect(page.get_by_text("Signed in as")).to_be_visible()
    page.screenshot(path=str(Path("test-artifacts/screenshots/account-menu-phone.png")))
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("status").filter(has_text="You are logged out.")).to_be_visible()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()


def test_unread_count_in_the_title_and_a_notification_only_after_the_button(
    new_context, live_server
):
    user, friend = make_user(name="Tia Title"), make_user(name="Fred Friend")
    conversation = chat.conversation_start(user=friend, other_user_id=user.pk)[0]
    context = new_context(user=user)
    context.add_init_script(SPY)
    page = context.new_page()
    say = friend_says(live_server.url, friend, conversation.pk)
    say("First hello")
    page.goto("/settings")
    expect(page).to_have_title(re.compile(r"^\(1\) Settings · stayhub$"), timeout=LIVE_MS)
    expect(page.get_by_role("button", name="Show notifications in this browser")).to_be_visible()
    wait_until(page, "window.__streamsOpen > 0", LIVE_MS)  # the inbox stream is live
    assert page.evaluate("Notification.permission") == "default"
    page.wait_for_timeout(500)
    assert page.evaluate("window.__asked") == 0  # never asked by itself

    say("Second hello")
    expect(page).to_have_title(re.compile(r"^\(2\) "), timeout=LIVE_MS)
    assert page.evaluate("window.__notes") == []  # not allowed: no notification

    context.grant_permissions(["notifications"])
    page.get_by_role("button", name="Show notifications in this browser").click()
    expect(page.get_by_text("On: a new message shows a notification")).to_be_visible()
    assert page.evaluate("window.__asked") == 1

    say("Seen by the tab")
    expect(page).to_have_title(re.compile(r"^\(3\) "), timeout=LIVE_MS)
    assert page.evaluate("window.__notes") == []  # the tab is visible: no notification

    page.evaluate("window.__hidden = true")
    say("While you were away")
    wait_until(page, "window.__notes.length === 1", LIVE_MS)
    [note] = page.evaluate("window.__notes")
    assert note["title"] == "Fred Friend"
    assert note["body"] == "While you were away"
    assert note["tag"] == f"stayhub-conversation-{conversation.pk}"

    # reading the conversation clears the count in the title
    page.evaluate("window.__hidden = false")
    chat.conversation_mark_read(conversation_id=conversation.pk, user=user)
    page.goto("/settings")
    expect(page).to_have_title("Settings · stayhub")


def test_the_unsubscribe_link_works_in_a_browser_without_login(new_context, live_server):
    from messaging.notifications.tokens import unsubscribe_token

    user = make_user(name="Una Unsubscribe")
    page = new_context().new_page()  # signed out: the link alone is enough
    page.goto(f"/unsubscribe/{unsubscribe_token(user.pk)}")
    expect(page.get_by_role("heading", name="Stop emails about unread messages?")).to_be_visible()
    shoot(page, "unsubscribe")
    page.get_by_role("button", name="Turn off these emails").click()
    expect(page.get_by_role("heading", name="You will get no more emails")).to_be_visible()
    shoot(page, "unsubscribed")
    user.refresh_from_db()
    assert user.notify_email is False

    page.goto(f"/unsubscribe/{unsubscribe_token(user.pk)[:-2]}xx")
    expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
