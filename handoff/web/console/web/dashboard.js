// Dashboard: today or the last 30 or 90 days for the desks in scope (or one desk and the desks
// below it) — volumes by channel, category and risk level, waiting and first-response
// distributions, satisfaction, each with its CSV — and the daily series of the last 30 or 90
// Beijing-time days: conversations, cases, risk 2 and above, median first response.
import { get } from "./api.js";
import { RISK, category, channel, clear, h, select, toast } from "./dom.js";
import { barChart, columnChart } from "./charts.js";

function seconds(value) {
  if (value === null || value === undefined) return "—";
  return value < 60 ? `${Math.round(value)}秒` : `${(value / 60).toFixed(1)}分钟`;
}

function card(title, chart, ...notes) {
  return h("section", { class: "card chart-card" }, h("h3", {}, title), chart, ...notes);
}

export function mountDashboard(ctx) {
  const period = select("days", [["1", "今天"], ["30", "最近30天"], ["90", "最近90天"]], "1");
  const desk = select("desk", [["", "全部可见服务台"]], "");
  const csv = h("a", { class: "button", id: "stats-csv", download: "" }, "下载 CSV");
  const grid = h("div", { class: "dashboard-grid", id: "dashboard" });
  ctx.container.append(h("div", { class: "dashboard" },
    h("div", { class: "dashboard-head" }, h("h2", {}, "统计"), h("label", {}, "服务台 ", desk),
      h("label", {}, "时间范围 ", period), csv), grid));
  let closed = false;
  let names = null;
  let desks = {};

  async function loadNames() {
    // Cases are counted by 案由 code; show the taxonomy's names. The desk filter lists the desks in scope.
    names = { unclassified: "未分类" };
    for (const node of (await get("/taxonomy")).items) {
      names[node.code] = node.name;
      for (const child of node.children || []) names[child.code] = `${node.name}/${child.name}`;
    }
    const items = (await get("/desks")).items;
    desks = Object.fromEntries(items.map((d) => [d.id, d]));
    desk.append(...items.filter((d) => d.visible).map((d) => h("option", { value: d.id }, d.name)));
  }

  async function load() {
    const query = new URLSearchParams({ days: period.value });
    if (desk.value) query.set("desk", desk.value);
    csv.href = `/api/v1/stats.csv?${query}`;
    const series = new URLSearchParams({ days: period.value === "90" ? "90" : "30" });
    if (desk.value) series.set("desk", desk.value);
    try {
      if (!names) await loadNames();
      const [stats, daily] = await Promise.all([get(`/stats?${query}`), get(`/stats/daily?${series}`)]);
      if (!closed) render(stats, daily);
    } catch (error) {
      toast(error.message, "error");
    }
  }

  function entries(counts, label) {
    return Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([key, value]) => [label(key), value]);
  }

  function scope() {
    const chosen = desks[desk.value];
    if (!chosen) return "全部可见服务台";
    const region = chosen.region_name ? `（${chosen.region_name} ${chosen.region_code}）` : "";
    return `${chosen.name}${region}及下级`;
  }

  function seriesSection(daily) {
    const rows = (key) => daily.days.map((d) => [d.date, d[key]]);
    const table = h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ...["日期", "会话", "工单", "2级及以上风险", "首次回复中位数"].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...daily.days.slice().reverse().map((d) => h("tr", {},
        h("td", {}, d.date), h("td", {}, d.conversations), h("td", {}, d.cases), h("td", {}, d.risk_2_plus),
        h("td", {}, seconds(d.first_response_p50))))));
    return h("section", { class: "card series", id: "daily-series" },
      h("h3", {}, `最近${daily.days.length}天每日趋势（北京时间）`),
      h("div", { class: "series-grid" },
        columnChart("每日会话量", rows("conversations")),
        columnChart("每日工单量", rows("cases")),
        columnChart("每日2级及以上风险会话", rows("risk_2_plus")),
        columnChart("每日首次回复时间中位数", rows("first_response_p50"), { format: seconds })),
      h("details", { class: "series-table" }, h("summary", {}, "查看数据表"), table));
  }

  function render(stats, daily) {
    const total = Object.values(stats.volume_by_channel).reduce((a, b) => a + b, 0);
    const risk = Object.keys(RISK).map((level) => [RISK[level].label, stats.volume_by_risk[level] || 0]);
    const histogram = (d) => d.histogram.map((b) => [`${b.bucket}秒`, b.count]);
    const sat = stats.satisfaction;
    clear(grid).append(
      h("p", { class: "summary wide" }, `${scope()} · 会话总数 ${total} · 统计起点 ${new Date(stats.since).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai" })}`),
      card("按渠道", barChart("按渠道的会话量", entries(stats.volume_by_channel, channel))),
      card("按案由分类", barChart("按案由分类的工单量", entries(stats.volume_by_category, (k) => names[k] || category(k)))),
      card("按风险等级", barChart("按风险等级的会话量", risk)),
      card("排队等待时间", barChart("排队等待时间分布", histogram(stats.waiting_seconds)),
        h("p", { class: "muted" }, `中位数 ${seconds(stats.waiting_seconds.p50)} · 90分位 ${seconds(stats.waiting_seconds.p90)} · 共 ${stats.waiting_seconds.count} 次`)),
      card("首次回复时间", barChart("首次回复时间分布", histogram(stats.first_response_seconds)),
        h("p", { class: "muted" }, `中位数 ${seconds(stats.first_response_seconds.p50)} · 90分位 ${seconds(stats.first_response_seconds.p90)} · 共 ${stats.first_response_seconds.count} 次`)),
      card("满意度", barChart("满意度评分分布", [1, 2, 3, 4, 5].map((s) => [`${s}分`, sat.histogram[s] || 0])),
        h("p", { class: "muted" }, `平均 ${sat.mean === null ? "—" : sat.mean.toFixed(2)} 分 · 共 ${sat.count} 份评价`)),
      seriesSection(daily));
  }

  period.addEventListener("change", load);
  desk.addEventListener("change", load);
  load();
  return () => { closed = true; };
}
