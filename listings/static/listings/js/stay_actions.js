// Buttons of the trips and host stays pages: Confirm, Decline and Cancel call
// POST /api/reservations/{id}/{action}; the row then shows the stay as the server
// answered it (its status, and only the buttons that status still allows).

import { api } from "../../core/js/session.js";
import { describeError, notify } from "../../core/js/dom.js";

const QUESTIONS = {
  cancel: "Cancel this stay?",
  decline: "Decline this request?",
};
const DONE = {
  confirm: "Confirmed. The guest sees it in your conversation.",
  decline: "Request declined.",
  cancel: "Stay cancelled.",
};
const today = new Date().toISOString().slice(0, 10);

function allowed(stay) {
  return {
    confirm: stay.status === "requested",
    decline: stay.status === "requested",
    cancel: stay.status === "requested" || (stay.status === "confirmed" && stay.start_date > today),
  };
}

function show(row, stay) {
  row.dataset.status = stay.status;
  const label = row.querySelector("[data-status-label]");
  label.dataset.status = stay.status;
  label.textContent = stay.status.charAt(0).toUpperCase() + stay.status.slice(1);
  const may = allowed(stay);
  for (const button of row.querySelectorAll("[data-stay-action]")) {
    if (!may[button.dataset.stayAction]) button.remove();
  }
}

async function act(button) {
  const action = button.dataset.stayAction;
  if (QUESTIONS[action] && !window.confirm(QUESTIONS[action])) return;
  const row = button.closest("[data-stay]");
  const buttons = row.querySelectorAll("[data-stay-action]");
  for (const each of buttons) each.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const stay = await api("POST", `/api/reservations/${button.dataset.stayId}/${action}`);
    show(row, stay);
    notify(DONE[action]);
    row.querySelector("a[href]")?.focus();
  } catch (error) {
    notify(describeError(error), "error");
    for (const each of buttons) each.disabled = false;
  } finally {
    button.removeAttribute("aria-busy");
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-stay-action]");
  if (button && !button.disabled) act(button);
});
