// A time-series line chart on uPlot (npm `uplot`, put into static/vendor/ by the build).
// The library is loaded on first use only, so pages without a chart do not pay for it.

import { h } from "./dom.js";

let loaded = null;

/** uPlot, loaded once; rejects with a readable message when the build did not vendor it. */
export function loadUPlot() {
  if (!loaded) {
    loaded = new Promise((resolve, reject) => {
      const base = new URL("../vendor/uplot/", import.meta.url);
      document.head.append(h("link", { rel: "stylesheet", href: new URL("uPlot.min.css", base).href }));
      const script = h("script", { src: new URL("uPlot.iife.min.js", base).href });
      script.addEventListener("load", () => resolve(window.uPlot));
      script.addEventListener("error", () => {
        loaded = null;
        reject(new Error("The chart library (uPlot) is missing from this installation: "
          + "reinstall thingport on a machine with npm (see the README)."));
      });
      document.head.append(script);
    });
  }
  return loaded;
}

/**
 * Draw `points` ([[tsMs, number], ...], ascending) of `label` into `container`; returns the
 * function that removes the chart. The chart follows the container's width.
 */
export async function lineChart(container, label, points) {
  const uPlot = await loadUPlot();
  const xs = points.map(([ts]) => ts / 1000);
  const ys = points.map(([, value]) => value);
  const size = () => ({ width: Math.max(container.clientWidth, 280), height: 320 });
  const chart = new uPlot({
    ...size(),
    scales: { x: { time: true } },
    series: [
      {},
      {
        label, stroke: "#305680", width: 2, fill: "rgba(48, 86, 128, 0.08)",
        points: { show: points.length <= 60 },
      },
    ],
    axes: [{ grid: { stroke: "#e6e9ef" } }, { grid: { stroke: "#e6e9ef" }, size: 60 }],
    legend: { show: true },
  }, [xs, ys], container);
  let frame = null;
  const observer = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => chart.setSize(size()));
  });
  observer.observe(container);
  return () => {
    observer.disconnect();
    cancelAnimationFrame(frame);
    chart.destroy();
  };
}
