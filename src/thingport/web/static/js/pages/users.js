// Users of a customer or tenant: add one (no mail is sent) and hand over its activation link,
// which the new user opens to choose a password.

import * as api from "../api.js";
import { copyWithToast } from "../clipboard.js";
import { formDialog, openDialog } from "../dialog.js";
import { h, replace } from "../dom.js";
import { button, errorState, field, formatTime, loading, toast } from "../ui.js";

/** The Add user dialog; `owner` holds authority and customerId or tenantId. */
export function addUserDialog(owner) {
  const email = h("input", { type: "email", required: true, maxLength: 255, autocomplete: "off" });
  const first = h("input", { type: "text", maxLength: 255, autocomplete: "off" });
  const last = h("input", { type: "text", maxLength: 255, autocomplete: "off" });
  return formDialog({
    title: owner.authority === "TENANT_ADMIN" ? "Add tenant administrator" : "Add user",
    submitLabel: "Add",
    fields: [field("Email", email), field("First name", first), field("Last name", last)],
    onSubmit: async () => {
      const user = await api.post(api.withQuery("/api/user", { sendActivationMail: false }), {
        ...owner, email: email.value.trim(), firstName: first.value.trim() || null, lastName: last.value.trim() || null,
      });
      toast(`User ${user.email} added`, "success");
      return user;
    },
  });
}

function linkBlock(label, link) {
  return h("div", { class: "command" },
    h("div", { class: "command-head" }, h("h3", {}, label),
      button(`Copy ${label.toLowerCase()}`, () => copyWithToast(link, label))),
    h("pre", { class: "mono", "aria-label": label }, link));
}

/** Show the activation link of `user`: the API's, which opens this UI's page at the server's
 * public address (THINGPORT_BASE_URL, or what the proxy forwards). */
export function activationLinkDialog(user) {
  return openDialog({
    title: `Activation link for ${user.email}`,
    content: () => {
      const body = h("div", {}, loading());
      api.get(`/api/user/${user.id.id}/activationLink`).then((link) => {
        replace(body,
          h("p", {}, "No mail is sent: give the user this link. Opening it lets them choose a password."),
          linkBlock("Activation page", link));
      }).catch((error) => replace(body, errorState(error)));
      return body;
    },
  });
}

/** The columns of a user table; `onLink(user)` opens the activation link. */
export function userColumns(onLink) {
  return [
    { label: "Created time", sort: "createdTime", render: (u) => formatTime(u.createdTime), class: "nowrap" },
    { label: "Email", sort: "email", render: (u) => u.email },
    { label: "First name", sort: "firstName", render: (u) => u.firstName || "" },
    { label: "Last name", sort: "lastName", render: (u) => u.lastName || "" },
    {
      label: "Actions", class: "actions-cell",
      render: (u) => button("Activation link", () => onLink(u), { props: { "aria-label": `Activation link of ${u.email}` } }),
    },
  ];
}
