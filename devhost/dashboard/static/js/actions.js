// Management actions, each behind a confirmation dialog. Errors from the API stay visible in the dialog.

import { api, instancePath } from "./api.js";
import { checkbox, field, openDialog, parseJsonField } from "./dialog.js";
import { h, toast } from "./dom.js";

const value = (form, name) => form.elements.namedItem(name)?.value ?? "";

/** Start a new orchestration; resolves with the new instance id (or null when cancelled).
 * `knownNames` (the app's orchestrators first) are suggested; `appNames` (the app's own) are also one-click
 * picks. Any other name may be typed. */
export async function startOrchestration(knownNames = [], { appNames = knownNames } = {}) {
  const listId = "orchestrator-names";
  const datalist = h("datalist", { id: listId }, ...knownNames.map((name) => h("option", { value: name })));
  const nameField = field("Orchestrator name", {
    name: "name",
    required: true,
    list: listId,
    placeholder: knownNames[0] ? `e.g. ${knownNames[0]}` : "e.g. hello_orchestrator",
    hint: knownNames.length ? "Type to see suggestions; any name may be typed." : undefined,
  });
  const picks =
    appNames.length && appNames.length <= 12
      ? h(
          "div",
          { class: "name-picks", role: "group", "aria-label": "Orchestrators of this app" },
          ...appNames.map((name) =>
            h(
              "button",
              {
                type: "button",
                class: "chip-button",
                onclick: (event) => {
                  const input = event.currentTarget.closest("form").elements.namedItem("name");
                  input.value = name;
                  input.focus();
                },
              },
              name,
            ),
          ),
        )
      : null;
  return openDialog({
    title: "Start orchestration",
    submitLabel: "Start",
    fields: [
      nameField,
      picks,
      datalist,
      field("Instance ID", { name: "instanceId", hint: "Optional. Leave empty for a generated id." }),
      field("Input (JSON)", {
        name: "input",
        multiline: true,
        placeholder: '{"city": "Tokyo"}',
        hint: "Optional JSON value.",
      }),
    ].filter(Boolean),
    onSubmit: async (form) => {
      const name = value(form, "name").trim();
      if (!name) throw new Error("Orchestrator name is required.");
      const input = parseJsonField(value(form, "input"), "Input");
      const body = { name, instanceId: value(form, "instanceId").trim() || undefined, input };
      const result = await api("/api/instances", { method: "POST", body });
      toast(`Started ${result.instanceId}`, "success");
      return result.instanceId;
    },
  });
}

/** Signal an entity operation with an optional JSON input; resolves {name, key} when sent (null when cancelled).
 * Without name and key the dialog asks for them too (to signal an entity that does not exist yet). */
export function signalEntity(name, key) {
  const known = Boolean(name);
  return openDialog({
    title: known ? "Signal entity?" : "Signal an entity",
    description: known
      ? h(
          "span",
          {},
          "Queue a one-way operation for ",
          h("code", {}, `@${name}@${key}`),
          ". It runs after the operations already queued.",
        )
      : "Queue a one-way operation for an entity; an entity that does not exist yet is created by it.",
    submitLabel: "Signal",
    fields: [
      known ? null : field("Entity name", { name: "entityName", required: true, placeholder: "e.g. counter" }),
      known ? null : field("Entity key", { name: "entityKey", required: true, placeholder: "e.g. tokyo" }),
      field("Operation", { name: "operation", required: true, placeholder: "e.g. add" }),
      field("Input (JSON)", {
        name: "input",
        multiline: true,
        placeholder: "1",
        hint: "Optional JSON value: what the entity's get_input() returns.",
      }),
    ].filter(Boolean),
    onSubmit: async (form) => {
      const target = {
        name: known ? name : value(form, "entityName").trim(),
        key: known ? key : value(form, "entityKey").trim(),
      };
      if (!target.name || !target.key) throw new Error("Entity name and key are required.");
      const operation = value(form, "operation").trim();
      if (!operation) throw new Error("Operation is required.");
      const input = parseJsonField(value(form, "input"), "Input");
      const path = `/api/entities/${encodeURIComponent(target.name)}/${encodeURIComponent(target.key)}/signal`;
      await api(path, { method: "POST", body: { operation, input } });
      toast(`Signalled ${operation} to @${target.name.toLowerCase()}@${target.key}`, "success");
      return target;
    },
  });
}

