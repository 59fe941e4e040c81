// The settings page: turning this browser's notifications on and off, by a button.

import {
  notificationState,
  requestNotifications,
  stopNotifications,
} from "./alerts.js";

const box = document.querySelector("[data-browser-notifications]");
const stateText = box.querySelector("[data-notify-state]");
const enable = box.querySelector("[data-notify-enable]");
const disable = box.querySelector("[data-notify-disable]");

const WORDS = {
  on: "On: a new message shows a notification while stayhub is in a background tab.",
  off: "Off in this browser.",
  default: "Off. Your browser will ask you to allow notifications when you turn them on.",
  denied: "Blocked by your browser. Allow notifications for this site in the browser's settings to use them.",
  unsupported: "This browser cannot show notifications.",
};

function render(state) {
  stateText.textContent = WORDS[state] || WORDS.off;
  enable.hidden = !(state === "off" || state === "default");
  disable.hidden = state !== "on";
}

enable.addEventListener("click", async () => {
  enable.disabled = true;
  try {
    render(await requestNotifications());
  } finally {
    enable.disabled = false;
  }
});

disable.addEventListener("click", () => {
  stopNotifications();
  render(notificationState());
});

render(notificationState());
