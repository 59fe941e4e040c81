// The stay in the thread: the conversation's subject (the listing's photo and title,
// linking to it) above the messages, and the service's messages about a stay
// (`kind` "reservation" and "checkin") drawn as cards with its dates, guests, total
// and status, with the buttons its status allows: Confirm and Decline for the
// landlord of a request, Cancel for a request or a confirmed stay not yet begun.
//
// Every change of a stay's status arrives as a new "reservation" message, so the
// newest card of a stay knows its current status: when one arrives (live, or in an
// older page of history), every card of that stay shows that status, and only the
// newest one keeps buttons. Kept apart from conversation.js, which only asks here
// whether a message is a card and hands over the conversation's subject.

import { api, me } from "../../core/js/session.js";
import { describeError, h, notify, timeTag } from "../../core/js/dom.js";

const STAY_KINDS = new Set(["reservation", "checkin"]);
const STATUS_TEXT = {
  requested: "Requested",
  confirmed: "Confirmed",
  declined: "Declined",
  cancelled: "Cancelled",
  expired: "Expired",
};

/** stay id -> {key, status, message}: the newest message seen about each stay. */
const stays = new Map();
let list = null;

const money = (amount) => `$${Number(amount).toLocaleString("en-US")}`;
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
const day = (iso) => dayFormat.format(new Date(`${iso}T00:00:00Z`));
const nights = (stay) => Math.round((new Date(stay.end_date) - new Date(stay.start_date)) / 86_400_000);
const keyOf = (message) => `${message.created_at}|${message.id}`;
const localToday = () => {
  const now = new Date();
  return new Date(Date.UTC(now.getFullYear(), now.getMonth(), now.getDate())).toISOString().slice(0, 10);
};

/** Whether this message is drawn as a stay card rather than a speech bubble. */
export function isStayMessage(message) {
  return STAY_KINDS.has(message.kind) && Boolean(message.reservation);
}

/**
 * The buttons the viewer may press on a stay in `status`. Only a guest makes a
 * request, so the author of the newest "requested" message is the guest.
 */
function actionsFor(entry) {
  const { status, message } = entry;
  const stay = message.reservation;
  if (status === "requested") {
    const iAmGuest = message.kind === "reservation" && message.created_by.id === me.id;
    return iAmGuest ? ["cancel"] : ["confirm", "decline"];
  }
  if (status === "confirmed" && stay.start_date > localToday()) return ["cancel"];
  return [];
}

const BUTTON_TEXT = { confirm: "Confirm", decline: "Decline", cancel: "Cancel" };
const BUTTON_NAME = {
  confirm: "Confirm the request",
  decline: "Decline the request",
  cancel: "Cancel the stay",
};

function button(action, stay) {
  return h("button", {
    type: "button",
    class: `btn btn-sm${action === "confirm" ? " btn-primary" : ""}`,
    "data-card-action": action,
    "data-stay-id": stay.id,
    "aria-label": `${BUTTON_NAME[action]} at ${stay.property_title}, ${day(stay.start_date)} to ${day(stay.end_date)}`,
    text: BUTTON_TEXT[action],
  });
}

/** The card for a "reservation" or "checkin" message: an <li> for the message list. */
export function stayCard(message) {
  const stay = message.reservation;
  const mine = message.created_by.id === me.id;
  const checkin = message.kind === "checkin";
  const count = nights(stay);
  const title = checkin ? "Check-in details" : message.body;
  return h(
    "li",
    {
      class: `message stay-card-item ${mine ? "mine" : "theirs"}`,
      "data-id": message.id,
      "data-key": keyOf(message),
      "data-card-stay": stay.id,
      "data-kind": message.kind,
    },
    h(
      "article",
      { class: `stay-card${checkin ? " is-checkin" : ""}`, "aria-label": checkin ? `Check-in details for ${stay.property_title}` : `Stay at ${stay.property_title}` },
      h("p", { class: "stay-card-kicker", text: title }),
      checkin ? h("p", { class: "stay-card-details", text: message.body }) : null,
      h("p", { class: "stay-card-title" },
        h("a", { href: `/properties/${stay.property_id}`, text: stay.property_title })),
      h("p", { class: "stay-card-dates" },
        h("time", { datetime: stay.start_date, text: day(stay.start_date) }), " – ",
        h("time", { datetime: stay.end_date, text: day(stay.end_date) })),
      h("p", { class: "stay-card-meta", text: `${plural(count, "night")} · ${plural(stay.guests, "guest")} · ${money(stay.total_price)} total` }),
      h("p", { class: "stay-card-foot" },
        h("span", { class: "status-pill", "data-card-status": stay.status, text: STATUS_TEXT[stay.status] || stay.status }),
        h("span", { class: "stay-card-actions", "data-card-actions": "" })),
      h("p", { class: "field-error", "data-card-error": "", role: "alert", hidden: true }),
    ),
    timeTag(message.created_at),
  );
}

