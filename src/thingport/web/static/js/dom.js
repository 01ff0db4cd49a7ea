// Building DOM nodes without HTML strings: every value goes in as text or a property, so data
// from the server can never become markup (and the CSP forbids inline styles anyway).

const PROPERTIES = new Set([
  "value", "checked", "disabled", "required", "hidden", "selected", "multiple", "readOnly",
  "open", "type", "min", "max", "step", "placeholder", "autocomplete", "name", "id",
  "maxLength", "rows", "tabIndex", "title", "href", "target", "download", "accept",
]);

/**
 * Make an element: h("button", {class: "primary", onclick: save}, "Save").
 * Props: `class`, `text`, `for`, on<event> handlers, known DOM properties, anything else
 * (aria-*, role, data-*) as an attribute. null, undefined and false props and children are
 * skipped; arrays of children are flattened.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "for") el.htmlFor = value;
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (PROPERTIES.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append children (nodes, strings, numbers, nested arrays; null and false skipped). */
export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let counter = 0;
/** A page-unique id, for label `for`, aria-controls and aria-labelledby. */
export function uid(prefix = "id") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/**
 * Cleanups that belong together (a page, a tab, a dialog): `add` registers one, `close` runs
 * them all once. Live subscriptions and timers hang on a scope so leaving a page stops them.
 */
export class Scope {
  constructor() {
    this.cleanups = [];
    this.closed = false;
  }

  add(cleanup) {
    if (this.closed) cleanup();
    else this.cleanups.push(cleanup);
    return cleanup;
  }

  child() {
    const scope = new Scope();
    this.add(() => scope.close());
    return scope;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      try {
        cleanup();
      } catch (error) {
        console.warn("cleanup failed", error);
      }
    }
  }
}
