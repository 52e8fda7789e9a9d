// A line chart in SVG (no library): one line per series of {step, value}, axes with a few ticks, a text summary
// for screen readers. Attributes only (no inline style: the pages' policy forbids it).
import { el } from "./common.js";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#2f4b8f", "#c2410c", "#15803d", "#7e22ce"];

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function ticks(min, max, count = 4) {
  if (min === max) return [min];
  const step = (max - min) / count;
  return Array.from({ length: count + 1 }, (_, i) => min + i * step);
}

function label(value) {
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** series: {name: [{step, value}]} -> a <figure> with the chart, a legend and a summary. */
export function lineChart(series, { title, yLabel = "loss", width = 640, height = 260 } = {}) {
  const names = Object.keys(series).filter((n) => series[n].length);
  const points = names.flatMap((n) => series[n]);
  const figure = el("figure", { class: "chart-figure" });
  if (!points.length) {
    figure.append(el("p", { class: "meta" }, "No training steps were logged."));
    return figure;
  }
  const pad = { left: 48, right: 12, top: 12, bottom: 34 };
  const xs = points.map((p) => p.step);
  const ys = points.map((p) => p.value);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const x = (v) => pad.left + ((v - x0) / (x1 - x0 || 1)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - ((v - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-labelledby": "" });
  const summary = names
    .map((n) => {
      const s = series[n];
      return `${n}: ${s.length} steps, ${yLabel} from ${label(s[0].value)} to ${label(s[s.length - 1].value)}`;
    })
    .join("; ");
  const titleId = `chart-${Math.random().toString(36).slice(2)}`;
  chart.setAttribute("aria-labelledby", titleId);
  chart.append(svg("title", { id: titleId }, `${title || "Training curve"}: ${summary}`));
  for (const t of ticks(y0, y1)) {
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(t), y2: y(t), stroke: "#e3e6eb" }));
    chart.append(svg("text", { x: pad.left - 6, y: y(t) + 4, "text-anchor": "end" }, label(t)));
  }
  for (const t of ticks(x0, x1, Math.min(5, Math.max(1, x1 - x0)))) {
    chart.append(svg("text", { x: x(t), y: height - pad.bottom + 16, "text-anchor": "middle" }, Math.round(t)));
  }
  chart.append(svg("text", { x: (pad.left + width - pad.right) / 2, y: height - 4, "text-anchor": "middle" }, "step"));
  chart.append(svg("line", { x1: pad.left, x2: pad.left, y1: pad.top, y2: height - pad.bottom, stroke: "#9aa2b1" }));
  chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom, stroke: "#9aa2b1" }));
  names.forEach((name, i) => {
    const path = series[name].map((p, j) => `${j ? "L" : "M"}${x(p.step).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
    chart.append(svg("path", { d: path, fill: "none", stroke: COLOURS[i % COLOURS.length], "stroke-width": 2, "data-series": name }));
    for (const p of series[name]) chart.append(svg("circle", { cx: x(p.step), cy: y(p.value), r: 2.5, fill: COLOURS[i % COLOURS.length] }));
  });
  figure.append(chart);
  figure.append(el("figcaption", { class: "legend" }, names.map((n, i) => el("span", {}, el("span", { class: `swatch s${i % 4}`, "aria-hidden": "true" }), n))));
  figure.append(el("p", { class: "visually-hidden" }, summary));
  return figure;
}
