// Modal dialogs on the native <dialog>: focus is trapped, Escape closes, the page behind is
// inert. Each dialog is named by its heading (aria-labelledby) so tests and screen readers
// find it by role and name.

import { Scope, h, replace, uid } from "./dom.js";

/**
 * Open a modal dialog. `content(scope, close)` returns its body; `scope` closes with the
 * dialog. Resolves with the value given to close(value) (undefined when dismissed).
 */
export function openDialog({ title, content, wide = false }) {
  return new Promise((resolve) => {
    const scope = new Scope();
    const titleId = uid("dialog-title");
    const dialog = h("dialog", { class: `dialog${wide ? " dialog-wide" : ""}`, "aria-labelledby": titleId });
    let result;
    const close = (value) => {
      result = value;
      dialog.close();
    };
    dialog.addEventListener("close", () => {
      scope.close();
      dialog.remove();
      resolve(result);
    });
    const header = h("header", { class: "dialog-header" },
      h("h2", { id: titleId }, title),
      h("button", { type: "button", class: "icon-button", "aria-label": "Close", onclick: () => close() }, "×"));
    dialog.append(header, h("div", { class: "dialog-body" }, content(scope, close)));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/**
 * A dialog with a form: `fields` (nodes) and a submit button. `onSubmit(form)` runs on submit;
 * its result closes the dialog and resolves the promise; an error it throws is shown in the
 * dialog, which stays open. Resolves undefined when cancelled.
 */
export function formDialog({ title, fields, submitLabel = "Save", onSubmit, wide = false }) {
  return openDialog({
    title, wide,
    content: (scope, close) => {
      const error = h("p", { class: "form-error", role: "alert", hidden: true });
      const submit = h("button", { type: "submit", class: "button primary" }, submitLabel);
      const form = h("form", { class: "form" },
        typeof fields === "function" ? fields(scope) : fields,
        error,
        h("div", { class: "dialog-actions" },
          h("button", { type: "button", class: "button", onclick: () => close() }, "Cancel"),
          submit));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        submit.disabled = true;
        error.hidden = true;
        try {
          const result = await onSubmit(form);
          close(result ?? true);
        } catch (failure) {
          replace(error, failure.message || String(failure));
          error.hidden = false;
        } finally {
          submit.disabled = false;
        }
      });
      return form;
    },
  });
}

/** Ask before doing something that cannot be undone; resolves true when confirmed. */
export async function confirmDialog({ title, message, confirmLabel = "Delete", danger = true }) {
  const confirmed = await openDialog({
    title,
    content: (scope, close) => h("div", {},
      h("p", {}, message),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "button", onclick: () => close(false) }, "Cancel"),
        h("button", { type: "button", class: `button ${danger ? "danger" : "primary"}`, onclick: () => close(true) }, confirmLabel))),
  });
  return confirmed === true;
}
