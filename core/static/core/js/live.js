// Live updates over Server-Sent Events.
//
// `openStream` wraps EventSource. While the browser reconnects by itself it resends
// Last-Event-ID and the server replays what was missed, then sends `stream-open` with
// the id it goes on from (so a stream dropped before its first message resumes from
// where it started, not from "now"). The browser gives up for good only when the
// server answers with something other than a stream (a 401 once the 15-minute access
// cookie has expired, a 502 from a proxy); then the cookie is renewed
// if it is due and the stream reopened with `?lastEventId=` (a new EventSource cannot
// set the header), so no message is lost across the gap. Consumers still dedupe by
// message id: the sender's own POST answer and its echo on the stream are one message.
//
// `onInboxMessage` shares ONE inbox stream between all tabs of a signed-in person:
// browsers allow about six connections per host, and a stream per tab would starve
// ordinary requests after a few tabs. The tab holding a Web Lock opens the stream and
// rebroadcasts its events on a BroadcastChannel; when that tab closes, the lock passes
// to another tab, which resumes from the last event id it heard.

import { goToLogin, me, renew, tokenIsStale } from "./session.js";

function withLastId(url, lastId) {
  if (!lastId) return url;
  const sep = url.includes("?") ? "&" : "?";
  return `${url}${sep}lastEventId=${encodeURIComponent(lastId)}`;
}

/**
 * Open an SSE stream of `message` events. `onMessage(data, eventId)` gets each parsed
 * message; `on` maps other event types (`read`, `typing`) to handlers called the same way; `onPosition(eventId)` gets the id `stream-open` carries (where the stream
 * starts, after any replay); `onState("open" | "reconnecting")` reports the connection;
 * `onResync()` is called when the stream opens again but cannot resume, because no id
 * (neither a message's nor `stream-open`'s) had arrived before it dropped: the caller
 * reloads what it shows, as the server cannot know what was missed. Returns `{close()}`.
 */
export function openStream(
  url,
  { onMessage, on = {}, onPosition = () => {}, onState = () => {}, onResync = () => {}, lastId = null },
) {
  let lastEventId = lastId;
  let source = null;
  let closed = false;
  let delay = 500;
  let opened = false;

  const reopen = async () => {
    if (closed) return;
    try {
      if (tokenIsStale() && !(await renew())) {
        goToLogin();
        return;
      }
    } catch {
      // network down: just try the stream again later
    }
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 15000);
  };

  function connect() {
    if (closed) return;
    source = new EventSource(withLastId(url, lastEventId));
    source.addEventListener("open", () => {
      delay = 500;
      onState("open");
      if (opened && !lastEventId) onResync();
      opened = true;
    });
    source.addEventListener("stream-open", (event) => {
      if (!event.lastEventId) return;
      lastEventId = event.lastEventId;
      onPosition(event.lastEventId);
    });
    source.addEventListener("message", (event) => {
      if (event.lastEventId) lastEventId = event.lastEventId;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      onMessage(data, event.lastEventId);
    });
    // Other events: `read` carries an id (it moves the resume position like a message),
    // `typing` none (the browser then keeps the last id it had).
    for (const [type, handler] of Object.entries(on)) {
      source.addEventListener(type, (event) => {
        if (event.lastEventId) lastEventId = event.lastEventId;
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        handler(data, event.lastEventId);
      });
    }
    source.addEventListener("error", () => {
      onState("reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        reopen();
      }
    });
  }

  connect();
  return {
    close() {
      closed = true;
      if (source) source.close();
    },
  };
}

const inboxListeners = new Set();
const inboxResyncListeners = new Set();
let inboxStarted = false;

function startInbox() {
  if (inboxStarted || !me) return;
  inboxStarted = true;
  const deliver = (message) => {
    for (const listener of inboxListeners) listener(message);
  };
  const resync = () => {
    for (const listener of inboxResyncListeners) listener();
  };
  if (!navigator.locks || typeof BroadcastChannel === "undefined") {
    openStream("/api/chat/events", { onMessage: deliver, onResync: resync });
    return;
  }
  const channel = new BroadcastChannel(`stayhub-inbox:${me.id}`);
  let heardId = null;
  channel.addEventListener("message", (event) => {
    if (!event.data) return;
    if (event.data.type === "message") {
      heardId = event.data.id || heardId;
      deliver(event.data.message);
    } else if (event.data.type === "position") {
      heardId = event.data.id || heardId;
    } else if (event.data.type === "resync") {
      resync();
    }
  });
  // Held until this tab goes away; then the next waiting tab takes over the stream.
  navigator.locks.request(`stayhub-inbox-stream:${me.id}`, () => new Promise(() => {
    openStream("/api/chat/events", {
      lastId: heardId,
      onMessage: (message, id) => {
        channel.postMessage({ type: "message", id, message });
        deliver(message);
      },
      // Where the stream starts: a tab taking it over resumes from here even when no
      // message has come yet.
      onPosition: (id) => channel.postMessage({ type: "position", id }),
      onResync: () => {
        channel.postMessage({ type: "resync" });
        resync();
      },
    });
  }));
}

/** Call `listener(message)` for every message of every conversation of the visitor. */
export function onInboxMessage(listener) {
  inboxListeners.add(listener);
  startInbox();
}

/** Call `listener()` when the inbox stream came back unable to resume: reload. */
export function onInboxResync(listener) {
  inboxResyncListeners.add(listener);
  startInbox();
}

const readChannel = typeof BroadcastChannel !== "undefined" && me
  ? new BroadcastChannel(`stayhub-read:${me.id}`)
  : null;

/** Tell this tab and the others that unread counts changed (a conversation was read). */
export function announceRead(conversationId) {
  window.dispatchEvent(new CustomEvent("stayhub:read", { detail: { conversationId } }));
  if (readChannel) readChannel.postMessage({ conversationId });
}

/** Call `listener(conversationId)` when any tab marks a conversation read. */
export function onRead(listener) {
  window.addEventListener("stayhub:read", (event) => listener(event.detail.conversationId));
  if (readChannel) readChannel.addEventListener("message", (event) => listener(event.data.conversationId));
}
