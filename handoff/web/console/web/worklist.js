// 我的待办: outreach, referral and follow-up dates, debriefs, 留言 — each with a due time and an outcome.
// A 留言's callback number is shown masked; 查看号码 reads the whole number (audited by the API).
// Supervisors can switch to every open task of their desks and see today's high-risk load per counsellor.
import { get, post } from "./api.js";
import { clear, clock, h, toast } from "./dom.js";

const KIND = { outreach: "主动联系", referral_follow_up: "转介跟进", case_follow_up: "随访", debrief: "复盘",
  leave_message: "留言" };

function callback(item) {
  if (!item.callback_contact) return null;
  const shown = h("span", { class: "callback" }, ` · 回拨电话 ${item.callback_contact} `);
  const reveal = h("button", { type: "button" }, "查看号码");
  reveal.addEventListener("click", async () => {
    try {
      const { callback_contact: number } = await get(`/tasks/${encodeURIComponent(item.id)}/callback-contact`);
      shown.textContent = ` · 回拨电话 ${number} `;
      reveal.remove();
    } catch (error) {
      toast(error.message, "error");
    }
  });
  return h("span", {}, shown, reveal);
}

export function mountWorklist(ctx) {
  const box = ctx.container;
  const supervising = ctx.user.role !== "counsellor";
  let scope = "mine";
  let closed = false;

  async function load() {
    try {
      const { items } = await get(`/tasks?scope=${scope}`);
      if (!closed) render(items);
    } catch (error) {
      clear(box).append(h("p", { class: "error" }, error.message));
    }
  }

  function task(item) {
    const overdue = new Date(item.due_at).getTime() < Date.now();
    const outcome = h("input", { name: "outcome", required: true, maxlength: 2000, placeholder: "结果（如：已联系上，青少年安全）" });
    const form = h("form", { class: "inline-form" }, outcome, h("button", { type: "submit" }, "完成"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await post(`/tasks/${encodeURIComponent(item.id)}/complete`, { outcome: outcome.value });
        toast("已记录结果");
        load();
      } catch (error) {
        toast(error.message, "error");
      }
    });
    const link = item.conversation_id ? h("a", { href: `#/c/${encodeURIComponent(item.conversation_id)}` }, "打开会话") : null;
    return h("li", { class: overdue ? "task overdue" : "task" },
      h("strong", {}, `${KIND[item.kind] || item.kind} · ${item.title}`),
      h("span", { class: overdue ? "error" : "muted" }, ` · 截止 ${clock(item.due_at)}${overdue ? "（已逾期）" : ""}`),
      callback(item), item.assignee ? null : h("span", { class: "todo-tag" }, " 未分配"), " ", link, form);
  }

  function render(items) {
    const list = h("ul", { class: "case-list" }, ...items.map(task));
    if (!items.length) list.append(h("li", { class: "muted" }, "没有待办事项"));
    const header = h("h2", {}, supervising && scope === "desk" ? "辖区待办" : "我的待办");
    const parts = [header];
    if (supervising) {
      const toggle = h("button", { type: "button" }, scope === "mine" ? "查看辖区全部待办" : "只看我的待办");
      toggle.addEventListener("click", () => { scope = scope === "mine" ? "desk" : "mine"; load(); });
      parts.push(toggle);
    }
    parts.push(list);
    if (supervising) parts.push(highRiskToday());
    clear(box).append(...parts);
  }

  function highRiskToday() {
    const table = h("table", { class: "wellbeing" }, h("tr", {}, h("th", {}, "咨询师"), h("th", {}, "今日高危"),
      h("th", {}, "今日三级"), h("th", {}, "连续三级")));
    get("/wellbeing/today").then(({ items }) => {
      for (const row of items) {
        table.append(h("tr", { class: row.at_cap ? "at-cap" : "" }, h("td", {}, row.display_name),
          h("td", {}, String(row.high_risk)), h("td", {}, String(row.level3)),
          h("td", {}, `${row.consecutive_level3}${row.at_cap ? "（已达上限，优先分给同事）" : ""}`)));
      }
    }).catch((error) => table.append(h("tr", {}, h("td", { class: "error" }, error.message))));
    return h("section", {}, h("h3", {}, "咨询师今日高危会话"), table);
  }

  load();
  const stop = ctx.live.on((event) => {
    if (event.type === "wellbeing.debrief" && event.data.user_id === ctx.user.id) toast(event.data.prompt);
    if (["task.created", "task.updated", "task.reminder"].includes(event.type)) load();
  });
  return () => { closed = true; stop(); };
}
