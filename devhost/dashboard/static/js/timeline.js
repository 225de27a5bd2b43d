// Gantt chart of an execution: one row per activity, sub-orchestration and timer, on a shared time axis,
// so tasks that ran in parallel show as overlapping bars.

import { fmtDuration, fmtTimePrecise, h } from "./dom.js";

const KIND_LABEL = { activity: "Activity", suborchestration: "Sub-orchestration", timer: "Timer" };

function niceStep(span) {
  const raw = span / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 5, 10]) if (raw <= m * magnitude) return m * magnitude;
  return 10 * magnitude;
}

/** Render the timeline data of /api/instances/{id}/timeline. */
export function renderTimeline(data) {
  const now = Date.parse(data.now) || Date.now();
  const bars = data.bars || [];
  if (!bars.length) {
    return h("p", { class: "muted" }, "No activities, sub-orchestrations or timers yet.");
  }
  const startOf = (iso) => Date.parse(iso);
  const endOf = (bar) => (bar.end ? Date.parse(bar.end) : now);
  const origin = Math.min(startOf(data.start) || Infinity, ...bars.map((b) => startOf(b.start)));
  const finish = Math.max(data.end ? Date.parse(data.end) : 0, ...bars.map(endOf), origin + 1);
  const span = finish - origin;
  const pct = (t) => `${(((t - origin) / span) * 100).toFixed(3)}%`;

  const step = niceStep(span);
  const ticks = [];
  for (let t = 0; t <= span; t += step) ticks.push(t);
  const axis = h(
    "div",
    { class: "tl-axis", "aria-hidden": "true" },
    h("div", { class: "tl-label" }, ""),
    h(
      "div",
      { class: "tl-track" },
      ...ticks.map((t) => {
        const tick = h("span", { class: "tl-tick" }, fmtDuration(t));
        tick.style.left = pct(origin + t);
        return tick;
      }),
    ),
  );

  const rows = bars.map((bar) => {
    const start = startOf(bar.start);
    const end = endOf(bar);
    const duration = end - start;
    const state = bar.end ? bar.outcome : bar.outcome === "abandoned" ? "abandoned" : "running";
    const summary = `${KIND_LABEL[bar.kind] || bar.kind} ${bar.name}${bar.label ? ` (${bar.label})` : ""}: ${state}, started ${fmtTimePrecise(bar.start)}, ${bar.end ? `took ${fmtDuration(duration)}` : "not finished"}${bar.detail ? ` — ${bar.detail}` : ""}`;
    const barEl = h(
      "div",
      { class: `tl-bar kind-${bar.kind} outcome-${state}`, title: summary },
      h("span", { class: "tl-bar-text" }, fmtDuration(duration)),
    );
    barEl.style.left = pct(start);
    barEl.style.width = `max(3px, ${((duration / span) * 100).toFixed(3)}%)`;
    const nameNode =
      bar.kind === "suborchestration" && bar.instanceId
        ? h("a", { href: `#/instance/${encodeURIComponent(bar.instanceId)}` }, bar.name)
        : h("span", {}, bar.name);
    return h(
      "div",
      {
        class: "tl-row",
        role: "listitem",
        dataset: { kind: bar.kind, outcome: state, taskId: bar.taskId },
        "aria-label": summary,
      },
      h(
        "div",
        { class: "tl-label" },
        h("span", { class: `tl-kind kind-${bar.kind}`, "aria-hidden": "true" }, KIND_LABEL[bar.kind]?.[0] || "?"),
        nameNode,
        bar.label ? h("span", { class: "tl-sub" }, bar.label) : null,
      ),
      h("div", { class: "tl-track" }, barEl),
    );
  });

  const markers = (data.events || []).map((event) => {
    const mark = h("span", { class: "tl-event", title: `Event ${event.name} at ${fmtTimePrecise(event.time)}` });
    mark.style.left = pct(Date.parse(event.time));
    return mark;
  });
  const eventsRow = markers.length
    ? h(
        "div",
        { class: "tl-row tl-events" },
        h("div", { class: "tl-label" }, "External events"),
        h("div", { class: "tl-track" }, ...markers),
      )
    : null;

  const running = bars.filter((b) => !b.end && b.outcome !== "abandoned").length;
  const maxParallel = peakParallelism(bars.map((b) => [startOf(b.start), endOf(b)]));
  return h(
    "div",
    { class: "timeline" },
    h(
      "p",
      { class: "tl-summary" },
      `${bars.length} task${bars.length === 1 ? "" : "s"} over ${fmtDuration(span)}; up to ${maxParallel} at once`,
      running ? `; ${running} still running` : "",
      ".",
    ),
    h(
      "div",
      { class: "tl-legend", "aria-hidden": "true" },
      h("span", { class: "kind-activity" }, "Activity"),
      h("span", { class: "kind-suborchestration" }, "Sub-orchestration"),
      h("span", { class: "kind-timer" }, "Timer"),
      h("span", { class: "outcome-failed" }, "Failed"),
      h("span", { class: "outcome-running" }, "Running"),
    ),
    axis,
    h("div", { class: "tl-rows", role: "list", "aria-label": "Tasks on a time axis" }, ...rows, eventsRow),
  );
}

/** Largest number of intervals open at the same moment. */
function peakParallelism(intervals) {
  const points = intervals.flatMap(([s, e]) => [
    [s, 1],
    [Math.max(e, s), -1],
  ]);
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let peak = 0;
  for (const [, delta] of points) {
    open += delta;
    peak = Math.max(peak, open);
  }
  return peak;
}
