// One conversation: header, transcript (sender labels, delivery status, detector cues), reply
// budget, composer with canned responses, notes, transfer, close; the case panel beside it.
// Supervisors who do not own it read it only after giving a reason (the API audits every read).
import { ApiError, get, post, put } from "./api.js";
import {
  DEADLINE, RISK, SENDER, STATE, STATUS, category, channel, clear, clock, duration, field, h, riskBadge, riskProbability,
  select, toast,
} from "./dom.js";
import { mountCasePanel } from "./casepanel.js";

const OUTCOMES = [["resolved", "问题已解决"], ["referred", "已转介相关机构"], ["youth_left", "青少年已离开"],
  ["no_response", "青少年无回应"], ["other", "其他"]];

export function mountConversation(ctx, id, options = {}) {
  const root = h("div", { class: "conversation-layout" });
  ctx.container.append(root);
  const state = { summary: null, messages: new Map(), names: {}, reason: options.reason || null, closed: false,
    unmountCase: null, readOnly: !!options.readOnly };
  const path = `/conversations/${encodeURIComponent(id)}`;
  const header = h("div", { class: "conv-header" });
  const transcript = h("ol", { class: "transcript", id: "transcript", "aria-label": "会话记录", "aria-live": "polite" });
  const budget = h("div", { class: "budget", id: "budget" });
  const composerBox = h("div", { class: "composer-box" });
  const casePanel = h("aside", { class: "case-panel", id: "case-panel", "aria-label": "工单" });
  const chat = h("section", { class: "chat" }, header, transcript, budget, composerBox);

  const isParticipant = () => state.summary && (state.summary.owner?.id === ctx.user.id
    || (state.summary.joined || []).includes(ctx.user.id));
  const needsReason = () => ctx.user.role !== "counsellor" && !isParticipant();
  const query = () => (state.reason ? `?reason=${encodeURIComponent(state.reason)}` : "");

  async function start() {
    try {
      state.summary = await get(path);
    } catch (error) {
      root.append(h("div", { class: "denied", role: "alert", id: "denied" }, error.message));
      return;
    }
    if (needsReason() && !state.reason) return askReason();
    await show();
  }

  function askReason() {
    const reason = h("input", { name: "reason", required: true, maxlength: 500 });
    const form = h("form", { class: "reason-form card" },
      h("h2", {}, "查阅会话记录"),
      h("p", {}, "你不是该会话的接待人。查阅将以只读方式打开，并与查阅原因一起记入审计日志。"),
      field("查阅原因", reason), h("button", { type: "submit", class: "primary" }, "查阅"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!reason.value.trim()) return;
      state.reason = reason.value.trim();
      form.remove();
      show();
    });
    root.append(form);
    reason.focus();
  }

  async function show() {
    root.append(chat, casePanel);
    renderHeader();
    await loadTranscript();
    renderComposer();
    state.unmountCase = mountCasePanel({ ...ctx, container: casePanel }, state.summary, state.reason);
  }

  async function reloadSummary() {
    try {
      state.summary = await get(path);
      renderHeader();
      renderComposer();
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        clear(root).append(h("div", { class: "denied", role: "alert" }, "该会话已转出，你不再有权访问。"));
        state.closed = true;
      }
    }
  }

  async function loadTranscript() {
    const { items } = await get(`${path}/messages${query()}`);
    state.messages.clear();
    clear(transcript);
    for (const message of items) addMessage(message);
  }

  // ---------------------------------------------------------------- header

  function renderHeader() {
    const s = state.summary;
    const actions = h("div", { class: "actions" });
    if (s.state === "queued" && ctx.user.role !== "admin") {
      actions.append(h("button", { type: "button", class: "primary", onclick: claim }, "接入此会话"));
    }
    if (ctx.user.role !== "counsellor" && s.state !== "closed" && !isParticipant()) {
      actions.append(h("button", { type: "button", onclick: join, id: "join" }, "加入会话"),
        h("button", { type: "button", onclick: whisper, id: "whisper" }, "悄悄提示咨询师"));
    }
    if (s.state !== "closed" && (isParticipant() || ctx.user.role !== "counsellor")) {
      actions.append(h("button", { type: "button", onclick: adjustRisk, id: "adjust-risk" }, "调整风险等级"));
    }
    if (isParticipant() && s.state === "assigned") {
      actions.append(h("button", { type: "button", onclick: transfer, id: "transfer" }, "转接"),
        h("button", { type: "button", class: "danger", onclick: close, id: "close" }, "结束会话"));
    }
    clear(header).append(
      h("div", { class: "title" }, riskBadge(s.risk_level), riskProbability(s.risk_probability), " ",
        h("strong", {}, s.contact.label), " ",
        h("span", { class: "muted" }, `${channel(s.platform)} · ${category(s.risk_category || s.topic)}`)),
      h("div", { class: "meta" },
        h("span", { id: "conv-state" }, STATE[s.state] || s.state),
        s.owner ? h("span", {}, `接待：${s.owner.display_name}`) : null,
        s.case_number ? h("span", {}, `工单：${s.case_number}`) : null,
        s.deadline_state !== "ok" ? h("span", { class: `deadline deadline-${s.deadline_state}` },
          DEADLINE[s.deadline_state]) : null,
        state.reason ? h("span", { class: "readonly-tag" }, "只读查阅（已记入审计）") : null),
      actions);
    renderBudget();
  }

  function renderBudget() {
    const w = state.summary.window;
    clear(budget);
    budget.className = "budget";
    if (!w || !w.policy) return;
    const expires = w.expires_at ? Date.parse(w.expires_at) : null;
    const leftSeconds = expires ? (expires - Date.now()) / 1000 : null;
    const closedWindow = w.closed_reason || (leftSeconds !== null && leftSeconds <= 0) || w.messages_left === 0;
    if (closedWindow) {
      budget.classList.add("budget-closed");
      budget.append(h("strong", {}, "回复窗口已关闭。"),
        ` ${channel(state.summary.platform)}只允许在青少年最后一次发消息后 ${w.policy.hours} 小时内回复最多 `
        + `${w.policy.max_messages} 条。青少年再次发来消息前无法回复；你可以记录内部备注、在工单中创建回访任务或转介，`
        + "或通过其他已知渠道联系。");
      return;
    }
    const parts = [];
    if (leftSeconds !== null) parts.push(`回复窗口剩余 ${duration(leftSeconds)}`);
    if (w.messages_left !== null && w.messages_left !== undefined) parts.push(`还可发送 ${w.messages_left} 条`);
    budget.append(h("span", {}, parts.join(" · ")));
    if (w.messages_left === 1) {
      budget.classList.add("budget-last");
      budget.append(h("strong", {}, " 这是最后一条可发送的消息：请写清楚后续怎么联系我们（如12355热线）。"));
    }
  }

  // ---------------------------------------------------------------- transcript

  function addMessage(message) {
    if (message.conversation_id && message.conversation_id !== id) return;
    const existing = state.messages.get(message.id);
    if (existing) return;
    if (message.sender_id && message.sender_name) state.names[message.sender_id] = message.sender_name;
    const name = message.sender_name || state.names[message.sender_id] || SENDER[message.sender] || "";
    const status = h("span", { class: `status status-${message.status}` }, statusText(message));
    const item = h("li", { class: `msg msg-${message.sender}${message.private ? " msg-private" : ""}`,
      dataset: { id: message.id, sender: message.sender } },
      h("div", { class: "msg-meta" },
        h("span", { class: `sender sender-${message.sender}` }, SENDER[message.sender] || message.sender),
        name && name !== SENDER[message.sender] ? h("span", { class: "sender-name" }, name) : null,
        message.private ? h("span", { class: "private-tag" }, "内部备注 · 青少年不可见") : null,
        h("time", { datetime: message.created_at }, clock(message.created_at)),
        message.direction === "out" && !message.private ? status : null),
      message.text ? h("div", { class: "text" }, message.text) : null, media(message.media),
      message.risk && message.risk.level ? h("div", { class: "cues" }, riskBadge(message.risk.level),
        ` ${category(message.risk.category)}`, message.risk.cues?.length
          ? h("span", { class: "cue-list", title: message.risk.cues.join("\n") },
            ` · 检测线索：${message.risk.cues.map((cue) => cue.slice(cue.indexOf(":") + 1)).join("、")}`) : null) : null);
    item.status = status;
    state.messages.set(message.id, item);
    transcript.append(item);
    transcript.scrollTop = transcript.scrollHeight;
  }

  // Images stored by this gateway are shown (same origin, allowed by the CSP); other platforms'
  // media live on their servers and are named only.
  function media(ref) {
    if (!ref) return null;
    if (ref.kind === "image" && typeof ref.url === "string" && ref.url.startsWith("/widget/media/")) {
      return h("img", { class: "media", src: ref.url, alt: "青少年发送的图片", loading: "lazy" });
    }
    const kinds = { image: "图片", voice: "语音", video: "视频", file: "文件", location: "位置", link: "链接" };
    return h("div", { class: "text muted" }, `［${kinds[ref.kind] || "附件"}${ref.title ? `：${ref.title}` : ""}］`);
  }

  function statusText(message) {
    if (message.status === "failed") return `发送失败${message.error ? `：${message.error}` : ""}`;
    return STATUS[message.status] || message.status;
  }

  // ---------------------------------------------------------------- composer

  function renderComposer() {
    const s = state.summary;
    // Rebuild only when what the composer offers changes, so live updates never eat a draft.
    const key = `${s.state}|${isParticipant()}|${budget.classList.contains("budget-closed")}`;
    if (key === state.composerKey) return;
    state.composerKey = key;
    clear(composerBox);
    if (s.state === "closed") {
      composerBox.append(h("p", { class: "muted" }, "会话已结束。"));
      return;
    }
    if (!isParticipant()) {
      if (s.state === "queued" && ctx.user.role === "counsellor") {
        composerBox.append(h("p", { class: "muted" }, "接入后才能回复。"));
      }
      return;
    }
    const text = h("textarea", { name: "text", rows: 3, maxlength: 4000, id: "composer",
      placeholder: "输入回复，Ctrl+Enter 发送" });
    const mode = select("mode", [["reply", "回复青少年"], ["note", "内部备注（青少年不可见）"]], "reply");
    const send = h("button", { type: "button", class: "primary", id: "send" }, "发送");
    const search = h("input", { type: "search", name: "canned", placeholder: "搜索常用语", id: "canned-search" });
    const list = h("ul", { class: "canned", id: "canned" });
    const windowClosed = budget.classList.contains("budget-closed");
    const sync = () => {
      send.disabled = mode.value === "reply" && windowClosed;
      send.textContent = mode.value === "note" ? "保存备注" : "发送";
    };
    mode.addEventListener("change", sync);
    text.value = state.draft || "";
    text.addEventListener("input", () => { state.draft = text.value; });
    if (windowClosed) mode.value = "note";
    sync();

    async function loadCanned() {
      try {
        const { items } = await get(`/canned-responses?q=${encodeURIComponent(search.value.trim())}`);
        clear(list).append(...items.map((c) => h("li", {},
          h("button", { type: "button", onclick: () => insert(c.text), title: c.text }, c.title))));
        if (!items.length) list.append(h("li", { class: "muted" }, "没有匹配的常用语"));
      } catch (error) {
        toast(error.message, "error");
      }
    }

    function insert(template) {
      const values = { counsellor: ctx.user.display_name.replace(/^.*·/, ""), desk: ctx.deskName || "12355",
        name: "同学" };
      const filled = template.replace(/\{(\w+)\}/g, (all, key) => values[key] ?? all);
      text.value = text.value ? `${text.value}\n${filled}` : filled;
      state.draft = text.value;
      text.focus();
    }

    async function submit() {
      const body = text.value.trim();
      if (!body) return;
      send.disabled = true;
      try {
        const message = await post(`${path}/${mode.value === "note" ? "notes" : "messages"}`, { text: body });
        addMessage(message);
        text.value = "";
        state.draft = "";
        if (mode.value === "reply") await reloadSummary(); // the reply budget moved
      } catch (error) {
        toast(error.message, "error");
      } finally {
        sync();
      }
    }

    send.addEventListener("click", submit);
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) submit();
    });
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(loadCanned, 200);
    });
    composerBox.append(h("div", { class: "composer" }, field("发送方式", mode), text, send),
      h("details", { class: "canned-box" }, h("summary", {}, "常用语"), search, list));
    loadCanned();
  }

  // ---------------------------------------------------------------- actions

  async function claim() {
    try {
      state.summary = await post(`${path}/claim`);
      await reloadSummary();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  async function join() {
    try {
      await post(`${path}/join`);
      await reloadSummary();
      toast("你已加入该会话，可以回复青少年");
    } catch (error) {
      toast(error.message, "error");
    }
  }

  function dialog(title, body, submitText, onSubmit) {
    const error = h("p", { class: "error", role: "alert" });
    const form = h("form", { method: "dialog", class: "dialog-form" }, h("h2", {}, title), body, error,
      h("div", { class: "actions" }, h("button", { type: "button", value: "cancel", onclick: () => box.close() }, "取消"),
        h("button", { type: "submit", class: "primary" }, submitText)));
    const box = h("dialog", { class: "dialog" }, form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      try {
        await onSubmit();
        box.close();
      } catch (failure) {
        error.textContent = failure.message;
      }
    });
    box.addEventListener("close", () => box.remove());
    document.body.append(box);
    box.showModal();
    return box;
  }

  function adjustRisk() {
    const level = select("level", Object.entries(RISK).map(([k, v]) => [k, v.label]), String(state.summary.risk_level));
    const reason = h("textarea", { name: "risk_reason", rows: 2, required: true, maxlength: 500 });
    dialog("调整风险等级", h("div", {}, field("风险等级", level), field("调整原因（记入记录）", reason)), "保存", async () => {
      state.summary = await put(`${path}/risk`, { level: Number(level.value), reason: reason.value.trim(),
        category: state.summary.risk_category || undefined });
      renderHeader();
      toast("已调整风险等级");
    });
  }

  function whisper() {
    const text = h("textarea", { name: "whisper", rows: 3, required: true });
    dialog("悄悄提示咨询师", field("提示内容（只有咨询师能看到）", text), "发送提示", async () => {
      addMessage(await post(`${path}/whisper`, { text: text.value.trim() }));
    });
  }

  async function transfer() {
    const [desks, users] = await Promise.all([get("/desks"), get(`/users?desk=${encodeURIComponent(ctx.user.desk)}`)]);
    const to = select("to", [["user", "同事"], ["desk", "其他服务台"], ["bot", "交回智能助手"]], "user");
    const colleague = select("user_id", users.items.filter((u) => u.id !== ctx.user.id)
      .map((u) => [u.id, `${u.display_name}（${u.presence === "online" ? "在线" : "不在线"}）`]));
    const desk = select("desk_id", desks.items.filter((d) => d.id !== state.summary.desk)
      .map((d) => [d.id, `${d.name}${d.open_now ? "" : "（非工作时间）"}`]));
    const note = h("textarea", { name: "note", rows: 3, required: true });
    const colleagueField = field("目标同事", colleague);
    const deskField = field("目标服务台", desk);
    const sync = () => {
      colleagueField.hidden = to.value !== "user";
      deskField.hidden = to.value !== "desk";
    };
    to.addEventListener("change", sync);
    sync();
    dialog("转接会话", h("div", {}, field("转接对象", to), colleagueField, deskField,
      field("交接说明（必填）", note, "接手的人会看到这段说明")), "转接", async () => {
      const body = { to: to.value, note: note.value.trim() };
      if (to.value === "user") body.user_id = colleague.value;
      if (to.value === "desk") body.desk_id = desk.value;
      await post(`${path}/transfer`, body);
      toast("已转接");
      location.hash = "#/queue";
    });
  }

  async function close() {
    const s = state.summary;
    const level = s.risk_level;
    const caseData = s.case_id ? await get(`/cases/${encodeURIComponent(s.case_id)}${query()}`) : null;
    const outcome = select("outcome", OUTCOMES, "resolved");
    const other = h("input", { name: "outcome_other", maxlength: 180 });
    const rating = h("input", { type: "checkbox", name: "request_rating", checked: true });
    const body = h("div", {}, field("结束原因", outcome), field("补充说明", other),
      h("label", { class: "check" }, rating, " 请青少年评价本次服务"));
    // Required fields grow with the risk level; the engine refuses the same (handoff/cases.py
    // missing_before_close), the page only says it before the counsellor presses the button.
    const missing = [];
    if (level >= 2) {
      if (!caseData?.assessment) missing.push("风险评估（在右侧工单中填写）");
      if (!caseData?.classification) missing.push("案由分类");
      if (!caseData?.summary) missing.push("个案摘要");
    }
    let why = null;
    if (level >= 3 && caseData && !caseData.referrals.length && !caseData.mandatory_reports.length) {
      why = h("textarea", { name: "no_referral_reason", rows: 2, required: true });
      body.append(field("未转介、未强制报告的原因（3级必填）", why));
    }
    if (missing.length) {
      body.append(h("div", { class: "required-list", role: "alert" }, h("strong", {}, `${level}级风险会话结束前还需要：`),
        h("ul", {}, ...missing.map((m) => h("li", {}, m)))));
    }
    dialog("结束会话", body, "结束会话", async () => {
      if (missing.length) throw new Error(`请先完成：${missing.join("、")}`);
      const label = OUTCOMES.find(([key]) => key === outcome.value)[1];
      const text = other.value.trim() ? `${label}：${other.value.trim()}` : label;
      state.summary = await post(`${path}/close`, { outcome: text.slice(0, 200), request_rating: rating.checked,
        no_referral_reason: why ? why.value.trim() : null });
      toast(rating.checked ? "会话已结束，已请青少年评价" : "会话已结束");
      renderHeader();
      renderComposer();
    });
  }

  // ---------------------------------------------------------------- live

  const off = ctx.live.on((event) => {
    if (event.type === "reconnected" && state.summary && !state.closed && !needsReasonPending()) {
      // Events may have been missed while the socket was down: re-read.
      reloadSummary().then(() => chat.isConnected && loadTranscript());
      return;
    }
    if (event.conversation_id !== id || state.closed || !state.summary) return;
    if (event.type === "message.created" && event.data?.message && !needsReasonPending()) {
      addMessage(event.data.message);
      if (event.data.message.direction === "in") reloadSummary();
    } else if (event.type === "message.status") {
      const item = state.messages.get(event.data?.message_id);
      if (item && item.status) {
        item.status.textContent = statusText({ status: event.data.status, error: event.data.error });
        item.status.className = `status status-${event.data.status}`;
      }
      if (event.data?.status === "sent") reloadSummary(); // a delivered reply uses up the budget
    } else if (event.type === "conversation.risk_changed") {
      reloadSummary().then(() => chat.isConnected && loadTranscript());
    } else if (event.type.startsWith("conversation.") || event.type.startsWith("deadline.")) {
      reloadSummary();
    }
  });
  const needsReasonPending = () => needsReason() && !state.reason;
  const timer = setInterval(() => state.summary && renderBudget(), 30000);
  get("/desks").then(({ items }) => {
    ctx.deskName = items.find((d) => d.id === ctx.user.desk)?.name;
  }).catch(() => {});
  start();

  return () => {
    state.closed = true;
    off();
    clearInterval(timer);
    if (state.unmountCase) state.unmountCase();
  };
}
