// Instance list: filters (kept in the URL), keyset paging, live refresh, client-side column sort.
// `mount` wires together the parts below: the filter form, the table, the pager, and the loading of a page.

import { purgeByFilter } from "../actions.js";
import { api, qs } from "../api.js";
import {
  fmtDuration,
  fmtTime,
  h,
  isoToLocalInput,
  keepFocus,
  localInputToIso,
  replace,
  STATUSES,
  statusBadge,
  waitingMarker,
} from "../dom.js";

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
/** Wait after the last keystroke in a text filter before it goes into the URL. */
const TYPING_DELAY_MS = 350;

export function mount(container, { params }, ctx) {
  let filters = readFilters(params);
  let nextToken = null;
  let previousTokens = []; // tokens of the pages before this one, for "Previous"
  let pendingStack = null; // the stack to adopt when the navigation we started arrives
  let knownIds = null;
  let requestSeq = 0;

  const form = filterForm({
    onChange: commitFilters,
    onClear: () => {
      ctx.navigate("#/instances");
    },
    onPurge: purgeMatching,
  });
  const table = instancesTable();
  const status = h("p", { class: "list-status", role: "status", "aria-live": "polite" });
  const pager = pagerNav({
    onFirst: () => goPage(null, []),
    onPrevious: () => goPage(previousTokens.at(-1) || null, previousTokens.slice(0, -1)),
    onNext: () => goPage(nextToken, [...previousTokens, filters.after]),
  });

  replace(
    container,
    h("div", { class: "view-head" }, h("h1", {}, "Instances")),
    form.element,
    table.element,
    status,
    pager.element,
  );
  form.sync(filters);
  loadPage();

  /** Apply a filter change: back to the first page, recorded in the URL. */
  function commitFilters(change, { replace: replaceEntry = false } = {}) {
    const next = { ...filters, ...change, after: "" };
    pendingStack = [];
    ctx.navigate(filtersToHash(next), { replace: replaceEntry });
  }

  /** Navigate to the page `token` opens; `stack` becomes the tokens of the pages before it. */
  function goPage(token, stack) {
    pendingStack = stack;
    ctx.navigate(filtersToHash({ ...filters, after: token || "" }));
  }

  /** Fetch the page the URL names and show it. A quiet load (live refresh) keeps the status line and rethrows. */
  async function loadPage({ quiet = false } = {}) {
    const seq = ++requestSeq;
    if (!quiet) status.textContent = "Loading…";
    let data;
    try {
      data = await api(`/api/instances${instancesQuery(filters)}`);
    } catch (err) {
      if (seq !== requestSeq) return;
      status.textContent = "";
      table.showError(`Could not load instances: ${err.message}`);
      if (quiet) throw err;
      return;
    }
    if (seq !== requestSeq) return; // a newer request superseded this one
    showPage(data);
  }

  /** Show a loaded page: its rows (new ones marked fresh), where it is among the pages, and a count. */
  function showPage(data) {
    const fresh = freshIds(knownIds, data.instances);
    knownIds = new Set(data.instances.map((r) => r.instanceId));
    nextToken = data.continuationToken;
    table.showRows(data.instances, fresh);
    pager.show({ after: filters.after, pagesBefore: previousTokens.length, hasNext: Boolean(nextToken) });
    status.textContent = pageSummary(data.instances.length, Boolean(nextToken));
  }

  /** "Purge matching…": purge the ended instances the filters select, after confirmation; reload if it ran. */
  async function purgeMatching() {
    const deleted = await purgeByFilter({
      createdFrom: filters.createdFrom,
      createdTo: filters.createdTo,
      statuses: statusList(filters.status),
    });
    if (deleted !== null) loadPage();
  }

  return {
    /** The URL changed (a filter, a page, Back/Forward): adopt its filters and load. */
    update(params) {
      const next = readFilters(params);
      previousTokens = pagesBefore(next.after, previousTokens, pendingStack);
      pendingStack = null;
      filters = next;
      knownIds = null;
      form.sync(filters);
      loadPage();
    },
    /** Live refresh (server events, or polling when they are unavailable): reload this page quietly. */
    refresh: () => loadPage({ quiet: true }),
    unmount() {
      form.cancelTyping();
      requestSeq++;
    },
  };
}

// ---- URL and API parameters

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

/** The status filter ("Running,Failed") as a list. */
function statusList(status) {
  return status.split(",").filter(Boolean);
}

