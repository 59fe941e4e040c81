// Month calendars of a listing's nights: which are booked (and, for its host, which
// are asked for), and, on the booking panel, days to click as check-in and check-out.
//
// Dates are "YYYY-MM-DD" strings throughout (as the API sends them) and arithmetic is
// done in UTC, so no time zone can shift a day. The calendar only mirrors the date
// inputs next to it: the inputs stay the accessible way to choose dates, and every
// day button also says in its name whether it is booked.

import { h } from "../../core/js/dom.js";

const DAY_MS = 86_400_000;

export const parseDay = (iso) => new Date(`${iso}T00:00:00Z`);
export const isoDay = (date) => date.toISOString().slice(0, 10);
export const addDays = (iso, days) => isoDay(new Date(parseDay(iso).getTime() + days * DAY_MS));
export const nightsBetween = (start, end) => Math.round((parseDay(end) - parseDay(start)) / DAY_MS);

/** Today in the visitor's own calendar (what "a start in the past" means to them). */
export function today() {
  const now = new Date();
  const local = new Date(Date.UTC(now.getFullYear(), now.getMonth(), now.getDate()));
  return isoDay(local);
}

/** The nights of stays [start_date, end_date) as a Set of days (the night of each day). */
export function nightsOf(stays) {
  const nights = new Set();
  for (const stay of stays) {
    for (let day = stay.start_date; day < stay.end_date; day = addDays(day, 1)) nights.add(day);
  }
  return nights;
}

/** Whether every night from `start` to the night before `end` is free. */
export function isFree(booked, start, end) {
  for (let day = start; day < end; day = addDays(day, 1)) if (booked.has(day)) return false;
  return true;
}

const monthTitle = new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric", timeZone: "UTC" });
const dayName = new Intl.DateTimeFormat(undefined, {
  weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC",
});
const weekdayShort = new Intl.DateTimeFormat(undefined, { weekday: "narrow", timeZone: "UTC" });

/** The long name of a day, for labels ("Friday, 14 May 2027"). */
export const longDay = (iso) => dayName.format(parseDay(iso));

const shortDay = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
/** "14 May 2027" */
export const mediumDay = (iso) => shortDay.format(parseDay(iso));

function firstOfMonth(iso) {
  return `${iso.slice(0, 7)}-01`;
}

function shiftMonth(first, months) {
  const date = parseDay(first);
  date.setUTCMonth(date.getUTCMonth() + months);
  return isoDay(date);
}

/**
 * A calendar of `months` months in `root`, from the month of `from`, with month
 * navigation. `describe(day)` answers `{state, selected, disabled, note}` for each
 * day: `state` ("booked", "pending", "free", "past") colours it, `note` is added to
 * its accessible name. With `onPick`, days are buttons; otherwise plain cells.
 * Returns `{refresh(), show(day)}`.
 */
