// The system administrator's pages: tenants (add one) and a tenant's administrators.

import * as api from "../api.js";
import { formDialog } from "../dialog.js";
import { h, replace } from "../dom.js";
import { pagedTable } from "../table.js";
import { button, field, formatTime, loadInto, pageHeader, toast } from "../ui.js";
import { activationLinkDialog, addUserDialog, userColumns } from "./users.js";

function addTenantDialog() {
  const title = h("input", { type: "text", required: true, maxLength: 255 });
  const email = h("input", { type: "email", maxLength: 255 });
  return formDialog({
    title: "Add tenant",
    submitLabel: "Add",
    fields: [field("Title", title), field("Email", email)],
    onSubmit: async () => {
      const tenant = await api.post("/api/tenant", { title: title.value.trim(), email: email.value.trim() || null });
      toast(`Tenant ${tenant.title} added`, "success");
      return tenant;
    },
  });
}

/** `/tenants`. */
export function tenantsPage({ main }) {
  const table = pagedTable({
    caption: "Tenants",
    searchLabel: "Search tenants",
    columns: [
      { label: "Created time", sort: "createdTime", render: (t) => formatTime(t.createdTime), class: "nowrap" },
      { label: "Title", sort: "title", render: (t) => h("a", { href: `/tenants/${t.id.id}` }, t.title) },
      { label: "Email", sort: "email", render: (t) => t.email || "" },
      {
        label: "Actions", class: "actions-cell",
        render: (t) => h("a", { href: `/tenants/${t.id.id}`, class: "button", "aria-label": `Administrators of ${t.title}` }, "Administrators"),
      },
    ],
    fetchPage: (link) => api.get("/api/tenants", link),
  });
  const add = button("Add tenant", async () => (await addTenantDialog()) && table.reload(), { kind: "primary" });
  replace(main, h("section", { class: "page" },
    pageHeader("Tenants", [add], "Each tenant has its own devices, customers and administrators."),
    table.element));
}

/** `/tenants/{tenantId}`: its administrators. */
export function tenantPage({ main, params }) {
  const tenantId = params.tenantId;
  const container = h("div");
  replace(main, container);
  loadInto(container, () => api.get(`/api/tenant/${tenantId}`), (tenant) => {
    document.title = `${tenant.title} · thingport`;
    const admins = pagedTable({
      caption: "Tenant administrators",
      searchLabel: "Search administrators",
      sort: "email", order: "ASC",
      empty: "No administrators yet: add one.",
      columns: userColumns((user) => activationLinkDialog(user)),
      fetchPage: (link) => api.get(`/api/tenant/${tenantId}/users`, link),
    });
    const add = button("Add tenant administrator", async () => {
      const user = await addUserDialog({ authority: "TENANT_ADMIN", tenantId: api.entityId("TENANT", tenantId) });
      if (user) {
        admins.reload();
        await activationLinkDialog(user);
      }
    }, { kind: "primary" });
    return h("section", { class: "page" },
      h("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" },
        h("a", { href: "/tenants" }, "Tenants"), h("span", { "aria-hidden": "true" }, " › "),
        h("span", { "aria-current": "page" }, tenant.title)),
      pageHeader(tenant.title, [add], tenant.email || null),
      h("h2", { class: "section-title" }, "Administrators"),
      admins.element);
  });
}
