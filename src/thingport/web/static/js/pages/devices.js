// Entities -> Devices: ThingsBoard's device table (DeviceInfo: the device with its profile
// name, customer title and state). Tenant administrators add, delete and assign; customer
// users see their customer's devices, read-only.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import { pagedTable } from "../table.js";
import { button, formatTime, pageHeader, select, statePill, toast } from "../ui.js";
import { addDeviceDialog, assignDevice, deleteDevice, unassignDevice } from "./device-actions.js";

/** Where the user's devices are listed: the tenant's, or the customer's for its users. */
export function deviceInfosPath(user) {
  return user.authority === "CUSTOMER_USER"
    ? `/api/customer/${user.customerId}/deviceInfos`
    : "/api/tenant/deviceInfos";
}

function rowActions(device, reload) {
  const assigned = Boolean(api.idOf(device.customerId));
  const run = (action) => async () => {
    if (await action(device)) reload();
  };
  return h("div", { class: "row-actions" },
    assigned
      ? button("Unassign", run(unassignDevice), { props: { "aria-label": `Unassign ${device.name}` } })
      : button("Assign", run(assignDevice), { props: { "aria-label": `Assign ${device.name} to a customer` } }),
    button("Delete", run(deleteDevice), { kind: "danger-text", props: { "aria-label": `Delete ${device.name}` } }));
}

function columns(readOnly, reload) {
  const list = [
    { label: "Created time", sort: "createdTime", render: (d) => formatTime(d.createdTime), class: "nowrap" },
    { label: "Name", sort: "name", render: (d) => h("a", { href: `/devices/${d.id.id}` }, d.name) },
    { label: "Device profile", sort: "deviceProfileName", render: (d) => d.deviceProfileName || d.type },
    { label: "Label", sort: "label", render: (d) => d.label || "" },
  ];
  if (!readOnly) {
    list.push({ label: "Customer", sort: "customerTitle", render: (d) => d.customerTitle || "" });
  }
  list.push(
    { label: "State", render: (d) => statePill(d.active, d.lastActivityTime) },
    { label: "Is gateway", render: (d) => (d.additionalInfo && d.additionalInfo.gateway ? "Yes" : "No") },
  );
  if (!readOnly) list.push({ label: "Actions", render: (d) => rowActions(d, reload), class: "actions-cell" });
  return list;
}

async function filters(onChange) {
  const profiles = await api.getAll("/api/deviceProfileInfos", { sortProperty: "name", sortOrder: "ASC" })
    .catch(() => []);
  const profile = select([["", "Any device profile"], ...profiles.map((p) => [p.id.id, p.name])], "",
    { "aria-label": "Device profile filter" });
  const state = select([["", "Any state"], ["true", "Active"], ["false", "Inactive"]], "",
    { "aria-label": "State filter" });
  const value = () => ({ deviceProfileId: profile.value || null, active: state.value || null });
  profile.addEventListener("change", () => onChange(value()));
  state.addEventListener("change", () => onChange(value()));
  return [profile, state];
}

/** `/devices`. */
export function devicesPage({ main, user }) {
  const readOnly = user.authority !== "TENANT_ADMIN";
  const filter = { deviceProfileId: null, active: null };
  const filterSlot = h("div", { class: "filters" });
  let table = null;
  const reload = () => table && table.reload();
  table = pagedTable({
    caption: "Devices",
    searchLabel: "Search devices",
    empty: readOnly ? "No devices are assigned to your customer." : "No devices found.",
    columns: columns(readOnly, reload),
    toolbar: [filterSlot],
    fetchPage: (link) => api.get(deviceInfosPath(user), { ...link, ...filter }),
  });
  filters((changed) => {
    Object.assign(filter, changed);
    table.reload();
  }).then((controls) => replace(filterSlot, controls));

  const add = readOnly ? null : button("Add device", async () => {
    try {
      if (await addDeviceDialog()) table.reload();
    } catch (error) {
      toast(`Could not open the dialog: ${error.message}`, "error");
    }
  }, { kind: "primary" });
  replace(main, h("section", { class: "page" },
    pageHeader("Devices", [add], readOnly ? "The devices of your customer (read-only)." : null),
    table.element));
}
