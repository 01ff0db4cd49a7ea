// The Chart tab: one numeric key over a chosen time range. Short ranges show the raw values;
// longer ones are aggregated by the server into at most ~500 intervals
// (`values/timeseries?startTs&endTs&interval&agg&limit`), so a month of data stays light.

import * as api from "../api.js";
import { lineChart } from "../chart.js";
import { h, replace } from "../dom.js";
import { button, errorState, field, loading, select } from "../ui.js";

const MINUTE = 60000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const RANGES = [
  [15 * MINUTE, "Last 15 minutes"], [HOUR, "Last hour"], [6 * HOUR, "Last 6 hours"],
  [DAY, "Last day"], [7 * DAY, "Last 7 days"], [30 * DAY, "Last 30 days"],
];
const AGGREGATIONS = [["NONE", "None (raw values)"], ["AVG", "Average"], ["MIN", "Minimum"], ["MAX", "Maximum"], ["SUM", "Sum"], ["COUNT", "Count"]];
// Raw values only up to this range; beyond it the browser would draw (and fetch) too much.
const RAW_MAX_RANGE_MS = 6 * HOUR;
const RAW_LIMIT = 10000;
const MAX_BUCKETS = 500;
const INTERVALS = [1000, 5000, 10000, 30000, MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE,
  30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY];

/** The smallest round interval that cuts `range` into at most MAX_BUCKETS pieces. */
export function bucketInterval(range) {
  return INTERVALS.find((interval) => range / interval <= MAX_BUCKETS) || DAY;
}

function describeInterval(ms) {
  if (ms < MINUTE) return `${ms / 1000} s`;
  if (ms < HOUR) return `${ms / MINUTE} min`;
  if (ms < DAY) return `${ms / HOUR} h`;
  return `${ms / DAY} d`;
}

/** The history query for a range and aggregation, and a sentence saying what it shows. */
function historyQuery(key, range, aggregation) {
  const endTs = Date.now();
  const startTs = endTs - range;
  if (aggregation === "NONE" && range <= RAW_MAX_RANGE_MS) {
    return { query: { keys: key, startTs, endTs, agg: "NONE", limit: RAW_LIMIT, orderBy: "ASC" }, note: "Raw values." };
  }
  const agg = aggregation === "NONE" ? "AVG" : aggregation;
  const interval = bucketInterval(range);
  const name = AGGREGATIONS.find(([value]) => value === agg)[1];
  const what = `${name} per ${describeInterval(interval)}, computed by the server.`;
  return {
    query: { keys: key, startTs, endTs, interval, agg, limit: MAX_BUCKETS + 10, orderBy: "ASC" },
    note: aggregation === "NONE"
      ? `Raw values are shown for ranges up to 6 hours; this is the ${what.charAt(0).toLowerCase()}${what.slice(1)}`
      : what,
  };
}

function numericKeys(latest) {
  return Object.entries(latest || {})
    .filter(([, points]) => points.length && points[0].value !== null && Number.isFinite(Number(points[0].value)))
    .map(([key]) => key)
    .sort();
}

/** Render the tab into `panel`. */
export function chartTab(panel, deviceId, scope) {
  const path = `/api/plugins/telemetry/DEVICE/${deviceId}/values/timeseries`;
  const card = h("div", { class: "card" }, loading());
  replace(panel, card);
  let removeChart = null;
  scope.add(() => removeChart && removeChart());

  const setup = async () => {
    replace(card, loading());
    let keys;
    try {
      keys = numericKeys(await api.get(path));
    } catch (error) {
      replace(card, errorState(error, setup));
      return;
    }
    if (!keys.length) {
      replace(card, h("p", { class: "state" }, "No numeric telemetry to chart yet."), button("Refresh", setup));
      return;
    }
    const keySelect = select(keys.map((key) => [key, key]), keys[0]);
    const rangeSelect = select(RANGES, HOUR);
    const aggSelect = select(AGGREGATIONS, "NONE");
    const note = h("p", { class: "muted small", "aria-live": "polite" });
    const area = h("div", { class: "chart-area" });
    const draw = async () => {
      if (removeChart) removeChart();
      removeChart = null;
      const range = Number(rangeSelect.value);
      const { query, note: text } = historyQuery(keySelect.value, range, aggSelect.value);
      replace(area, loading("Loading the chart…"));
      replace(note, "");
      try {
        const result = await api.get(path, query);
        const points = (result[keySelect.value] || [])
          .map((point) => [point.ts, Number(point.value)])
          .filter(([, value]) => Number.isFinite(value))
          .sort(([a], [b]) => a - b);
        if (!points.length) {
          replace(area, h("p", { class: "state" }, "No values in this time range."));
          return;
        }
        const label = `${keySelect.value}, ${rangeSelect.selectedOptions[0].textContent.toLowerCase()}`;
        const holder = h("div", { class: "chart", role: "img", "aria-label": `Chart of ${label}` });
        replace(area, holder);
        removeChart = await lineChart(holder, keySelect.value, points);
        replace(note, `${points.length} points. ${text}`);
      } catch (error) {
        replace(area, errorState(error, draw));
      }
    };
    for (const control of [keySelect, rangeSelect, aggSelect]) control.addEventListener("change", draw);
    replace(card,
      h("div", { class: "chart-controls" },
        field("Key", keySelect), field("Time range", rangeSelect), field("Aggregation", aggSelect),
        button("Refresh", draw)),
      area, note);
    draw();
  };
  setup();
}
