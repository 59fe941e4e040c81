// One conversation: history (older pages when scrolling up), new messages live over
// EventSource('/api/chat/{id}/events'), sending with Enter or the button.
//
// Order of the opening steps: the stream opens FIRST and the history is fetched once
// it is open. The server registers the stream before it answers, so every message is
// in the history, on the stream, or both; both is fine because messages are keyed by
// id (the sender's own POST answer and its echo on the stream are one message too).
// After a dropped connection EventSource resends Last-Event-ID and the server replays
// what was missed (live.js reopens with ?lastEventId= when the browser gave up).
//
// Also here: "Seen" under the last own message the other has read (from the
// conversation's `other_last_read_at`, then live `read` events), "… is typing" (live
// `typing` events, gone after 5 s or when their message comes), photos (pick or paste,
// previews, sent as multipart; shown as thumbnails that open full size, loaded with the
// cookie, never a token in a URL), Block / Unblock and Report, the note under a masked
// message, and bubbles grouped by sender and time with one timestamp per group.

import { api, me, renew } from "../../core/js/session.js";
import { announceRead, openStream } from "../../core/js/live.js";
import { describeError, h, notify, timeTag } from "../../core/js/dom.js";
import { isStayMessage, showSubject, stayCard, subjectChangedBy, trackStay } from "./stay_cards.js";

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
const photoInput = form.querySelector("[data-photo-input]");
const previews = form.querySelector("[data-previews]");
const typingLine = root.querySelector("[data-typing]");
const blockedNote = root.querySelector("[data-blocked-note]");
const blockedText = root.querySelector("[data-blocked-text]");
const blockToggle = root.querySelector("[data-block-toggle]");
const blockDialog = root.querySelector("[data-block-dialog]");
const reportDialog = root.querySelector("[data-report-dialog]");
const reportForm = root.querySelector("[data-report-form]");
const reportError = root.querySelector("[data-report-error]");
const otherId = root.dataset.otherId;
const otherName = root.dataset.otherName;
const MASKED_NOTE = "Contact details are shared once a stay is confirmed";
// Bubbles of one sender less than this apart share a group (and one timestamp).
const GROUP_GAP_MS = 5 * 60 * 1000;
const TYPING_SHOWN_MS = 5000;
const TYPING_EVERY_MS = 3000;
const MAX_PHOTOS = 4;

const shown = new Set();
let hasMore = false;
let historyLoaded = false;
let unreadSeen = false;
let otherLastReadAt = null; // ISO; every own message created at or before it is seen
let blockedByMe = root.dataset.blockedByMe === "true";
let blocksMe = root.dataset.blocksMe === "true";

// ------------------------------------------------------------------ rendering

/** Stored order: created_at (ISO UTC, microseconds, so it sorts as text), then id. */
const orderKey = (message) => `${message.created_at}|${message.id}`;

function photo(attachment, index, count, author) {
  const img = h("img", {
    src: attachment.thumbnail_url,
    width: Math.min(attachment.width, 320),
    height: Math.round((Math.min(attachment.width, 320) * attachment.height) / attachment.width),
    alt: `Photo ${index + 1} of ${count} from ${author}`,
    loading: "lazy",
    decoding: "async",
  });
  // The cookie carries the credential; once it has expired, renew it and load again.
  img.addEventListener("error", async () => {
    if (img.dataset.retried) return;
    img.dataset.retried = "1";
    try {
      if (await renew()) img.src = `${attachment.thumbnail_url}`;
    } catch {
      // offline: the browser shows the alt text
    }
  });
  return h(
    "a",
    { href: attachment.url, target: "_blank", rel: "noopener", "aria-label": `Open photo ${index + 1} full size` },
    img,
  );
}

function bubble(message) {
  const mine = message.created_by.id === me.id;
  const author = mine ? "you" : message.created_by.name;
  const attachments = message.attachments || [];
  const node = h(
    "li",
    {
      class: `message ${mine ? "mine" : "theirs"}`,
      "data-id": message.id,
      "data-key": orderKey(message),
      "data-author": message.created_by.id,
      "data-created": message.created_at,
    },
    h("span", { class: "sr-only", text: mine ? "You said: " : `${message.created_by.name} said: ` }),
    attachments.length
      ? h(
          "span",
          { class: `photos${attachments.length === 1 ? " single" : ""}` },
          ...attachments.map((attachment, i) => photo(attachment, i, attachments.length, author)),
        )
      : null,
    h("span", { class: "message-body", text: message.body }),
    mine && message.masked ? h("small", { class: "masked-note", text: MASKED_NOTE }) : null,
    timeTag(message.created_at),
    !mine && (message.kind || "text") === "text"
      ? h("button", { type: "button", class: "report", "data-report": message.id, text: "Report" })
      : null,
  );
  return node;
}

