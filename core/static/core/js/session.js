// The page session and the API client.
//
// The server renders the signed-in visitor and their current access token into the
// page (#stayhub-session); the token then lives in this module's memory only. API
// writes send it as `Authorization: Bearer` (the cookie alone never authorizes a
// write). When it has expired (401), the client renews it ONCE through
// POST /api/auth/refresh, which reads the HttpOnly refresh cookie and sets fresh
// cookies.
//
// Refresh tokens rotate and a spent one answers 401, so two tabs renewing at the same
// moment with the same cookie would make one of them look logged out. Renewals are
// therefore serialised across every tab of this origin by a Web Lock: the second tab
// waits, then refreshes with the cookie the first one left in the jar, so a 401 from
// refresh really means "signed out". Where Web Locks are missing, a 401 is retried
// once after a short pause, by when the other tab's new cookie is in the jar.

const sessionTag = document.getElementById("stayhub-session");
const session = sessionTag ? JSON.parse(sessionTag.textContent) : null;

/** The signed-in user `{id, name}`, or null for a visitor. */
export const me = session ? session.user : null;
let accessToken = session ? session.access : null;

const SIGNED_IN_HINT = "stayhub:signed-in";
if (me) localStorage.setItem(SIGNED_IN_HINT, me.id);

export class ApiError extends Error {
  constructor(status, detail, retryAfter = null) {
    super(typeof detail === "string" ? detail : "Request failed");
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The login page that comes back here (or to `next`) afterwards. */
export function loginUrl(next = location.pathname + location.search) {
  return `/login?next=${encodeURIComponent(next)}`;
}

export function goToLogin() {
  localStorage.removeItem(SIGNED_IN_HINT);
  location.assign(loginUrl());
}

/** Whether a previous page of this browser was signed in (a refresh may revive it). */
export function wasSignedIn() {
  return localStorage.getItem(SIGNED_IN_HINT) !== null;
}

export function forgetSignedIn() {
  localStorage.removeItem(SIGNED_IN_HINT);
}

async function refreshWithCookie() {
  // With Web Locks no other tab of ours can be spending the same token: one try.
  const attempts = navigator.locks ? 1 : 2;
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    const response = await fetch("/api/auth/refresh", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    if (response.ok) {
      accessToken = (await response.json()).access;
      return true;
    }
    if (response.status !== 401) throw new ApiError(response.status, "Could not renew the session");
    if (attempt + 1 < attempts) await sleep(300);
  }
  return false;
}

let renewal = null;

/**
 * Renew the access token (and both cookies) through the refresh cookie.
 * Resolves true when renewed, false when the visitor is signed out; rejects on a
 * network error. Concurrent callers in this tab share one renewal.
 */
export function renew() {
  if (!renewal) {
    const run = () => refreshWithCookie();
    const locked = navigator.locks ? navigator.locks.request("stayhub-refresh", run) : run();
    renewal = locked.finally(() => {
      renewal = null;
    });
  }
  return renewal;
}

/**
 * Whether the access token (and so the cookie, which holds the same token) has run
 * out or nearly: within a quarter of its lifetime, at most 30 s. Only the expiry is
 * read from the token; the server alone checks it.
 */
export function tokenIsStale() {
  if (!accessToken) return true;
  try {
    const claims = JSON.parse(atob(accessToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    const margin = Math.min(30, (claims.exp - claims.iat) / 4);
    return claims.exp - Date.now() / 1000 < margin;
  } catch {
    return true;
  }
}

async function errorFrom(response) {
  let detail = `Request failed (${response.status})`;
  try {
    detail = (await response.json()).detail ?? detail;
  } catch {
    // not JSON: keep the generic text
  }
  const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return new ApiError(response.status, detail, Number.isNaN(retry) ? null : retry);
}

/**
 * Call the JSON API as the signed-in visitor. Resolves to the decoded body (null for
 * 204); rejects with ApiError for an error answer, or a TypeError when the network
 * failed. A visitor who turns out to be signed out is sent to the login page.
 * A `FormData` body is sent as multipart (the browser sets its Content-Type).
 */
export async function api(method, path, body) {
  const multipart = typeof FormData !== "undefined" && body instanceof FormData;
  const send = () => {
    const headers = { Accept: "application/json" };
    if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
    if (body !== undefined && !multipart) headers["Content-Type"] = "application/json";
    return fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : multipart ? body : JSON.stringify(body),
    });
  };
  let response = await send();
  if (response.status === 401) {
    if (me && (await renew())) response = await send();
    if (response.status === 401) {
      goToLogin();
      throw new ApiError(401, "Please log in again.");
    }
  }
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}
