// Small DOM and formatting helpers. Every user-provided string goes through textContent, never innerHTML.

/** Create an element: h("a", {href: "#", class: "x", onclick: fn}, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  for (const child of children)
    if (child) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

/** Replace all children of el. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

/** Local, readable date-time for an ISO string ("" for null). */
export function fmtTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : timeFormat.format(date);
}

/** Local time with milliseconds, for history rows. */
export function fmtTimePrecise(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** Human duration for milliseconds: 850 ms, 2.4 s, 3 min 12 s, 2 h 5 min, 3 d 4 h. */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min ${Math.floor(s % 60)} s`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours} h ${min % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export const STATUSES = [
  "Running",
  "Pending",
  "Suspended",
  "Completed",
  "Failed",
  "Terminated",
  "Canceled",
  "ContinuedAsNew",
];
export const TERMINAL = new Set(["Completed", "Failed", "Terminated", "Canceled"]);

/** Coloured status pill; colour comes from the status, text always states it (not colour alone). */
export function statusBadge(status) {
  return h(
    "span",
    { class: `badge status-${String(status).toLowerCase()}` },
    h("span", { class: "dot", "aria-hidden": "true" }),
    status,
  );
}

const WORK_KINDS = { orchestration: "orchestrator", activity: "activity", entity: "entity" };

/** "a worker that runs activity 'x' (3 items)": what a waiting work item needs (from the API's waitingFor). */
export function waitingText({ kind, name, count }) {
  const items = count > 1 ? ` (${count} work items)` : "";
  return `waiting for a worker that runs ${WORK_KINDS[kind] || kind} '${name}'${items}`;
}

/** The instance list's marker for an instance whose work no connected worker takes (null when none waits). */
export function waitingMarker(waitingFor) {
  if (!waitingFor?.length) return null;
  return h("span", { class: "waiting-marker", role: "note" }, waitingFor.map(waitingText).join("; "));
}

/** JSON value rendered in a <pre> (strings that are not JSON are shown as they are). */
export function jsonBlock(value, { empty = "(none)" } = {}) {
  if (value === null || value === undefined) return h("p", { class: "muted" }, empty);
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return h("pre", { class: "json", tabindex: "0" }, text);
}

/** Short one-line preview of a JSON value. */
export function preview(value, limit = 120) {
  if (value === null || value === undefined) return "";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

/** ISO (UTC) -> value for <input type="datetime-local"> in local time. */
export function isoToLocalInput(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

/** <input type="datetime-local"> value -> ISO UTC ("" stays ""). */
export function localInputToIso(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

let toastHost = null;

/** Show a short message; errors stay longer and are announced assertively. */
export function toast(message, kind = "info") {
  toastHost ||= document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  toastHost.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

/** Loading placeholder. */
export function loading(label = "Loading…") {
  return h("p", { class: "muted loading", role: "status" }, label);
}

/** Card with a heading. */
export function panel(title, ...children) {
  return h("section", { class: "panel", "aria-label": title }, h("h2", {}, title), ...children);
}

/** Re-render inside `root` without stealing keyboard focus: refocus the element with the same key afterwards. */
export function keepFocus(root, render) {
  const active = document.activeElement;
  const key =
    active && root.contains(active) ? active.dataset.focusKey || active.getAttribute("href") || active.id : null;
  render();
  if (!key) return;
  const again = [...root.querySelectorAll("[data-focus-key], a[href], [id]")].find(
    (el) => (el.dataset.focusKey || el.getAttribute("href") || el.id) === key,
  );
  again?.focus();
}