/** Group bubbles by sender and time: first and last of each group, one time per group. */
function regroup() {
  let previous = null;
  for (const node of list.children) {
    const joined =
      previous &&
      previous.dataset.author === node.dataset.author &&
      Date.parse(node.dataset.created) - Date.parse(previous.dataset.created) < GROUP_GAP_MS;
    node.classList.toggle("group-start", !joined);
    if (previous) previous.classList.toggle("group-end", !joined);
    previous = node;
  }
  if (previous) previous.classList.add("group-end");
  showSeen();
}

/**
 * "Seen" under the last own message created at or before the other's read mark.
 * Times are compared as text: ISO UTC with microseconds, as the API writes them, sorts
 * as text (Date.parse would round to milliseconds).
 */
function showSeen() {
  for (const old of list.querySelectorAll("[data-seen]")) {
    old.parentElement.classList.remove("has-seen");
    old.remove();
  }
  if (!otherLastReadAt) return;
  const own = [...list.querySelectorAll("li.message.mine")];
  const last = own.reverse().find((node) => node.dataset.created <= otherLastReadAt);
  if (!last) return;
  // Inside the message's item (the list holds messages only), shown below its bubble.
  last.classList.add("has-seen");
  last.append(h("span", { class: "seen", "data-seen": "", text: "Seen" }));
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
  const card = isStayMessage(message);
  const node = card ? stayCard(message) : bubble(message);
  const key = node.dataset.key;
  let after = list.lastElementChild;
  while (after && after.dataset.key > key) after = after.previousElementSibling;
  if (after) after.after(node);
  else list.prepend(node);
  if (card) trackStay(list, message);
  noMessages.hidden = true;
  regroup();
  return true;
}

function addLive(message) {
  const stick = nearBottom() || message.created_by.id === me.id;
  if (message.conversation_id === conversationId && subjectChangedBy(message)) refreshSubject();
  if (!add(message)) return;
  if (stick) scrollToBottom();
  if (message.created_by.id !== me.id) {
    hideTyping();
    unreadSeen = true;
    markReadSoon();
  }
}

// ------------------------------------------------------------------ seen and typing

function onRead(event) {
  if (event.conversation_id !== conversationId || event.user_id === me.id) return;
  if (!otherLastReadAt || event.last_read_at > otherLastReadAt) otherLastReadAt = event.last_read_at;
  showSeen();
}

let typingTimer = null;

function hideTyping() {
  clearTimeout(typingTimer);
  typingLine.hidden = true;
}

function onTyping(event) {
  if (event.conversation_id !== conversationId || event.user_id === me.id) return;
  typingLine.hidden = false;
  clearTimeout(typingTimer);
  typingTimer = setTimeout(hideTyping, TYPING_SHOWN_MS);
}

let lastTypingSent = 0;

function tellTyping() {
  const now = Date.now();
  if (now - lastTypingSent < TYPING_EVERY_MS || !textarea.value.trim()) return;
  lastTypingSent = now;
  api("POST", `/api/chat/${conversationId}/typing`).catch(() => {});
}

/** A booking about another listing made it the subject: show that one (photo included). */
async function refreshSubject() {
  try {
    showSubject((await api("GET", `/api/chat/${conversationId}/`)).subject);
  } catch {
    // the subject is a heading: keep the old one until the next load
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
    if (conversation.other_last_read_at) onRead({
      conversation_id: conversationId,
      user_id: null,
      last_read_at: conversation.other_last_read_at,
    });
    showSubject(conversation.subject);
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
  on: { read: onRead, typing: onTyping },
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
  if ((!body && !photos.length) || sending) return;
  setSending(true);
  sendError.hidden = true;
  let payload = { body };
  if (photos.length) {
    payload = new FormData();
    payload.append("body", body);
    for (const file of photos) payload.append("images", file, file.name || "photo");
  }
  try {
    const message = await api("POST", `/api/chat/${conversationId}/messages`, payload);
    addLive(message);
    scrollToBottom();
    textarea.value = "";
    clearPhotos();
  } catch (error) {
    // The text and photos stay, to send again.
    if (error.status === 403) showBlocked(blockedByMe, true);
    sendError.textContent = `Not sent: ${describeError(error)}`;
    sendError.hidden = false;
  } finally {
    setSending(false);
    textarea.focus();
  }
});

