// The case (工单) beside a conversation: classification and summary, risk assessment, referrals (and the
// work orders sent to other hotlines for them, with every status the hotline reported), safety plan,
// mandatory reports (append-only), follow-up tasks, and the youth's previous cases (masked).
import { get, patch, post, put } from "./api.js";
import { RISK, clear, clock, date, field, h, select, toast } from "./dom.js";
import { safetyPlanSection } from "./safetyplan.js";
import { appointmentsSection, timelineSection } from "./appointments.js";

const REFERRAL_STATUS = { sent: "已发出", accepted: "已接收", resolved: "已办结", declined: "已拒绝" };
const ORDER_STATUS = { received: "对方已签收", accepted: "对方已受理", in_progress: "对方处理中", resolved: "对方已办结",
  rejected: "对方已退回" };

// One work order under its referral: delivery first (a failed one needs a phone call), then the hotline's word.
function workOrder(order) {
  const delivery = order.delivery.state === "sent" ? "已送达"
    : order.delivery.state === "failed" ? `发送失败（${order.delivery.last_error}），请电话联系对方`
      : `发送中${order.delivery.attempts ? `（已重试${order.delivery.attempts}次：${order.delivery.last_error}）` : ""}`;
  const state = order.status ? ORDER_STATUS[order.status] || order.status : "等待对方回复";
  const steps = order.history.map((step) => h("li", {}, `${clock(step.at)} ${ORDER_STATUS[step.status] || step.status}`,
    step.note ? `：${step.note}` : ""));
  return h("div", { class: order.delivery.state === "failed" ? "work-order error" : "work-order muted" },
    `转办工单 ${order.id} · ${delivery} · ${state}`, steps.length ? h("ul", { class: "work-order-steps" }, ...steps) : null);
}

