// Modal dialogs on the native <dialog> element: focus is trapped, Escape cancels, focus returns afterwards.

import { h } from "./dom.js";

/**
 * Open a form dialog. `fields` is a list of nodes; `onSubmit(form)` may throw to keep the dialog
 * open with the error shown. Resolves with onSubmit's result, or null when cancelled.
 */
export function openDialog({ title, description, fields = [], submitLabel = "OK", danger = false, onSubmit }) {
  const previousFocus = document.activeElement;
  const titleId = `dlg-title-${Math.random().toString(36).slice(2)}`;
  const error = h("p", { class: "dialog-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: danger ? "danger" : "primary" }, submitLabel);
  const cancel = h("button", { type: "button", class: "secondary", value: "cancel" }, "Cancel");
  const form = h(
    "form",
    { method: "dialog", novalidate: true },
    h("h2", { id: titleId }, title),
    description ? h("p", { class: "dialog-description" }, description) : null,
    h("div", { class: "dialog-fields" }, ...fields),
    error,
    h("div", { class: "dialog-buttons" }, cancel, submit),
  );
  const dialog = h("dialog", { class: "modal", "aria-labelledby": titleId }, form);
  document.body.append(dialog);

  return new Promise((resolve) => {
    let result = null;
    const close = () => {
      dialog.close();
    };
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (previousFocus && typeof previousFocus.focus === "function" && previousFocus.isConnected)
        previousFocus.focus();
      resolve(result);
    });
    cancel.addEventListener("click", close);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      submit.disabled = true;
      submit.setAttribute("aria-busy", "true");
      try {
        result = (await onSubmit?.(form)) ?? true;
        close();
      } catch (err) {
        error.textContent = err.message || String(err);
        error.hidden = false;
      } finally {
        submit.disabled = false;
        submit.removeAttribute("aria-busy");
      }
    });
    dialog.showModal();
    const first = form.querySelector("input, textarea, select");
    (first || submit).focus();
  });
}

/** Labelled text input (or textarea with `multiline`). */
export function field(
  label,
  { name, value = "", placeholder = "", multiline = false, required = false, hint, type = "text", list } = {},
) {
  const id = `f-${name}-${Math.random().toString(36).slice(2, 7)}`;
  const hintId = hint ? `${id}-hint` : undefined;
  const control = multiline
    ? h(
        "textarea",
        { id, name, rows: 6, placeholder, spellcheck: "false", "aria-describedby": hintId, required },
        value,
      )
    : h("input", {
        id,
        name,
        type,
        value,
        placeholder,
        autocomplete: "off",
        "aria-describedby": hintId,
        required,
        list,
      });
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label, required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
    control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
  );
}

/** Labelled checkbox. */
export function checkbox(label, { name, checked = false } = {}) {
  const id = `c-${name}-${Math.random().toString(36).slice(2, 7)}`;
  return h(
    "div",
    { class: "field check" },
    h("input", { id, name, type: "checkbox", checked }),
    h("label", { for: id }, label),
  );
}

/** Parse optional JSON text from a form field; throws a readable error. */
export function parseJsonField(text, label) {
  const trimmed = (text || "").trim();
  if (!trimmed) return undefined;
  try {
    return JSON.parse(trimmed);
  } catch (err) {
    throw new Error(`${label} is not valid JSON: ${err.message}`);
  }
}