// ------------------------------------------------------------------ photos

let photos = [];

function clearPhotos() {
  for (const node of previews.querySelectorAll("img")) URL.revokeObjectURL(node.src);
  photos = [];
  renderPreviews();
}

function renderPreviews() {
  for (const node of previews.querySelectorAll("img")) URL.revokeObjectURL(node.src);
  previews.replaceChildren(
    ...photos.map((file, index) =>
      h(
        "li",
        {},
        h("img", { src: URL.createObjectURL(file), alt: `Photo ${index + 1} to send` }),
        h("button", {
          type: "button",
          "aria-label": `Remove photo ${index + 1}`,
          "data-remove-photo": String(index),
          text: "×",
        }),
      ),
    ),
  );
  previews.hidden = photos.length === 0;
}

function addPhotos(files) {
  const images = [...files].filter((file) => file.type.startsWith("image/"));
  if (!images.length) return;
  const room = MAX_PHOTOS - photos.length;
  if (images.length > room) {
    sendError.textContent = `Up to ${MAX_PHOTOS} photos per message.`;
    sendError.hidden = false;
  }
  photos = [...photos, ...images.slice(0, Math.max(room, 0))];
  renderPreviews();
}

photoInput.addEventListener("change", () => {
  addPhotos(photoInput.files);
  photoInput.value = "";
  textarea.focus();
});

textarea.addEventListener("paste", (event) => {
  const files = [...(event.clipboardData?.files || [])];
  if (!files.some((file) => file.type.startsWith("image/"))) return;
  event.preventDefault();
  addPhotos(files);
});

previews.addEventListener("click", (event) => {
  const button = event.target.closest("[data-remove-photo]");
  if (!button) return;
  photos.splice(Number(button.dataset.removePhoto), 1);
  renderPreviews();
  textarea.focus();
});

// ------------------------------------------------------------------ block and report

function showBlocked(byMe, meBlocked) {
  blockedByMe = byMe;
  blocksMe = meBlocked;
  const blocked = blockedByMe || blocksMe;
  form.hidden = blocked;
  blockedNote.hidden = !blocked;
  blockToggle.textContent = blockedByMe ? "Unblock" : "Block";
  blockedText.textContent = blockedByMe
    ? `You blocked ${otherName}. Neither of you can write here until you unblock them.`
    : "You can't reply in this conversation: one of you has blocked the other.";
  if (blocked) hideTyping();
}

blockToggle.addEventListener("click", async () => {
  if (!blockedByMe) {
    blockDialog.showModal();
    return;
  }
  try {
    await api("DELETE", root.dataset.blockUrl);
    showBlocked(false, blocksMe);
    if (!form.hidden) textarea.focus();
  } catch (error) {
    notify(describeError(error), "error");
  }
});

blockDialog.addEventListener("close", async () => {
  if (blockDialog.returnValue !== "block") return;
  try {
    await api("POST", root.dataset.blockUrl);
    showBlocked(true, blocksMe);
    notify(`${otherName} is blocked.`);
  } catch (error) {
    notify(describeError(error), "error");
  }
});

list.addEventListener("click", (event) => {
  const button = event.target.closest("[data-report]");
  if (!button) return;
  reportForm.reset();
  reportForm.dataset.message = button.dataset.report;
  reportError.hidden = true;
  reportDialog.showModal();
});

reportForm.addEventListener("submit", async (event) => {
  if (event.submitter && event.submitter.value !== "report") return;
  event.preventDefault();
  const data = new FormData(reportForm);
  try {
    await api(
      "POST",
      `/api/chat/${conversationId}/messages/${reportForm.dataset.message}/report`,
      { reason: data.get("reason"), note: data.get("note") || "" },
    );
    reportDialog.close("sent");
    notify("Thank you. Our team will look at it.");
  } catch (error) {
    reportError.textContent = describeError(error);
    reportError.hidden = false;
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
  tellTyping();
  textarea.style.height = "auto";
  textarea.style.height = `${textarea.scrollHeight + 2}px`;
});

showBlocked(blockedByMe, blocksMe);
if (!form.hidden) textarea.focus();
