// Device profiles: the list, add / edit (with device provisioning: type, key and secret, and
// the firmware and software its devices get), set the default, delete.

import * as api from "../api.js";
import { confirmDialog, formDialog } from "../dialog.js";
import { h, replace } from "../dom.js";
import { pagedTable } from "../table.js";
import { button, field, formatTime, pageHeader, select, toast } from "../ui.js";
import { randomToken } from "./device-actions.js";

const PROVISION_TYPES = [
  ["DISABLED", "Disabled"],
  ["ALLOW_CREATE_NEW_DEVICES", "Allow to create new devices"],
  ["CHECK_PRE_PROVISIONED_DEVICES", "Check for pre-provisioned devices"],
];
const provisionLabel = (type) => (PROVISION_TYPES.find(([value]) => value === type) || [type, type])[1];

async function packageOptions(profileId, type) {
  if (!profileId) return [["", "None"]];
  const packages = await api.getAll(`/api/otaPackages/${profileId}/${type}`, {});
  return [["", "None"], ...packages.map((p) => [p.id.id, `${p.title} ${p.version}`])];
}

/** Add (no `profile`) or edit a profile; resolves truthy when saved. */
export async function profileDialog(profile) {
  const editing = Boolean(profile);
  const profileId = editing ? profile.id.id : null;
  const [firmware, software] = await Promise.all([
    packageOptions(profileId, "FIRMWARE"), packageOptions(profileId, "SOFTWARE"),
  ]);
  const config = (editing && profile.profileData && profile.profileData.provisionConfiguration) || {};
  const name = h("input", { type: "text", required: true, maxLength: 255, value: editing ? profile.name : "" });
  const description = h("textarea", { rows: 2, value: (editing && profile.description) || "" });
  const type = select(PROVISION_TYPES, editing ? profile.provisionType : "DISABLED");
  const key = h("input", { type: "text", value: (editing && profile.provisionDeviceKey) || "", autocomplete: "off", spellcheck: "false" });
  const secret = h("input", { type: "text", value: config.provisionDeviceSecret || "", autocomplete: "off", spellcheck: "false" });
  const fw = select(firmware, editing ? api.idOf(profile.firmwareId) || "" : "");
  const sw = select(software, editing ? api.idOf(profile.softwareId) || "" : "");
  const provisioning = h("div", { class: "field-group" },
    field("Provision device key", key), field("Provision device secret", secret),
    button("Generate key and secret", () => {
      key.value = randomToken(20);
      secret.value = randomToken(20);
    }));
  const sync = () => {
    provisioning.hidden = type.value === "DISABLED";
    key.required = !provisioning.hidden;
    secret.required = !provisioning.hidden;
  };
  type.addEventListener("change", sync);
  sync();
  const otaFields = editing
    ? [field("Firmware", fw), field("Software", sw)]
    : [h("p", { class: "muted small" }, "Firmware and software can be chosen once the profile exists.")];
  return formDialog({
    title: editing ? `Edit device profile ${profile.name}` : "Add device profile",
    submitLabel: editing ? "Save" : "Add",
    fields: [field("Name", name), field("Description", description),
      field("Provisioning strategy", type), provisioning, ...otaFields],
    onSubmit: async () => {
      const disabled = type.value === "DISABLED";
      const body = {
        ...(profile || {}),
        name: name.value.trim(),
        description: description.value.trim() || null,
        provisionType: type.value,
        provisionDeviceKey: disabled ? null : key.value.trim(),
        profileData: {
          ...((profile && profile.profileData) || {}),
          provisionConfiguration: { type: type.value, provisionDeviceSecret: disabled ? null : secret.value.trim() },
        },
        firmwareId: fw.value ? api.entityId("OTA_PACKAGE", fw.value) : null,
        softwareId: sw.value ? api.entityId("OTA_PACKAGE", sw.value) : null,
      };
      const saved = await api.post("/api/deviceProfile", body);
      toast(`Device profile ${saved.name} saved`, "success");
      return saved;
    },
  });
}

async function setDefault(profile, reload) {
  try {
    await api.post(`/api/deviceProfile/${profile.id.id}/default`);
    toast(`${profile.name} is now the default profile`, "success");
    reload();
  } catch (error) {
    toast(`Could not set the default: ${error.message}`, "error");
  }
}

async function remove(profile, reload) {
  const confirmed = await confirmDialog({
    title: `Delete device profile ${profile.name}?`,
    message: "A profile that devices use, or the default one, cannot be deleted.",
  });
  if (!confirmed) return;
  try {
    await api.del(`/api/deviceProfile/${profile.id.id}`);
    toast(`Device profile ${profile.name} deleted`, "success");
    reload();
  } catch (error) {
    toast(`Could not delete: ${error.message}`, "error");
  }
}

/** `/profiles`. */
export function profilesPage({ main }) {
  let table = null;
  const reload = () => table.reload();
  const open = async (profile) => {
    try {
      const full = profile ? await api.get(`/api/deviceProfile/${profile.id.id}`) : null;
      if (await profileDialog(full)) reload();
    } catch (error) {
      toast(`Could not open the profile: ${error.message}`, "error");
    }
  };
  table = pagedTable({
    caption: "Device profiles",
    searchLabel: "Search device profiles",
    sort: "name", order: "ASC",
    columns: [
      { label: "Created time", sort: "createdTime", render: (p) => formatTime(p.createdTime), class: "nowrap" },
      { label: "Name", sort: "name", render: (p) => p.name },
      { label: "Provisioning", sort: "provisionType", render: (p) => provisionLabel(p.provisionType) },
      { label: "Description", render: (p) => p.description || "" },
      { label: "Default", sort: "default", render: (p) => (p.default ? h("span", { class: "pill pill-neutral" }, "Default") : "") },
      {
        label: "Actions", class: "actions-cell", render: (p) => h("div", { class: "row-actions" },
          button("Edit", () => open(p), { props: { "aria-label": `Edit ${p.name}` } }),
          p.default ? null : button("Make default", () => setDefault(p, reload), { props: { "aria-label": `Make ${p.name} the default` } }),
          p.default ? null : button("Delete", () => remove(p, reload), { kind: "danger-text", props: { "aria-label": `Delete ${p.name}` } })),
      },
    ],
    fetchPage: (link) => api.get("/api/deviceProfiles", link),
  });
  replace(main, h("section", { class: "page" },
    pageHeader("Device profiles", [button("Add device profile", () => open(null), { kind: "primary" })],
      "Devices of a profile share its provisioning settings and firmware."),
    table.element));
}
