// Entry point: hash router, live-refresh loop and the header controls.

import { api } from "./api.js";
import { startOrchestration } from "./actions.js";
import { h, replace, toast } from "./dom.js";
import * as detailView from "./views/detail.js";
import * as instancesView from "./views/instances.js";
import * as overviewView from "./views/overview.js";
import * as queuesView from "./views/queues.js";

const REFRESH_MS = 2000;
const main = document.getElementById("main");
const liveToggle = document.getElementById("live-toggle");
const liveStatus = document.getElementById("live-status");

/** Routes: #/instances?filters, #/instance/<id>, #/overview, #/queues. */
function parseHash() {
  const hash = location.hash.startsWith("#/") ? location.hash.slice(2) : "instances";
  const [path, search = ""] = hash.split("?");
  const params = new URLSearchParams(search);
  if (path.startsWith("instance/")) return { name: "detail", view: detailView, arg: decodeURIComponent(path.slice(9)), params };
  if (path === "overview") return { name: "overview", view: overviewView, params };
  if (path === "queues") return { name: "queues", view: queuesView, params };
  return { name: "instances", view: instancesView, params };
}

/** Change the hash; `replace` rewrites the current history entry (used while typing in filters). */
export function navigate(hash, { replace: replaceEntry = false } = {}) {
  if (location.hash === hash) return;
  if (replaceEntry) {
    history.replaceState(null, "", hash);
    route();
  } else {
    location.hash = hash;
  }
}

const context = { navigate, live: () => liveToggle.checked, settings: {} };
let current = null;

async function route() {
  const next = parseHash();
  for (const link of document.querySelectorAll("[data-nav]")) {
    const active = link.dataset.nav === (next.name === "detail" ? "instances" : next.name);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (current && current.name === next.name && current.arg === next.arg && current.instance.update) {
    current.instance.update(next.params);
    return;
  }
  current?.instance.unmount?.();
  const container = h("div", { class: "view" });
  replace(main, container);
  const instance = next.view.mount(container, { arg: next.arg, params: next.params }, context);
  current = { name: next.name, arg: next.arg, instance };
  document.title = `${next.view.title(next.arg)} · Durable dashboard`;
}

async function tick() {
  const paused = !liveToggle.checked || document.hidden || document.querySelector("dialog[open]");
  if (!paused && current?.instance.refresh) {
    try {
      await current.instance.refresh();
      liveStatus.textContent = "";
      liveStatus.classList.remove("offline");
    } catch (err) {
      liveStatus.textContent = err.status === 0 ? "Disconnected" : "Refresh failed";
      liveStatus.classList.add("offline");
    }
  }
  setTimeout(tick, REFRESH_MS);
}

liveToggle.checked = localStorage.getItem("dashboard.live") !== "off";
liveToggle.addEventListener("change", () => {
  localStorage.setItem("dashboard.live", liveToggle.checked ? "on" : "off");
  toast(liveToggle.checked ? "Live refresh on" : "Live refresh paused");
});

document.getElementById("start-button").addEventListener("click", async () => {
  let names = [];
  try {
    names = Object.keys((await api("/api/overview")).nameCounts);
  } catch {
    // Suggestions are optional; the dialog works without them.
  }
  const instanceId = await startOrchestration(names);
  if (instanceId) navigate(`#/instance/${encodeURIComponent(instanceId)}`);
});

document.querySelector(".skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

window.addEventListener("hashchange", route);

api("/api/settings")
  .then((settings) => {
    context.settings = settings;
    document.getElementById("hub-name").textContent = settings.taskHub;
  })
  .catch(() => {});

route();
setTimeout(tick, REFRESH_MS);
