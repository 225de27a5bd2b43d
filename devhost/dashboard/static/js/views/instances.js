// Instance list: filters (kept in the URL), keyset paging, live refresh, client-side column sort.

import { api, qs } from "../api.js";
import { purgeByFilter } from "../actions.js";
import { fmtDuration, fmtTime, h, isoToLocalInput, keepFocus, localInputToIso, replace, STATUSES, statusBadge } from "../dom.js";

export const title = () => "Instances";

const FILTER_KEYS = ["status", "name", "prefix", "createdFrom", "createdTo", "hideSub", "sort", "pageSize", "after"];
const COLUMNS = [
  { key: "name", label: "Name" },
  { key: "instanceId", label: "Instance ID" },
  { key: "runtimeStatus", label: "Status" },
  { key: "createdTime", label: "Created" },
  { key: "lastUpdatedTime", label: "Last updated" },
  { key: "durationMs", label: "Duration", numeric: true },
];

/** Filters from the hash's query string (the single source of truth). */
function readFilters(params) {
  const filters = {};
  for (const key of FILTER_KEYS) filters[key] = params.get(key) || "";
  return filters;
}

function filtersToHash(filters) {
  const search = new URLSearchParams();
  for (const key of FILTER_KEYS) if (filters[key]) search.set(key, filters[key]);
  const text = search.toString();
  return `#/instances${text ? `?${text}` : ""}`;
}