/** Query string of /api/instances for these filters. */
function instancesQuery(filters) {
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

// ---- Paging and live refresh

/** Tokens of the pages before the page `after` opens, once a navigation arrives. */
function pagesBefore(after, previousTokens, pendingStack) {
  if (pendingStack) return pendingStack; // a navigation this view started
  if (!after) return [];
  // Back/Forward: keep the pages before this one when we have seen it in this session.
  const index = previousTokens.indexOf(after);
  return index >= 0 ? previousTokens.slice(0, index) : previousTokens;
}

/** Ids on this page that the previous load of the same page did not have (none on a first load). */
function freshIds(knownIds, instances) {
  if (!knownIds) return new Set();
  return new Set(instances.map((r) => r.instanceId).filter((id) => !knownIds.has(id)));
}

function pageSummary(count, hasNext) {
  if (!count) return "";
  return `${count} instance${count === 1 ? "" : "s"} on this page${hasNext ? "; more on the next pages" : ""}.`;
}

/** First / Previous / Next buttons and the page label. */
function pagerNav({ onFirst, onPrevious, onNext }) {
  const pageLabel = h("span", { class: "page-label" });
  const firstBtn = h("button", { type: "button", class: "secondary", onclick: onFirst }, "First");
  const prevBtn = h("button", { type: "button", class: "secondary", onclick: onPrevious }, "Previous");
  const nextBtn = h("button", { type: "button", class: "secondary", onclick: onNext }, "Next");
  return {
    element: h("nav", { class: "pager", "aria-label": "Pages" }, firstBtn, prevBtn, pageLabel, nextBtn),
    /** `after`: this page's token ("" on the first page); `pagesBefore`: how many pages before it this view knows. */
    show({ after, pagesBefore, hasNext }) {
      pageLabel.textContent = after && !pagesBefore ? "Later page" : `Page ${pagesBefore + 1}`;
      firstBtn.disabled = !after;
      prevBtn.disabled = !pagesBefore;
      nextBtn.disabled = !hasNext;
    },
  };
}

// ---- The filter form

/**
 * Status chips, name and ID prefix (applied as you type), creation range, order, page size, "hide
 * sub-orchestrations", and the Clear and Purge actions. `onChange(change, {replace})` gets each edit;
 * `sync(filters)` shows the URL's filters.
 */
function filterForm({ onChange, onClear, onPurge }) {
  const statusBoxes = STATUSES.map((status) =>
    h(
      "label",
      { class: `chip status-${status.toLowerCase()}` },
      h("input", { type: "checkbox", value: status, onchange: () => onChange({ status: checkedStatuses() }) }),
      status,
    ),
  );
  const checkedStatuses = () =>
    statusBoxes
      .map((label) => label.querySelector("input"))
      .filter((i) => i.checked)
      .map((i) => i.value)
      .join(",");
  const nameInput = h("input", {
    id: "f-name",
    type: "search",
    placeholder: "Orchestrator name",
    autocomplete: "off",
    list: "orchestrator-suggestions",
  });
  const prefixInput = h("input", {
    id: "f-prefix",
    type: "search",
    placeholder: "Instance ID starts with…",
    autocomplete: "off",
  });
  const fromInput = h("input", {
    id: "f-from",
    type: "datetime-local",
    onchange: () => onChange({ createdFrom: localInputToIso(fromInput.value) }),
  });
  const toInput = h("input", {
    id: "f-to",
    type: "datetime-local",
    onchange: () => onChange({ createdTo: localInputToIso(toInput.value) }),
  });
  const hideSub = h("input", {
    id: "f-hidesub",
    type: "checkbox",
    onchange: () => onChange({ hideSub: hideSub.checked ? "1" : "" }),
  });
  const sortSelect = h(
    "select",
    { id: "f-sort", onchange: () => onChange({ sort: sortSelect.value === "newest" ? "" : sortSelect.value }) },
    h("option", { value: "newest" }, "Newest first"),
    h("option", { value: "oldest" }, "Oldest first"),
  );
  const sizeSelect = h(
    "select",
    { id: "f-size", onchange: () => onChange({ pageSize: sizeSelect.value === "50" ? "" : sizeSelect.value }) },
    ...["25", "50", "100", "200"].map((n) => h("option", { value: n }, n)),
  );

  // Text filters apply once typing pauses, rewriting the current history entry rather than adding one per pause.
  let typingTimer = null;
  const onType = (key, input) => () => {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => onChange({ [key]: input.value.trim() }, { replace: true }), TYPING_DELAY_MS);
  };
  nameInput.addEventListener("input", onType("name", nameInput));
  prefixInput.addEventListener("input", onType("prefix", prefixInput));

  const element = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter instances", onsubmit: (e) => e.preventDefault() },
    h("fieldset", { class: "status-filter" }, h("legend", {}, "Status"), ...statusBoxes),
    h(
      "div",
      { class: "filter-row" },
      labelled("Name", nameInput),
      labelled("Instance ID prefix", prefixInput),
      labelled("Created from", fromInput),
      labelled("Created to", toInput),
      labelled("Order", sortSelect),
      labelled("Page size", sizeSelect),
      h("div", { class: "filter check" }, hideSub, h("label", { for: hideSub.id }, "Hide sub-orchestrations")),
    ),
    h(
      "div",
      { class: "filter-actions" },
      h("button", { type: "button", class: "secondary", onclick: onClear }, "Clear filters"),
      h("button", { type: "button", class: "danger-outline", onclick: onPurge }, "Purge matching…"),
    ),
  );

  return {
    element,
    /** Show these filters; a text field being typed in keeps what the user typed. */
    sync(filters) {
      const selected = new Set(statusList(filters.status));
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
    },
    cancelTyping() {
      clearTimeout(typingTimer);
    },
  };
}

