// Small DOM helpers shared by the page modules. User text only ever goes in through
// textContent or attributes, never innerHTML.

/** An element with attributes and children (strings become text nodes). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child);
  }
  return node;
}

/** A person's avatar: the picture, or the initial; decorative (the name is nearby). */
export function avatar(person, size = "md") {
  if (person && person.avatar_url) {
    return h("img", { class: `avatar avatar-${size}`, src: person.avatar_url, alt: "", loading: "lazy" });
  }
  const initial = ((person && person.name) || "?").trim().charAt(0).toUpperCase() || "?";
  return h("span", { class: `avatar avatar-${size} avatar-initial`, "aria-hidden": "true", text: initial });
}

const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayAndTime = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});

/** "14:05" today, "Nov 28, 14:05" before. */
export function shortTime(iso) {
  const when = new Date(iso);
  const today = new Date();
  return when.toDateString() === today.toDateString() ? timeOnly.format(when) : dayAndTime.format(when);
}

/** A <time> element for an ISO timestamp. */
export function timeTag(iso, cls = "time") {
  return h("time", { class: cls, datetime: iso, text: shortTime(iso) });
}

let noticeTimer = null;

/** A short, polite status line at the top of the page. */
export function notify(text, kind = "info") {
  const box = document.getElementById("notice");
  if (!box) return;
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    box.hidden = true;
  }, 5000);
}

/** A sentence for a failed API call (429 says when to retry). */
export function describeError(error) {
  if (error && error.status === 429) {
    const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : " Try again shortly.";
    return `Too many requests.${wait}`;
  }
  if (error && error.status) {
    return typeof error.detail === "string" ? error.detail : `Request failed (${error.status}).`;
  }
  return "Network problem: check your connection and try again.";
}
