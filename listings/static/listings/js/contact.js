// "Contact host": start (or reuse) the one conversation with the host through the
// chat API, then open it.

import { api } from "../../core/js/session.js";
import { describeError } from "../../core/js/dom.js";

async function contact(button) {
  const label = button.textContent;
  const error = button.parentElement.querySelector("[data-contact-error]");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = "Opening conversation…";
  if (error) error.hidden = true;
  try {
    const conversation = await api("POST", `/api/chat/start/${button.dataset.contactHost}/`);
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
