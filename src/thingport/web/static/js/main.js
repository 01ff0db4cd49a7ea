// The UI's entry point: restore the session, then render the page of the current address.

import { Scope, h, replace } from "./dom.js";
import { homePath, renderLayout } from "./layout.js";
import { addRoute, match, navigate, start } from "./router.js";
import * as session from "./session.js";
import { telemetrySocket } from "./ws.js";
import { activatePage, loginPage } from "./pages/login.js";
import { devicesPage } from "./pages/devices.js";
import { devicePage } from "./pages/device.js";
import { profilesPage } from "./pages/profiles.js";
import { customerPage, customersPage } from "./pages/customers.js";
import { otaPage } from "./pages/ota.js";
import { tenantPage, tenantsPage } from "./pages/tenants.js";

const TENANT = ["TENANT_ADMIN"];
const SYSADMIN = ["SYS_ADMIN"];

addRoute("/login", loginPage, { public: true, title: "Log in" });
addRoute("/activate", activatePage, { public: true, title: "Create password" });
addRoute("/", null, { title: "" });
addRoute("/devices", devicesPage, { roles: ["TENANT_ADMIN", "CUSTOMER_USER"], title: "Devices" });
addRoute("/devices/:deviceId", devicePage, { roles: ["TENANT_ADMIN", "CUSTOMER_USER"], title: "Device" });
addRoute("/profiles", profilesPage, { roles: TENANT, title: "Device profiles" });
addRoute("/customers", customersPage, { roles: TENANT, title: "Customers" });
addRoute("/customers/:customerId", customerPage, { roles: TENANT, title: "Customer" });
addRoute("/ota", otaPage, { roles: TENANT, title: "OTA updates" });
addRoute("/tenants", tenantsPage, { roles: SYSADMIN, title: "Tenants" });
addRoute("/tenants/:tenantId", tenantPage, { roles: SYSADMIN, title: "Tenant" });

const root = document.getElementById("app");
let layout = null;
let pageScope = new Scope();
let firstRender = true;

function closeLayout() {
  if (layout) layout.close();
  layout = null;
}

async function logout() {
  pageScope.close();
  closeLayout();
  telemetrySocket.disconnect();
  await session.logout();
  navigate("/login", { replace: true });
}

function notFound(main) {
  replace(main, h("section", { class: "page" },
    h("h1", {}, "Page not found"),
    h("p", {}, "There is nothing at this address. ", h("a", { href: "/" }, "Go to the start page"), ".")));
}

function render() {
  pageScope.close();
  pageScope = new Scope();
  const here = location.pathname + location.search;
  const found = match(location.pathname);
  const user = session.currentUser();
  const context = { params: found ? found.params : {}, query: new URLSearchParams(location.search), scope: pageScope, user };

  if (found && found.route.public) {
    closeLayout();
    document.title = `${found.route.title} · thingport`;
    found.route.page({ ...context, main: root });
    return;
  }
  if (!user) {
    navigate(`/login?next=${encodeURIComponent(here)}`, { replace: true });
    return;
  }
  if (found && (found.route.page === null || (found.route.roles && !found.route.roles.includes(user.authority)))) {
    navigate(homePath(user), { replace: true });
    return;
  }
  if (!layout) layout = renderLayout(root, user, logout);
  layout.select(location.pathname);
  replace(layout.main);
  document.title = `${found ? found.route.title : "Not found"} · thingport`;
  if (found) found.route.page({ ...context, main: layout.main });
  else notFound(layout.main);
  // Moving focus to the new page tells screen readers it changed (not on the first load).
  if (!firstRender) layout.main.focus({ preventScroll: true });
  firstRender = false;
}

session.onExpired(() => {
  pageScope.close();
  closeLayout();
  telemetrySocket.disconnect();
  const here = location.pathname + location.search;
  navigate(`/login?expired=1&next=${encodeURIComponent(here)}`, { replace: true });
});

await session.restore();
start(render);
