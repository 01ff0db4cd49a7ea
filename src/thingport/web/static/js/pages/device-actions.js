// What a tenant administrator does to a device, from the list or from its page: create,
// delete, assign to a customer, unassign, change its access token.

import * as api from "../api.js";
import { confirmDialog, formDialog } from "../dialog.js";
import { h } from "../dom.js";
import { field, select, toast } from "../ui.js";

/** Random letters and digits, as ThingsBoard generates access tokens (20 by default). */
export function randomToken(length = 20) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  // 62 does not divide 256; the tiny bias is irrelevant for a value the server stores.
  return Array.from(bytes, (byte) => alphabet[byte % alphabet.length]).join("");
}

async function profileOptions() {
  const [profiles, fallback] = await Promise.all([
    api.getAll("/api/deviceProfileInfos", { sortProperty: "name", sortOrder: "ASC" }),
    api.get("/api/deviceProfileInfo/default"),
  ]);
  return { options: profiles.map((p) => [p.id.id, p.name]), defaultId: fallback.id.id };
}

async function customerOptions() {
  const customers = await api.getAll("/api/customers", { sortProperty: "title", sortOrder: "ASC" });
  return customers.map((c) => [c.id.id, c.title]);
}

/** The Add device dialog; resolves with the new device, or undefined when cancelled. */
export async function addDeviceDialog() {
  const [{ options, defaultId }, customers] = await Promise.all([profileOptions(), customerOptions()]);
  const name = h("input", { type: "text", required: true, maxLength: 255, autocomplete: "off" });
  const label = h("input", { type: "text", maxLength: 255, autocomplete: "off" });
  const profile = select(options, defaultId);
  const gateway = h("input", { type: "checkbox" });
  const customer = select([["", "None"], ...customers], "");
  const token = h("input", { type: "text", maxLength: 32, autocomplete: "off", spellcheck: "false" });
  const description = h("textarea", { rows: 2 });
  return formDialog({
    title: "Add device",
    submitLabel: "Add",
    fields: [
      field("Name", name),
      field("Label", label),
      field("Device profile", profile),
      field("Is gateway", gateway),
      field("Customer", customer),
      field("Access token", token, "Leave empty to generate one."),
      field("Description", description),
    ],
    onSubmit: async () => {
      const body = {
        name: name.value.trim(),
        label: label.value.trim() || null,
        deviceProfileId: api.entityId("DEVICE_PROFILE", profile.value),
        additionalInfo: { gateway: gateway.checked, description: description.value },
      };
      const device = await api.post(api.withQuery("/api/device", { accessToken: token.value.trim() }), body);
      if (customer.value) {
        await api.post(`/api/customer/${customer.value}/device/${device.id.id}`);
      }
      toast(`Device ${device.name} created`, "success");
      return device;
    },
  });
}

/** Ask, then delete; resolves true when deleted. */
export async function deleteDevice(device) {
  const confirmed = await confirmDialog({
    title: `Delete device ${device.name}?`,
    message: "The device, its credentials, telemetry and attributes are deleted. This cannot be undone.",
  });
  if (!confirmed) return false;
  try {
    await api.del(`/api/device/${device.id.id}`);
  } catch (error) {
    toast(`Could not delete: ${error.message}`, "error");
    return false;
  }
  toast(`Device ${device.name} deleted`, "success");
  return true;
}

/** Choose a customer and assign the device to it; resolves true when done. */
export async function assignDevice(device) {
  let customers;
  try {
    customers = await customerOptions();
  } catch (error) {
    toast(`Could not load the customers: ${error.message}`, "error");
    return false;
  }
  if (!customers.length) {
    toast("There are no customers yet: add one on the Customers page", "error");
    return false;
  }
  const customer = select(customers, customers[0][0]);
  const done = await formDialog({
    title: `Assign ${device.name} to a customer`,
    submitLabel: "Assign",
    fields: [field("Customer", customer)],
    onSubmit: () => api.post(`/api/customer/${customer.value}/device/${device.id.id}`),
  });
  if (done) toast(`Device ${device.name} assigned`, "success");
  return Boolean(done);
}

/** Ask, then make the device the tenant's again; resolves true when done. */
export async function unassignDevice(device) {
  const confirmed = await confirmDialog({
    title: `Unassign ${device.name} from its customer?`,
    message: "The customer's users will no longer see this device.",
    confirmLabel: "Unassign", danger: false,
  });
  if (!confirmed) return false;
  try {
    await api.del(`/api/customer/device/${device.id.id}`);
  } catch (error) {
    toast(`Could not unassign: ${error.message}`, "error");
    return false;
  }
  toast(`Device ${device.name} unassigned`, "success");
  return true;
}

/** The Manage credentials dialog: type a new access token or generate one. */
export async function manageCredentials(device) {
  const credentials = await api.get(`/api/device/${device.id.id}/credentials`);
  const token = h("input", {
    type: "text", required: true, maxLength: 32, value: credentials.credentialsId || "",
    autocomplete: "off", spellcheck: "false",
  });
  const generate = h("button", {
    type: "button", class: "button",
    onclick: () => {
      token.value = randomToken();
      token.focus();
    },
  }, "Generate");
  const saved = await formDialog({
    title: "Device credentials",
    fields: [
      h("p", { class: "muted" }, "Credentials type: Access token. Devices using the old token get 401 at once."),
      h("div", { class: "field-row" }, field("Access token", token, "1 to 32 characters."), generate),
    ],
    onSubmit: () => api.post("/api/device/credentials", {
      ...credentials, credentialsType: "ACCESS_TOKEN", credentialsId: token.value.trim(),
    }),
  });
  if (saved) toast("Credentials saved", "success");
  return saved;
}
