// "Contact host": start (or reuse) the one conversation with the host through the
// chat API, then open it. On a property page it goes through
// POST /api/properties/{id}/contact, which also makes that listing the conversation's
// subject. A visitor who pressed it signed out logs in and comes back with
// `?contact=1`: the page then carries on by itself, without asking again.

import { api, me } from "../../core/js/session.js";
import { describeError } from "../../core/js/dom.js";

async function contact(button) {
  const label = button.textContent;
  const error = button.parentElement.querySelector("[data-contact-error]");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = "Opening conversation…";
  if (error) error.hidden = true;
  try {
    const property = button.dataset.contactProperty;
    const conversation = property
      ? await api("POST", `/api/properties/${property}/contact`)
      : await api("POST", `/api/chat/start/${button.dataset.contactHost}/`);
    location.assign(`/inbox/${conversation.id}`);
  } catch (failure) {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
    if (error) {
      error.textContent = describeError(failure);
      error.hidden = false;
    }
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-contact-host]");
  if (button && !button.disabled) contact(button);
});

// Back from the login page: continue the contact that was asked for.
const params = new URLSearchParams(location.search);
if (me && params.get("contact") === "1") {
  params.delete("contact");
  const rest = params.toString();
  // Going back to this page later must not start it again.
  history.replaceState(history.state, "", `${location.pathname}${rest ? `?${rest}` : ""}${location.hash}`);
  const button = document.querySelector("button[data-contact-host]");
  if (button) contact(button);
}
