// Entry point: hash router, live updates (server-sent events, polling as the fallback) and the header controls.

import { startOrchestration } from "./actions.js";
import { api, hubUrl } from "./api.js";
import { h, replace, toast } from "./dom.js";
import * as detailView from "./views/detail.js";
import * as entitiesView from "./views/entities.js";
import * as instancesView from "./views/instances.js";
import * as overviewView from "./views/overview.js";
import * as queuesView from "./views/queues.js";

/** Polling period when server events are unavailable, and for views events do not cover (queues, entities). */
const REFRESH_MS = 2000;
/** Wait before opening a new EventSource after the browser gave up on one. */
const RECONNECT_MS = 5000;
const main = document.getElementById("main");
const liveToggle = document.getElementById("live-toggle");
const liveStatus = document.getElementById("live-status");

/** Routes: #/instances?filters, #/instance/<id>, #/overview, #/queues, #/entities?name=&key=. */
function parseHash() {
  const hash = location.hash.startsWith("#/") ? location.hash.slice(2) : "instances";
  const [path, search = ""] = hash.split("?");
  const params = new URLSearchParams(search);
  if (path.startsWith("instance/"))
    return { name: "detail", view: detailView, arg: decodeURIComponent(path.slice(9)), params };
  if (path === "overview") return { name: "overview", view: overviewView, params };
  if (path === "queues") return { name: "queues", view: queuesView, params };
  if (path === "entities") return { name: "entities", view: entitiesView, params };
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

const context = {
  navigate,
  live: () => liveToggle.checked,
  settings: {},
  refreshSoon: () => {
    live.dirty = true;
  },
};
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

// Live state: `mode` is "events" while the server's event stream is open, else "polling".
const live = { mode: "polling", dirty: false, refreshing: false, again: false };

const paused = () => !liveToggle.checked || document.hidden || Boolean(document.querySelector("dialog[open]"));

function setLiveStatus(text) {
  liveStatus.textContent = text;
  liveStatus.classList.toggle("offline", Boolean(text));
}

function setMode(mode) {
  live.mode = mode;
  document.body.dataset.live = mode;
  liveToggle.closest("label").title =
    mode === "events"
      ? "Updates are pushed by the server as instances change"
      : "Server events are unavailable: polling every 2 seconds";
}

/** Refresh the current view once; a request arriving meanwhile runs once more afterwards (never in parallel). */
async function refreshCurrent() {
  if (!current?.instance.refresh) return;
  if (live.refreshing) {
    live.again = true;
    return;
  }
  live.refreshing = true;
  try {
    await current.instance.refresh();
    setLiveStatus("");
  } catch (err) {
    setLiveStatus(err.status === 0 ? "Disconnected" : "Refresh failed");
  } finally {
    live.refreshing = false;
    if (live.again) {
      live.again = false;
      if (!paused()) refreshCurrent();
    }
  }
}

/** An `instances` event: refresh now when the view cares, or remember it while paused. */
function onInstancesChanged(change) {
  if (current?.instance.wants && change && !current.instance.wants(change)) return;
  if (paused()) live.dirty = true;
  else refreshCurrent();
}

function connectEvents() {
  if (typeof EventSource !== "function") return; // stays in polling mode
  const source = new EventSource(hubUrl("/api/events"));
  source.addEventListener("ready", () => {
    // Changes made while the stream was down were missed: catch up once.
    if (live.mode !== "events") live.dirty = true;
    setMode("events");
  });
  source.addEventListener("instances", (event) => {
    let change = null;
    try {
      change = JSON.parse(event.data);
    } catch {
      change = null;
    }
    onInstancesChanged(change);
  });
  source.addEventListener("error", () => {
    setMode("polling");
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      setTimeout(connectEvents, RECONNECT_MS);
    }
    // While CONNECTING the browser retries by itself (the server asks for 2 s); the tick loop polls meanwhile.
  });
}

async function tick() {
  if (!paused() && current) {
    current.instance.animate?.();
    const poll = live.mode !== "events" || current.instance.needsPolling?.();
    if (poll || live.dirty) {
      live.dirty = false;
      await refreshCurrent();
    }
  }
  setTimeout(tick, REFRESH_MS);
}

liveToggle.checked = localStorage.getItem("dashboard.live") !== "off";
liveToggle.addEventListener("change", () => {
  localStorage.setItem("dashboard.live", liveToggle.checked ? "on" : "off");
  toast(liveToggle.checked ? "Live refresh on" : "Live refresh paused");
  if (liveToggle.checked && live.dirty) {
    live.dirty = false;
    refreshCurrent();
  }
});

/** Orchestrator names to suggest: the app's own first, then any other name seen in the task hub. */
export async function orchestratorSuggestions() {
  const names = [...(context.settings.orchestratorNames || [])];
  try {
    for (const name of Object.keys((await api("/api/overview")).nameCounts)) {
      if (!names.some((known) => known.toLowerCase() === name.toLowerCase())) names.push(name);
    }
  } catch {
    // Suggestions are optional; the dialog works without them.
  }
  return names;
}

document.getElementById("start-button").addEventListener("click", async () => {
  await settingsLoaded;
  const names = await orchestratorSuggestions();
  const instanceId = await startOrchestration(names, { appNames: context.settings.orchestratorNames || [] });
  if (instanceId) navigate(`#/instance/${encodeURIComponent(instanceId)}`);
});

document.querySelector(".skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

/** The header's task hub picker (only with more than one hub): going to another hub keeps the view, except an
 * instance's detail (the instance is in this hub), which becomes that hub's instance list. */
function showHubPicker(current, hubs) {
  if (hubs.length < 2) return;
  const picker = document.getElementById("hub-picker");
  picker.replaceChildren(
    ...hubs.map((hub) => h("option", { value: hub.url, selected: hub.name === current }, hub.name)),
  );
  picker.addEventListener("change", () => {
    const hash = parseHash().name === "detail" ? "#/instances" : location.hash;
    location.assign(new URL(picker.value, location.href).pathname + hash);
  });
  picker.hidden = false;
  document.getElementById("hub-name").hidden = true;
}

window.addEventListener("hashchange", route);

const settingsLoaded = api("/api/settings")
  .then((settings) => {
    context.settings = settings;
    document.getElementById("hub-name").textContent = settings.taskHub;
    showHubPicker(settings.taskHub, settings.taskHubs || []);
    const list = document.getElementById("orchestrator-suggestions");
    list.replaceChildren(...(settings.orchestratorNames || []).map((name) => h("option", { value: name })));
  })
  .catch(() => {});

setMode("polling");
route();
connectEvents();
setTimeout(tick, REFRESH_MS);
