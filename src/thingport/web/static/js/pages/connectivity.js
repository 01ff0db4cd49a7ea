// Check connectivity: the curl commands that send this device's first telemetry (from
// `GET /api/device-connectivity/{id}`, with the server's real host and port), and, live, the
// device's state and the telemetry that arrives after the dialog opened.

import * as api from "../api.js";
import { copyWithToast } from "../clipboard.js";
import { openDialog } from "../dialog.js";
import { h, replace } from "../dom.js";
import * as live from "../live.js";
import { errorState, loading, statePill } from "../ui.js";
import { latestTable } from "./device-telemetry.js";

const VARIANTS = [["http", "HTTP"], ["https", "HTTPS"]];

function commandBlock(label, command) {
  return h("div", { class: "command" },
    h("div", { class: "command-head" },
      h("h3", {}, label),
      h("button", { type: "button", class: "button", onclick: () => copyWithToast(command, `${label} command`) },
        `Copy ${label} command`)),
    h("pre", { class: "mono", "aria-label": `${label} command` }, command));
}

function commands(result) {
  const http = (result && result.http) || {};
  const blocks = VARIANTS.filter(([key]) => http[key]).map(([key, label]) => commandBlock(label, http[key]));
  if (!blocks.length) {
    return h("p", {}, "This device has no access token, so there is no HTTP command to show.");
  }
  return [
    h("p", {}, "Run one of these in a terminal (curl ships with Windows 10, macOS and most Linux "
      + "systems; on Debian or Ubuntu: sudo apt-get install curl). The telemetry appears below."),
    blocks,
  ];
}

/** Follow the device: its state, and only telemetry newer than what it had when opened. */
function liveView(deviceId, scope) {
  const state = h("div", { class: "device-state", "aria-live": "polite" }, statePill(false, null));
  const table = h("div", { class: "table-body" }, loading("Waiting for telemetry…"));
  scope.add(live.deviceState(deviceId, (s) => replace(state, statePill(s.active, s.lastActivityTime))));
  // The first frame is what the device already had: remember its timestamps (the server's
  // clock, not the browser's) and show only what is newer.
  let known = null;
  const arrived = new Map();
  scope.add(live.latestTelemetry(deviceId, (data) => {
    if (known === null) {
      known = new Map();
      live.mergeLatest(known, data);
      replace(table, latestTable(arrived, [], "Waiting for telemetry…"));
      return;
    }
    const fresh = {};
    for (const [key, points] of Object.entries(data)) {
      const before = known.get(key);
      const newer = points.filter(([ts]) => !before || ts > before.ts);
      if (newer.length) fresh[key] = newer;
    }
    const changed = live.mergeLatest(arrived, fresh);
    if (changed.length) replace(table, latestTable(arrived, changed));
  }, (error) => replace(table, errorState(error))));
  return h("section", { class: "live-check", "aria-label": "Live telemetry" },
    h("div", { class: "command-head" }, h("h3", {}, "Device state"), state),
    h("h3", {}, "Latest telemetry"),
    table);
}

/** Open the dialog for `device`. */
export function connectivityDialog(device) {
  return openDialog({
    title: `Check connectivity: ${device.name}`,
    wide: true,
    content: (scope) => {
      const body = h("div", {}, loading());
      api.get(`/api/device-connectivity/${device.id.id}`)
        .then((result) => replace(body, commands(result)))
        .catch((error) => replace(body, errorState(error)));
      return [body, liveView(device.id.id, scope)];
    },
  });
}