export function mountCasePanel(ctx, summary, reason) {
  const box = ctx.container;
  let closed = false;
  const q = reason ? `?reason=${encodeURIComponent(reason)}` : "";
  if (!summary.case_id) {
    box.append(h("p", { class: "muted" }, "该会话还没有工单。"));
    return () => {};
  }
  const base = `/cases/${encodeURIComponent(summary.case_id)}`;
  let lookups = null;

  async function load() {
    try {
      lookups = lookups || await Promise.all([get("/taxonomy"), get("/agencies")]);
      const data = await get(base + q);
      if (!closed) render(data);
    } catch (error) {
      clear(box).append(h("p", { class: "error" }, error.message));
    }
  }

  async function change(method, path, body, message) {
    try {
      const data = await method(base + path + q, body);
      toast(message);
      render(data);
    } catch (error) {
      toast(error.message, "error");
    }
  }

  function render(data) {
    const [taxonomy, agencies] = lookups;
    const codes = [["", "（请选择）"]];
    for (const node of taxonomy.items) {
      codes.push([node.code, node.name]);
      for (const child of node.children || []) codes.push([child.code, `　${node.name} / ${child.name}`]);
    }
    const agencyName = Object.fromEntries(agencies.items.map((a) => [a.code, a.name]));
    clear(box).append(
      h("h2", {}, "工单 ", h("span", { class: "case-number" }, data.number)),
      h("p", { class: "muted" }, `状态：${data.status === "open" ? "处理中" : "已结案"} · 风险：${RISK[data.risk_level].label}`),
      classification(data, codes), assessment(data), safetyPlanSection(base, q), ...callsAndAppointments(),
      referrals(data, agencies, agencyName), reports(data),
      followups(data), previous());
  }

  function callsAndAppointments() {
    const timeline = timelineSection(base, q);
    return [timeline, appointmentsSection(base, q, ctx.user, () => timeline.reload())];
  }

  function classification(data, codes) {
    const code = select("classification", codes, data.classification || "");
    const text = h("textarea", { name: "summary", rows: 3, maxlength: 4000 });
    text.value = data.summary || "";
    const form = h("form", { class: "case-section", id: "case-classification" }, h("h3", {}, "案由与摘要"),
      field("案由分类", code), field("个案摘要", text), h("button", { type: "submit" }, "保存"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      change(patch, "", { classification: code.value || null, summary: text.value }, "已保存案由与摘要");
    });
    return form;
  }

  function assessment(data) {
    const a = data.assessment || {};
    const level = select("level", Object.entries(RISK).map(([k, v]) => [k, v.label]), String(a.level ?? data.risk_level));
    const danger = h("input", { type: "checkbox", name: "immediate_danger", checked: !!a.immediate_danger });
    const factors = h("input", { name: "factors", value: (a.factors || []).join("，") });
    const protective = h("input", { name: "protective_factors", value: (a.protective_factors || []).join("，") });
    const plan = h("textarea", { name: "plan", rows: 2 });
    plan.value = a.plan || "";
    const notes = h("textarea", { name: "notes", rows: 2 });
    notes.value = a.notes || "";
    const list = (input) => input.value.split(/[，,、\n]/).map((s) => s.trim()).filter(Boolean);
    const form = h("form", { class: "case-section", id: "case-assessment" },
      h("h3", {}, "风险评估", data.assessment ? h("span", { class: "done-tag" }, " 已评估") : h("span", { class: "todo-tag" }, " 未评估")),
      field("评估等级", level), h("label", { class: "check" }, danger, " 存在即时危险"),
      field("风险因素（用逗号分隔）", factors), field("保护因素（用逗号分隔）", protective),
      field("安全计划", plan), field("备注", notes), h("button", { type: "submit" }, "保存评估"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      change(put, "/assessment", { level: Number(level.value), factors: list(factors), immediate_danger: danger.checked,
        protective_factors: list(protective), plan: plan.value, notes: notes.value }, "已保存风险评估");
    });
    return form;
  }

  function dueInput(name) {
    const input = h("input", { type: "date", name, required: true });
    input.value = new Date(Date.now() + 3 * 86400000).toISOString().slice(0, 10);
    return input;
  }

  function referrals(data, agencies, agencyName) {
    const orders = Object.fromEntries((data.work_orders || []).map((o) => [o.referral_id, o]));
    const items = h("ul", { class: "case-list" }, ...data.referrals.map((r) => {
      const next = select("status", [["", "更新状态…"], ["accepted", "已接收"], ["resolved", "已办结"], ["declined", "已拒绝"]], "");
      next.addEventListener("change", () => next.value && change(patch, `/referrals/${encodeURIComponent(r.id)}`,
        { status: next.value }, "已更新转介状态"));
      return h("li", {}, h("strong", {}, agencyName[r.agency] || r.agency), r.contact ? `（${r.contact}）` : "",
        ` · ${REFERRAL_STATUS[r.status] || r.status}`,
        ` · 跟进日期 ${date(r.due_at)}`, r.note ? h("div", { class: "muted" }, r.note) : null,
        orders[r.id] ? workOrder(orders[r.id]) : null, next);
    }));
    if (!data.referrals.length) items.append(h("li", { class: "muted" }, "暂无转介"));
    const agency = select("agency", [["", "（请选择）"], ...agencies.items.map((a) => [a.code, a.name])], "");
    agency.required = true;
    const contact = h("input", { name: "contact", maxlength: 200 });
    const note = h("input", { name: "note", maxlength: 4000 });
    const due = dueInput("due_at");
    const form = h("form", { class: "inline-form" }, field("机构", agency), field("联系人", contact), field("说明", note),
      field("跟进日期", due), h("button", { type: "submit" }, "添加转介"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      change(post, "/referrals", { agency: agency.value, contact: contact.value, note: note.value,
        due_at: new Date(`${due.value}T09:00:00+08:00`).toISOString() }, "已添加转介");
    });
    return h("section", { class: "case-section", id: "case-referrals" }, h("h3", {}, "转介"), items, form);
  }

  function reports(data) {
    const items = h("ul", { class: "case-list" }, ...data.mandatory_reports.map((r) => h("li", {},
      h("strong", {}, r.reported_to), ` · ${clock(r.reported_at)} · 回执号 ${r.reference}`,
      r.note ? h("div", { class: "muted" }, r.note) : null)));
    if (!data.mandatory_reports.length) items.append(h("li", { class: "muted" }, "暂无强制报告记录"));
    const to = h("input", { name: "reported_to", required: true, maxlength: 200 });
    const at = h("input", { type: "datetime-local", name: "reported_at", required: true });
    const ref = h("input", { name: "reference", required: true, maxlength: 200 });
    const note = h("input", { name: "note", maxlength: 4000 });
    const form = h("form", { class: "inline-form" }, field("报告对象（如公安机关）", to), field("报告时间", at),
      field("回执/登记号", ref), field("说明", note), h("button", { type: "submit" }, "登记强制报告"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      change(post, "/mandatory-reports", { reported_to: to.value, reported_at: new Date(at.value).toISOString(),
        reference: ref.value, note: note.value }, "已登记强制报告（登记后不可修改）");
    });
    return h("section", { class: "case-section", id: "case-reports" }, h("h3", {}, "强制报告"),
      h("p", { class: "hint" }, "登记后不可修改或删除。"), items, form);
  }

  function followups(data) {
    const items = h("ul", { class: "case-list" }, ...data.followups.map((f) => {
      const done = h("input", { type: "checkbox", checked: f.done });
      done.addEventListener("change", () => change(patch, `/followups/${encodeURIComponent(f.id)}`, { done: done.checked },
        done.checked ? "回访任务已完成" : "回访任务已重新打开"));
      return h("li", {}, h("label", { class: "check" }, done, ` ${f.title}`), h("span", { class: "muted" }, ` · ${date(f.due_at)}`));
    }));
    if (!data.followups.length) items.append(h("li", { class: "muted" }, "暂无回访任务"));
    const title = h("input", { name: "title", required: true, maxlength: 200 });
    const due = dueInput("followup_due");
    const form = h("form", { class: "inline-form" }, field("任务", title), field("日期", due),
      h("button", { type: "submit" }, "添加回访"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      change(post, "/followups", { title: title.value, due_at: new Date(`${due.value}T09:00:00+08:00`).toISOString() },
        "已添加回访任务");
    });
    return h("section", { class: "case-section", id: "case-followups" }, h("h3", {}, "回访任务"), items, form);
  }

  function previous() {
    const list = h("ul", { class: "case-list" }, h("li", { class: "muted" }, "加载中…"));
    get(`/contacts/${encodeURIComponent(summary.contact.id)}/cases${q}`).then(({ items }) => {
      const others = items.filter((c) => c.id !== summary.case_id);
      clear(list);
      if (!others.length) list.append(h("li", { class: "muted" }, "没有以往工单"));
      for (const c of others) {
        list.append(h("li", {}, h("strong", {}, c.number), ` · ${date(c.created_at)} · ${RISK[c.risk_level].label}`,
          c.masked ? h("span", { class: "masked-tag" }, " 详情已遮蔽") : null,
          h("div", { class: "muted" }, c.summary || "（无摘要）")));
      }
    }).catch((error) => clear(list).append(h("li", { class: "error" }, error.message)));
    return h("section", { class: "case-section", id: "case-previous" }, h("h3", {}, "以往工单"), list);
  }

  load();
  // A hotline reporting on one of this case's work orders: show it without a reload.
  const stop = ctx.live.on((event) => {
    if (event.type === "case.work_order" && event.data.case_id === summary.case_id) load();
  });
  return () => { closed = true; stop(); };
}
