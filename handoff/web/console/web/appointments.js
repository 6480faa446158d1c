// The case timeline (phone calls and in-person appointments, in time order) and 面询预约 in the case
// panel (book a slot of your desk, record attended / no-show / cancelled); in the supervisor view, the
// card where supervisors open slots at their city desks.
import { get, patch, post } from "./api.js";
import { clear, clock, field, h, select, toast } from "./dom.js";

const STATUS = { booked: "已预约", attended: "已到访", no_show: "未到访", cancelled: "已取消" };
const KIND = { call: "电话", appointment: "面询" };
const BEIJING = { timeZone: "Asia/Shanghai", month: "numeric", day: "numeric", weekday: "short", hour: "2-digit",
  minute: "2-digit", hour12: false };

// Slot times are shown in Beijing time whatever the counsellor's computer says.
function beijing(iso) {
  return new Date(iso).toLocaleString("zh-CN", BEIJING);
}

export function timelineSection(casePath, query) {
  const list = h("ol", { class: "case-list timeline", id: "case-timeline-items" }, h("li", { class: "muted" }, "加载中…"));
  const section = h("section", { class: "case-section", id: "case-timeline" }, h("h3", {}, "时间线（电话与面询）"), list);
  section.reload = () => get(`${casePath}/timeline${query}`).then(({ items }) => {
    clear(list);
    if (!items.length) list.append(h("li", { class: "muted" }, "暂无电话或面询记录"));
    for (const entry of items) {
      list.append(h("li", { class: `timeline-${entry.kind}`, dataset: { kind: entry.kind } },
        h("strong", {}, KIND[entry.kind] || entry.kind), ` · ${clock(entry.at)} · `, entry.text));
    }
  }).catch((error) => clear(list).append(h("li", { class: "error" }, error.message)));
  section.reload();
  return section;
}

export function appointmentsSection(casePath, query, user, onChange) {
  const section = h("section", { class: "case-section", id: "case-appointments" }, h("h3", {}, "面询预约"),
    h("p", { class: "muted" }, "加载中…"));
  const path = `${casePath}/appointments`;

  async function act(request, message) {
    try {
      await request();
      toast(message);
      await load();
      onChange();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  function item(appointment) {
    const row = h("li", { dataset: { id: appointment.id } },
      h("strong", {}, `${beijing(appointment.starts_at)}（北京时间）`), ` · ${appointment.place}`,
      ` · ${appointment.counsellor_name} · `, h("span", { class: "appointment-status" }, STATUS[appointment.status]));
    if (appointment.status === "booked") {
      const next = select("outcome", [["", "登记结果…"], ["attended", "已到访"], ["no_show", "未到访"],
        ["cancelled", "取消预约"]], "");
      next.addEventListener("change", () => next.value && act(() => patch(
        `${path}/${encodeURIComponent(appointment.id)}${query}`, { status: next.value }), "已登记面询结果"));
      row.append(" ", next);
    }
    return row;
  }

  function bookingForm(slots) {
    const free = slots.filter((slot) => slot.free > 0 && (user.role !== "counsellor" || slot.desk === user.desk));
    const slot = select("slot_id", [["", free.length ? "（请选择时段）" : "（暂无可约时段）"],
      ...free.map((s) => [s.id, `${beijing(s.starts_at)} · ${s.place} · ${s.counsellor_name} · 余${s.free}`])], "");
    slot.required = true;
    const form = h("form", { class: "inline-form", id: "book-appointment" }, field("面询时段", slot),
      h("button", { type: "submit" }, "预约面询"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(() => post(path + query, { slot_id: slot.value }), "已预约，确认信息已发送给青少年");
    });
    return form;
  }

  async function load() {
    const [{ items }, slots] = await Promise.all([get(path + query), get("/appointment-slots")]);
    const list = h("ul", { class: "case-list", id: "appointment-list" }, ...items.map(item));
    if (!items.length) list.append(h("li", { class: "muted" }, "暂无面询预约"));
    clear(section).append(h("h3", {}, "面询预约"), list, bookingForm(slots.items));
  }

  load().catch((error) => clear(section).append(h("h3", {}, "面询预约"), h("p", { class: "error" }, error.message)));
  return section;
}

export function slotsCard() {
  const list = h("ul", { class: "case-list", id: "slot-list" }, h("li", { class: "muted" }, "加载中…"));
  const desk = select("desk", [["", "（请选择）"]], "");
  desk.required = true;
  const starts = h("input", { type: "datetime-local", name: "starts_at", required: true });
  const minutes = h("input", { type: "number", name: "minutes", min: 15, max: 480, value: 60, required: true });
  const place = h("input", { name: "place", required: true, maxlength: 200 });
  const counsellor = h("input", { name: "counsellor", required: true, maxlength: 200 });
  const capacity = h("input", { type: "number", name: "capacity", min: 1, max: 50, value: 1, required: true });
  const form = h("form", { class: "inline-form", id: "new-slot" }, field("服务台（市级）", desk),
    field("开始（北京时间）", starts), field("时长（分钟）", minutes), field("地点", place),
    field("接待咨询师（用户名）", counsellor), field("名额", capacity), h("button", { type: "submit" }, "新增面询时段"));

  async function load() {
    const [{ items }, desks] = await Promise.all([get("/appointment-slots"), get("/desks")]);
    if (desk.options.length === 1) {
      const cities = desks.items.filter((d) => d.visible && d.level === "municipal");
      for (const city of cities) desk.append(h("option", { value: city.id }, city.name));
    }
    clear(list);
    if (!items.length) list.append(h("li", { class: "muted" }, "暂无面询时段"));
    for (const slot of items) {
      list.append(h("li", {}, h("strong", {}, `${beijing(slot.starts_at)}（北京时间）`),
        ` · ${slot.desk} · ${slot.place} · ${slot.counsellor_name} · 余${slot.free}/${slot.capacity}`));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const start = new Date(`${starts.value}:00+08:00`);
    try {
      await post("/appointment-slots", { desk: desk.value, starts_at: start.toISOString(),
        ends_at: new Date(start.getTime() + Number(minutes.value) * 60000).toISOString(), place: place.value,
        counsellor: counsellor.value, capacity: Number(capacity.value) });
      toast("已新增面询时段");
      await load();
    } catch (error) {
      toast(error.message, "error");
    }
  });
  load().catch((error) => clear(list).append(h("li", { class: "error" }, error.message)));
  return h("section", { class: "card", id: "appointment-slots" }, h("h2", {}, "面询时段"), list, form);
}
