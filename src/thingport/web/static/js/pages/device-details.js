// The Details tab: the device's fields, editable by tenant administrators (name, label,
// profile, gateway, description, and the firmware and software assigned to this device).

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import { field, formatTime, loadInto, select, toast } from "../ui.js";

function facts(device, customer) {
  return h("dl", { class: "facts" },
    h("dt", {}, "Device Id"), h("dd", { class: "mono" }, device.id.id),
    h("dt", {}, "Created time"), h("dd", {}, formatTime(device.createdTime)),
    h("dt", {}, "Customer"), h("dd", {}, customer ? customer.title : "None"));
}

function readOnlyView(device, profileName) {
  const info = device.additionalInfo || {};
  return h("dl", { class: "facts" },
    h("dt", {}, "Name"), h("dd", {}, device.name),
    h("dt", {}, "Label"), h("dd", {}, device.label || ""),
    h("dt", {}, "Device profile"), h("dd", {}, profileName),
    h("dt", {}, "Is gateway"), h("dd", {}, info.gateway ? "Yes" : "No"),
    h("dt", {}, "Description"), h("dd", {}, info.description || ""),
    h("dt", {}, "Device Id"), h("dd", { class: "mono" }, device.id.id),
    h("dt", {}, "Created time"), h("dd", {}, formatTime(device.createdTime)));
}

async function packageOptions(profileId, type) {
  const packages = await api.getAll(`/api/otaPackages/${profileId}/${type}`, {});
  return [["", "None (the profile's)"], ...packages.map((p) => [p.id.id, `${p.title} ${p.version}`])];
}

function editForm(device, profiles, firmware, software, reload) {
  const info = device.additionalInfo || {};
  const name = h("input", { type: "text", required: true, maxLength: 255, value: device.name });
  const label = h("input", { type: "text", maxLength: 255, value: device.label || "" });
  const profile = select(profiles.map((p) => [p.id.id, p.name]), device.deviceProfileId.id);
  const gateway = h("input", { type: "checkbox", checked: Boolean(info.gateway) });
  const description = h("textarea", { rows: 3, value: info.description || "" });
  const fw = select(firmware, api.idOf(device.firmwareId) || "");
  const sw = select(software, api.idOf(device.softwareId) || "");
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const save = h("button", { type: "submit", class: "button primary" }, "Save");
  const profileChanged = h("small", { class: "hint", hidden: true },
    "Firmware and software belong to a profile: save, then choose them for the new profile.");
  profile.addEventListener("change", () => {
    const changed = profile.value !== device.deviceProfileId.id;
    fw.disabled = changed;
    sw.disabled = changed;
    profileChanged.hidden = !changed;
  });
  const form = h("form", { class: "form form-grid" },
    field("Name", name), field("Label", label), field("Device profile", profile),
    field("Assigned firmware", fw), field("Assigned software", sw), profileChanged,
    field("Is gateway", gateway), field("Description", description),
    error, h("div", { class: "form-actions" }, save));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    error.hidden = true;
    const sameProfile = profile.value === device.deviceProfileId.id;
    try {
      await api.post("/api/device", {
        ...device,
        name: name.value.trim(),
        label: label.value.trim() || null,
        deviceProfileId: api.entityId("DEVICE_PROFILE", profile.value),
        firmwareId: sameProfile && fw.value ? api.entityId("OTA_PACKAGE", fw.value) : null,
        softwareId: sameProfile && sw.value ? api.entityId("OTA_PACKAGE", sw.value) : null,
        additionalInfo: { ...info, gateway: gateway.checked, description: description.value },
      });
      toast("Device saved", "success");
      reload();
    } catch (failure) {
      replace(error, failure.message);
      error.hidden = false;
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

/** Render the Details tab into `panel`. */
export function detailsTab(panel, device, { readOnly, reload }) {
  const profileId = device.deviceProfileId.id;
  loadInto(panel, async () => {
    if (readOnly) {
      const profile = await api.get(`/api/deviceProfileInfo/${profileId}`).catch(() => null);
      return { profileName: profile ? profile.name : device.type };
    }
    const customerId = api.idOf(device.customerId);
    const [profiles, firmware, software, customer] = await Promise.all([
      api.getAll("/api/deviceProfileInfos", { sortProperty: "name", sortOrder: "ASC" }),
      packageOptions(profileId, "FIRMWARE"),
      packageOptions(profileId, "SOFTWARE"),
      customerId ? api.get(`/api/customer/${customerId}`) : null,
    ]);
    return { profiles, firmware, software, customer };
  }, (data) => (readOnly
    ? h("div", { class: "card" }, readOnlyView(device, data.profileName))
    : h("div", { class: "card" }, facts(device, data.customer), editForm(device, data.profiles, data.firmware, data.software, reload))));
}
