// The RPC tab: send a command to the device (`POST /api/rpc/{oneway|twoway}/{deviceId}`),
// show its reply or the error, and the device's RPC history
// (`GET /api/rpc/persistent/device/{deviceId}`).

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import { pagedTable } from "../table.js";
import { field, formatTime, select } from "../ui.js";

const DEFAULT_TIMEOUT_MS = 10000;

function json(value) {
  return value === null || value === undefined ? "" : JSON.stringify(value);
}

function statusBadge(status) {
  const good = status === "SUCCESSFUL" || status === "DELIVERED";
  const bad = ["TIMEOUT", "EXPIRED", "FAILED"].includes(status);
  return h("span", { class: `pill ${good ? "pill-active" : bad ? "pill-inactive" : "pill-neutral"}` }, status);
}

function history(deviceId) {
  return pagedTable({
    caption: "RPC history",
    searchLabel: "Search by method",
    empty: "No RPC sent to this device yet.",
    columns: [
      { label: "Created time", sort: "createdTime", render: (r) => formatTime(r.createdTime), class: "nowrap" },
      { label: "Method", sort: "method", render: (r) => r.request.body.method },
      { label: "Params", render: (r) => h("code", {}, json(r.request.body.params)) },
      { label: "Type", render: (r) => (r.request.oneway ? "One-way" : "Two-way") },
      { label: "Status", sort: "status", render: (r) => statusBadge(r.status) },
      { label: "Response", render: (r) => h("code", {}, json(r.response)) },
    ],
    fetchPage: (link) => api.get(`/api/rpc/persistent/device/${deviceId}`, link),
  });
}

/** Render the tab into `panel`. */
export function rpcTab(panel, deviceId) {
  const method = h("input", { type: "text", required: true, value: "getState", autocomplete: "off" });
  const params = h("textarea", { rows: 4, value: "{}", spellcheck: "false", class: "mono" });
  const kind = select([["twoway", "Two-way (wait for the reply)"], ["oneway", "One-way"]], "twoway");
  const timeout = h("input", { type: "number", min: 5000, step: 1000, value: String(DEFAULT_TIMEOUT_MS) });
  const send = h("button", { type: "submit", class: "button primary" }, "Send RPC");
  const result = h("div", { class: "rpc-result", "aria-live": "polite" });
  const log = history(deviceId);

  const form = h("form", { class: "form form-grid" },
    field("Method", method), field("Type", kind),
    field("Params (JSON)", params), field("Timeout (ms)", timeout),
    h("div", { class: "form-actions" }, send));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(params.value || "{}");
    } catch {
      replace(result, h("p", { class: "form-error", role: "alert" }, "Params must be valid JSON."));
      return;
    }
    const waitMs = Math.max(5000, Number(timeout.value) || DEFAULT_TIMEOUT_MS);
    send.disabled = true;
    replace(result, h("p", { class: "state state-loading", role: "status" },
      h("span", { class: "spinner", "aria-hidden": "true" }), kind.value === "twoway" ? "Waiting for the device's reply…" : "Sending…"));
    try {
      const reply = await api.post(`/api/rpc/${kind.value}/${deviceId}`,
        { method: method.value.trim(), params: parsed, timeout: waitMs }, waitMs + 5000);
      replace(result, h("div", { class: "rpc-ok" },
        h("h3", {}, kind.value === "twoway" ? "Reply" : "Sent"),
        h("pre", { class: "mono", "aria-label": "RPC reply" }, reply === null ? "(no body)" : JSON.stringify(reply, null, 2))));
    } catch (error) {
      replace(result, h("div", { class: "form-error", role: "alert" },
        h("strong", {}, `RPC failed${error.status ? ` (${error.status})` : ""}: `), error.message));
    } finally {
      send.disabled = false;
      log.reload();
    }
  });

  replace(panel,
    h("div", { class: "card" }, h("h2", { class: "card-title" }, "Send RPC"), form, result),
    h("h2", { class: "section-title" }, "RPC history"),
    log.element);
}
