// The inbox: the visitor's conversations, latest activity first, each with the other
// person, the last message and an unread badge, kept up to date from the inbox stream.

import { api, me } from "../../core/js/session.js";
import { onInboxMessage, onInboxResync, onRead } from "../../core/js/live.js";
import { avatar, describeError, h, timeTag } from "../../core/js/dom.js";

const root = document.querySelector("[data-inbox]");
const list = root.querySelector("[data-conversations]");
const loading = root.querySelector("[data-inbox-loading]");
const empty = root.querySelector("[data-inbox-empty]");
const errorBox = root.querySelector("[data-inbox-error]");

/** conversation id -> {conversation, node} */
const rows = new Map();
let loaded = false;
const early = [];

const other = (conversation) => conversation.users.find((user) => user.id !== me.id) || conversation.users[0];

function preview(message) {
  if (!message) return "No messages yet";
  const photos = (message.attachments || []).length;
  const text = message.body || (photos === 1 ? "Sent a photo" : photos ? `Sent ${photos} photos` : "");
  return message.created_by.id === me.id ? `You: ${text}` : text;
}

function render(conversation) {
  const person = other(conversation);
  const unread = conversation.unread_count;
  const badge = unread
    ? h("span", { class: "badge", "data-unread": "" },
      String(unread), h("span", { class: "sr-only", text: ` unread message${unread === 1 ? "" : "s"}` }))
    : h("span", { "data-unread": "" });
  const last = conversation.last_message;
  return h(
    "li",
    { "data-conversation-id": conversation.id },
    h(
      "a",
      { class: `conversation-row${unread ? " has-unread" : ""}`, href: `/inbox/${conversation.id}` },
      avatar(person, "md"),
      h("span", { class: "who" }, person.name,
        conversation.subject ? h("span", { class: "sr-only", text: ", about " }) : null,
        conversation.subject ? h("span", { class: "about", "data-subject": "", text: conversation.subject.title }) : null),
      last ? timeTag(last.created_at) : h("span"),
      h("span", { class: "preview", text: preview(last) }),
      badge,
    ),
  );
}

function show(conversation) {
  const fresh = render(conversation);
  const row = rows.get(conversation.id);
  if (row) row.node.replaceWith(fresh);
  rows.set(conversation.id, { conversation, node: fresh });
  return fresh;
}

function refreshEmpty() {
  list.hidden = rows.size === 0;
  empty.hidden = rows.size > 0;
}

async function load() {
  try {
    const page = await api("GET", "/api/chat/?limit=100");
    list.replaceChildren();
    rows.clear();
    for (const conversation of page.items) list.append(show(conversation));
    errorBox.hidden = true;
  } catch (error) {
    errorBox.textContent = describeError(error);
    errorBox.hidden = false;
  } finally {
    loading.hidden = true;
    loaded = true;
    refreshEmpty();
  }
  for (const message of early.splice(0)) apply(message);
}

let reloadTimer = null;
function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(load, 200);
}

/** A message from the stream: its conversation moves to the top with it. */
function apply(message) {
  if (!loaded) {
    early.push(message);
    return;
  }
  const row = rows.get(message.conversation_id);
  if (!row) {
    reloadSoon(); // a conversation started elsewhere: fetch it whole
    return;
  }
  const conversation = row.conversation;
  const last = conversation.last_message;
  // Already counted in what the list loaded (the stream may repeat it after a resume).
  if (last && `${last.created_at}|${last.id}` >= `${message.created_at}|${message.id}`) return;
  conversation.last_message = message;
  if (message.reservation && (!conversation.subject || conversation.subject.property_id !== message.reservation.property_id)) {
    // A booking makes its listing the subject (its photo comes with the next load).
    conversation.subject = { property_id: message.reservation.property_id, title: message.reservation.property_title, image_url: null };
  }
  conversation.modified_at = message.created_at;
  if (message.sent_to.id === me.id) conversation.unread_count += 1;
  list.prepend(show(conversation));
}

onInboxMessage(apply);
onInboxResync(reloadSoon);
onRead((conversationId) => {
  const row = rows.get(conversationId);
  if (row && row.conversation.unread_count) {
    row.conversation.unread_count = 0;
    show(row.conversation);
  }
});
load();
