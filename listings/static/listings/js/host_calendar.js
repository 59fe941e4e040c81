// The host's booked calendar on the listing's edit page: confirmed nights as booked,
// requested ones as asked for, from GET /api/properties/{id}/reservations (which
// answers its landlord every stay, whole).

import { api } from "../../core/js/session.js";
import { describeError } from "../../core/js/dom.js";
import { calendar, listingStays, nightsOf, today } from "./calendar.js";

const root = document.querySelector("[data-host-calendar]");
const errorBox = document.querySelector("[data-calendar-error]");

async function start() {
  let booked = new Set();
  let pending = new Set();
  const guestsOf = new Map();
  const cal = calendar(root, {
    from: today(),
    months: 2,
    label: "Booked calendar",
    describe(day) {
      if (booked.has(day)) return { state: "booked", note: `booked${guestsOf.has(day) ? ` by ${guestsOf.get(day)}` : ""}` };
      if (pending.has(day)) return { state: "pending", note: "requested, waiting for your answer" };
      return { state: day < today() ? "past" : "free", note: day < today() ? "past" : "free" };
    },
  });
  try {
    const stays = await listingStays(api, root.dataset.property);
    const confirmed = stays.filter((stay) => !stay.status || stay.status === "confirmed");
    booked = nightsOf(confirmed);
    pending = nightsOf(stays.filter((stay) => stay.status === "requested"));
    for (const stay of confirmed) {
      for (const night of nightsOf([stay])) if (stay.guest) guestsOf.set(night, stay.guest.name);
    }
    cal.refresh();
  } catch (error) {
    errorBox.textContent = `Could not load the stays: ${describeError(error)}`;
    errorBox.hidden = false;
  } finally {
    root.setAttribute("aria-busy", "false");
  }
}

if (root) start();