export function calendar(root, { from, months = 2, describe, onPick = null, label = "Availability" }) {
  let first = firstOfMonth(from);
  // Roving focus: one day of the grid is in the Tab order, arrow keys move between days.
  let activeDay = null;
  const grid = h("div", { class: "cal-months" });
  const previous = h("button", { type: "button", class: "btn btn-sm cal-nav", "aria-label": "Previous month", text: "‹" });
  const next = h("button", { type: "button", class: "btn btn-sm cal-nav", "aria-label": "Next month", text: "›" });
  // With several months each has its own title; the bar's then only speaks.
  const heading = h("p", { class: months > 1 ? "cal-range sr-only" : "cal-range", "aria-live": "polite" });
  root.replaceChildren(
    h("div", { class: "cal-bar" }, previous, heading, next),
    grid,
  );
  root.classList.add("calendar");
  root.setAttribute("role", "group");
  root.setAttribute("aria-label", label);

  const minimum = firstOfMonth(from);

  function dayCell(day) {
    const about = describe(day);
    const number = String(Number(day.slice(8)));
    const words = [longDay(day), about.note].filter(Boolean).join(", ");
    const attrs = {
      class: `cal-day is-${about.state}${about.selected ? " is-selected" : ""}${about.edge ? " is-edge" : ""}`,
      "data-day": day,
    };
    if (onPick) {
      // aria-disabled rather than disabled: a booked day stays reachable by keyboard
      // and is announced as such.
      return h("button", {
        ...attrs,
        type: "button",
        "aria-label": words,
        "aria-pressed": about.selected ? "true" : "false",
        "aria-disabled": about.disabled ? "true" : null,
        tabindex: "-1",
      }, number);
    }
    return h("span", { ...attrs, title: words }, h("span", { "aria-hidden": "true", text: number }), h("span", { class: "sr-only", text: words }));
  }

  function monthBlock(start) {
    const date = parseDay(start);
    const title = monthTitle.format(date);
    const lead = (date.getUTCDay() + 6) % 7; // weeks start on Monday
    const cells = [];
    for (let i = 0; i < 7; i += 1) {
      const weekday = weekdayShort.format(new Date(Date.UTC(2024, 0, 1 + i)));
      cells.push(h("span", { class: "cal-weekday", "aria-hidden": "true", text: weekday }));
    }
    for (let i = 0; i < lead; i += 1) cells.push(h("span", { class: "cal-blank", "aria-hidden": "true" }));
    for (let day = start; day.slice(0, 7) === start.slice(0, 7); day = addDays(day, 1)) cells.push(dayCell(day));
    return h("section", { class: "cal-month", "aria-label": title },
      h("h3", { class: months === 1 ? "cal-title sr-only" : "cal-title", text: title }),
      h("div", { class: "cal-grid" }, ...cells));
  }

  let focusWanted = false;

  function refresh() {
    const focused = document.activeElement && root.contains(document.activeElement)
      ? document.activeElement.dataset.day : null;
    const blocks = [];
    for (let i = 0; i < months; i += 1) blocks.push(monthBlock(shiftMonth(first, i)));
    grid.replaceChildren(...blocks);
    if (onPick) {
      const days = [...grid.querySelectorAll("button[data-day]")];
      const chosen = days.find((button) => button.dataset.day === activeDay)
        || days.find((button) => button.classList.contains("is-edge"))
        || days.find((button) => button.getAttribute("aria-disabled") !== "true")
        || days[0];
      if (chosen) chosen.tabIndex = 0;
    }
    heading.textContent = blocks.map((block) => block.getAttribute("aria-label")).join(" – ");
    previous.disabled = first <= minimum;
    if (focused) root.querySelector(`[data-day="${focused}"]`)?.focus();
    else if (onPick && focusWanted) root.querySelector('button[tabindex="0"]')?.focus();
    focusWanted = false;
  }

  previous.addEventListener("click", () => {
    first = shiftMonth(first, -1);
    refresh();
  });
  next.addEventListener("click", () => {
    first = shiftMonth(first, 1);
    refresh();
  });
  if (onPick) {
    grid.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-day]");
      if (!button) return;
      activeDay = button.dataset.day;
      if (button.getAttribute("aria-disabled") !== "true") onPick(button.dataset.day);
    });
    const STEPS = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -7, ArrowDown: 7 };
    grid.addEventListener("keydown", (event) => {
      const button = event.target.closest("button[data-day]");
      if (!button || !(event.key in STEPS)) return;
      event.preventDefault();
      const wanted = addDays(button.dataset.day, STEPS[event.key]);
      if (firstOfMonth(wanted) < minimum) return;
      activeDay = wanted;
      const last = shiftMonth(first, months - 1);
      if (firstOfMonth(wanted) < first) first = firstOfMonth(wanted);
      else if (firstOfMonth(wanted) > last) first = shiftMonth(firstOfMonth(wanted), 1 - months);
      focusWanted = true;
      // The focused day is about to be replaced: refresh() focuses the active one.
      document.activeElement.blur();
      refresh();
    });
  }

  refresh();
  return {
    refresh,
    show(day) {
      const wanted = firstOfMonth(day);
      if (wanted < first || wanted > shiftMonth(first, months - 1)) {
        first = wanted < minimum ? minimum : wanted;
      }
      refresh();
    },
  };
}

/** Every stay of a listing the caller may see, all pages of the collection. */
export async function listingStays(api, propertyId) {
  const stays = [];
  for (let offset = 0; ; offset += 100) {
    const page = await api("GET", `/api/properties/${propertyId}/reservations?limit=100&offset=${offset}`);
    stays.push(...page.items);
    if (!page.items.length || stays.length >= page.count) return stays;
  }
}
