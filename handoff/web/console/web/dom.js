// DOM helpers and the console's labels. Data is only ever inserted as text (textContent /
// text nodes); nothing here parses HTML, so a message containing markup is shown as typed.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export const RISK = {
  0: { label: "0级 一般", short: "一般" },
  1: { label: "1级 关注", short: "关注" },
  2: { label: "2级 高危", short: "高危" },
  3: { label: "3级 危急", short: "危急" },
};

export function riskBadge(level) {
  const risk = RISK[level] || RISK[0];
  return h("span", { class: `risk risk-${level}`, title: `风险等级：${risk.label}` }, risk.label);
}

// The risk model's calibrated probability that the youth's latest words are level 2 or above, next to
// the level; nothing when no calibrated model scored them. An estimate for the counsellor, not a verdict.
export function riskProbability(probability) {
  if (typeof probability !== "number") return null;
  return h("span", { class: "risk-probability muted",
    title: "这是风险模型根据青少年最新一条消息给出的估计（达到2级及以上的概率），不是判断；风险等级以咨询师的评估为准。" },
  `模型估计风险概率 ${Math.round(probability * 100)}%`);
}

export const CATEGORY = {
  suicide: "自杀风险", self_harm: "自伤", abuse_home: "家庭暴力/虐待", sexual_abuse: "性侵害", bullying: "校园欺凌",
  runaway: "离家出走", exploitation: "剥削/诱骗", friend_concern: "为朋友求助", mental_health: "心理健康",
  legal: "法律咨询",
};

export const CHANNEL = {
  wechat: "微信公众号", miniprogram: "微信小程序", "wecom-kf": "企业微信客服", weibo: "微博私信", widget: "网页咨询",
};

export const SENDER = { youth: "青少年", bot: "智能助手", counsellor: "咨询师", system: "系统" };

export const STATUS = {
  received: "已收到", pending: "待发送", sending: "发送中", sent: "已送达", failed: "发送失败", read: "已读",
};

export const DEADLINE = { ok: "", warning: "即将超时", breached: "已超时" };

export const STATE = { bot: "智能助手接待", queued: "排队中", assigned: "接待中", closed: "已结束" };

export function category(code) {
  return code ? CATEGORY[code] || code : "未分类";
}

export function channel(code) {
  return CHANNEL[code] || code;
}

// "3分12秒" / "1小时05分": waiting times count up every second in the queue.
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}秒`;
  if (s < 3600) return `${Math.floor(s / 60)}分${String(s % 60).padStart(2, "0")}秒`;
  return `${Math.floor(s / 3600)}小时${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}分`;
}

export function since(iso, now = Date.now()) {
  return iso ? (now - Date.parse(iso)) / 1000 : 0;
}

export function clock(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString("zh-CN", { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hour12: false });
}

export function date(iso) {
  return iso ? new Date(iso).toLocaleDateString("zh-CN") : "";
}

// Form fields with a visible label: every control in the console is labelled (screen readers, tests).
export function field(label, control, hint) {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), control,
    hint ? h("small", { class: "hint" }, hint) : null);
}

export function select(name, options, value) {
  const el = h("select", { name });
  for (const [key, text] of options) el.append(h("option", { value: key, selected: key === value }, text));
  return el;
}

export function toast(text, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}`, role: "status" }, text);
  box.append(item);
  setTimeout(() => item.remove(), 5000);
}
