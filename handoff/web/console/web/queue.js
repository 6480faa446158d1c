// The workspace: the desk's queue (live, engine order) and "my conversations" on the left, the
// open conversation and its case panel on the right. Queue rows are keyed and updated in place,
// so a change to one conversation does not rebuild 200 rows.
import { ApiError, get, post } from "./api.js";
import {
  DEADLINE, append, category, channel, clear, duration, h, riskBadge, riskProbability, since, toast,
} from "./dom.js";
import { mountConversation } from "./conversation.js";

const QUEUE_EVENTS = new Set(["queue.changed", "conversation.assigned", "conversation.state_changed",
  "conversation.risk_changed", "deadline.warning", "deadline.breached", "reconnected"]);

// Render timings for the performance test and for anyone curious (console: consolePerf).
const perf = (window.consolePerf = window.consolePerf || { renders: [], updates: [] });

export function mountWorkspace(ctx, conversationId) {
  const count = h("span", { class: "count", id: "queue-count" }, "…");
  // Admins oversee; they do not take conversations (the API refuses).
  const takeNext = h("button", { type: "button", class: "primary", id: "take-next", hidden: ctx.user.role === "admin" },
    "接入下一个");
  const queueList = h("ol", { class: "queue", id: "queue", "aria-label": "排队中的会话" });
  const mineList = h("ul", { class: "mine", id: "mine", "aria-label": "我的会话" });
  const main = h("section", { class: "main", id: "main" });
  const side = h("aside", { class: "sidebar" },
    h("div", { class: "sidebar-head" }, h("h2", {}, "排队中 ", count), takeNext), queueList,
    h("h2", {}, "我的会话"), mineList);
  ctx.container.append(h("div", { class: "workspace" }, side, main));

  const rows = new Map();
  let items = [];
  let pending = null;
  let closed = false;

  takeNext.addEventListener("click", async () => {
    takeNext.disabled = true;
    try {
      const taken = await post("/queue/take-next");
      if (taken) location.hash = `#/c/${encodeURIComponent(taken.id)}`;
      else toast("当前没有可以接入的会话");
    } catch (error) {
      toast(error.message, "error");
    } finally {
      takeNext.disabled = false;
    }
  });

  async function claim(id) {
    try {
      await post(`/conversations/${encodeURIComponent(id)}/claim`);
      location.hash = `#/c/${encodeURIComponent(id)}`;
    } catch (error) {
      toast(error.message, "error");
      refresh();
    }
  }

  function row(item) {
    const wait = h("span", { class: "wait", title: "已等待" });
    const el = h("li", { class: "queue-item", dataset: { id: item.id } },
      h("div", { class: "line" }, h("span", { class: "slot-risk" }), h("span", { class: "slot-cat" }),
        h("span", { class: "slot-channel muted" }), wait),
      h("div", { class: "line" }, h("a", { class: "slot-preview preview", href: `#/c/${encodeURIComponent(item.id)}`,
        title: "查看（不接入）" }), h("span", { class: "slot-deadline" })),
      h("div", { class: "line" }, h("span", { class: "slot-overflow overflow" })),
      h("div", { class: "line" }, h("span", { class: "slot-contact muted" }),
        h("button", { type: "button", class: "claim", hidden: ctx.user.role === "admin",
          onclick: () => claim(item.id) }, "接入")));
    el.wait = wait;
    el.key = "";
    return el;
  }

  function fill(el, item) {
    // Only touch rows whose visible data changed.
    const key = [item.risk_level, item.risk_probability, item.risk_category, item.platform, item.last_message_preview,
      item.deadline_state, item.waiting_since, item.contact.label, item.leave_message,
      item.overflow ? item.overflow.label : ""].join("\u0001");
    if (el.key === key) return;
    el.key = key;
    el.className = `queue-item risk-row-${item.risk_level} deadline-${item.deadline_state}`;
    append(clear(el.querySelector(".slot-risk")), [riskBadge(item.risk_level), riskProbability(item.risk_probability)]);
    el.querySelector(".slot-cat").textContent = category(item.risk_category || item.topic);
    el.querySelector(".slot-channel").textContent = channel(item.platform);
    el.querySelector(".slot-preview").textContent = item.last_message_preview || "（无文字内容）";
    const deadline = el.querySelector(".slot-deadline");
    // 留言: arrived out of hours and waits for this shift.
    deadline.textContent = [item.leave_message ? "留言" : "", DEADLINE[item.deadline_state] || ""].filter(Boolean).join(" ");
    deadline.className = `slot-deadline deadline deadline-${item.deadline_state}`;
    el.querySelector(".slot-contact").textContent = item.contact.label;
    // Overflow: why a conversation of a desk below is in this queue ("由深圳转入：无人在线").
    const overflow = el.querySelector(".slot-overflow");
    overflow.textContent = item.overflow ? item.overflow.label : "";
    overflow.hidden = !item.overflow;
    el.wait.dataset.since = item.waiting_since || "";
  }

  function render(next) {
    const start = performance.now();
    items = next;
    const seen = new Set();
    let previous = null;
    for (const item of items) {
      seen.add(item.id);
      let el = rows.get(item.id);
      if (!el) {
        el = row(item);
        rows.set(item.id, el);
      }
      fill(el, item);
      // Keep DOM order = engine order, moving only rows that are out of place.
      const wanted = previous ? previous.nextSibling : queueList.firstChild;
      if (wanted !== el) queueList.insertBefore(el, wanted);
      previous = el;
    }
    for (const [id, el] of rows) {
      if (!seen.has(id)) {
        el.remove();
        rows.delete(id);
      }
    }
    count.textContent = String(items.length);
    tick();
    void queueList.offsetHeight; // include layout in the measurement
    const took = performance.now() - start;
    perf.renders.push(took);
    queueList.dataset.renders = String(perf.renders.length);
    return took;
  }

  function tick() {
    const now = Date.now();
    for (const el of rows.values()) {
      const text = el.wait.dataset.since ? duration(since(el.wait.dataset.since, now)) : "";
      if (el.wait.textContent !== text) el.wait.textContent = text;
    }
  }

  async function refresh(eventAt) {
    // Coalesce bursts of events into one fetch at a time.
    if (pending) {
      pending.again = true;
      return;
    }
    pending = { again: false };
    try {
      const [queue, mine] = await Promise.all([get("/queue"), get("/conversations?scope=mine")]);
      if (closed) return;
      render(queue.items);
      renderMine(mine.items);
      if (eventAt) perf.updates.push(performance.now() - eventAt);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) toast(error.message, "error");
    } finally {
      const again = pending.again;
      pending = null;
      if (again && !closed) refresh(performance.now());
    }
  }

  function renderMine(mine) {
    clear(mineList);
    if (!mine.length) mineList.append(h("li", { class: "muted" }, "暂无"));
    for (const item of mine) {
      mineList.append(h("li", { class: `mine-item risk-row-${item.risk_level}` },
        h("a", { href: `#/c/${encodeURIComponent(item.id)}`, "aria-current": item.id === conversationId || null },
          riskBadge(item.risk_level), riskProbability(item.risk_probability), " ", channel(item.platform), " · ",
          item.contact.label,
          item.deadline_state !== "ok" ? h("span", { class: `deadline deadline-${item.deadline_state}` },
            ` ${DEADLINE[item.deadline_state]}`) : null),
        h("div", { class: "preview muted" }, item.last_message_preview || "")));
    }
  }

  const off = ctx.live.on((event) => {
    if (QUEUE_EVENTS.has(event.type) || (event.type === "message.created" && event.data?.message?.direction === "in")) {
      refresh(performance.now());
    }
  });
  const timer = setInterval(tick, 1000);
  refresh();

  let unmountConversation = null;
  if (conversationId) unmountConversation = mountConversation({ ...ctx, container: main }, conversationId);
  else main.append(h("div", { class: "empty" }, h("p", {}, "从左侧队列选择一个会话，或点击“接入下一个”。")));

  return () => {
    closed = true;
    off();
    clearInterval(timer);
    if (unmountConversation) unmountConversation();
  };
}
