// Client-side routes with the History API: links inside the page change the address without
// a reload, and the server answers every route with the same shell, so a reload or a shared
// link renders the same page.

const routes = [];
let onChange = () => {};

/** Register `pattern` ("/devices/:deviceId") with `page` and its options (roles, public). */
export function addRoute(pattern, page, options = {}) {
  const names = [];
  const source = pattern.replace(/:([a-zA-Z]+)/g, (_, name) => {
    names.push(name);
    return "([^/]+)";
  });
  routes.push({ pattern, regex: new RegExp(`^${source}/?$`), names, page, ...options });
}

/** The route of `pathname` and its parameters, or null. */
export function match(pathname) {
  for (const route of routes) {
    const found = route.regex.exec(pathname);
    if (found) {
      const params = {};
      route.names.forEach((name, i) => {
        params[name] = decodeURIComponent(found[i + 1]);
      });
      return { route, params };
    }
  }
  return null;
}

/** Go to `path` (with its query); `replace` to not add a history entry. */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  onChange();
}

/** Change the query of the current address without rendering again (tab, page number). */
export function setQuery(params) {
  const url = new URL(location.href);
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") url.searchParams.delete(key);
    else url.searchParams.set(key, value);
  }
  history.replaceState(null, "", url.pathname + url.search);
}

function isInternalLink(event) {
  if (event.defaultPrevented || event.button !== 0) return null;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return null;
  const link = event.target.closest("a[href]");
  if (!link || link.target || link.hasAttribute("download")) return null;
  const url = new URL(link.href, location.href);
  if (url.hash && url.pathname === location.pathname) return null; // an in-page anchor
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return null;
  return match(url.pathname) ? url : null;
}

/** Start following the address: `render()` now and after every change. */
export function start(render) {
  onChange = render;
  window.addEventListener("popstate", render);
  document.addEventListener("click", (event) => {
    const url = isInternalLink(event);
    if (!url) return;
    event.preventDefault();
    if (url.pathname + url.search !== location.pathname + location.search) {
      navigate(url.pathname + url.search);
    }
  });
  render();
}
