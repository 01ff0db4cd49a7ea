// Small building blocks every page uses: toasts, loading and error states, formatting.

import { h, replace, uid } from "./dom.js";

/** A short message in the toast area (a polite live region), gone after a few seconds. */
export function toast(message, kind = "info") {
  const area = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}` }, message);
  area.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 6000 : 3000);
}

/** The loading state of a region. */
export function loading(label = "Loading…") {
  return h("p", { class: "state state-loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), label);
}

/** The error state of a region: the server's message, and a retry button when given one. */
export function errorState(error, retry) {
  return h("div", { class: "state state-error", role: "alert" },
    h("p", {}, h("strong", {}, "Could not load: "), error.message || String(error)),
    retry ? h("button", { type: "button", class: "button", onclick: retry }, "Retry") : null);
}

/**
 * Fill `container` from `fetch()`: a loading state first, then `render(result)`, or the error
 * with a retry button. Returns a function that loads again.
 */
export function loadInto(container, fetch, render) {
  let generation = 0;
  const run = async () => {
    generation += 1;
    const mine = generation;
    replace(container, loading());
    try {
      const result = await fetch();
      if (mine === generation) replace(container, render(result));
    } catch (error) {
      if (mine === generation) replace(container, errorState(error, run));
    }
  };
  run();
  return run;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });

const shortFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });

/** A millisecond timestamp as local date and time ("" for none). */
export function formatTime(ts) {
  return ts ? dateFormat.format(new Date(Number(ts))) : "";
}

/** The same to the minute, where space is short. */
export function formatTimeShort(ts) {
  return ts ? shortFormat.format(new Date(Number(ts))) : "";
}

/** A byte count for people. */
export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KB", "MB", "GB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

/** A telemetry or attribute value as text: strings as they are, anything else as JSON. */
export function displayValue(value) {
  if (typeof value === "string") return value;
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** The green Active / red Inactive pill, with the last activity time when known. */
export function statePill(active, lastActivityTime) {
  const text = active ? "Active" : "Inactive";
  const seen = lastActivityTime ? `last activity ${formatTimeShort(lastActivityTime)}` : "no activity yet";
  return h("span", { class: "state-cell", title: lastActivityTime ? `Last activity ${formatTime(lastActivityTime)}` : null },
    h("span", { class: `pill ${active ? "pill-active" : "pill-inactive"}` }, text),
    h("span", { class: "muted small" }, seen));
}

/** A labelled form field: the label's `for` points at the control. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid("field");
  const hintEl = hint ? h("small", { class: "hint", id: uid("hint") }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  const isCheck = control.type === "checkbox" || control.type === "radio";
  return isCheck
    ? h("div", { class: "field field-check" }, control, h("label", { for: control.id }, label), hintEl)
    : h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

/** A <select> of `[value, label]` options with `selected` chosen. */
export function select(options, selected, props = {}) {
  return h("select", props, options.map(([value, label]) =>
    h("option", { value, selected: String(value) === String(selected ?? "") }, label)));
}

/** A page header: title, optional subtitle and action buttons. */
export function pageHeader(title, actions = [], subtitle) {
  return h("header", { class: "page-header" },
    h("div", {}, h("h1", {}, title), subtitle ? h("p", { class: "muted" }, subtitle) : null),
    h("div", { class: "actions" }, actions));
}

/** A plain button. */
export function button(label, onclick, { kind = "", props = {} } = {}) {
  return h("button", { type: "button", class: `button ${kind}`.trim(), onclick, ...props }, label);
}
