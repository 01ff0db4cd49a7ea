// A paged, searchable, sortable table over one of ThingsBoard's paged listings
// (`pageSize`, `page`, `textSearch`, `sortProperty`, `sortOrder` -> `{data, totalElements,
// hasNext}`), with 10 / 20 / 30 rows a page as in ThingsBoard.

import { h, replace, uid } from "./dom.js";
import { errorState, loading } from "./ui.js";

const PAGE_SIZES = [10, 20, 30];
const SEARCH_DELAY_MS = 300;

/**
 * columns: [{label, render(row) -> node|text, sort?: sortProperty, class?}];
 * fetchPage(pageLink) -> a page; `caption` names the table; `toolbar` nodes go beside the
 * search box. Returns {element, reload()}.
 */
export function pagedTable({ caption, columns, fetchPage, sort = "createdTime", order = "DESC",
  searchLabel = "Search", empty = "Nothing here yet.", toolbar = [] }) {
  const state = { page: 0, pageSize: PAGE_SIZES[0], textSearch: "", sortProperty: sort, sortOrder: order };
  const body = h("div", { class: "table-body" });
  const status = h("span", { class: "muted", "aria-live": "polite" });
  const previous = h("button", { type: "button", class: "button", "aria-label": "Previous page" }, "‹");
  const next = h("button", { type: "button", class: "button", "aria-label": "Next page" }, "›");
  const sizeSelect = h("select", {},
    PAGE_SIZES.map((size) => h("option", { value: String(size) }, String(size))));
  const search = h("input", { type: "search", placeholder: searchLabel, "aria-label": searchLabel });
  let generation = 0;

  const headerCell = (column) => {
    if (!column.sort) return h("th", { scope: "col", class: column.class }, column.label);
    const active = state.sortProperty === column.sort;
    const direction = state.sortOrder === "ASC" ? "ascending" : "descending";
    return h("th", { scope: "col", class: column.class, "aria-sort": active ? direction : "none" },
      h("button", {
        type: "button", class: "sort-button",
        onclick: () => {
          state.sortOrder = active && state.sortOrder === "ASC" ? "DESC" : "ASC";
          if (!active) state.sortOrder = column.sort === "createdTime" ? "DESC" : "ASC";
          state.sortProperty = column.sort;
          state.page = 0;
          reload();
        },
      }, column.label, h("span", { class: "sort-mark", "aria-hidden": "true" }, active ? (state.sortOrder === "ASC" ? "▲" : "▼") : "")));
  };

  const renderPage = (result) => {
    const first = result.totalElements ? state.page * state.pageSize + 1 : 0;
    const last = state.page * state.pageSize + result.data.length;
    replace(status, `${first}–${last} of ${result.totalElements}`);
    previous.disabled = state.page === 0;
    next.disabled = !result.hasNext;
    const table = h("table", { class: "table" },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, columns.map(headerCell))),
      h("tbody", {}, result.data.length
        ? result.data.map((row) => h("tr", {}, columns.map((column) =>
          h("td", { class: column.class, "data-label": column.label }, column.render(row)))))
        : h("tr", {}, h("td", { colspan: String(columns.length), class: "empty" }, empty))));
    replace(body, h("div", { class: "table-scroll" }, table));
  };

  async function reload() {
    generation += 1;
    const mine = generation;
    if (!body.firstChild || body.querySelector(".state-error")) replace(body, loading());
    body.setAttribute("aria-busy", "true");
    try {
      const result = await fetchPage({ ...state, textSearch: state.textSearch || null });
      if (mine !== generation) return;
      if (!result.data.length && state.page > 0) {
        state.page -= 1; // the last row of the last page was deleted
        reload();
        return;
      }
      renderPage(result);
    } catch (error) {
      if (mine === generation) replace(body, errorState(error, reload));
    } finally {
      if (mine === generation) body.removeAttribute("aria-busy");
    }
  }

  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.textSearch = search.value.trim();
      state.page = 0;
      reload();
    }, SEARCH_DELAY_MS);
  });
  sizeSelect.addEventListener("change", () => {
    state.pageSize = Number(sizeSelect.value);
    state.page = 0;
    reload();
  });
  previous.addEventListener("click", () => {
    state.page = Math.max(0, state.page - 1);
    reload();
  });
  next.addEventListener("click", () => {
    state.page += 1;
    reload();
  });

  const sizeId = uid("page-size");
  sizeSelect.id = sizeId;
  const element = h("section", { class: "card table-card", "aria-label": caption },
    h("div", { class: "table-toolbar" }, search, toolbar),
    body,
    h("div", { class: "table-footer" },
      h("label", { for: sizeId, class: "muted" }, "Rows per page"), sizeSelect, status, previous, next));
  reload();
  return { element, reload };
}