function reasonAction({ instanceId, verb, path, description, danger = false }) {
  return openDialog({
    title: `${verb} instance?`,
    description: h("span", {}, description, " ", h("code", {}, instanceId)),
    submitLabel: verb,
    danger,
    fields: [field("Reason", { name: "reason", hint: "Optional; recorded with the instance." })],
    onSubmit: async (form) => {
      await api(instancePath(instanceId, path), {
        method: "POST",
        body: { reason: value(form, "reason").trim() || undefined },
      });
      toast(`${verb} requested for ${instanceId}`, "success");
      return true;
    },
  });
}

export const terminate = (instanceId) =>
  reasonAction({
    instanceId,
    verb: "Terminate",
    path: "/terminate",
    danger: true,
    description: "The orchestration stops for good; running activities are abandoned.",
  });
export const suspend = (instanceId) =>
  reasonAction({
    instanceId,
    verb: "Suspend",
    path: "/suspend",
    description: "New events are held until the instance is resumed.",
  });
export const resume = (instanceId) =>
  reasonAction({ instanceId, verb: "Resume", path: "/resume", description: "Held events are delivered again." });
export const rewind = (instanceId) =>
  reasonAction({
    instanceId,
    verb: "Rewind",
    path: "/rewind",
    description: "The failed tasks are retried; completed work is kept.",
  });

/** Raise an external event with a JSON payload. */
export function raiseEvent(instanceId) {
  return openDialog({
    title: "Raise event",
    description: h("span", {}, "Deliver an external event to ", h("code", {}, instanceId)),
    submitLabel: "Raise event",
    fields: [
      field("Event name", { name: "eventName", required: true, placeholder: "e.g. Approval" }),
      field("Payload (JSON)", { name: "data", multiline: true, placeholder: "true", hint: "Optional JSON value." }),
    ],
    onSubmit: async (form) => {
      const eventName = value(form, "eventName").trim();
      if (!eventName) throw new Error("Event name is required.");
      const data = parseJsonField(value(form, "data"), "Payload");
      await api(instancePath(instanceId, "/raise-event"), { method: "POST", body: { eventName, data } });
      toast(`Event ${eventName} raised`, "success");
      return true;
    },
  });
}

/** Restart with the same input; resolves with the instance id used. */
export function restart(instanceId) {
  return openDialog({
    title: "Restart instance?",
    description: h("span", {}, "Start the orchestrator of ", h("code", {}, instanceId), " again with the same input."),
    submitLabel: "Restart",
    fields: [checkbox("Use a new instance ID", { name: "newInstanceId", checked: true })],
    onSubmit: async (form) => {
      const newInstanceId = form.elements.namedItem("newInstanceId").checked;
      const result = await api(instancePath(instanceId, "/restart"), { method: "POST", body: { newInstanceId } });
      toast(`Restarted as ${result.instanceId}`, "success");
      return result.instanceId;
    },
  });
}

/** Purge one instance and its history. */
export function purgeOne(instanceId) {
  return openDialog({
    title: "Purge instance?",
    description: h("span", {}, "Delete ", h("code", {}, instanceId), " and its history. This cannot be undone."),
    submitLabel: "Purge",
    danger: true,
    onSubmit: async () => {
      await api(instancePath(instanceId, "/purge"), { method: "POST" });
      toast(`Purged ${instanceId}`, "success");
      return true;
    },
  });
}

/** Purge every ended instance matching created range and statuses; resolves with the count deleted. */
export function purgeByFilter({ createdFrom, createdTo, statuses }) {
  const ended = ["Completed", "Failed", "Terminated", "Canceled"];
  const chosen = statuses.length ? statuses.filter((s) => ended.includes(s)) : ended;
  const fromText = createdFrom ? new Date(createdFrom).toLocaleString() : "the beginning";
  const toText = createdTo ? new Date(createdTo).toLocaleString() : "now";
  return openDialog({
    title: "Purge matching instances?",
    description: `Delete every ${chosen.join(", ")} instance created between ${fromText} and ${toText}, with its history. Running instances are never purged. This cannot be undone.`,
    submitLabel: "Purge",
    danger: true,
    onSubmit: async () => {
      if (!chosen.length) throw new Error("The status filter selects no ended status; nothing would be purged.");
      const body = {
        createdFrom: createdFrom || "1970-01-01T00:00:00Z",
        createdTo: createdTo || undefined,
        statuses: chosen,
      };
      const result = await api("/api/purge", { method: "POST", body });
      toast(`Purged ${result.instancesDeleted} instance(s)`, "success");
      return result.instancesDeleted;
    },
  });
}
