// Telling someone about new messages while they look elsewhere: the unread count in
// the tab's title, and, in a hidden tab, a browser notification. Notifications are
// never asked for by themselves: the permission prompt only ever follows a click on
// the settings page's button (`requestNotifications`), and they can be stopped there
// for this browser without digging in the browser's own settings.

import { me } from "./session.js";

const PREF = "stayhub:browser-notifications";
const baseTitle = document.title.replace(/^\(\d+\+?\) /, "");
const shown = new Set();
// A message older than this is a replay after a reconnect, not news.
const FRESH_MS = 5 * 60 * 1000;

/** "(3) Inbox · stayhub": the tab says how many messages wait, even from afar. */
export function showUnreadInTitle(count) {
  const label = count > 99 ? "99+" : String(count);
  document.title = count > 0 ? `(${label}) ${baseTitle}` : baseTitle;
}

export function notificationsSupported() {
  return typeof window.Notification !== "undefined";
}

/** "granted" and chosen here, "denied", "default" (never asked) or "off" (stopped here). */
export function notificationState() {
  if (!notificationsSupported()) return "unsupported";
  const permission = Notification.permission;
  if (permission === "granted") return localStorage.getItem(PREF) === "on" ? "on" : "off";
  return permission;
}

/** Ask the browser for permission: call it from a click on a clear button only. */
export async function requestNotifications() {
  if (!notificationsSupported()) return "unsupported";
  const permission = await Notification.requestPermission();
  if (permission === "granted") localStorage.setItem(PREF, "on");
  return notificationState();
}

export function stopNotifications() {
  localStorage.setItem(PREF, "off");
}

/** A notification for `message` when the tab is hidden and the person chose them. */
export function notifyNewMessage(message) {
  if (!me || !message || notificationState() !== "on") return;
  if (document.visibilityState !== "hidden") return;
  if (!message.created_by || message.created_by.id === me.id) return;
  if (shown.has(message.id)) return;
  if (Date.now() - Date.parse(message.created_at) > FRESH_MS) return;
  shown.add(message.id);
  const text = message.body || "Sent a photo";
  const notification = new Notification(message.created_by.name || "New message", {
    body: text.length > 140 ? `${text.slice(0, 139)}…` : text,
    // One per conversation: a newer message replaces the older one, in every tab.
    tag: `stayhub-conversation-${message.conversation_id}`,
    icon: document.querySelector('link[rel="icon"]')?.href,
  });
  notification.addEventListener("click", () => {
    window.focus();
    location.assign(`/inbox/${message.conversation_id}`);
    notification.close();
  });
}
