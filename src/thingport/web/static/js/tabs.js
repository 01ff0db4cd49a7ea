// Tabs with the ARIA tablist pattern: arrow keys, Home and End move between tabs, only the
// selected tab is in the tab order, each panel is labelled by its tab. A panel is rendered when
// its tab is selected, in a scope that closes when another tab is (stopping its live updates).

import { h, uid } from "./dom.js";

/**
 * tabs: [{id, label, render(panel, scope)}]; `selected` is the id shown first; `onSelect(id)`
 * runs after every change. Returns the element.
 */
export function tabView({ label, tabs, selected, scope, onSelect = () => {} }) {
  const prefix = uid("tabs");
  const list = h("div", { role: "tablist", "aria-label": label, class: "tablist" });
  const panels = h("div", { class: "tab-panels" });
  const buttons = [];
  let current = null;
  let panelScope = null;

  const show = (index, focus = false) => {
    const tab = tabs[index];
    buttons.forEach((button, i) => {
      button.setAttribute("aria-selected", String(i === index));
      button.tabIndex = i === index ? 0 : -1;
    });
    if (focus) buttons[index].focus();
    if (current === tab.id) return;
    current = tab.id;
    if (panelScope) panelScope.close();
    panelScope = scope.child();
    const panel = h("div", {
      role: "tabpanel", id: `${prefix}-${tab.id}-panel`, "aria-labelledby": `${prefix}-${tab.id}`,
      class: "tab-panel", tabindex: "0",
    });
    panels.replaceChildren(panel);
    tab.render(panel, panelScope);
    onSelect(tab.id);
  };

  tabs.forEach((tab, index) => {
    const button = h("button", {
      type: "button", role: "tab", id: `${prefix}-${tab.id}`, class: "tab",
      "aria-controls": `${prefix}-${tab.id}-panel`, "aria-selected": "false", tabIndex: -1,
      onclick: () => show(index),
    }, tab.label);
    buttons.push(button);
    list.append(button);
  });

  list.addEventListener("keydown", (event) => {
    const index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    show((moves[event.key] + tabs.length) % tabs.length, true);
  });

  const first = Math.max(0, tabs.findIndex((tab) => tab.id === selected));
  show(first);
  return h("div", { class: "tabs" }, list, panels);
}
