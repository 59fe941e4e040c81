"""Every page runs under its Content-Security-Policy, in Chromium, with nothing refused.

The policy allows the site's own script files only (no inline script), so a page that
still relied on an inline script (the import map did) would break; here the browser
reports each refusal as a `securitypolicyviolation` event, and the pages' scripts are
seen working (the signed-in nav fills in, the conversation page sends a message).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from messaging import services as chat
from messaging.notifications.tokens import unsubscribe_token
from tests.conftest import make_user
from tests.web.factories import make_property

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def test_the_pages_send_a_policy_without_inline_script(live_server: Any) -> None:
    r = httpx.get(f"{live_server.url}/", timeout=30)
    policy = r.headers["Content-Security-Policy"]
    directives = dict(
        [*part.strip().split(" ", 1), ""][:2] for part in policy.split(";") if part.strip()
    )
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    for tag in r.text.split("<script")[1:]:
        opening, _, rest = tag.partition(">")
        body = rest.split("</script>", 1)[0].strip()
        assert "src=" in opening or 'type="application/json"' in opening, opening
        assert body == "" or 'type="application/json"' in opening


def test_every_page_runs_without_a_policy_violation(live_server: Any, new_context: Any) -> None:
    host, guest = make_user(name="Hana Host"), make_user(name="Gus Guest")
    prop = make_property(host)
    conversation, _ = chat.conversation_start(user=guest, other_user_id=host.pk)
    context = new_context(guest)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    paths = [
        "/",
        f"/properties/{prop.pk}",
        f"/hosts/{host.pk}",
        "/favorites",
        "/my/properties",
        "/inbox",
        f"/inbox/{conversation.pk}",
        "/settings",
        "/trips",
        "/no-such-page",
    ]
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__cspViolations") == [], path
    # the scripts run: the conversation page sends a message through the API
    page.goto(f"/inbox/{conversation.pk}")
    page.get_by_role("textbox").first.fill("Hello under CSP")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Hello under CSP").first.wait_for()
    assert page.evaluate("window.__cspViolations") == []
    # The host's pages: stays, the listing form and its booked calendar.
    host_context = new_context(host)
    host_context.add_init_script(RECORD_VIOLATIONS)
    host_page = host_context.new_page()
    for path in ("/host/stays", "/my/properties/new", f"/my/properties/{prop.pk}/edit"):
        host_page.goto(path)
        host_page.wait_for_load_state("networkidle")
        assert host_page.evaluate("window.__cspViolations") == [], path
    anonymous = new_context().new_page()
    unsubscribe = f"/unsubscribe/{unsubscribe_token(guest.pk)}"
    for path in ("/login", "/signup", "/", "/api/docs", "/admin/login/", unsubscribe):
        anonymous.add_init_script(RECORD_VIOLATIONS)
        anonymous.goto(path)
        anonymous.wait_for_load_state("networkidle")
        assert anonymous.evaluate("window.__cspViolations") == [], path
    # the API docs (Swagger UI, served from static files) render their operations
    anonymous.goto("/api/docs")
    anonymous.get_by_text("/api/auth/login").first.wait_for()
    assert anonymous.evaluate("window.__cspViolations") == []
