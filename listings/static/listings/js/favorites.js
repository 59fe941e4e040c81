// Favorite hearts: toggle in place through the API. On "My favorites" a heart that
// is switched off takes its card off the page at once.

import { api } from "../../core/js/session.js";
import { describeError, notify } from "../../core/js/dom.js";

function heartsFor(id) {
  return document.querySelectorAll(`button[data-favorite="${CSS.escape(id)}"]`);
}

function setPressed(id, pressed) {
  for (const heart of heartsFor(id)) heart.setAttribute("aria-pressed", String(pressed));
}

function dropCard(id) {
  const list = document.querySelector("[data-drop-unfavorited]");
  if (!list) return;
  const card = list.querySelector(`[data-listing="${CSS.escape(id)}"]`);
  if (!card) return;
  const title = card.querySelector(".listing-title")?.textContent ?? "The stay";
  // Keep keyboard focus on the page: the next card's heart, else the previous one.
  const neighbour = card.nextElementSibling || card.previousElementSibling;
  card.remove();
  notify(`${title} was removed from your favorites.`);
  if (neighbour) {
    neighbour.querySelector("button[data-favorite]")?.focus();
  } else {
    list.remove();
    const empty = document.querySelector("[data-empty]");
    empty.hidden = false;
    empty.querySelector("a")?.focus();
  }
}

async function toggle(heart) {
  const id = heart.dataset.favorite;
  const wanted = heart.getAttribute("aria-pressed") !== "true";
  // The heart changes when the server has answered, so it never shows a state that
  // was not stored; aria-busy dims it meanwhile.
  heart.setAttribute("aria-busy", "true");
  try {
    const answer = await api(wanted ? "POST" : "DELETE", `/api/properties/${id}/favorite`);
    setPressed(id, answer.is_favorite);
    if (!answer.is_favorite) dropCard(id);
  } catch (error) {
    notify(describeError(error), "error");
  } finally {
    heart.removeAttribute("aria-busy");
  }
}

document.addEventListener("click", (event) => {
  const heart = event.target.closest("button[data-favorite]");
  if (heart && heart.getAttribute("aria-busy") !== "true") toggle(heart);
});
