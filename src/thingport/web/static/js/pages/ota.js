// OTA updates: firmware and software packages of a device profile. Adding one uploads its file
// with a progress bar (XMLHttpRequest upload progress); a package is then assigned to its
// profile (every device of it) or to one device.

import * as api from "../api.js";
import { confirmDialog, formDialog } from "../dialog.js";
import { h, replace } from "../dom.js";
import { pagedTable } from "../table.js";
import { button, field, formatBytes, formatTime, pageHeader, select, toast } from "../ui.js";

const TYPES = [["FIRMWARE", "Firmware"], ["SOFTWARE", "Software"]];
const ALGORITHMS = ["SHA256", "SHA384", "SHA512", "MD5", "CRC32", "MURMUR3_32", "MURMUR3_128"];
const typeLabel = (type) => (type === "SOFTWARE" ? "Software" : "Firmware");
const assignmentField = (pkg) => (pkg.type === "SOFTWARE" ? "softwareId" : "firmwareId");

async function addPackageDialog() {
  const profiles = await api.getAll("/api/deviceProfileInfos", { sortProperty: "name", sortOrder: "ASC" });
  const fallback = await api.get("/api/deviceProfileInfo/default");
  const title = h("input", { type: "text", required: true, maxLength: 255 });
  const version = h("input", { type: "text", required: true, maxLength: 255 });
  const tag = h("input", { type: "text", maxLength: 255 });
  const profile = select(profiles.map((p) => [p.id.id, p.name]), fallback.id.id);
  const type = select(TYPES, "FIRMWARE");
  const file = h("input", { type: "file", required: true });
  const algorithm = select([["", "Auto-generate (SHA256)"], ...ALGORITHMS.map((a) => [a, a])], "");
  const checksum = h("input", { type: "text", autocomplete: "off", spellcheck: "false" });
  const progress = h("progress", { max: 100, value: 0, "aria-label": "Upload progress" });
  const progressText = h("span", { class: "muted small" });
  const progressRow = h("div", { class: "progress-row", hidden: true }, progress, progressText);
  const checksumField = field("Checksum", checksum, "Optional: the server computes it when empty, and checks it when given.");
  const sync = () => {
    checksumField.hidden = algorithm.value === "";
  };
  algorithm.addEventListener("change", sync);
  sync();
  return formDialog({
    title: "Add package",
    submitLabel: "Upload",
    fields: [field("Title", title), field("Version", version), field("Version tag", tag),
      field("Device profile", profile), field("Package type", type), field("File", file),
      field("Checksum algorithm", algorithm), checksumField, progressRow],
    onSubmit: async () => {
      const info = await api.post("/api/otaPackage", {
        title: title.value.trim(), version: version.value.trim(), tag: tag.value.trim() || null,
        type: type.value, deviceProfileId: api.entityId("DEVICE_PROFILE", profile.value),
      });
      progressRow.hidden = false;
      const query = algorithm.value
        ? { checksumAlgorithm: algorithm.value, checksum: checksum.value.trim() }
        : { checksumAlgorithm: "SHA256" };
      try {
        const saved = await api.upload(api.withQuery(`/api/otaPackage/${info.id.id}`, query), file.files[0], (share) => {
          progress.value = Math.round(share * 100);
          replace(progressText, `${Math.round(share * 100)} %`);
        });
        toast(`Package ${saved.title} ${saved.version} uploaded`, "success");
        return saved;
      } catch (error) {
        // No half-made package left behind: its info goes with the failed upload.
        await api.del(`/api/otaPackage/${info.id.id}`).catch(() => null);
        progressRow.hidden = true;
        throw error;
      }
    },
  });
}

async function assignToProfile(pkg) {
  const profile = await api.get(`/api/deviceProfile/${pkg.deviceProfileId.id}`);
  const confirmed = await confirmDialog({
    title: `Assign ${pkg.title} ${pkg.version} to profile ${profile.name}?`,
    message: `Every device of ${profile.name} without its own ${typeLabel(pkg.type).toLowerCase()} is told to update.`,
    confirmLabel: "Assign", danger: false,
  });
  if (!confirmed) return;
  await api.post("/api/deviceProfile", { ...profile, [assignmentField(pkg)]: api.entityId("OTA_PACKAGE", pkg.id.id) });
  toast(`Assigned to profile ${profile.name}`, "success");
}

async function assignToDevice(pkg) {
  const devices = await api.getAll("/api/tenant/deviceInfos", { deviceProfileId: pkg.deviceProfileId.id, sortProperty: "name", sortOrder: "ASC" });
  if (!devices.length) {
    toast("No device uses this package's profile", "error");
    return;
  }
  const device = select(devices.map((d) => [d.id.id, d.name]), devices[0].id.id);
  await formDialog({
    title: `Assign ${pkg.title} ${pkg.version} to a device`,
    submitLabel: "Assign",
    fields: [field("Device", device)],
    onSubmit: async () => {
      const current = await api.get(`/api/device/${device.value}`);
      await api.post("/api/device", { ...current, [assignmentField(pkg)]: api.entityId("OTA_PACKAGE", pkg.id.id) });
      toast(`Assigned to ${current.name}`, "success");
    },
  });
}

async function removePackage(pkg, reload) {
  const confirmed = await confirmDialog({
    title: `Delete package ${pkg.title} ${pkg.version}?`,
    message: "A package assigned to a profile or device cannot be deleted.",
  });
  if (!confirmed) return;
  try {
    await api.del(`/api/otaPackage/${pkg.id.id}`);
    toast("Package deleted", "success");
    reload();
  } catch (error) {
    toast(`Could not delete: ${error.message}`, "error");
  }
}

function guarded(action) {
  return async () => {
    try {
      await action();
    } catch (error) {
      toast(error.message, "error");
    }
  };
}

/** `/ota`. */
export function otaPage({ main }) {
  let table = null;
  const reload = () => table.reload();
  table = pagedTable({
    caption: "OTA packages",
    searchLabel: "Search packages",
    columns: [
      { label: "Created time", sort: "createdTime", render: (p) => formatTime(p.createdTime), class: "nowrap" },
      { label: "Title", sort: "title", render: (p) => p.title },
      { label: "Version", sort: "version", render: (p) => p.version },
      { label: "Version tag", sort: "tag", render: (p) => p.tag || "" },
      { label: "Package type", sort: "type", render: (p) => typeLabel(p.type) },
      { label: "File", render: (p) => (p.url ? p.url : p.fileName || "") },
      { label: "File size", sort: "dataSize", render: (p) => formatBytes(p.dataSize), class: "nowrap" },
      { label: "Checksum", render: (p) => (p.checksum ? h("code", { title: p.checksum }, `${p.checksumAlgorithm} ${p.checksum.slice(0, 8)}…`) : "") },
      {
        label: "Actions", render: (p) => h("div", { class: "row-actions wrap" },
          button("Assign to profile", guarded(() => assignToProfile(p)), { props: { "aria-label": `Assign ${p.title} ${p.version} to its profile` } }),
          button("Assign to device", guarded(() => assignToDevice(p)), { props: { "aria-label": `Assign ${p.title} ${p.version} to a device` } }),
          button("Delete", () => removePackage(p, reload), { kind: "danger-text", props: { "aria-label": `Delete ${p.title} ${p.version}` } })),
      },
    ],
    fetchPage: (link) => api.get("/api/otaPackages", link),
  });
  const add = button("Add package", guarded(async () => (await addPackageDialog()) && reload()), { kind: "primary" });
  replace(main, h("section", { class: "page" },
    pageHeader("OTA updates", [add], "Firmware and software images that devices download and install."),
    table.element));
}
