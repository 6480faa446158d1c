// Dashboard: today or the last 30 days for the desks in scope — volumes by channel, category and
// risk level, waiting and first-response distributions, satisfaction; each with its CSV.
import { get } from "./api.js";
import { RISK, category, channel, clear, h, select, toast } from "./dom.js";
import { barChart } from "./charts.js";

function seconds(value) {
  if (value === null || value === undefined) return "—";
  return value < 60 ? `${Math.round(value)}秒` : `${(value / 60).toFixed(1)}分钟`;
}

function card(title, chart, ...notes) {
  return h("section", { class: "card chart-card" }, h("h3", {}, title), chart, ...notes);
}

export function mountDashboard(ctx) {
  const period = select("days", [["1", "今天"], ["30", "最近30天"]], "1");
  const csv = h("a", { class: "button", id: "stats-csv", download: "" }, "下载 CSV");
  const grid = h("div", { class: "dashboard-grid", id: "dashboard" });
  ctx.container.append(h("div", { class: "dashboard" },
    h("div", { class: "dashboard-head" }, h("h2", {}, "统计"), h("label", {}, "时间范围 ", period), csv), grid));
  let closed = false;

  let names = null;

  async function load() {
    const days = period.value;
    csv.href = `/api/v1/stats.csv?days=${days}`;
    try {
      if (!names) {
        // Cases are counted by 案由 code; show the taxonomy's names.
        names = { unclassified: "未分类" };
        for (const node of (await get("/taxonomy")).items) {
          names[node.code] = node.name;
          for (const child of node.children || []) names[child.code] = `${node.name}/${child.name}`;
        }
      }
      const stats = await get(`/stats?days=${days}`);
      if (!closed) render(stats);
    } catch (error) {
      toast(error.message, "error");
    }
  }

  function entries(counts, label) {
    return Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([key, value]) => [label(key), value]);
  }

  function render(stats) {
    const total = Object.values(stats.volume_by_channel).reduce((a, b) => a + b, 0);
    const risk = Object.keys(RISK).map((level) => [RISK[level].label, stats.volume_by_risk[level] || 0]);
    const histogram = (d) => d.histogram.map((b) => [`${b.bucket}秒`, b.count]);
    const sat = stats.satisfaction;
    clear(grid).append(
      h("p", { class: "summary wide" }, `会话总数 ${total} · 统计起点 ${new Date(stats.since).toLocaleString("zh-CN")}`),
      card("按渠道", barChart("按渠道的会话量", entries(stats.volume_by_channel, channel))),
      card("按案由分类", barChart("按案由分类的工单量", entries(stats.volume_by_category, (k) => names[k] || category(k)))),
      card("按风险等级", barChart("按风险等级的会话量", risk)),
      card("排队等待时间", barChart("排队等待时间分布", histogram(stats.waiting_seconds)),
        h("p", { class: "muted" }, `中位数 ${seconds(stats.waiting_seconds.p50)} · 90分位 ${seconds(stats.waiting_seconds.p90)} · 共 ${stats.waiting_seconds.count} 次`)),
      card("首次回复时间", barChart("首次回复时间分布", histogram(stats.first_response_seconds)),
        h("p", { class: "muted" }, `中位数 ${seconds(stats.first_response_seconds.p50)} · 90分位 ${seconds(stats.first_response_seconds.p90)} · 共 ${stats.first_response_seconds.count} 次`)),
      card("满意度", barChart("满意度评分分布", [1, 2, 3, 4, 5].map((s) => [`${s}分`, sat.histogram[s] || 0])),
        h("p", { class: "muted" }, `平均 ${sat.mean === null ? "—" : sat.mean.toFixed(2)} 分 · 共 ${sat.count} 份评价`)));
  }

  period.addEventListener("change", load);
  load();
  return () => { closed = true; };
}
