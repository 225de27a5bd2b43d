// Instance detail: summary, actions, input/output, timeline and full history; refreshes when the instance
// changes (server events), and running bars grow between changes without asking the server.

import * as actions from "../actions.js";
import { api, instancePath } from "../api.js";
import {
  fmtDuration,
  fmtTime,
  fmtTimePrecise,
  h,
  jsonBlock,
  loading,
  panel,
  preview,
  replace,
  statusBadge,
  TERMINAL,
  waitingText,
} from "../dom.js";
import { renderTimeline } from "../timeline.js";

export const title = (instanceId) => `Instance ${instanceId}`;

const EVENT_ID_FIELDS = ["EventId", "TaskScheduledId", "TimerId"];
const SHOWN_FIELDS = new Set([
  "index",
  "EventType",
  "EventTypeName",
  "Timestamp",
  "Name",
  "IsPlayed",
  ...EVENT_ID_FIELDS,
]);

// A POSIX shell word: quoted unless it is plainly safe.
const shellWord = (text) => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`);

// `devhost replay`: the instance's history through the app's current code, in a terminal (pdb works there).
function replayCommand(instanceId) {
  const command = `devhost replay ${shellWord(instanceId)}`;
  const status = h("span", { class: "muted", role: "status" });
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(command);
      status.textContent = " copied";
    } catch {
      status.textContent = " select the command to copy it";
    }
  };
  return h(
    "span",
    { class: "replay-command" },
    h("code", { title: "Run in the app folder (add --data-dir DIR if the host was started with one)" }, command),
    " ",
    h("button", { type: "button", class: "secondary", onclick: copy, "aria-label": "Copy the replay command" }, "Copy"),
    status,
  );
}

export function mount(container, { arg: instanceId }, ctx) {
  let lastSignature = "";
  let disposed = false;
  let lastTimeline = null; // {data, receivedAt}: redrawn with a moving "now" while tasks run
  const header = h("div", { class: "view-head" });
  const body = h("div", { class: "detail" }, loading());
  replace(
    container,
    h(
      "nav",
      { class: "breadcrumb", "aria-label": "Breadcrumb" },
      h("a", { href: "#/instances" }, "Instances"),
      h("span", { "aria-hidden": "true" }, " / "),
      h("span", { class: "mono" }, instanceId),
    ),
    header,
    body,
  );

  const actionButtons = (detail) => {
    const status = detail.runtimeStatus;
    const ended = TERMINAL.has(status);
    const after = async (promise, { navigateTo } = {}) => {
      const result = await promise;
      if (!result) return; // cancelled
      if (navigateTo === "list") ctx.navigate("#/instances");
      else if (navigateTo && typeof result === "string" && result !== instanceId)
        ctx.navigate(`#/instance/${encodeURIComponent(result)}`);
      else load();
    };
    const button = (label, onclick, { enabled = true, kind = "secondary" } = {}) =>
      h("button", { type: "button", class: kind, disabled: !enabled, onclick }, label);
    return h(
      "div",
      { class: "actions", role: "toolbar", "aria-label": "Instance actions" },
      button("Raise event", () => after(actions.raiseEvent(instanceId)), { enabled: !ended }),
      button("Suspend", () => after(actions.suspend(instanceId)), {
        enabled: status === "Running" || status === "Pending",
      }),
      button("Resume", () => after(actions.resume(instanceId)), { enabled: status === "Suspended" }),
      button("Rewind", () => after(actions.rewind(instanceId)), { enabled: status === "Failed" }),
      button("Restart", () => after(actions.restart(instanceId), { navigateTo: true })),
      button("Terminate", () => after(actions.terminate(instanceId)), { enabled: !ended, kind: "danger-outline" }),
      button("Purge", () => after(actions.purgeOne(instanceId), { navigateTo: "list" }), {
        enabled: ended,
        kind: "danger-outline",
      }),
    );
  };

  function summary(detail) {
    const item = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
    const children = detail.children || [];
    return h(
      "dl",
      { class: "summary" },
      item("Status", statusBadge(detail.runtimeStatus)),
      item("Created", h("time", { datetime: detail.createdTime }, fmtTime(detail.createdTime))),
      item("Last updated", h("time", { datetime: detail.lastUpdatedTime }, fmtTime(detail.lastUpdatedTime))),
      item(
        "Completed",
        detail.completedTime ? h("time", { datetime: detail.completedTime }, fmtTime(detail.completedTime)) : "—",
      ),
      item("Duration", fmtDuration(detail.durationMs)),
      item("Execution ID", h("span", { class: "mono" }, detail.executionId)),
      Object.keys(detail.tags || {}).length
        ? item(
            "Tags",
            h(
              "ul",
              { class: "tag-list" },
              ...Object.entries(detail.tags).map(([key, value]) => h("li", { class: "mono" }, `${key}=${value}`)),
            ),
          )
        : null,
      item("Replay", replayCommand(detail.instanceId || instanceId)),
      detail.parentInstanceId
        ? item(
            "Parent",
            h(
              "a",
              { class: "mono", href: `#/instance/${encodeURIComponent(detail.parentInstanceId)}` },
              detail.parentInstanceId,
            ),
          )
        : null,
      children.length
        ? item(
            `Sub-orchestrations (${children.length})`,
            h(
              "ul",
              { class: "children" },
              ...children.map((child) =>
                h(
                  "li",
                  {},
                  h(
                    "a",
                    { class: "mono", href: `#/instance/${encodeURIComponent(child.instanceId)}` },
                    child.instanceId,
                  ),
                  " ",
                  h("span", { class: "muted" }, child.name),
                ),
              ),
            ),
          )
        : null,
    );
  }

  function historyTable(events) {
    const rows = events.map((event) => {
      const extra = Object.fromEntries(Object.entries(event).filter(([key]) => !SHOWN_FIELDS.has(key)));
      const id = EVENT_ID_FIELDS.map((key) => event[key]).find((v) => v !== undefined && v !== null && v !== -1);
      const hasExtra = Object.keys(extra).length > 0;
      return h(
        "tr",
        { class: `ev-${event.EventTypeName}` },
        h("td", { class: "num" }, event.index),
        h(
          "td",
          { class: "mono" },
          h("time", { datetime: event.Timestamp, title: fmtTime(event.Timestamp) }, fmtTimePrecise(event.Timestamp)),
        ),
        h("td", {}, event.EventTypeName),
        h("td", {}, event.Name ?? ""),
        h("td", { class: "num" }, id ?? ""),
        h(
          "td",
          { class: "details-cell" },
          hasExtra ? h("details", {}, h("summary", {}, preview(extra, 90)), jsonBlock(extra)) : "",
        ),
      );
    });
    return h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "grid history" },
        h("caption", { class: "visually-hidden" }, "History events"),
        h(
          "thead",
          {},
          h("tr", {}, ...["#", "Time", "Event", "Name", "Task ID", "Details"].map((t) => h("th", { scope: "col" }, t))),
        ),
        h("tbody", {}, ...rows),
      ),
    );
  }

  async function load({ quiet = false } = {}) {
    let detail, history, timeline;
    try {
      [detail, history, timeline] = await Promise.all([
        api(instancePath(instanceId)),
        api(instancePath(instanceId, "/history")),
        api(instancePath(instanceId, "/timeline")),
      ]);
    } catch (err) {
      if (disposed) return;
      if (err.status === 404) {
        replace(header, h("h1", {}, "Instance not found"));
        replace(
          body,
          h("p", { class: "notice" }, `No instance with id ${instanceId} exists (it may have been purged).`),
          h("p", {}, h("a", { href: "#/instances" }, "Back to the instance list")),
        );
        return;
      }
      if (quiet) throw err;
      replace(body, h("p", { class: "notice error" }, `Could not load the instance: ${err.message}`));
      return;
    }
    if (disposed) return;
    lastTimeline = { data: timeline, receivedAt: Date.now() };
    // Skip re-rendering when nothing changed, so open <details> and the scroll position survive polling.
    const signature = `${detail.runtimeStatus}|${detail.lastUpdatedTime}|${history.events.length}|${JSON.stringify(detail.customStatus)}|${timeline.bars.filter((b) => !b.end).length}`;
    const running = timeline.bars.some((b) => !b.end && b.outcome !== "abandoned");
    if (signature === lastSignature && !running) return;
    const structural = signature !== lastSignature;
    lastSignature = signature;
    if (!structural) {
      // Only running bars moved: update the timeline alone.
      const slot = body.querySelector(".timeline-slot");
      if (slot) replace(slot, renderTimeline(timeline));
      return;
    }
    replace(
      header,
      h(
        "div",
        {},
        h("h1", {}, detail.name, " ", statusBadge(detail.runtimeStatus)),
        h("p", { class: "mono muted subtitle" }, detail.instanceId),
      ),
      actionButtons(detail),
    );
    replace(
      body,
      detail.waitingFor?.length
        ? h(
            "p",
            { class: "notice waiting", role: "note" },
            `This instance is ${detail.waitingFor.map(waitingText).join("; ")}. No connected worker takes that name: `,
            "the work stays in the task hub and runs as soon as a worker that accepts it connects.",
          )
        : null,
      panel("Summary", summary(detail)),
      detail.failureMessage
        ? h(
            "section",
            { class: "panel failure", "aria-label": "Failure" },
            h("h2", {}, "Failure"),
            h("pre", { class: "json" }, detail.failureMessage),
          )
        : null,
      h(
        "div",
        { class: "io" },
        panel("Input", jsonBlock(detail.input)),
        panel("Output", jsonBlock(detail.output)),
        panel("Custom status", jsonBlock(detail.customStatus)),
      ),
      panel("Timeline", h("div", { class: "timeline-slot" }, renderTimeline(timeline))),
      panel(`History (${history.events.length} events)`, historyTable(history.events)),
    );
  }

  /** Grow the running bars to the current time, from the last timeline the server sent. */
  function animate() {
    if (!lastTimeline?.data.bars.some((b) => !b.end && b.outcome !== "abandoned")) return;
    const slot = body.querySelector(".timeline-slot");
    const serverNow = Date.parse(lastTimeline.data.now) || lastTimeline.receivedAt;
    const now = new Date(serverNow + (Date.now() - lastTimeline.receivedAt)).toISOString();
    if (slot) replace(slot, renderTimeline({ ...lastTimeline.data, now }));
  }

  load();
  return {
    refresh: () => load({ quiet: true }),
    // Sub-orchestrations report to their parent, whose own row changes then: this instance's id is enough.
    wants: (change) => !change.instanceIds || change.instanceIds.includes(instanceId),
    animate,
    unmount() {
      disposed = true;
    },
  };
}
