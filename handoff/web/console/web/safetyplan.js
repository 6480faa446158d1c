// The safety plan (安全计划) in the case panel: five parts, written with the youth, one item per line.
import { get, put } from "./api.js";
import { clear, clock, field, h, toast } from "./dom.js";

const PARTS = [
  ["warning_signs", "预警信号", "什么想法、心情或情境出现时，说明危机可能要来了"],
  ["coping_steps", "自己可以做的应对方法", "不需要别人也能做、能帮自己撑过去的事"],
  ["people_and_places", "可以求助的人和去处", "能联系的家人朋友、能去的安全地方"],
  ["professionals", "专业人员和机构", "学校心理老师、医院、12356心理援助热线、110、120"],
  ["means_safety", "让危险物品远离", "药物、刀具等如何交给他人保管或移走"],
];

export function safetyPlanSection(casePath, query) {
  const section = h("section", { class: "case-section", id: "case-safety-plan" }, h("h3", {}, "安全计划"),
    h("p", { class: "muted" }, "加载中…"));
  const path = `${casePath}/safety-plan`;

  function render(plan) {
    const inputs = {};
    const fields = PARTS.map(([name, label, hint]) => {
      const area = h("textarea", { name, rows: 2, maxlength: 6000 });
      area.value = (plan[name] || []).join("\n");
      inputs[name] = area;
      return field(label, area, hint);
    });
    const status = plan.updated_at ? h("span", { class: "done-tag" }, ` 已填写 · ${clock(plan.updated_at)}`)
      : h("span", { class: plan.required ? "todo-tag" : "muted" }, plan.required ? " 高危个案，请与青少年一起填写" : " 未填写");
    const form = h("form", {}, ...fields, h("button", { type: "submit" }, "保存安全计划"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = Object.fromEntries(Object.entries(inputs).map(([name, area]) =>
        [name, area.value.split("\n").map((line) => line.trim()).filter(Boolean)]));
      try {
        render(await put(path, body));
        toast("已保存安全计划");
      } catch (error) {
        toast(error.message, "error");
      }
    });
    clear(section).append(h("h3", {}, "安全计划", status), form);
  }

  get(path + query).then(render).catch((error) => clear(section).append(h("h3", {}, "安全计划"),
    h("p", { class: "error" }, error.message)));
  return section;
}
