// Queues: the app's queues and poison twins, a peek at messages, requeue of poison messages, the blob triggers
// with their containers, blobs seen and poison entries, results table.

import { api, qs } from "../api.js";
import { openDialog } from "../dialog.js";
import { fmtTime, h, jsonBlock, keepFocus, loading, panel, preview, replace, toast } from "../dom.js";

export const title = () => "Queues";

const BLOB_POISON_QUEUE = "webjobs-blobtrigger-poison";

export function mount(container, { params }, ctx) {
  let selected = params.get("peek") || "";
  let peekSignature = "";
  let resultsSignature = "";
  let blobsSignature = "";
  const queuesSlot = h("div", {}, loading());
  const peekSlot = h("div", {});
  const blobsSlot = h("div", {}, loading());
  const resultsSlot = h("div", {}, loading());
  replace(
    container,
    h("div", { class: "view-head" }, h("h1", {}, "Queues")),
    panel("Storage queues", queuesSlot),
    peekSlot,
    panel("Blob triggers", blobsSlot),
    panel("Collected results", resultsSlot),
  );

  const unavailable = (err) =>
    h(
      "p",
      { class: "notice error", role: "alert" },
      err.status === 503 ? `Storage is unavailable: ${err.message}` : `Could not load: ${err.message}`,
    );

  const peekButton = (name, count) =>
    h(
      "button",
      {
        type: "button",
        class: selected === name ? "secondary pressed" : "secondary",
        "aria-pressed": String(selected === name),
        dataset: { focusKey: `peek:${name}` },
        onclick: () => ctx.navigate(`#/queues${qs({ peek: selected === name ? "" : name })}`),
      },
      `Peek`,
      h("span", { class: "visually-hidden" }, ` ${name}`),
      count ? ` (${count})` : "",
    );

  async function loadQueues() {
    let data;
    try {
      data = await api("/api/queues");
    } catch (err) {
      replace(queuesSlot, unavailable(err));
      return;
    }
    if (!data.configured) {
      replace(
        queuesSlot,
        h("p", { class: "muted" }, "No storage connection is configured, so there are no queues to show."),
      );
      return;
    }
    if (!data.queues.length) {
      replace(queuesSlot, h("p", { class: "muted" }, "The storage account has no queues yet."));
      return;
    }
    const count = (q) => (q.exists ? (q.approximateMessageCount ?? 0).toLocaleString() : "—");
    const rows = data.queues.map((pair) =>
      h(
        "tr",
        { dataset: { queue: pair.name } },
        h(
          "td",
          { class: "mono" },
          pair.name,
          pair.watched ? h("span", { class: "tag", title: "Read by the app's queue triggers" }, "trigger") : null,
          pair.queue.exists ? null : h("span", { class: "muted" }, " (not created yet)"),
        ),
        h("td", { class: "num" }, count(pair.queue)),
        h("td", {}, pair.queue.exists ? peekButton(pair.queue.name, 0) : ""),
        h("td", { class: "mono" }, pair.poison.name),
        h("td", { class: `num${pair.poison.approximateMessageCount ? " warn" : ""}` }, count(pair.poison)),
        h("td", {}, pair.poison.exists ? peekButton(pair.poison.name, 0) : ""),
      ),
    );
    keepFocus(queuesSlot, () =>
      replace(
        queuesSlot,
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "grid queues" },
            h(
              "caption",
              { class: "visually-hidden" },
              "Queues and their poison queues with approximate message counts",
            ),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ...["Queue", "Messages", "", "Poison queue", "Poison messages", ""].map((t, i) =>
                  h(
                    "th",
                    { scope: "col", class: i === 1 || i === 4 ? "num" : undefined },
                    t || h("span", { class: "visually-hidden" }, "Actions"),
                  ),
                ),
              ),
            ),
            h("tbody", {}, ...rows),
          ),
        ),
      ),
    );
  }

  async function requeue(queue, message) {
    const done = await openDialog({
      title: "Requeue message?",
      description: h(
        "span",
        {},
        "Send message ",
        h("code", {}, message.id),
        " back to ",
        h("code", {}, queue.replace(/-poison$/, "")),
        " and delete it from ",
        h("code", {}, queue),
        ".",
      ),
      submitLabel: "Requeue",
      onSubmit: async () => {
        const result = await api(
          `/api/queues/${encodeURIComponent(queue)}/messages/${encodeURIComponent(message.id)}/requeue`,
          { method: "POST" },
        );
        toast(`Message sent back to ${result.queue}`, "success");
        return true;
      },
    });
    if (done) {
      loadQueues();
      loadPeek();
    }
  }

  async function loadPeek() {
    if (!selected) {
      peekSignature = "";
      replace(peekSlot);
      return;
    }
    // Blob trigger poison entries name blobs: there is no queue to send them back to.
    const isPoison = selected.endsWith("-poison") && selected !== BLOB_POISON_QUEUE;
    let data;
    try {
      data = await api(`/api/queues/${encodeURIComponent(selected)}/messages`);
    } catch (err) {
      replace(peekSlot, panel(`Messages in ${selected}`, unavailable(err)));
      return;
    }
    // Unchanged messages: keep the DOM (and any expanded message) as it is.
    const signature = `${selected}|${data.messages.map((m) => `${m.id}:${m.dequeueCount}`).join(",")}`;
    if (signature === peekSignature && peekSlot.firstChild) return;
    peekSignature = signature;
    const rows = data.messages.map((message) =>
      h(
        "tr",
        { dataset: { messageId: message.id } },
        h("td", { class: "mono" }, message.id),
        h("td", {}, fmtTime(message.insertedOn)),
        h("td", { class: "num" }, message.dequeueCount ?? ""),
        h(
          "td",
          { class: "content-cell" },
          h(
            "details",
            {},
            h(
              "summary",
              {},
              preview(message.isJson ? message.json : message.decoded, 100),
              message.encoding === "base64" ? h("span", { class: "tag" }, "base64") : null,
            ),
            jsonBlock(message.isJson ? message.json : message.decoded),
          ),
        ),
        isPoison
          ? h(
              "td",
              {},
              h(
                "button",
                {
                  type: "button",
                  class: "secondary",
                  dataset: { focusKey: `requeue:${message.id}` },
                  onclick: () => requeue(selected, message),
                },
                "Requeue",
              ),
            )
          : null,
      ),
    );
    keepFocus(peekSlot, () =>
      replace(
        peekSlot,
        panel(
          `Messages in ${selected}`,
          h("p", { class: "muted" }, `The first ${data.messages.length} visible message(s), peeked without dequeuing.`),
          data.messages.length
            ? h(
                "div",
                { class: "table-wrap" },
                h(
                  "table",
                  { class: "grid messages" },
                  h(
                    "thead",
                    {},
                    h(
                      "tr",
                      {},
                      ...["Message ID", "Inserted", "Dequeued", "Content"].map((t) => h("th", { scope: "col" }, t)),
                      isPoison ? h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")) : null,
                    ),
                  ),
                  h("tbody", {}, ...rows),
                ),
              )
            : h("p", { class: "muted" }, "No visible messages."),
        ),
      ),
    );
  }

  async function loadBlobTriggers() {
    let data;
    try {
      data = await api("/api/blob-triggers");
    } catch (err) {
      replace(blobsSlot, unavailable(err));
      return;
    }
    if (!data.triggers.length) {
      replace(blobsSlot, h("p", { class: "muted" }, "The app has no blob triggers."));
      return;
    }
    const signature = JSON.stringify(data);
    if (signature === blobsSignature) return;
    blobsSignature = signature;
    const num = (value, warn) => h("td", { class: `num${warn && value ? " warn" : ""}` }, value.toLocaleString());
    const triggerRows = data.triggers.map((t) =>
      h(
        "tr",
        { dataset: { blobTrigger: t.function } },
        h("td", {}, t.function),
        h("td", { class: "mono" }, t.path),
        h("td", { class: "mono" }, t.container),
        num(t.blobsSeen),
        num(t.done),
        num(t.pending),
        num(t.poisoned, true),
        h(
          "td",
          { class: "muted" },
          t.lastScanMs === null
            ? "—"
            : `${t.lastScanBlobs.toLocaleString()} blob${t.lastScanBlobs === 1 ? "" : "s"} in ${t.lastScanMs.toLocaleString()} ms`,
        ),
      ),
    );
    const poisonRows = data.poison.map((p) =>
      h(
        "tr",
        { dataset: { messageId: p.id } },
        h("td", {}, p.function ?? ""),
        h("td", { class: "mono" }, `${p.container ?? ""}/${p.blob ?? ""}`),
        h("td", { class: "mono" }, p.etag ?? ""),
        h("td", {}, fmtTime(p.insertedOn)),
      ),
    );
    const heads = (titles, numeric) =>
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...titles.map((t, i) => h("th", { scope: "col", class: numeric.includes(i) ? "num" : undefined }, t)),
        ),
      );
    keepFocus(blobsSlot, () =>
      replace(
        blobsSlot,
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "grid blob-triggers" },
            h("caption", { class: "visually-hidden" }, "Blob triggers, their containers and blobs seen"),
            heads(
              ["Function", "Path", "Container", "Blobs seen", "Done", "Pending", "Poisoned", "Last scan"],
              [3, 4, 5, 6],
            ),
            h("tbody", {}, ...triggerRows),
          ),
        ),
        h("h3", {}, "Poison entries ", h("span", { class: "mono muted" }, data.poisonQueue)),
        data.poisonError
          ? h("p", { class: "notice error", role: "alert" }, `Storage is unavailable: ${data.poisonError}`)
          : null,
        poisonRows.length
          ? h(
              "div",
              { class: "table-wrap" },
              h(
                "table",
                { class: "grid blob-poison" },
                h("caption", { class: "visually-hidden" }, "Blob versions whose function kept failing"),
                heads(["Function", "Blob", "ETag", "Poisoned"], []),
                h("tbody", {}, ...poisonRows),
              ),
            )
          : h("p", { class: "muted" }, "No blob has been poisoned."),
      ),
    );
  }

  async function loadResults() {
    let data;
    try {
      data = await api("/api/results?top=50");
    } catch (err) {
      replace(resultsSlot, unavailable(err));
      return;
    }
    if (!data.configured) {
      replace(resultsSlot, h("p", { class: "muted" }, "No results table is configured."));
      return;
    }
    if (!data.exists || !data.rows.length) {
      replace(resultsSlot, h("p", { class: "muted" }, `Table ${data.table} has no rows yet.`));
      return;
    }
    const signature = JSON.stringify(data.rows);
    if (signature === resultsSignature) return;
    resultsSignature = signature;
    const columns = [...new Set(data.rows.flatMap((row) => Object.keys(row)))];
    keepFocus(resultsSlot, () =>
      replace(
        resultsSlot,
        h("p", { class: "muted" }, `First ${data.rows.length} rows of table ${data.table}.`),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "grid results" },
            h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              ...data.rows.map((row) => h("tr", {}, ...columns.map((c) => h("td", {}, preview(row[c], 80))))),
            ),
          ),
        ),
      ),
    );
  }

  const loadAll = () => Promise.all([loadQueues(), loadPeek(), loadBlobTriggers(), loadResults()]);
  loadAll();
  return {
    update(next) {
      selected = next.get("peek") || "";
      loadQueues();
      loadPeek();
    },
    refresh: loadAll,
  };
}
