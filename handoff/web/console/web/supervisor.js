// Supervisor view: every live conversation of the supervised desks (owner, risk, deadline state),
// alerts with acknowledgement, deadline breaches and the latest audit entries. Opening a
// transcript goes through the conversation view, which asks for the reason the API records.
import { alertStepText } from "./app.js";
import { get, post } from "./api.js";
import { DEADLINE, STATE, category, channel, clear, clock, duration, h, riskBadge, since, toast } from "./dom.js";

const ALERT_TYPE = { risk_level_3: "3级危急", deadline_breached: "响应超时", outreach: "待回访", window_closed: "回复窗口关闭",
  early_warning: "研判预警", possible_flood: "疑似刷屏" };
const ACTION = { "transcript.read": "查阅会话记录", "case.read": "查阅工单", "contact.cases.read": "查阅以往工单" };

export function mountSupervisor(ctx) {
  const live = h("tbody", { id: "live-conversations" });
  const alerts = h("ul", { class: "alert-list", id: "alerts" });
  const breaches = h("ul", { class: "alert-list", id: "breaches" });
  const audit = h("ul", { class: "audit-list", id: "audit" });
  ctx.container.append(h("div", { class: "supervisor" },
    h("section", { class: "card wide" }, h("h2", {}, "进行中的会话"),
      h("table", { class: "table" }, h("thead", {}, h("tr", {}, ...["风险", "服务台", "渠道", "状态", "接待人", "等待/时限",
        "最新消息", ""].map((t) => h("th", {}, t)))), live)),
    h("section", { class: "card" }, h("h2", {}, "提醒"), alerts),
    h("section", { class: "card" }, h("h2", {}, "超时会话"), breaches),
    h("section", { class: "card" }, h("h2", {}, "审计日志（最近）"), audit)));
  let desks = {};
  let names = {};
  let closed = false;

  async function refresh() {
    try {
      const [queued, assigned, alertItems, deskItems] = await Promise.all([
        get("/conversations?scope=desk&state=queued"), get("/conversations?scope=desk&state=assigned"),
        get("/alerts?state=all"), get("/desks")]);
      if (closed) return;
      desks = Object.fromEntries(deskItems.items.map((d) => [d.id, d.name]));
      const items = [...queued.items, ...assigned.items].sort((a, b) => b.risk_level - a.risk_level);
      renderLive(items);
      renderAlerts(alertItems.items);
      renderBreaches(items.filter((c) => c.deadline_state === "breached"));
      const [log, users] = await Promise.all([get("/audit?limit=20"), get("/users")]);
      names = Object.fromEntries(users.items.map((u) => [u.id, u.display_name]));
      if (!closed) renderAudit(log.items);
    } catch (error) {
      toast(error.message, "error");
    }
  }

  function renderLive(items) {
    clear(live);
    if (!items.length) live.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "当前没有进行中的会话")));
    for (const c of items) {
      live.append(h("tr", { class: `risk-row-${c.risk_level}`, dataset: { id: c.id } },
        h("td", {}, riskBadge(c.risk_level), " ", category(c.risk_category || c.topic)),
        h("td", {}, desks[c.desk] || c.desk), h("td", {}, channel(c.platform)), h("td", {}, STATE[c.state]),
        h("td", {}, c.owner ? c.owner.display_name : "—"),
        h("td", {}, timing(c),
          c.deadline_state !== "ok" ? h("span", { class: `deadline deadline-${c.deadline_state}` }, ` ${DEADLINE[c.deadline_state]}`) : null),
        h("td", { class: "preview" }, c.last_message_preview || ""),
        h("td", {}, h("a", { href: `#/c/${encodeURIComponent(c.id)}`, class: "button open-transcript" }, "查阅"))));
    }
  }

  function timing(c) {
    if (c.state === "queued") return c.waiting_since ? `已等待 ${duration(since(c.waiting_since))}` : "";
    const due = c.first_response_due_at || c.reply_due_at;
    if (!due) return "";
    const left = -since(due);
    const what = c.first_response_due_at ? "首次回复" : "回复";
    return left >= 0 ? `${what}剩余 ${duration(left)}` : `${what}超时 ${duration(-left)}`;
  }

  function renderAlerts(items) {
    clear(alerts);
    if (!items.length) alerts.append(h("li", { class: "muted" }, "暂无提醒"));
    for (const a of items.slice(0, 50)) {
      alerts.append(h("li", { class: `alert alert-${a.type} alert-${a.state}` },
        h("strong", {}, ALERT_TYPE[a.type] || a.type), ` · ${desks[a.desk] || a.desk} · ${clock(a.created_at)} `,
        ...(a.steps || []).map((step) => h("span", { class: "alert-step muted" }, `${clock(step.at)} ${alertStepText(step)} `)),
        a.data && a.data.summary ? h("span", { class: "alert-summary" }, `${a.data.summary} `) : null,
        a.conversation_id ? h("a", { href: `#/c/${encodeURIComponent(a.conversation_id)}` }, "查看") : null,
        a.state === "open" ? h("button", { type: "button", onclick: () => ack(a.id) }, "确认") : h("span", { class: "muted" }, " 已确认")));
    }
  }

  function renderBreaches(items) {
    clear(breaches);
    if (!items.length) breaches.append(h("li", { class: "muted" }, "没有超时会话"));
    for (const c of items) {
      breaches.append(h("li", {}, riskBadge(c.risk_level), ` ${desks[c.desk] || c.desk} · ${c.owner ? c.owner.display_name : "未接入"} `,
        h("a", { href: `#/c/${encodeURIComponent(c.id)}` }, "查阅")));
    }
  }

  function renderAudit(items) {
    clear(audit);
    for (const entry of items) {
      audit.append(h("li", { class: "audit-entry" }, `${clock(entry.at)} · ${names[entry.actor] || entry.actor} · ${ACTION[entry.action] || entry.action}`,
        ` · ${entry.target}`, entry.reason ? ` · 原因：${entry.reason}` : ""));
    }
  }

  async function ack(id) {
    try {
      await post(`/alerts/${encodeURIComponent(id)}/ack`);
      refresh();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  let timer = null;
  const off = ctx.live.on((event) => {
    // Events arrive in bursts; one re-fetch per burst.
    if (event.type === "message.status") return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
  refresh();
  return () => {
    closed = true;
    off();
    clearTimeout(timer);
  };
}
