// The console shell: sign-in, session expiry, presence, sign-out, navigation, live events and
// the level-3 / alert banner with its sound. Views are mounted into #view by the hash route.
import { ApiError, Live, get, onUnauthorized, post, put, setCsrf } from "./api.js";
import { clear, field, h, toast } from "./dom.js";
import { mountWorkspace } from "./queue.js";
import { mountSupervisor } from "./supervisor.js";
import { mountDashboard } from "./dashboard.js";
import { mountWorklist } from "./worklist.js";

const ALERT_TEXT = {
  risk_level_3: "3级危急：有青少年可能正处于危险中，请立即接入处理",
  deadline_breached: "响应超时：有会话超过了规定的响应时间",
  outreach: "待回访：有会话需要主动联系",
  window_closed: "回复窗口已关闭：无法再通过原渠道回复",
  early_warning: "研判预警：某地区某类案由近期异常增多",
};

const state = { user: null, expiresAt: 0, live: null, unmount: null, lastTouch: 0, alerts: new Map() };
const view = () => document.getElementById("view");

// ------------------------------------------------------------------ session

async function boot() {
  onUnauthorized(() => signedOut("登录已过期，请重新登录"));
  try {
    const session = await get("/auth/session");
    started(session);
  } catch (error) {
    showLogin(error instanceof ApiError && error.status === 401 ? "" : error.message);
  }
}

function started(session) {
  setCsrf(session.csrf_token);
  state.user = session.user;
  state.expiresAt = session.expires_at ? Date.parse(session.expires_at) : Date.now() + 30 * 60000;
  state.lastTouch = Date.now();
  document.getElementById("topbar").hidden = false;
  document.getElementById("me").textContent = `${session.user.display_name}（${roleName(session.user.role)}）`;
  document.getElementById("presence").value = session.user.presence === "online" ? "online" : "away";
  renderNav();
  state.live = new Live();
  state.live.on(onEvent);
  state.live.start();
  loadAlerts();
  loadSurges();
  window.addEventListener("hashchange", route);
  route();
}

function roleName(role) {
  return { counsellor: "咨询师", supervisor: "督导", admin: "管理员" }[role] || role;
}

function signedOut(message) {
  if (state.live) state.live.stop();
  if (state.unmount) state.unmount();
  state.unmount = null;
  state.user = null;
  setCsrf("");
  window.removeEventListener("hashchange", route);
  document.getElementById("topbar").hidden = true;
  hideBanner();
  showLogin(message);
}

function showLogin(message) {
  const error = h("p", { class: "error", role: "alert", id: "login-error" }, message || "");
  const username = h("input", { name: "username", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password",
    required: true });
  const button = h("button", { type: "submit", class: "primary" }, "登录");
  const form = h("form", { class: "login", id: "login-form" },
    h("h1", {}, "12355 咨询师工作台"), h("p", { class: "muted" }, "请使用管理员为你创建的账号登录。"),
    field("用户名", username), field("密码", password), error, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    try {
      const result = await post("/auth/login", { username: username.value.trim(), password: password.value });
      password.value = "";
      setCsrf(result.csrf_token);
      // Signing in starts the shift (signing out ends it): online, so the desk may assign conversations.
      if (result.user.presence !== "online" && result.user.role !== "admin") {
        await put("/me/presence", { presence: "online" });
      }
      started(await get("/auth/session"));
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      button.disabled = false;
    }
  });
  clear(view()).append(form);
  username.focus();
}

// Expiry slides with use: any activity refreshes the session at most once a minute, and the header
// shows a countdown in the last five minutes; at zero the console signs out by itself.
function touch() {
  if (!state.user || Date.now() - state.lastTouch < 60000) return;
  state.lastTouch = Date.now();
  get("/auth/session").then((s) => { state.expiresAt = Date.parse(s.expires_at); }).catch(() => {});
}

function tickExpiry() {
  if (!state.user) return;
  const left = state.expiresAt - Date.now();
  const label = document.getElementById("expiry");
  if (left <= 0) {
    signedOut("登录已过期，请重新登录");
  } else if (left < 5 * 60000) {
    label.textContent = `登录将在 ${Math.ceil(left / 60000)} 分钟后过期`;
  } else {
    label.textContent = "";
  }
}

// ------------------------------------------------------------------ navigation

function renderNav() {
  const items = [["#/queue", "接待台"], ["#/tasks", "我的待办"]];
  if (state.user.role !== "counsellor") items.push(["#/supervisor", "督导"]);
  items.push(["#/dashboard", "统计"]);
  clear(document.getElementById("nav")).append(...items.map(([href, text]) => h("a", { href }, text)));
}

function route() {
  if (!state.user) return;
  if (state.unmount) state.unmount();
  const hash = location.hash || "#/queue";
  for (const link of document.querySelectorAll("#nav a")) {
    link.toggleAttribute("aria-current", hash.startsWith(link.getAttribute("href")));
  }
  const ctx = { user: state.user, live: state.live, container: clear(view()) };
  const [, name, id] = hash.split("/");
  if (name === "supervisor") state.unmount = mountSupervisor(ctx);
  else if (name === "dashboard") state.unmount = mountDashboard(ctx);
  else if (name === "tasks") state.unmount = mountWorklist(ctx);
  else state.unmount = mountWorkspace(ctx, name === "c" ? decodeURIComponent(id || "") : null);
}

