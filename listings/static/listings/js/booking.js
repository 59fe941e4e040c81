// The property page's booking panel: choose check-in and check-out (booked nights
// cannot be chosen), guests, see the price before booking, then "Reserve" (instant
// book) or "Request to book" through POST /api/properties/{id}/reservations. The
// answer is shown in the panel: confirmed, requested, or the server's own words.
//
// The server prices every stay; the sum shown here is the same arithmetic (nights x
// nightly price) for the visitor to see before pressing, and the answer's
// `total_price` is what the result shows.

import { api, loginUrl, me } from "../../core/js/session.js";
import { describeError, h } from "../../core/js/dom.js";
import {
  addDays, calendar, isFree, listingStays, mediumDay, nightsBetween, nightsOf, today,
} from "./calendar.js";

const panel = document.querySelector("[data-booking]");

const money = (amount) => `$${Number(amount).toLocaleString("en-US")}`;
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** A 422's `detail` may be a list of field errors: say them in words. */
function errorText(error) {
  if (error && Array.isArray(error.detail)) {
    return error.detail.map((item) => item.msg || String(item)).join(" ");
  }
  return describeError(error);
}

function setUp(root) {
  const propertyId = root.dataset.property;
  const price = Number(root.dataset.price);
  const maxGuests = Number(root.dataset.maxGuests);
  const instant = root.dataset.instant === "true";
  const form = root.querySelector("form");
  const checkin = form.elements.checkin;
  const checkout = form.elements.checkout;
  const guests = form.elements.guests;
  const quote = root.querySelector("[data-quote]");
  const problem = root.querySelector("[data-booking-problem]");
  const result = root.querySelector("[data-booking-result]");
  const submit = form.querySelector("[type=submit]");
  const availability = root.querySelector("[data-availability]");
  const firstDay = today();
  let booked = new Set();
  let busy = false;

  checkin.min = firstDay;
  checkout.min = addDays(firstDay, 1);

  /** What is wrong with the current choice `{text, field}`, or null when it can be booked. */
  function problemWith() {
    const start = checkin.value;
    const end = checkout.value;
    const count = Number(guests.value);
    if (!Number.isInteger(count) || count < 1) return { text: "At least one guest.", field: guests };
    if (count > maxGuests) return { text: `This place takes at most ${plural(maxGuests, "guest")}.`, field: guests };
    if (!start || !end) return null;
    if (start < firstDay) return { text: "Check-in cannot be in the past.", field: checkin };
    if (end <= start) return { text: "Check-out must be after check-in.", field: checkout };
    if (!isFree(booked, start, end)) return { text: "Some of those nights are already booked. Choose other dates.", field: checkout };
    return null;
  }

  function update() {
    const start = checkin.value;
    const end = checkout.value;
    const wrong = problemWith();
    problem.textContent = wrong ? wrong.text : "";
    problem.hidden = !wrong;
    checkout.min = start ? addDays(start, 1) : addDays(firstDay, 1);
    for (const input of [checkin, checkout, guests]) input.removeAttribute("aria-invalid");
    if (wrong) wrong.field.setAttribute("aria-invalid", "true");
    if (start && end && !wrong) {
      const nights = nightsBetween(start, end);
      quote.replaceChildren(
        h("span", { class: "quote-line" },
          h("span", { text: `${money(price)} × ${plural(nights, "night")}` }),
          h("span", { text: money(price * nights) })),
        h("span", { class: "quote-line quote-total" },
          h("span", { text: "Total" }),
          h("strong", { "data-total": "", text: money(price * nights) })),
      );
    } else {
      quote.replaceChildren(h("span", { class: "muted", text: "Choose your dates to see the total." }));
    }
    submit.disabled = busy || Boolean(wrong);
    cal.refresh();
  }

  // ------------------------------------------------------------ the calendar

  function describe(day) {
    const start = checkin.value;
    const end = checkout.value;
    const inRange = start && end && day >= start && day <= end;
    const edge = day === start || day === end;
    if (day < firstDay) return { state: "past", disabled: true, note: "past" };
    if (booked.has(day)) {
      // A booked night can still be the check-out day of a stay ending that morning.
      const canEnd = start && !end && day > start && isFree(booked, start, day);
      return { state: "booked", disabled: !canEnd, note: canEnd ? "booked, can be your departure day" : "booked", selected: edge, edge };
    }
    return { state: "free", disabled: false, selected: inRange, edge, note: day === start ? "your arrival" : day === end ? "your departure" : "" };
  }

  function pick(day) {
    const start = checkin.value;
    const end = checkout.value;
    if (!start || end || day <= start || !isFree(booked, start, day)) {
      checkin.value = day;
      checkout.value = "";
    } else {
      checkout.value = day;
    }
    result.hidden = true;
    update();
  }

  const cal = calendar(availability, {
    from: checkin.value && checkin.value >= firstDay ? checkin.value : firstDay,
    months: 1,
    describe,
    onPick: pick,
    label: "Availability: choose your arrival, then your departure",
  });

  // ------------------------------------------------------------ booking

  function showResult(reservation) {
    const stay = `${mediumDay(reservation.start_date)} – ${mediumDay(reservation.end_date)}`;
    const what = reservation.status === "requested"
      ? ["Request sent", `The host has been asked for ${stay}. You will see their answer in your trips and in your messages.`]
      : ["Booked! Your stay is confirmed", `${stay}, ${plural(reservation.guests, "guest")}.`];
    result.dataset.status = reservation.status;
    result.replaceChildren(
      h("p", { class: "result-title", text: what[0] }),
      h("p", { text: what[1] }),
      h("p", { text: `Total ${money(reservation.total_price)} for ${plural(reservation.number_of_nights, "night")}.` }),
      h("p", { class: "result-links" },
        h("a", { href: root.dataset.tripsUrl, text: "See your trips" }),
        h("a", { href: root.dataset.threadUrl.replace("00000000-0000-0000-0000-000000000000", reservation.id), text: "Message the host" })),
    );
    result.hidden = false;
  }

  async function book() {
    busy = true;
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    const label = submit.textContent;
    submit.textContent = instant ? "Reserving…" : "Sending request…";
    result.hidden = true;
    try {
      const reservation = await api("POST", `/api/properties/${propertyId}/reservations`, {
        start_date: checkin.value,
        end_date: checkout.value,
        guests: Number(guests.value),
      });
      showResult(reservation);
      if (reservation.status === "confirmed") {
        booked = new Set([...booked, ...nightsOf([reservation])]);
      }
      checkin.value = "";
      checkout.value = "";
    } catch (error) {
      result.dataset.status = "error";
      result.replaceChildren(h("p", { class: "result-title", text: "Not booked" }), h("p", { text: errorText(error) }));
      result.hidden = false;
      if (error && error.status === 409) loadBooked();
    } finally {
      busy = false;
      submit.removeAttribute("aria-busy");
      submit.textContent = label;
      update();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!checkin.value || !checkout.value) {
      problem.textContent = "Choose check-in and check-out first.";
      problem.hidden = false;
      (checkin.value ? checkout : checkin).focus();
      return;
    }
    if (problemWith()) return;
    if (!me) {
      // Come back to this page with the same choice, then press again.
      const query = new URLSearchParams({ checkin: checkin.value, checkout: checkout.value, guests: guests.value });
      location.assign(loginUrl(`${location.pathname}?${query}`));
      return;
    }
    if (!busy) book();
  });

  for (const input of [checkin, checkout, guests]) {
    input.addEventListener("input", () => {
      result.hidden = true;
      if (input === checkin && checkin.value && checkout.value && checkout.value <= checkin.value) checkout.value = "";
      update();
      if (input === checkin && checkin.value) cal.show(checkin.value);
    });
  }

  async function loadBooked() {
    try {
      const stays = await listingStays(api, propertyId);
      // Others are only shown confirmed stays; a host previewing sees every status.
      booked = nightsOf(stays.filter((stay) => !stay.status || stay.status === "confirmed"));
      availability.setAttribute("aria-busy", "false");
    } catch (error) {
      problem.textContent = `Could not load the booked nights: ${describeError(error)}`;
      problem.hidden = false;
    }
    update();
  }

  update();
  loadBooked();
}

if (panel) setUp(panel);
