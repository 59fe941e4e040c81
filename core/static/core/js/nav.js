// The navigation bar: the live unread count on "Inbox" and in the tab's title, a
// browser notification for a new message in a hidden tab (alerts.js), logging out, and
// reviving a session whose access cookie expired while the refresh cookie still holds.

import { api, forgetSignedIn, me, renew, wasSignedIn } from "./session.js";
import { onInboxMessage, onInboxResync, onRead } from "./live.js";
import { notifyNewMessage, showUnreadInTitle } from "./alerts.js";

function setBadge(count) {
  for (const badge of document.querySelectorAll("[data-unread-badge]")) {
    badge.querySelector("[data-unread-count]").textContent = count > 99 ? "99+" : String(count);
    badge.hidden = count === 0;
  }
  showUnreadInTitle(count);
}

let recountTimer = null;

async function recount() {
  try {
    const page = await api("GET", "/api/chat/?limit=100");
    setBadge(page.items.reduce((sum, conversation) => sum + conversation.unread_count, 0));
  } catch {
    // the badge is a hint: keep the last count
  }
}

/** Several events in a burst cost one request. */
function recountSoon() {
  clearTimeout(recountTimer);
  recountTimer = setTimeout(recount, 300);
}

function wireLogout() {
  for (const form of document.querySelectorAll("form[data-logout]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      forgetSignedIn();
      try {
        // Spends the refresh token too; its cookie only travels to /api/auth/.
        await fetch("/api/auth/logout", { method: "POST", credentials: "same-origin" });
      } catch {
        // offline: the form below still forgets the cookies
      }
      // The page's own logout clears both cookies and says so on the next page.
      form.submit();
    });
  }
}

async function revive() {
  // Signed out on this page, but a previous page was signed in: the 15-minute access
  // cookie probably just expired. One silent refresh per minute at most, then reload.
  const key = "stayhub:revive-tried";
  const last = Number(sessionStorage.getItem(key) || 0);
  if (Date.now() - last < 60_000) return;
  sessionStorage.setItem(key, String(Date.now()));
  try {
    if (await renew()) location.reload();
    else forgetSignedIn();
  } catch {
    // offline: stay a visitor
  }
}

/** The account menu (details/summary) closes on Escape and on a click elsewhere. */
function wireMenus() {
  const menus = [...document.querySelectorAll("details[data-menu]")];
  document.addEventListener("click", (event) => {
    for (const menu of menus) if (menu.open && !menu.contains(event.target)) menu.open = false;
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const menu of menus) {
      if (!menu.open) continue;
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
}

wireLogout();
wireMenus();
if (me) {
  recount();
  onInboxMessage((message) => {
    recountSoon();
    notifyNewMessage(message);
  });
  onInboxResync(recountSoon);
  onRead(recountSoon);
  window.addEventListener("stayhub:recount", recountSoon);
} else if (wasSignedIn() && !document.querySelector("[data-login-form]")) {
  revive();
}
