// The frame around every page once logged in: ThingsBoard's left navigation (what a role may
// see), the top bar with the user and Log out, and the banner shown while live updates fall
// back to polling.

import { h, replace } from "./dom.js";
import { POLL_MS } from "./live.js";
import { telemetrySocket } from "./ws.js";

const ROLE_NAMES = {
  SYS_ADMIN: "System administrator",
  TENANT_ADMIN: "Tenant administrator",
  CUSTOMER_USER: "Customer user",
};

/** The navigation of each authority: groups of [label, path]. */
const NAVIGATION = {
  SYS_ADMIN: [[null, [["Tenants", "/tenants"]]]],
  TENANT_ADMIN: [
    ["Entities", [["Devices", "/devices"]]],
    ["Profiles", [["Device profiles", "/profiles"]]],
    [null, [["Customers", "/customers"], ["OTA updates", "/ota"]]],
  ],
  CUSTOMER_USER: [["Entities", [["Devices", "/devices"]]]],
};

/** Where a user lands after logging in. */
export function homePath(user) {
  return user.authority === "SYS_ADMIN" ? "/tenants" : "/devices";
}

function navigation(user, close) {
  const groups = NAVIGATION[user.authority] || [];
  return h("nav", { class: "nav", "aria-label": "Main" }, groups.map(([title, links]) =>
    h("div", { class: "nav-group" },
      title ? h("p", { class: "nav-title", "aria-hidden": "true" }, title) : null,
      h("ul", {}, links.map(([label, path]) =>
        h("li", {}, h("a", { href: path, class: "nav-link", "data-path": path, onclick: close }, label)))))));
}

function wsBanner() {
  const banner = h("div", { class: "banner", role: "status", hidden: true },
    h("strong", {}, "Live updates unavailable. "),
    `The WebSocket connection to /api/ws could not be opened (a proxy may be dropping its `
    + `Upgrade headers). Values are refreshed from the REST API every ${POLL_MS / 1000} s instead.`);
  const follow = (state) => {
    banner.hidden = state !== "down";
  };
  const stop = telemetrySocket.onState(follow);
  follow(telemetrySocket.state);
  return [banner, stop];
}

/**
 * Render the frame into `root`; returns `{main, select(pathname), close()}`: the element pages
 * render into, the function that marks the current navigation link, and the one that stops it.
 */
export function renderLayout(root, user, onLogout) {
  const sidebar = h("aside", { class: "sidebar", id: "sidebar" });
  const toggle = h("button", {
    type: "button", class: "icon-button menu-button", "aria-label": "Menu",
    "aria-expanded": "false", "aria-controls": "sidebar",
  }, "☰");
  const setOpen = (open) => {
    sidebar.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
  };
  toggle.addEventListener("click", () => setOpen(!sidebar.classList.contains("open")));
  replace(sidebar,
    h("a", { href: homePath(user), class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "thingport"),
    navigation(user, () => setOpen(false)));

  const main = h("main", { class: "main", id: "main", tabindex: "-1" });
  const topbar = h("header", { class: "topbar" },
    toggle,
    h("div", { class: "topbar-spacer" }),
    h("div", { class: "user" },
      h("span", { class: "user-email" }, user.email),
      h("span", { class: "user-role" }, ROLE_NAMES[user.authority] || user.authority)),
    h("button", { type: "button", class: "button", onclick: onLogout }, "Log out"));

  const [banner, stopBanner] = wsBanner();
  replace(root,
    h("a", { href: "#main", class: "skip-link" }, "Skip to content"),
    sidebar,
    h("div", { class: "content" }, topbar, banner, main));

  const select = (pathname) => {
    for (const link of sidebar.querySelectorAll(".nav-link")) {
      const path = link.dataset.path;
      const current = pathname === path || pathname.startsWith(`${path}/`);
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  };
  return { main, select, close: stopBanner };
}
