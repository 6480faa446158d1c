// Plain SVG bar charts built with createElementNS, and HTML column charts for the daily series:
// labels and numbers go in as text nodes.
import { h } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

// Horizontal bars: one row per [label, value]; the value is printed at the bar's end, so the chart
// reads without colour and the same figures are in the CSV.
export function barChart(title, rows, { unit = "" } = {}) {
  const rowHeight = 26;
  const labelWidth = 120;
  const width = 460;
  const height = Math.max(1, rows.length) * rowHeight + 10;
  const max = Math.max(1, ...rows.map(([, value]) => value));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", class: "chart" });
  chart.append(svg("title", {}, title));
  if (!rows.length) {
    chart.append(svg("text", { x: 8, y: 20, class: "chart-empty" }, "暂无数据"));
    return chart;
  }
  rows.forEach(([label, value], i) => {
    const y = 5 + i * rowHeight;
    const barWidth = ((width - labelWidth - 60) * value) / max;
    chart.append(
      svg("text", { x: labelWidth - 6, y: y + 16, "text-anchor": "end", class: "chart-label" }, label),
      svg("rect", { x: labelWidth, y: y + 3, width: Math.max(barWidth, value ? 2 : 0), height: rowHeight - 8,
        class: "chart-bar", rx: 2 }),
      svg("text", { x: labelWidth + barWidth + 6, y: y + 16, class: "chart-value" }, `${value}${unit}`));
  });
  return chart;
}

// A time series as plain HTML columns (one per day, heights set through CSSOM, which the
// style-src 'self' policy allows): each column's title gives the date and figure, the axis names
// the first, middle and last day, and the same numbers are in the table below the charts.
export function columnChart(title, rows, { format = (value) => String(value) } = {}) {
  const top = Math.max(0, ...rows.map(([, value]) => value || 0));
  const max = Math.max(1, top);
  const columns = h("div", { class: "columns", role: "img", "aria-label": title });
  for (const [label, value] of rows) {
    const bar = h("div", { class: "column-bar" });
    bar.style.height = `${value ? Math.max(2, (100 * value) / max) : 0}%`;
    columns.append(h("div", { class: "column", title: `${label}：${value === null ? "无数据" : format(value)}` }, bar));
  }
  const ticks = rows.length ? [0, Math.floor((rows.length - 1) / 2), rows.length - 1] : [];
  return h("figure", { class: "column-chart" },
    h("figcaption", {}, title, h("span", { class: "muted" }, ` 最高 ${format(top)}`)),
    columns,
    h("div", { class: "column-axis" }, ...[...new Set(ticks)].map((i) => h("span", {}, rows[i][0]))));
}