/** Show on every card of a stay its current status, and buttons on the newest one. */
function redraw(stayId) {
  const entry = stays.get(stayId);
  if (!entry || !list) return;
  const cards = list.querySelectorAll(`[data-card-stay="${CSS.escape(stayId)}"]`);
  cards.forEach((card) => {
    const pill = card.querySelector("[data-card-status]");
    pill.dataset.cardStatus = entry.status;
    pill.textContent = STATUS_TEXT[entry.status] || entry.status;
    const newest = card.dataset.key === entry.key;
    const actions = card.querySelector("[data-card-actions]");
    const stay = entry.message.reservation;
    actions.replaceChildren(...(newest && card.dataset.kind === "reservation" ? actionsFor(entry).map((action) => button(action, stay)) : []));
    card.classList.toggle("is-current", newest);
  });
}

/** After a card was put in the list: remember the stay's newest status and redraw it. */
export function trackStay(messageList, message) {
  list = messageList;
  const stay = message.reservation;
  const key = keyOf(message);
  const known = stays.get(stay.id);
  if (message.kind === "reservation" && (!known || known.key < key || known.kind !== "reservation")) {
    stays.set(stay.id, { key, status: stay.status, message, kind: "reservation" });
  } else if (!known) {
    stays.set(stay.id, { key: "", status: stay.status, message, kind: message.kind });
  }
  redraw(stay.id);
}

async function act(control) {
  const action = control.dataset.cardAction;
  if ((action === "cancel" || action === "decline") && !window.confirm(action === "cancel" ? "Cancel this stay?" : "Decline this request?")) return;
  const card = control.closest("[data-card-stay]");
  const error = card.querySelector("[data-card-error]");
  const buttons = card.querySelectorAll("[data-card-action]");
  for (const each of buttons) each.disabled = true;
  control.setAttribute("aria-busy", "true");
  error.hidden = true;
  try {
    const reservation = await api("POST", `/api/reservations/${control.dataset.stayId}/${action}`);
    // The stream brings the new card too; until then this card shows the answer.
    const entry = stays.get(reservation.id);
    if (entry) {
      entry.status = reservation.status;
      redraw(reservation.id);
    }
    notify(`${STATUS_TEXT[reservation.status] || reservation.status}.`);
  } catch (failure) {
    error.textContent = describeError(failure);
    error.hidden = false;
    for (const each of buttons) each.disabled = false;
  } finally {
    control.removeAttribute("aria-busy");
  }
}

document.addEventListener("click", (event) => {
  const control = event.target.closest("button[data-card-action]");
  if (control && !control.disabled) act(control);
});

// ------------------------------------------------------------------ the subject

let shownSubject = null;

/** The listing the conversation is about, above the messages (hidden when none). */
export function showSubject(subject) {
  const box = document.querySelector("[data-subject]");
  if (!box) return;
  shownSubject = subject;
  if (!subject) {
    box.hidden = true;
    return;
  }
  const link = box.querySelector("a");
  link.href = `/properties/${subject.property_id}`;
  box.querySelector("[data-subject-title]").textContent = subject.title;
  const photo = box.querySelector("[data-subject-photo]");
  const current = photo.querySelector("img");
  if (subject.image_url && (!current || current.getAttribute("src") !== subject.image_url)) {
    photo.replaceChildren(h("img", { src: subject.image_url, alt: "" }));
  } else if (!subject.image_url && current) {
    // The listing has no photo: the neutral placeholder, drawn as the server draws it.
    const house = document.querySelector("[data-subject-placeholder]");
    photo.replaceChildren(house ? house.content.cloneNode(true) : h("span", { class: "photo-placeholder" }));
  }
  box.hidden = false;
}

/** Whether a live message moved the conversation to another listing (then reload it). */
export function subjectChangedBy(message) {
  if (!isStayMessage(message)) return false;
  return !shownSubject || shownSubject.property_id !== message.reservation.property_id;
}
