// Entities: the task hub's durable entities (name, key, last operation, state preview), a detail with the
// whole state, and a "Signal" action. Entities change without instance events, so this view polls.

import { signalEntity } from "../actions.js";
import { api } from "../api.js";
import { fmtTime, h, jsonBlock, keepFocus, loading, panel, replace } from "../dom.js";

export const title = () => "Entities";

/** Hash of one entity's detail (both parts encoded: keys may hold any character). */
export const entityHash = (name, key) => `#/entities?name=${encodeURIComponent(name)}&key=${encodeURIComponent(key)}`;

export function mount(container, { params }, ctx) {
  let selected = readSelection(params);
  let listSignature = "";
  let detailSignature = "";
  let requestSeq = 0;
  const listSlot = h("div", {}, loading());
  const detailSlot = h("div", { class: "entity-detail" });
  const status = h("p", { class: "list-status", role: "status", "aria-live": "polite" });
  replace(
    container,
    h(
      "div",
      { class: "view-head" },
      h("h1", {}, "Entities"),
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: async () => {
            const target = await signalEntity();
            if (target) ctx.navigate(entityHash(target.name, target.key));
          },
        },
        "Signal an entity…",
      ),
    ),
    h(
      "div",
      { class: "entities-layout" },
      h("div", {}, h("div", { class: "table-wrap" }, listSlot), status),
      detailSlot,
    ),
  );

  function readSelection(p) {
    const name = p.get("name");
    const key = p.get("key");
    return name && key !== null ? { name, key } : null;
  }

  const isSelected = (row) => selected && row.name === selected.name.toLowerCase() && row.key === selected.key;

  async function loadList({ quiet = false } = {}) {
    let data;
    try {
      data = await api("/api/entities");
    } catch (err) {
      replace(listSlot, h("p", { class: "notice error" }, `Could not load entities: ${err.message}`));
      if (quiet) throw err;
      return;
    }
    const signature = `${selected?.name}|${selected?.key}|${JSON.stringify(data.entities)}`;
    if (signature === listSignature) return;
    listSignature = signature;
    status.textContent = data.entities.length
      ? `${data.entities.length} entit${data.entities.length === 1 ? "y" : "ies"}${data.entities.length >= data.top ? ` (the ${data.top} most recent)` : ""}.`
      : "";
    if (!data.entities.length) {
      replace(
        listSlot,
        h(
          "p",
          { class: "empty-note muted" },
          "No entities yet. An entity appears once it has been signalled and has state.",
        ),
      );
      return;
    }
    const rows = data.entities.map((row) =>
      h(
        "tr",
        { class: isSelected(row) ? "selected" : undefined, dataset: { entityId: row.entityId } },
        h("td", {}, row.name),
        h(
          "td",
          { class: "mono" },
          h(
            "a",
            { href: entityHash(row.name, row.key), "aria-current": isSelected(row) ? "true" : undefined },
            row.key || "(empty key)",
          ),
        ),
        h(
          "td",
          {},
          row.lastOperationTime ? h("time", { datetime: row.lastOperationTime }, fmtTime(row.lastOperationTime)) : "—",
        ),
        h("td", { class: "mono state-preview", title: row.statePreview }, row.statePreview),
      ),
    );
    keepFocus(listSlot, () =>
      replace(
        listSlot,
        h(
          "table",
          { class: "grid entities" },
          h("caption", { class: "visually-hidden" }, "Durable entities, most recently operated first"),
          h(
            "thead",
            {},
            h("tr", {}, ...["Name", "Key", "Last operation", "State"].map((t) => h("th", { scope: "col" }, t))),
          ),
          h("tbody", {}, ...rows),
        ),
      ),
    );
  }

  async function loadDetail({ quiet = false } = {}) {
    const seq = ++requestSeq;
    if (!selected) {
      detailSignature = "";
      replace(
        detailSlot,
        h(
          "section",
          { class: "panel entity-hint" },
          h("h2", {}, "Entity state"),
          h("p", { class: "muted" }, "Choose an entity to see its whole state and to signal it."),
        ),
      );
      return;
    }
    const { name, key } = selected;
    let detail;
    try {
      detail = await api(`/api/entities/${encodeURIComponent(name)}/${encodeURIComponent(key)}`);
    } catch (err) {
      if (seq !== requestSeq) return;
      detailSignature = "";
      replace(
        detailSlot,
        panel(
          `@${name}@${key}`,
          h(
            "p",
            { class: err.status === 404 ? "notice" : "notice error" },
            err.status === 404
              ? "This entity has no state (it was never signalled, or it was deleted)."
              : `Could not load the entity: ${err.message}`,
          ),
          signalButton(name, key),
        ),
      );
      if (quiet && err.status !== 404) throw err;
      return;
    }
    if (seq !== requestSeq) return;
    const signature = JSON.stringify(detail);
    if (signature === detailSignature) return;
    detailSignature = signature;
    const item = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
    keepFocus(detailSlot, () =>
      replace(
        detailSlot,
        h(
          "section",
          { class: "panel", "aria-labelledby": "entity-title" },
          h(
            "div",
            { class: "panel-head" },
            h("h2", { id: "entity-title" }, h("span", { class: "mono" }, detail.entityId)),
            signalButton(detail.name, detail.key),
          ),
          h(
            "dl",
            { class: "summary" },
            item("Name", detail.name),
            item("Key", h("span", { class: "mono" }, detail.key)),
            item(
              "Last operation",
              detail.lastOperationTime
                ? h("time", { datetime: detail.lastOperationTime }, fmtTime(detail.lastOperationTime))
                : "—",
            ),
            item("State size", `${detail.stateSize.toLocaleString()} characters`),
            detail.lockedBy
              ? item(
                  "Locked by",
                  h("a", { class: "mono", href: `#/instance/${encodeURIComponent(detail.lockedBy)}` }, detail.lockedBy),
                )
              : null,
          ),
          h("h3", { class: "sub-heading" }, "State"),
          jsonBlock(detail.state, { empty: "(no state)" }),
        ),
      ),
    );
  }

  function signalButton(name, key) {
    return h(
      "button",
      {
        type: "button",
        class: "primary",
        dataset: { focusKey: "signal" },
        onclick: async () => {
          if (await signalEntity(name, key)) ctx.refreshSoon();
        },
      },
      "Signal…",
    );
  }

  const loadAll = (options) => Promise.all([loadList(options), loadDetail(options)]);
  loadAll();
  return {
    update(next) {
      selected = readSelection(next);
      loadAll();
    },
    refresh: () => loadAll({ quiet: true }),
    // Entity operations are not instance changes: the server's change events do not cover them.
    needsPolling: () => true,
    unmount() {
      requestSeq++;
    },
  };
}