function labelled(text, control) {
  return h("div", { class: "filter" }, h("label", { for: control.id }, text), control);
}

// ---- The table

/** The instances table: a header whose buttons sort the rows of this page, and one row per instance. */
function instancesTable() {
  let rows = [];
  let columnSort = null; // {key, dir}
  const tbody = h("tbody");
  const headRow = h("tr");
  const element = h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "grid instances", "aria-describedby": "list-caption" },
      h("caption", { id: "list-caption", class: "visually-hidden" }, "Orchestration instances"),
      h("thead", {}, headRow),
      tbody,
    ),
  );
  renderHead();

  function sortBy(key, current) {
    columnSort = { key, dir: current === "ascending" ? "descending" : "ascending" };
    renderHead();
    renderRows(new Set());
  }

  function renderHead() {
    replace(headRow, ...COLUMNS.map((col) => columnHeader(col, columnSort, sortBy)));
  }

  function renderRows(fresh) {
    if (!rows.length) {
      replace(tbody, messageRow("empty", "No instances match these filters."));
      return;
    }
    keepFocus(tbody, () => replace(tbody, ...sortRows(rows, columnSort).map((row) => instanceRow(row, fresh))));
  }

  return {
    element,
    /** Show this page's rows; ids in `fresh` are highlighted as new. */
    showRows(next, fresh) {
      rows = next;
      renderRows(fresh);
    },
    /** Replace the rows with an error message (the rows are kept for a later sort). */
    showError(message) {
      replace(tbody, messageRow("error-cell", message));
    },
  };
}

/** A column header: a button that sorts by this column, with aria-sort on the sorted one. */
function columnHeader(col, columnSort, onSort) {
  const sort = columnSort?.key === col.key ? columnSort.dir : undefined;
  const button = h(
    "button",
    { type: "button", class: "sort", title: "Sort this page", onclick: () => onSort(col.key, sort) },
    col.label,
    h(
      "span",
      { class: "sort-icon", "aria-hidden": "true" },
      sort === "ascending" ? "▲" : sort === "descending" ? "▼" : "↕",
    ),
  );
  return h("th", { scope: "col", "aria-sort": sort, class: col.numeric ? "num" : undefined }, button);
}

function sortRows(rows, columnSort) {
  if (!columnSort) return rows;
  const { key, dir } = columnSort;
  const factor = dir === "ascending" ? 1 : -1;
  return [...rows].sort((a, b) => {
    const x = a[key] ?? "";
    const y = b[key] ?? "";
    return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * factor;
  });
}

function instanceRow(row, fresh) {
  const href = `#/instance/${encodeURIComponent(row.instanceId)}`;
  return h(
    "tr",
    {
      class: fresh.has(row.instanceId) ? "fresh" : undefined,
      dataset: { instanceId: row.instanceId, status: row.runtimeStatus },
    },
    h(
      "td",
      {},
      row.name,
      row.parentInstanceId
        ? h("span", { class: "tag", title: `Sub-orchestration of ${row.parentInstanceId}` }, "sub")
        : null,
    ),
    h("td", { class: "mono" }, h("a", { href }, row.instanceId)),
    h("td", {}, statusBadge(row.runtimeStatus), waitingMarker(row.waitingFor)),
    h("td", {}, h("time", { datetime: row.createdTime }, fmtTime(row.createdTime))),
    h("td", {}, h("time", { datetime: row.lastUpdatedTime }, fmtTime(row.lastUpdatedTime))),
    h("td", { class: "num" }, fmtDuration(row.durationMs)),
  );
}

/** One row across the table with a message (class "empty" or "error-cell"). */
function messageRow(cellClass, text) {
  return h("tr", {}, h("td", { colspan: COLUMNS.length, class: cellClass }, text));
}
