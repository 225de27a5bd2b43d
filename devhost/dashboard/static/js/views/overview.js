// Overview: counts per status and orchestrator, completions per second, activity duration percentiles.

import { api, qs } from "../api.js";
import { completionsChart } from "../chart.js";
import { fmtDuration, h, keepFocus, loading, panel, replace, statusBadge } from "../dom.js";

export const title = () => "Overview";

const WINDOWS = [
  { value: "300", label: "Last 5 minutes", bucket: 10 },
  { value: "900", label: "Last 15 minutes", bucket: 30 },
  { value: "3600", label: "Last hour", bucket: 60 },
];

export function mount(container, { params }, ctx) {
  let windowChoice = WINDOWS.find((w) => w.value === params.get("window")) || WINDOWS[0];
  const select = h(
    "select",
    {
      id: "ov-window",
      onchange: () => ctx.navigate(`#/overview${qs({ window: select.value === "300" ? "" : select.value })}`),
    },
    ...WINDOWS.map((w) => h("option", { value: w.value, selected: w === windowChoice }, w.label)),
  );
  const body = h("div", { class: "overview" }, loading());
  replace(
    container,
    h(
      "div",
      { class: "view-head" },
      h("h1", {}, "Overview"),
      h("div", { class: "filter inline" }, h("label", { for: select.id }, "Chart window"), select),
    ),
    body,
  );

  async function load({ quiet = false } = {}) {
    let data;
    try {
      data = await api(`/api/overview${qs({ window: windowChoice.value, bucket: windowChoice.bucket })}`);
    } catch (err) {
      if (quiet) throw err;
      replace(body, h("p", { class: "notice error" }, `Could not load the overview: ${err.message}`));
      return;
    }
    const statusCards = Object.entries(data.statusCounts).map(([status, count]) =>
      h(
        "a",
        { class: `stat-card status-${status.toLowerCase()}`, href: `#/instances?status=${status}` },
        h("span", { class: "stat-value" }, count.toLocaleString()),
        statusBadge(status),
      ),
    );
    const names = Object.entries(data.nameCounts);
    const maxName = Math.max(1, ...names.map(([, n]) => n));
    const nameRows = names.map(([name, count]) => {
      const bar = h("span", { class: "hbar" });
      bar.style.width = `${(count / maxName) * 100}%`;
      return h(
        "tr",
        {},
        h("td", {}, h("a", { href: `#/instances${qs({ name })}` }, name)),
        h("td", { class: "num" }, count.toLocaleString()),
        h("td", { class: "bar-cell", "aria-hidden": "true" }, bar),
      );
    });
    const d = data.activityDurationsMs;
    const percentile = (label, value) =>
      h(
        "div",
        { class: "stat-card plain" },
        h("span", { class: "stat-value" }, fmtDuration(value)),
        h("span", { class: "stat-label" }, label),
      );
    keepFocus(body, () =>
      replace(
        body,
        h("p", { class: "notice" }, `${data.total.toLocaleString()} instances in the task hub.`),
        panel("Instances by status", h("div", { class: "stat-grid" }, ...statusCards)),
        waitingPanel(data.waiting || []),
        panel("Completions per second", completionsChart(data.completions.buckets)),
        h(
          "div",
          { class: "io two" },
          panel(
            "Instances by orchestrator",
            names.length
              ? h(
                  "table",
                  { class: "grid names" },
                  h(
                    "thead",
                    {},
                    h(
                      "tr",
                      {},
                      h("th", { scope: "col" }, "Orchestrator"),
                      h("th", { scope: "col", class: "num" }, "Instances"),
                      h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Share")),
                    ),
                  ),
                  h("tbody", {}, ...nameRows),
                )
              : h("p", { class: "muted" }, "No instances yet."),
          ),
          panel(
            "Activity durations",
            d.count
              ? h(
                  "div",
                  {},
                  h(
                    "div",
                    { class: "stat-grid small" },
                    percentile("p50", d.p50),
                    percentile("p90", d.p90),
                    percentile("p95", d.p95),
                    percentile("p99", d.p99),
                    percentile("max", d.max),
                  ),
                  h(
                    "p",
                    { class: "muted" },
                    `From ${d.count.toLocaleString()} recent activity runs (scheduled to completed).`,
                  ),
                )
              : h("p", { class: "muted" }, "No finished activities yet."),
          ),
        ),
      ),
    );
  }

  load();
  return {
    update(next) {
      windowChoice = WINDOWS.find((w) => w.value === next.get("window")) || WINDOWS[0];
      select.value = windowChoice.value;
      load();
    },
    refresh: () => load({ quiet: true }),
  };
}

/** Work items no connected worker takes, counted by name (no panel when nothing waits). */
function waitingPanel(waiting) {
  if (!waiting.length) return null;
  const total = waiting.reduce((sum, item) => sum + item.count, 0);
  const rows = waiting.map((item) =>
    h(
      "tr",
      {},
      h("td", {}, item.kind),
      h(
        "td",
        {},
        item.kind === "orchestration"
          ? h("a", { href: `#/instances${qs({ name: item.name })}` }, item.name)
          : item.name,
      ),
      h("td", { class: "num" }, item.count.toLocaleString()),
    ),
  );
  return panel(
    "Waiting for a worker",
    h(
      "p",
      { class: "muted" },
      `${total.toLocaleString()} work item(s) wait because no connected worker takes their name; `,
      "they run as soon as one that does connects.",
    ),
    h(
      "table",
      { class: "grid waiting-work", "aria-label": "Work waiting for a worker" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Kind"),
          h("th", { scope: "col" }, "Name"),
          h("th", { scope: "col", class: "num" }, "Waiting"),
        ),
      ),
      h("tbody", {}, ...rows),
    ),
  );
}
