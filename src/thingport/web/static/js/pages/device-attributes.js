// The Attributes tab: client attributes (what the device reports, live over the WebSocket),
// shared attributes (what the device is told) and server attributes (the server's own), the
// last two added, edited and deleted through the REST API.

import * as api from "../api.js";
import { confirmDialog, formDialog } from "../dialog.js";
import { h, replace } from "../dom.js";
import * as live from "../live.js";
import { button, displayValue, errorState, field, formatTime, loading, select, toast } from "../ui.js";

const SCOPES = [
  ["CLIENT_SCOPE", "Client attributes"],
  ["SHARED_SCOPE", "Shared attributes"],
  ["SERVER_SCOPE", "Server attributes"],
];
const TYPES = [["string", "String"], ["integer", "Integer"], ["double", "Double"], ["boolean", "Boolean"], ["json", "JSON"]];

function typeOf(value) {
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "double";
  if (value !== null && typeof value === "object") return "json";
  return "string";
}

/** The text typed into the value field as the chosen type; throws with a message. */
function parseValue(type, text) {
  if (type === "integer") {
    if (!/^-?\d+$/.test(text.trim())) throw new Error("The value must be an integer.");
    return Number(text);
  }
  if (type === "double") {
    const number = Number(text);
    if (text.trim() === "" || Number.isNaN(number)) throw new Error("The value must be a number.");
    return number;
  }
  if (type === "boolean") return text === "true";
  if (type === "json") {
    try {
      return JSON.parse(text);
    } catch {
      throw new Error("The value must be valid JSON.");
    }
  }
  return text;
}

/** The add / edit dialog; `existing` is `{key, value}` when editing. */
function attributeDialog(deviceId, scope, existing) {
  const key = h("input", { type: "text", required: true, maxLength: 255, value: existing ? existing.key : "", readOnly: Boolean(existing) });
  const type = select(TYPES, existing ? typeOf(existing.value) : "string");
  const text = h("input", { type: "text", value: existing ? displayValue(existing.value) : "" });
  const flag = select([["true", "True"], ["false", "False"]], existing ? String(existing.value) : "true");
  const textField = field("Value", text);
  const flagField = field("Value", flag);
  // One "Value" control in the form at a time: a text box, or True / False for booleans.
  const valueSlot = h("div");
  const sync = () => replace(valueSlot, type.value === "boolean" ? flagField : textField);
  type.addEventListener("change", sync);
  sync();
  return formDialog({
    title: existing ? `Edit attribute ${existing.key}` : "Add attribute",
    submitLabel: existing ? "Update" : "Add",
    fields: [field("Key", key), field("Value type", type), valueSlot],
    onSubmit: async () => {
      const value = parseValue(type.value, type.value === "boolean" ? flag.value : text.value);
      await api.post(`/api/plugins/telemetry/DEVICE/${deviceId}/attributes/${scope}`, { [key.value.trim()]: value });
      toast(`Attribute ${key.value.trim()} saved`, "success");
    },
  });
}

function attributeTable(rows, actions) {
  const headers = ["Last update time", "Key", "Value", ...(actions ? ["Actions"] : [])];
  return h("div", { class: "table-scroll" }, h("table", { class: "table" },
    h("caption", { class: "visually-hidden" }, "Attributes"),
    h("thead", {}, h("tr", {}, headers.map((label) => h("th", { scope: "col" }, label)))),
    h("tbody", {}, rows.length
      ? rows.map((row) => h("tr", { "data-key": row.key },
        h("td", { class: "nowrap", "data-label": "Last update time" }, formatTime(row.lastUpdateTs)),
        h("td", { "data-label": "Key" }, row.key),
        h("td", { class: "value", "data-label": "Value" }, displayValue(row.value)),
        actions ? h("td", { class: "actions-cell", "data-label": "Actions" }, actions(row)) : null))
      : h("tr", {}, h("td", { colspan: String(headers.length), class: "empty" }, "No attributes in this scope.")))));
}

function byKey(a, b) {
  return a.key.localeCompare(b.key);
}

/** Client scope: live rows, pushed over the WebSocket (or polled while it is down). */
function showClientScope(body, deviceId, scope) {
  const latest = new Map();
  replace(body, loading());
  scope.add(live.attributes(deviceId, "CLIENT_SCOPE", null, (data) => {
    live.mergeLatest(latest, data);
    const rows = [...latest].map(([key, { ts, value }]) => ({ key, value, lastUpdateTs: ts })).sort(byKey);
    replace(body, attributeTable(rows, null));
  }, (error) => replace(body, errorState(error))));
}

/** Shared and server scopes: read by REST, changed by REST, read again. */
function showEditableScope(body, deviceId, scopeName, readOnly) {
  const path = `/api/plugins/telemetry/DEVICE/${deviceId}`;
  const reload = async () => {
    replace(body, loading());
    try {
      const rows = (await api.get(`${path}/values/attributes/${scopeName}`)).sort(byKey);
      const actions = readOnly ? null : (row) => [
        button("Edit", async () => (await attributeDialog(deviceId, scopeName, row)) && reload(),
          { props: { "aria-label": `Edit ${row.key}` } }),
        button("Delete", async () => {
          const confirmed = await confirmDialog({ title: `Delete attribute ${row.key}?`, message: "The attribute is deleted from this device." });
          if (!confirmed) return;
          try {
            await api.del(`${path}/${scopeName}`, { keys: row.key });
            toast(`Attribute ${row.key} deleted`, "success");
          } catch (error) {
            toast(`Could not delete: ${error.message}`, "error");
          }
          reload();
        }, { kind: "danger-text", props: { "aria-label": `Delete ${row.key}` } }),
      ];
      replace(body, attributeTable(rows, actions));
    } catch (error) {
      replace(body, errorState(error, reload));
    }
  };
  reload();
  return reload;
}

/** Render the Attributes tab into `panel`. */
export function attributesTab(panel, deviceId, { readOnly, scope }) {
  const scopeSelect = select(SCOPES, "CLIENT_SCOPE", { "aria-label": "Attributes scope" });
  const toolbar = h("div", { class: "table-toolbar" }, scopeSelect);
  const body = h("div", { class: "table-body" });
  let current = null;
  const show = () => {
    if (current) current.close();
    current = scope.child();
    const scopeName = scopeSelect.value;
    toolbar.replaceChildren(scopeSelect);
    if (scopeName === "CLIENT_SCOPE") {
      toolbar.append(h("span", { class: "muted small" }, "Reported by the device; updated live."));
      showClientScope(body, deviceId, current);
      return;
    }
    const reload = showEditableScope(body, deviceId, scopeName, readOnly);
    toolbar.append(button("Refresh", reload));
    if (!readOnly) {
      toolbar.append(button("Add attribute", async () => (await attributeDialog(deviceId, scopeName, null)) && reload(), { kind: "primary" }));
    }
  };
  scopeSelect.addEventListener("change", show);
  replace(panel, h("div", { class: "card" }, toolbar, body));
  show();
}
