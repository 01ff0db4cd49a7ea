// Customers: the list (add, delete) and one customer's page with its users and devices. A new
// user gets an activation link, shown so the administrator can hand it over.

import * as api from "../api.js";
import { confirmDialog, formDialog } from "../dialog.js";
import { h, replace } from "../dom.js";
import { pagedTable } from "../table.js";
import { button, field, formatTime, loadInto, pageHeader, toast } from "../ui.js";
import { activationLinkDialog, addUserDialog, userColumns } from "./users.js";

function addCustomerDialog() {
  const title = h("input", { type: "text", required: true, maxLength: 255 });
  const email = h("input", { type: "email", maxLength: 255 });
  return formDialog({
    title: "Add customer",
    submitLabel: "Add",
    fields: [field("Title", title), field("Email", email)],
    onSubmit: async () => {
      const customer = await api.post("/api/customer", { title: title.value.trim(), email: email.value.trim() || null });
      toast(`Customer ${customer.title} added`, "success");
      return customer;
    },
  });
}

async function removeCustomer(customer, reload) {
  const confirmed = await confirmDialog({
    title: `Delete customer ${customer.title}?`,
    message: "Its users are deleted; its devices go back to the tenant.",
  });
  if (!confirmed) return;
  try {
    await api.del(`/api/customer/${customer.id.id}`);
    toast(`Customer ${customer.title} deleted`, "success");
    reload();
  } catch (error) {
    toast(`Could not delete: ${error.message}`, "error");
  }
}

/** `/customers`. */
export function customersPage({ main }) {
  let table = null;
  table = pagedTable({
    caption: "Customers",
    searchLabel: "Search customers",
    columns: [
      { label: "Created time", sort: "createdTime", render: (c) => formatTime(c.createdTime), class: "nowrap" },
      { label: "Title", sort: "title", render: (c) => h("a", { href: `/customers/${c.id.id}` }, c.title) },
      { label: "Email", sort: "email", render: (c) => c.email || "" },
      {
        label: "Actions", class: "actions-cell", render: (c) => h("div", { class: "row-actions" },
          h("a", { href: `/customers/${c.id.id}`, class: "button", "aria-label": `Users of ${c.title}` }, "Users"),
          button("Delete", () => removeCustomer(c, () => table.reload()), { kind: "danger-text", props: { "aria-label": `Delete ${c.title}` } })),
      },
    ],
    fetchPage: (link) => api.get("/api/customers", link),
  });
  const add = button("Add customer", async () => (await addCustomerDialog()) && table.reload(), { kind: "primary" });
  replace(main, h("section", { class: "page" },
    pageHeader("Customers", [add], "Customers own devices; their users see only those, read-only."),
    table.element));
}

function customerDevices(customerId) {
  return pagedTable({
    caption: "Devices of the customer",
    searchLabel: "Search devices",
    empty: "No devices assigned: assign some from the Devices page.",
    columns: [
      { label: "Created time", sort: "createdTime", render: (d) => formatTime(d.createdTime), class: "nowrap" },
      { label: "Name", sort: "name", render: (d) => h("a", { href: `/devices/${d.id.id}` }, d.name) },
      { label: "Label", sort: "label", render: (d) => d.label || "" },
    ],
    fetchPage: (link) => api.get(`/api/customer/${customerId}/deviceInfos`, link),
  });
}

/** `/customers/{customerId}`: its users (add one, activation links) and its devices. */
export function customerPage({ main, params }) {
  const customerId = params.customerId;
  const container = h("div");
  replace(main, container);
  loadInto(container, () => api.get(`/api/customer/${customerId}`), (customer) => {
    document.title = `${customer.title} · thingport`;
    const users = pagedTable({
      caption: "Customer users",
      searchLabel: "Search users",
      sort: "email", order: "ASC",
      empty: "No users yet: add one with Add user.",
      columns: userColumns((user) => activationLinkDialog(user)),
      fetchPage: (link) => api.get(`/api/customer/${customerId}/users`, link),
    });
    const add = button("Add user", async () => {
      const user = await addUserDialog({ authority: "CUSTOMER_USER", customerId: api.entityId("CUSTOMER", customerId) });
      if (user) {
        users.reload();
        await activationLinkDialog(user);
      }
    }, { kind: "primary" });
    return h("section", { class: "page" },
      h("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" },
        h("a", { href: "/customers" }, "Customers"), h("span", { "aria-hidden": "true" }, " › "),
        h("span", { "aria-current": "page" }, customer.title)),
      pageHeader(customer.title, [add], customer.email || null),
      h("h2", { class: "section-title" }, "Users"),
      users.element,
      h("h2", { class: "section-title" }, "Devices"),
      customerDevices(customerId).element);
  });
}
