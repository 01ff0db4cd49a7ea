// The Latest telemetry tab: the newest value of every key, updated live (ThingsBoard's
// TIMESERIES subscription with scope LATEST_TELEMETRY), with no reload.

import { h, replace } from "../dom.js";
import * as live from "../live.js";
import { displayValue, errorState, formatTime, loading } from "../ui.js";

/** A table of `latest` (Map key -> {ts, value}); the keys in `fresh` are highlighted. */
export function latestTable(latest, fresh = [], empty = "No telemetry yet.") {
  const rows = [...latest].sort(([a], [b]) => a.localeCompare(b));
  return h("div", { class: "table-scroll" }, h("table", { class: "table" },
    h("caption", { class: "visually-hidden" }, "Latest telemetry"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Last update time"), h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Value"))),
    h("tbody", {}, rows.length
      ? rows.map(([key, { ts, value }]) => h("tr", { "data-key": key, class: fresh.includes(key) ? "fresh" : null },
        h("td", { class: "nowrap", "data-label": "Last update time" }, formatTime(ts)),
        h("td", { "data-label": "Key" }, key),
        h("td", { class: "value", "data-label": "Value" }, displayValue(value))))
      : h("tr", {}, h("td", { colspan: "3", class: "empty" }, empty)))));
}

/** Render the tab into `panel`; the subscription ends with `scope`. */
export function telemetryTab(panel, deviceId, scope) {
  const body = h("div", { class: "table-body" }, loading());
  const latest = new Map();
  let first = true;
  replace(panel, h("div", { class: "card" },
    h("div", { class: "table-toolbar" }, h("span", { class: "muted small" }, "Updated live as the device sends telemetry.")),
    body));
  scope.add(live.latestTelemetry(deviceId, (data) => {
    const changed = live.mergeLatest(latest, data);
    replace(body, latestTable(latest, first ? [] : changed, "No telemetry yet: post some with the device's access token."));
    first = false;
  }, (error) => replace(body, errorState(error))));
}
