// One device (`/devices/{id}`): its buttons (copy the access token and id, manage credentials,
// check connectivity, assign, delete), its live state, and the tabs Details, Attributes,
// Latest telemetry, Chart and RPC.

import * as api from "../api.js";
import { copyWithToast } from "../clipboard.js";
import { h, replace } from "../dom.js";
import { deviceState } from "../live.js";
import { navigate, setQuery } from "../router.js";
import { tabView } from "../tabs.js";
import { button, loadInto, statePill, toast } from "../ui.js";
import { attributesTab } from "./device-attributes.js";
import { chartTab } from "./device-chart.js";
import { detailsTab } from "./device-details.js";
import { rpcTab } from "./device-rpc.js";
import { telemetryTab } from "./device-telemetry.js";
import { assignDevice, deleteDevice, manageCredentials, unassignDevice } from "./device-actions.js";
import { connectivityDialog } from "./connectivity.js";

function livePill(deviceId, scope) {
  const slot = h("span", { class: "device-state", "aria-live": "polite" }, statePill(false, null));
  scope.add(deviceState(deviceId, (state) => {
    replace(slot, statePill(state.active, state.lastActivityTime));
  }));
  return slot;
}

function tenantActions(device, reload) {
  // Fetched now, so that the click copies at once: the clipboard wants the user's gesture.
  let credentials = api.get(`/api/device/${device.id.id}/credentials`);
  credentials.catch(() => null);
  const copyToken = async () => {
    try {
      const current = await credentials;
      await copyWithToast(current.credentialsId, "Access token");
    } catch (error) {
      toast(`Could not read the access token: ${error.message}`, "error");
    }
  };
  const manage = async () => {
    try {
      if (await manageCredentials(device)) {
        credentials = api.get(`/api/device/${device.id.id}/credentials`);
        credentials.catch(() => null);
      }
    } catch (error) {
      toast(`Could not load the credentials: ${error.message}`, "error");
    }
  };
  const assigned = Boolean(api.idOf(device.customerId));
  return [
    button("Check connectivity", () => connectivityDialog(device), { kind: "primary" }),
    button("Copy access token", copyToken),
    button("Copy device Id", () => copyWithToast(device.id.id, "Device Id")),
    button("Manage credentials", manage),
    assigned
      ? button("Unassign from customer", async () => (await unassignDevice(device)) && reload())
      : button("Assign to customer", async () => (await assignDevice(device)) && reload()),
    button("Delete device", async () => {
      if (await deleteDevice(device)) navigate("/devices");
    }, { kind: "danger" }),
  ];
}

function renderDevice(device, { scope, user, query, reload }) {
  const readOnly = user.authority !== "TENANT_ADMIN";
  const deviceId = device.id.id;
  const actions = readOnly
    ? [button("Copy device Id", () => copyWithToast(deviceId, "Device Id"))]
    : tenantActions(device, reload);
  const tabs = [
    { id: "details", label: "Details", render: (panel, s) => detailsTab(panel, device, { readOnly, scope: s, reload }) },
    { id: "attributes", label: "Attributes", render: (panel, s) => attributesTab(panel, deviceId, { readOnly, scope: s }) },
    { id: "telemetry", label: "Latest telemetry", render: (panel, s) => telemetryTab(panel, deviceId, s) },
    { id: "chart", label: "Chart", render: (panel, s) => chartTab(panel, deviceId, s) },
  ];
  if (!readOnly) tabs.push({ id: "rpc", label: "RPC", render: (panel, s) => rpcTab(panel, deviceId, s) });
  return h("section", { class: "page" },
    h("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" },
      h("a", { href: "/devices" }, "Devices"), h("span", { "aria-hidden": "true" }, " › "),
      h("span", { "aria-current": "page" }, device.name)),
    h("header", { class: "page-header" },
      h("div", {},
        h("h1", {}, device.name, " ", livePill(deviceId, scope)),
        h("p", { class: "muted" }, device.label || "Device details")),
      h("div", { class: "actions" }, actions)),
    tabView({
      label: "Device", tabs, scope, selected: query.get("tab") || "details",
      onSelect: (id) => setQuery({ tab: id === "details" ? null : id }),
    }));
}

/** `/devices/{deviceId}`. */
export function devicePage({ main, params, scope, user }) {
  const container = h("div");
  replace(main, container);
  let pageScope = null;
  const reload = loadInto(container, () => api.get(`/api/device/${params.deviceId}`), (device) => {
    if (pageScope) pageScope.close();
    pageScope = scope.child();
    document.title = `${device.name} · thingport`;
    return renderDevice(device, { scope: pageScope, user, query: new URLSearchParams(location.search), reload: () => reload() });
  });
}