// ------------------------------------------------------------------ alerts

// On sign-in, and after the live socket was cut (the server drops a lagging console): an alert raised
// meanwhile was never heard live, so it is found here, and a new one still sounds.
async function loadAlerts({ sound = false } = {}) {
  try {
    const { items } = await get("/alerts?state=open");
    const missed = items.some((alert) => !state.alerts.has(alert.id));
    for (const alert of items) state.alerts.set(alert.id, alert);
    showBanner(sound && missed);
  } catch {
    /* the banner is a convenience on load; live events still raise it */
  }
}

function onEvent(event) {
  // A surge starting or ending is heard as a queue change on every affected desk.
  if (event.type === "queue.changed" || event.type === "reconnected") loadSurges();
  if (event.type === "reconnected") loadAlerts({ sound: true });
  if (event.type === "alert.raised" && event.data && event.data.alert) {
    state.alerts.set(event.data.alert.id, event.data.alert);
    showBanner(true);
  }
}

function showBanner(withSound) {
  const open = [...state.alerts.values()].filter((a) => a.state === "open");
  const banner = document.getElementById("banner");
  if (!open.length) return hideBanner();
  const urgent = open.find((a) => a.type === "risk_level_3") || open[0];
  banner.className = `banner banner-${urgent.type === "risk_level_3" ? "critical" : "warning"}`;
  banner.dataset.alert = urgent.type;
  const step = (urgent.steps || []).at(-1);
  clear(banner).append(
    h("strong", {}, ALERT_TEXT[urgent.type] || "新的提醒"),
    step ? h("span", { class: "alert-step" }, `（${alertStepText(step)}）`) : null,
    urgent.data && urgent.data.summary ? h("span", { class: "alert-summary" }, ` ${urgent.data.summary}`) : null,
    open.length > 1 ? h("span", {}, `（共 ${open.length} 条未处理提醒）`) : null,
    // An early warning concerns a region, not one conversation: it is read in the supervisor view.
    urgent.conversation_id
      ? h("a", { href: `#/c/${encodeURIComponent(urgent.conversation_id)}`, class: "button" }, "查看会话")
      : h("a", { href: "#/supervisor", class: "button" }, "查看提醒"),
    h("button", { type: "button", onclick: () => acknowledge(urgent) }, "已知悉"));
  banner.hidden = false;
  if (withSound && urgent.type === "risk_level_3") beep();
}

// What happened to an alert nobody acknowledged: re-escalated upwards, then the on-call pager.
export function alertStepText(step) {
  const who = step.recipients && step.recipients.length ? `：${step.recipients.join("、")}` : "";
  if (step.kind === "reescalated") return `无人确认，已升级至上级督导${who}`;
  if (step.kind === "paged") return `无人确认，已呼叫值班人员${who}`;
  if (step.kind === "page_failed") return `呼叫值班人员失败：${step.detail}`;
  return `无人确认，无法呼叫值班人员：${step.detail}`;
}

// ------------------------------------------------------------------ surge (重大突发事件)

async function loadSurges() {
  const banner = document.getElementById("surge-banner");
  try {
    const { items } = await get("/surges");
    clear(banner);
    for (const surge of items) {
      banner.append(h("p", { dataset: { surge: surge.id } },
        h("strong", {}, "重大突发事件 · 应急分流中"),
        ` ${surge.desk} 的风险会话直接转至 ${surge.to_desks.join("、")}（${surge.reason}）`));
    }
    banner.hidden = !items.length;
  } catch {
    /* shown again on the next queue change */
  }
}

function hideBanner() {
  const banner = document.getElementById("banner");
  banner.hidden = true;
  clear(banner);
}

async function acknowledge(alert) {
  try {
    await post(`/alerts/${encodeURIComponent(alert.id)}/ack`);
  } catch (error) {
    if (!(error instanceof ApiError && (error.status === 409 || error.status === 403))) {
      toast(error.message, "error");
      return;
    }
  }
  state.alerts.delete(alert.id);
  showBanner(false);
}

// Three short tones from the Web Audio API: no sound file to load, allowed by the CSP.
function beep() {
  try {
    const audio = new AudioContext();
    for (let i = 0; i < 3; i += 1) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.value = 0.2;
      tone.connect(gain).connect(audio.destination);
      tone.start(audio.currentTime + i * 0.3);
      tone.stop(audio.currentTime + i * 0.3 + 0.18);
    }
    document.body.dataset.sound = String(Number(document.body.dataset.sound || 0) + 1);
  } catch {
    /* no audio device: the banner still shows */
  }
}

// ------------------------------------------------------------------ wiring

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("signout").addEventListener("click", async () => {
    try { await post("/auth/logout"); } catch { /* signed out either way */ }
    signedOut("你已退出登录");
  });
  document.getElementById("presence").addEventListener("change", async (event) => {
    try {
      state.user = await put("/me/presence", { presence: event.target.value });
      toast(event.target.value === "online" ? "已设为在线，可以接收会话" : "已设为离开，不会再自动分配会话");
    } catch (error) {
      toast(error.message, "error");
    }
  });
  for (const type of ["keydown", "click", "mousemove"]) document.addEventListener(type, touch, { passive: true });
  setInterval(tickExpiry, 5000);
  boot();
});
