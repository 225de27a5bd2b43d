// A small SVG column chart (no library): completions per second over time, with the same numbers in a visually
// hidden table for screen readers (the chart is an image to them). Both are built from the same buckets on every
// render, so the table always matches the bars.

import { h, svg } from "./dom.js";

/** Column chart of buckets [{start, count, perSecond}]; value axis in completions per second. */
export function completionsChart(buckets, { height = 220 } = {}) {
  const width = 1200;
  const pad = { left: 44, right: 12, top: 12, bottom: 26 };
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const peak = Math.max(...buckets.map((b) => b.perSecond), 0);
  const top = peak > 0 ? niceCeil(peak) : 1;
  const barW = innerW / Math.max(buckets.length, 1);
  const total = buckets.reduce((sum, b) => sum + b.count, 0);
  const latest = buckets.at(-1);
  const label = `Completions per second over the last ${buckets.length} buckets: ${total} completed in total, peak ${peak.toFixed(2)} per second, latest ${latest ? latest.perSecond.toFixed(2) : 0} per second.`;

  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": label });
  for (const fraction of [0, 0.5, 1]) {
    const y = pad.top + innerH * (1 - fraction);
    chart.append(
      svg("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "chart-grid" }),
      svg(
        "text",
        { x: pad.left - 6, y: y + 4, class: "chart-label", "text-anchor": "end" },
        formatRate(top * fraction),
      ),
    );
  }
  buckets.forEach((bucket, index) => {
    const barH = (bucket.perSecond / top) * innerH;
    const rect = svg("rect", {
      x: pad.left + index * barW + 1,
      y: pad.top + innerH - barH,
      width: Math.max(barW - 2, 1),
      height: Math.max(barH, 0),
      class: "chart-bar",
    });
    rect.append(svg("title", {}, `${bucketTime(bucket)}: ${bucket.count} completed (${bucket.perSecond}/s)`));
    chart.append(rect);
  });
  if (buckets.length) {
    const first = new Date(buckets[0].start).toLocaleTimeString();
    const lastEnd = new Date(Date.parse(buckets.at(-1).start)).toLocaleTimeString();
    chart.append(
      svg("text", { x: pad.left, y: height - 6, class: "chart-label" }, first),
      svg("text", { x: width - pad.right, y: height - 6, class: "chart-label", "text-anchor": "end" }, lastEnd),
    );
  }
  return h(
    "figure",
    { class: "chart-figure" },
    chart,
    chartDataTable(buckets),
    h("figcaption", { class: "muted" }, label),
  );
}

/** The chart's numbers as a table, one row per bucket: visually hidden, read by screen readers. */
function chartDataTable(buckets) {
  const rows = buckets.length
    ? buckets.map((bucket) =>
        h(
          "tr",
          {},
          h("th", { scope: "row" }, h("time", { datetime: bucket.start }, bucketTime(bucket))),
          h("td", {}, bucket.count),
          h("td", {}, bucket.perSecond),
        ),
      )
    : [h("tr", {}, h("td", { colspan: 3 }, "No data in this window."))];
  return h(
    "div",
    { class: "visually-hidden chart-data" },
    h(
      "table",
      {},
      h("caption", {}, "Completions per bucket (the chart's data)"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Bucket starting"),
          h("th", { scope: "col" }, "Completed"),
          h("th", { scope: "col" }, "Per second"),
        ),
      ),
      h("tbody", {}, ...rows),
    ),
  );
}

/** A bucket's start as a local time of day, as on the bars' tooltips. */
function bucketTime(bucket) {
  return new Date(bucket.start).toLocaleTimeString();
}

function niceCeil(value) {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (value <= m * magnitude) return m * magnitude;
  return 10 * magnitude;
}

function formatRate(value) {
  return value >= 10 ? value.toFixed(0) : value >= 1 ? value.toFixed(1) : value.toFixed(2);
}
