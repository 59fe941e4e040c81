// One conversation: history (older pages when scrolling up), new messages live over
// EventSource('/api/chat/{id}/events'), sending with Enter or the button.
//
// Order of the opening steps: the stream opens FIRST and the history is fetched once
// it is open. The server registers the stream before it answers, so every message is
// in the history, on the stream, or both; both is fine because messages are keyed by
// id (the sender's own POST answer and its echo on the stream are one message too).
// After a dropped connection EventSource resends Last-Event-ID and the server replays
// what was missed (live.js reopens with ?lastEventId= when the browser gave up).

import { api, me } from "../../core/js/session.js";
import { announceRead, openStream } from "../../core/js/live.js";
import { describeError, h, timeTag } from "../../core/js/dom.js";

const root = document.querySelector("[data-conversation]");
const conversationId = root.dataset.conversation;
const scroller = root.querySelector("[data-scroller]");
const list = root.querySelector("[data-messages]");
const olderButton = root.querySelector("[data-older]");
const noMessages = root.querySelector("[data-no-messages]");
const stateLabel = root.querySelector("[data-stream-state]");
const form = root.querySelector("[data-composer]");
const textarea = form.querySelector("textarea");
const sendButton = form.querySelector("[data-send]");
const sendError = form.querySelector("[data-send-error]");

const shown = new Set();
let hasMore = false;
let historyLoaded = false;
let unreadSeen = false;

// ------------------------------------------------------------------ rendering

/** Stored order: created_at (ISO UTC, microseconds, so it sorts as text), then id. */
const orderKey = (message) => `${message.created_at}|${message.id}`;

function bubble(message) {
  const mine = message.created_by.id === me.id;
  return h(
    "li",
    { class: `message ${mine ? "mine" : "theirs"}`, "data-id": message.id, "data-key": orderKey(message) },
    h("span", { class: "sr-only", text: mine ? "You said: " : `${message.created_by.name} said: ` }),
    h("span", { class: "message-body", text: message.body }),
    timeTag(message.created_at),
  );
}

function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
}

/** Put a message in its place, once. Returns whether it was new. */
function add(message) {
  if (message.conversation_id !== conversationId || shown.has(message.id)) return false;
  shown.add(message.id);
  const node = bubble(message);
  const key = node.dataset.key;
  let after = list.lastElementChild;
  while (after && after.dataset.key > key) after = after.previousElementSibling;
  if (after) after.after(node);
  else list.prepend(node);
  noMessages.hidden = true;
  return true;
}

function addLive(message) {
  const stick = nearBottom() || message.created_by.id === me.id;
  if (!add(message)) return;
  if (stick) scrollToBottom();
  if (message.created_by.id !== me.id) {
    unreadSeen = true;
    markReadSoon();
  }
}

// ------------------------------------------------------------------ read state

let readTimer = null;

async function markRead() {
  if (document.visibilityState !== "visible" || !unreadSeen) return;
  unreadSeen = false;
  try {
    await api("POST", `/api/chat/${conversationId}/read`);
    announceRead(conversationId);
  } catch {
    unreadSeen = true; // try again on the next message or when the tab shows again
  }
}

function markReadSoon() {
  clearTimeout(readTimer);
  readTimer = setTimeout(markRead, 150);
}

document.addEventListener("visibilitychange", markReadSoon);

// ------------------------------------------------------------------ history

async function loadLatest({ keepScroll = false } = {}) {
  try {
    const conversation = await api("GET", `/api/chat/${conversationId}/`);
    const fresh = conversation.messages.filter((message) => add(message));
    if (!historyLoaded) {
      hasMore = conversation.has_more;
      olderButton.hidden = !hasMore;
    }
    historyLoaded = true;
    noMessages.hidden = shown.size > 0;
    if (!keepScroll) scrollToBottom();
    if (fresh.some((message) => message.created_by.id !== me.id)) unreadSeen = true;
    unreadSeen = unreadSeen || conversation.unread_count > 0;
    markReadSoon();
  } catch (error) {
    noMessages.hidden = false;
    noMessages.textContent = describeError(error);
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}

let loadingOlder = false;

async function loadOlder() {
  const oldest = list.firstElementChild;
  if (!hasMore || loadingOlder || !oldest) return;
  loadingOlder = true;
  olderButton.disabled = true;
  olderButton.textContent = "Loading older messages…";
  const before = scroller.scrollHeight;
  try {
    const page = await api(
      "GET",
      `/api/chat/${conversationId}/messages?before=${encodeURIComponent(oldest.dataset.id)}&limit=50`,
    );
    for (const message of page.items) add(message);
    hasMore = page.has_more;
    // Keep the message that was on top where it was.
    scroller.scrollTop += scroller.scrollHeight - before;
  } catch (error) {
    olderButton.title = describeError(error);
  } finally {
    loadingOlder = false;
    olderButton.disabled = false;
    olderButton.textContent = "Load older messages";
    olderButton.hidden = !hasMore;
  }
}

olderButton.addEventListener("click", loadOlder);
// Scrolling up to the top loads the page before by itself.
new IntersectionObserver(
  (entries) => {
    if (entries.some((entry) => entry.isIntersecting)) loadOlder();
  },
  { root: scroller, rootMargin: "120px 0px 0px 0px" },
).observe(olderButton);

// ------------------------------------------------------------------ live

const STATE_TEXT = { connecting: "Connecting…", open: "Live", reconnecting: "Reconnecting…" };

function showState(state) {
  stateLabel.dataset.state = state;
  stateLabel.textContent = STATE_TEXT[state];
}

let historyRequested = false;
function loadHistoryOnce() {
  if (historyRequested) return;
  historyRequested = true;
  loadLatest();
}

openStream(`/api/chat/${conversationId}/events`, {
  onMessage: addLive,
  onState: (state) => {
    showState(state);
    if (state === "open") loadHistoryOnce();
  },
  // Dropped before any id came (not even stream-open's): nothing to resume from, so
  // fetch the latest page.
  onResync: () => loadLatest({ keepScroll: !nearBottom() }),
});
// A stream that cannot open (offline, a proxy in the way) must not hide the history.
setTimeout(loadHistoryOnce, 3000);

// ------------------------------------------------------------------ sending

let sending = false;

function setSending(on) {
  sending = on;
  textarea.readOnly = on;
  sendButton.disabled = on;
  sendButton.textContent = on ? "Sending…" : "Send";
  form.setAttribute("aria-busy", String(on));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = textarea.value.trim();
  if (!body || sending) return;
  setSending(true);
  sendError.hidden = true;
  try {
    const message = await api("POST", `/api/chat/${conversationId}/messages`, { body });
    addLive(message);
    scrollToBottom();
    textarea.value = "";
  } catch (error) {
    // The text stays in the box, to send again.
    sendError.textContent = `Not sent: ${describeError(error)}`;
    sendError.hidden = false;
  } finally {
    setSending(false);
    textarea.focus();
  }
});

textarea.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

// The box grows with its text, up to the stylesheet's max-height.
textarea.addEventListener("input", () => {
  textarea.style.height = "auto";
  textarea.style.height = `${textarea.scrollHeight + 2}px`;
});