export function mount(container, { params }, ctx) {
  let filters = readFilters(params);
  let rows = [];
  let nextToken = null;
  let previousTokens = []; // tokens of the pages before this one, for "Previous"
  let pendingStack = null; // the stack to adopt when the navigation we started arrives
  let knownIds = null;
  let columnSort = null; // {key, dir}
  let requestSeq = 0;

  const statusBoxes = STATUSES.map((status) =>
    h("label", { class: `chip status-${status.toLowerCase()}` },
      h("input", { type: "checkbox", value: status, onchange: () => commit({ status: checkedStatuses() }) }),
      status),
  );
  const nameInput = h("input", { id: "f-name", type: "search", placeholder: "Orchestrator name", autocomplete: "off", list: "orchestrator-suggestions" });
  const prefixInput = h("input", { id: "f-prefix", type: "search", placeholder: "Instance ID starts with…", autocomplete: "off" });
  const fromInput = h("input", { id: "f-from", type: "datetime-local", onchange: () => commit({ createdFrom: localInputToIso(fromInput.value) }) });
  const toInput = h("input", { id: "f-to", type: "datetime-local", onchange: () => commit({ createdTo: localInputToIso(toInput.value) }) });
  const hideSub = h("input", { id: "f-hidesub", type: "checkbox", onchange: () => commit({ hideSub: hideSub.checked ? "1" : "" }) });
  const sortSelect = h("select", { id: "f-sort", onchange: () => commit({ sort: sortSelect.value === "newest" ? "" : sortSelect.value }) },
    h("option", { value: "newest" }, "Newest first"), h("option", { value: "oldest" }, "Oldest first"));
  const sizeSelect = h("select", { id: "f-size", onchange: () => commit({ pageSize: sizeSelect.value === "50" ? "" : sizeSelect.value }) },
    ...["25", "50", "100", "200"].map((n) => h("option", { value: n }, n)));

  let typingTimer = null;
  const onType = (key, input) => () => {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => commit({ [key]: input.value.trim() }, { replace: true }), 350);
  };
  nameInput.addEventListener("input", onType("name", nameInput));
  prefixInput.addEventListener("input", onType("prefix", prefixInput));

  const checkedStatuses = () => statusBoxes.map((label) => label.querySelector("input")).filter((i) => i.checked).map((i) => i.value).join(",");

  const labelled = (text, control) => h("div", { class: "filter" }, h("label", { for: control.id }, text), control);
  const filterBar = h("form", { class: "filters", role: "search", "aria-label": "Filter instances", onsubmit: (e) => e.preventDefault() },
    h("fieldset", { class: "status-filter" }, h("legend", {}, "Status"), ...statusBoxes),
    h("div", { class: "filter-row" },
      labelled("Name", nameInput),
      labelled("Instance ID prefix", prefixInput),
      labelled("Created from", fromInput),
      labelled("Created to", toInput),
      labelled("Order", sortSelect),
      labelled("Page size", sizeSelect),
      h("div", { class: "filter check" }, hideSub, h("label", { for: hideSub.id }, "Hide sub-orchestrations")),
    ),
    h("div", { class: "filter-actions" },
      h("button", { type: "button", class: "secondary", onclick: () => { ctx.navigate("#/instances"); } }, "Clear filters"),
      h("button", { type: "button", class: "danger-outline", onclick: onPurge }, "Purge matching…"),
    ),
  );

  const tbody = h("tbody");
  const headRow = h("tr");
  const table = h("table", { class: "grid instances", "aria-describedby": "list-caption" },
    h("caption", { id: "list-caption", class: "visually-hidden" }, "Orchestration instances"), h("thead", {}, headRow), tbody);
  const status = h("p", { class: "list-status", role: "status", "aria-live": "polite" });
  const pageLabel = h("span", { class: "page-label" });
  const firstBtn = h("button", { type: "button", class: "secondary", onclick: () => goPage(null, []) }, "First");
  const prevBtn = h("button", { type: "button", class: "secondary", onclick: () => goPage(previousTokens.at(-1) || null, previousTokens.slice(0, -1)) }, "Previous");
  const nextBtn = h("button", { type: "button", class: "secondary", onclick: () => goPage(nextToken, [...previousTokens, filters.after]) }, "Next");
  const pager = h("nav", { class: "pager", "aria-label": "Pages" }, firstBtn, prevBtn, pageLabel, nextBtn);

  replace(container,
    h("div", { class: "view-head" }, h("h1", {}, "Instances")),
    filterBar,
    h("div", { class: "table-wrap" }, table),
    status,
    pager,
  );
  renderHead();
  syncForm();
  load();

  function syncForm() {
    const selected = new Set(filters.status.split(",").filter(Boolean));
    for (const label of statusBoxes) {
      const input = label.querySelector("input");
      input.checked = selected.has(input.value);
      label.classList.toggle("on", input.checked);
    }
    if (document.activeElement !== nameInput) nameInput.value = filters.name;
    if (document.activeElement !== prefixInput) prefixInput.value = filters.prefix;
    fromInput.value = isoToLocalInput(filters.createdFrom);
    toInput.value = isoToLocalInput(filters.createdTo);
    hideSub.checked = filters.hideSub === "1";
    sortSelect.value = filters.sort || "newest";
    sizeSelect.value = filters.pageSize || "50";
  }

  /** Apply a filter change: back to the first page, recorded in the URL. */
  function commit(change, { replace: replaceEntry = false } = {}) {
    const next = { ...filters, ...change, after: "" };
    pendingStack = [];
    ctx.navigate(filtersToHash(next), { replace: replaceEntry });
  }

  function goPage(token, stack) {
    pendingStack = stack;
    ctx.navigate(filtersToHash({ ...filters, after: token || "" }));
  }

  function apiQuery() {
    return qs({
      status: filters.status,
      name: filters.name,
      prefix: filters.prefix,
      createdFrom: filters.createdFrom,
      createdTo: filters.createdTo,
      hideSub: filters.hideSub ? "true" : "",
      sort: filters.sort,
      pageSize: filters.pageSize,
      continuationToken: filters.after,
    });
  }

  async function load({ quiet = false } = {}) {
    const seq = ++requestSeq;
    if (!quiet) status.textContent = "Loading…";
    let data;
    try {
      data = await api(`/api/instances${apiQuery()}`);
    } catch (err) {
      if (seq !== requestSeq) return;
      status.textContent = "";
      replace(tbody, h("tr", {}, h("td", { colspan: COLUMNS.length, class: "error-cell" }, `Could not load instances: ${err.message}`)));
      if (quiet) throw err;
      return;
    }
    if (seq !== requestSeq) return; // a newer request superseded this one
    const fresh = knownIds ? new Set(data.instances.map((r) => r.instanceId).filter((id) => !knownIds.has(id))) : new Set();
    knownIds = new Set(data.instances.map((r) => r.instanceId));
    rows = data.instances;
    nextToken = data.continuationToken;
    renderRows(fresh);
    const page = previousTokens.length + 1;
    pageLabel.textContent = filters.after && !previousTokens.length ? "Later page" : `Page ${page}`;
    firstBtn.disabled = !filters.after;
    prevBtn.disabled = !previousTokens.length;
    nextBtn.disabled = !nextToken;
    status.textContent = rows.length ? `${rows.length} instance${rows.length === 1 ? "" : "s"} on this page${nextToken ? "; more on the next pages" : ""}.` : "";
  }

  function sortedRows() {
    if (!columnSort) return rows;
    const { key, dir } = columnSort;
    const factor = dir === "ascending" ? 1 : -1;
    return [...rows].sort((a, b) => {
      const x = a[key] ?? "";
      const y = b[key] ?? "";
      return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * factor;
    });
  }

  function renderHead() {
    replace(headRow, ...COLUMNS.map((col) => {
      const sort = columnSort?.key === col.key ? columnSort.dir : undefined;
      const button = h("button", { type: "button", class: "sort", title: "Sort this page", onclick: () => {
        columnSort = { key: col.key, dir: sort === "ascending" ? "descending" : "ascending" };
        renderHead();
        renderRows(new Set());
      } }, col.label, h("span", { class: "sort-icon", "aria-hidden": "true" }, sort === "ascending" ? "▲" : sort === "descending" ? "▼" : "↕"));
      return h("th", { scope: "col", "aria-sort": sort, class: col.numeric ? "num" : undefined }, button);
    }));
  }

  function renderRows(fresh) {
    if (!rows.length) {
      replace(tbody, h("tr", {}, h("td", { colspan: COLUMNS.length, class: "empty" }, "No instances match these filters.")));
      return;
    }
    keepFocus(tbody, () => replace(tbody, ...sortedRows().map((row) => {
      const href = `#/instance/${encodeURIComponent(row.instanceId)}`;
      return h("tr", { class: fresh.has(row.instanceId) ? "fresh" : undefined, dataset: { instanceId: row.instanceId, status: row.runtimeStatus } },
        h("td", {}, row.name, row.parentInstanceId ? h("span", { class: "tag", title: `Sub-orchestration of ${row.parentInstanceId}` }, "sub") : null),
        h("td", { class: "mono" }, h("a", { href }, row.instanceId)),
        h("td", {}, statusBadge(row.runtimeStatus)),
        h("td", {}, h("time", { datetime: row.createdTime }, fmtTime(row.createdTime))),
        h("td", {}, h("time", { datetime: row.lastUpdatedTime }, fmtTime(row.lastUpdatedTime))),
        h("td", { class: "num" }, fmtDuration(row.durationMs)),
      );
    })));
  }

  async function onPurge() {
    const deleted = await purgeByFilter({
      createdFrom: filters.createdFrom,
      createdTo: filters.createdTo,
      statuses: filters.status.split(",").filter(Boolean),
    });
    if (deleted !== null) load();
  }

  return {
    update(params) {
      const next = readFilters(params);
      if (pendingStack) {
        previousTokens = pendingStack;
      } else if (!next.after) {
        previousTokens = [];
      } else {
        // Back/Forward: keep the pages before this one when we have seen it in this session.
        const index = previousTokens.indexOf(next.after);
        if (index >= 0) previousTokens = previousTokens.slice(0, index);
      }
      pendingStack = null;
      filters = next;
      knownIds = null;
      syncForm();
      load();
    },
    refresh: () => load({ quiet: true }),
    unmount() {
      clearTimeout(typingTimer);
      requestSeq++;
    },
  };
}
