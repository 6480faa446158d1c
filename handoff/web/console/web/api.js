// The handoff API (/api/v1) with the session cookie and the session's CSRF token, and the live
// event socket. The CSRF token comes from sign-in or GET /auth/session, never from storage.

const PREFIX = "/api/v1";
let csrfToken = "";
const unauthorizedHandlers = [];

const ERRORS = {
  "not signed in": "登录已过期，请重新登录",
  "wrong username or password": "用户名或密码错误",
  csrf: "安全校验失败，请刷新页面",
  "outside your desks": "无权访问：该会话不属于你所在的服务台",
  "already owned": "该会话已被其他咨询师接入",
  "risk assessment required": "需要先完成风险评估才能结束会话",
  "only the owner may close": "只有接待该会话的咨询师可以结束会话",
  "already closed": "会话已结束",
  "not found": "未找到",
  "internal error": "服务器错误，请稍后再试",
};

export class ApiError extends Error {
  constructor(status, reason) {
    super(ERRORS[reason] || (status === 429 ? "登录失败次数过多，请15分钟后再试" : reason || `错误 ${status}`));
    this.status = status;
    this.reason = reason;
  }
}

export function setCsrf(token) {
  csrfToken = token || "";
}

export function onUnauthorized(handler) {
  unauthorizedHandlers.push(handler);
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(PREFIX + path, {
    method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const json = (response.headers.get("Content-Type") || "").includes("json") ? await response.json() : null;
  if (!response.ok) {
    const error = new ApiError(response.status, json && json.error);
    if (response.status === 401 && !path.startsWith("/auth/")) unauthorizedHandlers.forEach((fn) => fn());
    throw error;
  }
  return json;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const put = (path, body) => api("PUT", path, body);
export const patch = (path, body) => api("PATCH", path, body);

// Live events: one socket, reconnected with back-off; listeners get every event and a
// "reconnected" call so they re-fetch what they may have missed (the server drops lagging clients).
export class Live {
  constructor() {
    this.listeners = new Set();
    this.socket = null;
    this.stopped = true;
    this.retry = 500;
  }

  start() {
    this.stopped = false;
    this.connect(false);
  }

  connect(again) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}${PREFIX}/ws`);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.retry = 500;
      document.body.dataset.live = "on";
      if (again) this.emit({ type: "reconnected" });
    });
    socket.addEventListener("message", (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch { return; }
      this.emit(event);
    });
    socket.addEventListener("close", () => {
      document.body.dataset.live = "off";
      if (this.stopped || this.socket !== socket) return;
      setTimeout(() => !this.stopped && this.connect(true), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    });
  }

  emit(event) {
    for (const listener of [...this.listeners]) {
      try { listener(event); } catch (error) { console.error(error); }
    }
  }

  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop() {
    this.stopped = true;
    if (this.socket) this.socket.close();
    this.socket = null;
  }
}
