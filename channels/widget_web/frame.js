// The widget iframe: identity from the partner page (postMessage, checked origins), the chat
// socket with resume, and the UI. Message text is only ever set through textContent.
(function () {
  "use strict";

  var body = document.body;
  var partner = body.dataset.partner;
  var origins = JSON.parse(body.dataset.origins || "[]");
  var anonymousAllowed = body.dataset.anonymous === "1";
  var ANON_KEY = "youthdesk.anonymous." + partner;
  var RATED_KEY = "youthdesk.rated.";
  var MAX_IMAGE = 2 * 1024 * 1024;
  var SENDERS = { youth: "我", bot: "智能助手", counsellor: "值班老师", system: "系统消息" };
  // Refused only for now: the youth keeps their message and learns where to turn if in danger.
  var TOO_MANY_NEW = "现在同时发起的新咨询太多了，你的消息还在，请过几分钟再发送。" +
    "如果你现在就有危险，请立刻拨打110（报警）或120（急救）；也可以拨打心理援助热线12356。";
  var REASONS = {
    "token expired": "登录凭证已过期，请刷新页面后重试。",
    "token already used": "登录凭证已使用过，请刷新页面后重试。",
    "anonymous chat is not allowed by this partner": "请先登录合作平台后再发起咨询。",
    "rate limit exceeded": "发送太频繁了，请稍等片刻。",
    "image too large (max 2 MB)": "图片太大了（最大 2 MB）。",
    "message too long (max 2000 characters)": "消息太长了（最多 2000 字）。",
    "too many new conversations from this address": TOO_MANY_NEW,
    "too many new conversations for this partner": TOO_MANY_NEW
  };

  var els = {
    status: document.getElementById("status"),
    notice: document.getElementById("notice"),
    messages: document.getElementById("messages"),
    typing: document.getElementById("typing"),
    composer: document.getElementById("composer"),
    input: document.getElementById("input"),
    send: document.getElementById("send-button"),
    image: document.getElementById("image-input"),
    rating: document.getElementById("rating"),
    comment: document.getElementById("rating-comment"),
    close: document.getElementById("close-button")
  };

  var state = {
    token: null, session: null, ws: null, retry: 0, refused: false,
    seen: {}, current: null, conversationState: {}, pending: {}, rendered: {},
    lastTyping: 0, readTimer: null, typingTimer: null, desk: null
  };

  var parentOrigin = pickParentOrigin();

  function pickParentOrigin() {
    if (window.parent === window) { return null; }
    var candidates = [];
    if (window.location.ancestorOrigins && window.location.ancestorOrigins.length) {
      candidates.push(window.location.ancestorOrigins[0]);
    }
    if (document.referrer) {
      try { candidates.push(new URL(document.referrer).origin); } catch (e) { /* no referrer origin */ }
    }
    for (var i = 0; i < candidates.length; i++) {
      if (origins.indexOf(candidates[i]) !== -1) { return candidates[i]; }
    }
    return null;
  }

  // ------------------------------------------------------------------ identity

  window.addEventListener("message", function (event) {
    if (origins.indexOf(event.origin) === -1 || event.source !== window.parent) {
      console.warn("youthdesk: ignored message from untrusted origin " + event.origin);
      return;
    }
    var data = event.data;
    if (!data || data.type !== "youthdesk:identity") { return; }
    var fresh = typeof data.token === "string" && data.token ? data.token : null;
    if (state.ws && fresh === null) { return; }
    state.token = fresh;
    state.session = null;
    reconnectNow();
  });

  function start() {
    if (parentOrigin) {
      window.parent.postMessage({ type: "youthdesk:ready" }, parentOrigin);
      // A partner page without a token still gets a chat (when anonymous chats are allowed).
      setTimeout(function () { if (!state.ws) { connect(); } }, 3000);
    } else {
      connect();
    }
  }

  // -------------------------------------------------------------------- socket

  function reconnectNow() {
    if (state.ws) {
      var old = state.ws;
      state.ws = null;
      old.onclose = null;
      old.close();
    }
    connect();
  }

  function connect() {
    if (!state.token && !state.session && !anonymousAllowed) {
      setStatus("请先登录合作平台后再发起咨询。");
      return;
    }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + window.location.host + "/channels/widget/ws?partner=" + encodeURIComponent(partner));
    state.ws = ws;
    setStatus(state.retry ? "正在重新连接…" : "正在连接…");
    ws.onopen = function () {
      var anonymous = null;
      try { anonymous = window.localStorage.getItem(ANON_KEY); } catch (e) { /* storage blocked */ }
      ws.send(JSON.stringify({
        type: "hello", token: state.session ? null : state.token,
        session: state.session || (state.token ? null : anonymous), seen: state.seen
      }));
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      handle(frame);
    };
    ws.onclose = function (event) {
      if (state.ws !== ws) { return; }
      state.ws = null;
      enableInput(false);
      if (state.refused) { return; }
      var delay = Math.min(15000, 1000 * Math.pow(2, state.retry));
      if (event.code === 4429) { delay = 5000; }
      state.retry += 1;
      setStatus("连接已断开，" + Math.round(delay / 1000) + " 秒后重新连接…");
      setTimeout(function () { if (!state.ws) { connect(); } }, delay);
    };
  }

  function sendFrame(frame) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function handle(frame) {
    switch (frame.type) {
      case "welcome": return onWelcome(frame);
      case "message": return onMessage(frame.message);
      case "ack": return onAck(frame);
      case "status": return onStatus(frame);
      case "state": return onState(frame.conversation_id, frame.state);
      case "queue": return onQueue(frame);
      case "typing": return onTyping();
      case "synced": return onSynced(frame);
      case "error": return onError(frame);
      default: return undefined;
    }
  }

  function onWelcome(frame) {
    state.session = frame.session;
    state.token = null;
    state.retry = 0;
    state.desk = frame.desk;
    if (frame.anonymous_token) {
      try { window.localStorage.setItem(ANON_KEY, frame.anonymous_token); } catch (e) { /* storage blocked */ }
    }
    if (frame.desk && !frame.desk.open) {
      showNotice("【留言】" + frame.desk.after_hours_message + "（值班时间：" + frame.desk.hours + "，北京时间）");
      els.input.placeholder = "请留言，值班老师上班后会回复你";
      els.send.textContent = "留言";
    }
    enableInput(true);
    // Whatever was not acknowledged before the socket dropped goes again; the server dedupes it.
    Object.keys(state.pending).forEach(function (clientId) { sendFrame(state.pending[clientId]); });
  }

  function onSynced(frame) {
    if (frame.conversation_id) { state.current = frame.conversation_id; }
    updateStatus();
  }

  function onMessage(message) {
    var conversation = message.conversation_id;
    state.seen[conversation] = Math.max(state.seen[conversation] || 0, message.seq);
    if (!state.current) { state.current = conversation; }
    render(message);
    if (message.direction === "out") {
      els.typing.hidden = true;
      scheduleRead(conversation, message.seq);
    }
  }

  function onAck(frame) {
    var pending = els.messages.querySelector('[data-client-id="' + cssEscape(frame.client_id) + '"]');
    delete state.pending[frame.client_id];
    if (pending) { pending.remove(); }
    if (state.current !== frame.conversation_id) {
      state.current = frame.conversation_id;
      els.rating.hidden = true;
    }
    markStatus(frame.message_id, "received");
  }

  function onStatus(frame) { markStatus(frame.message_id, frame.status); }

  function onState(conversation, value) {
    state.conversationState[conversation] = value;
    if (conversation !== state.current) { return; }
    updateStatus();
    var rated = false;
    try { rated = window.localStorage.getItem(RATED_KEY + conversation) === "1"; } catch (e) { /* storage blocked */ }
    els.rating.hidden = !(value === "closed" && !rated);
  }

  function onQueue(frame) {
    if (frame.conversation_id !== state.current) { return; }
    // At risk: never a wait or a place behind others, only that a person is coming now.
    if (frame.urgent) {
      setStatus("值班老师正在接入，请留在这里。如果你现在就有危险，请立刻拨打110或120。");
      return;
    }
    if (typeof frame.position !== "number") { return; }
    var text = "正在为你转接值班老师，前面还有 " + frame.position + " 人";
    if (typeof frame.expected_wait_seconds === "number") {
      text += "，预计等待约 " + Math.max(1, Math.round(frame.expected_wait_seconds / 60)) + " 分钟";
    }
    setStatus(text + "。");
  }

  function onTyping() {
    els.typing.hidden = false;
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(function () { els.typing.hidden = true; }, 4000);
  }

  function onError(frame) {
    var text = REASONS[frame.reason] || ("出错了：" + frame.reason);
    showNotice(text);
    if (frame.fatal && frame.reason !== "rate limit exceeded") {
      state.refused = true;
      setStatus(text);
    }
  }

  function updateStatus() {
    var value = state.conversationState[state.current];
    var texts = {
      bot: "智能助手在线，需要时会为你转接值班老师。",
      queued: "正在为你转接值班老师，请稍候。",
      assigned: "值班老师已接入，正在和你对话。",
      closed: "本次咨询已结束。再发消息会开始新的咨询。"
    };
    setStatus(texts[value] || "已连接，有什么想说的都可以告诉我们。");
  }

  // ---------------------------------------------------------------- rendering

  function render(message) {
    if (message.type === "event") {
      if (message.event === "satisfaction") { addSeparator("你已提交评价，谢谢！", message); }
      return;
    }
    var existing = state.rendered[message.id];
    if (existing) { return; }
    var item = document.createElement("li");
    item.className = "message " + (message.direction === "in" ? "in" : "out");
    item.dataset.id = message.id;
    item.dataset.conversation = message.conversation_id;
    item.dataset.seq = String(message.seq);
    var who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = (SENDERS[message.sender] || "") + "：";
    item.appendChild(who);
    if (message.type === "image" && message.media && /^\/widget\/media\/[A-Za-z0-9_-]+$/.test(message.media.url || "")) {
      var img = document.createElement("img");
      img.src = message.media.url;
      img.alt = "图片";
      item.appendChild(img);
    } else {
      var text = document.createElement("span");
      text.className = "text";
      text.textContent = message.text || (message.type === "image" ? "[图片]" : "");
      item.appendChild(text);
    }
    var meta = document.createElement("span");
    meta.className = "meta";
    item.appendChild(meta);
    state.rendered[message.id] = item;
    setMeta(item, message.sender, message.created_at, message.status);
    insertOrdered(item);
  }

  function addSeparator(text, message) {
    if (state.rendered[message.id]) { return; }
    var item = document.createElement("li");
    item.className = "separator";
    item.dataset.conversation = message.conversation_id;
    item.dataset.seq = String(message.seq);
    item.textContent = text;
    state.rendered[message.id] = item;
    insertOrdered(item);
  }

  function insertOrdered(item) {
    var nodes = els.messages.children;
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      if (node.dataset.conversation === item.dataset.conversation && Number(node.dataset.seq) > Number(item.dataset.seq)) {
        els.messages.insertBefore(item, node);
        return;
      }
    }
    els.messages.appendChild(item);
    els.messages.scrollTop = els.messages.scrollHeight;
  }

  function setMeta(item, sender, createdAt, status) {
    var meta = item.querySelector(".meta");
    var time = createdAt ? new Date(createdAt).toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit" }) : "";
    var label = item.classList.contains("in") ? statusLabel(status) : (SENDERS[sender] || "");
    meta.textContent = [label, time].filter(Boolean).join(" · ");
    item.dataset.sender = sender || "";
    item.dataset.createdAt = createdAt || "";
  }

  function statusLabel(status) {
    return { pending: "发送中…", received: "已送达", read: "已读", failed: "发送失败" }[status] || "已送达";
  }

  function markStatus(messageId, status) {
    var item = state.rendered[messageId];
    if (item) { setMeta(item, item.dataset.sender, item.dataset.createdAt, status); }
  }

  function addPending(clientId, text) {
    var item = document.createElement("li");
    item.className = "message in pending";
    item.dataset.clientId = clientId;
    item.dataset.conversation = "";
    item.dataset.seq = "0";
    var span = document.createElement("span");
    span.className = "text";
    span.textContent = text;
    var meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = "发送中…";
    item.appendChild(span);
    item.appendChild(meta);
    els.messages.appendChild(item);
    els.messages.scrollTop = els.messages.scrollHeight;
  }

  // ------------------------------------------------------------------ actions

  function clientId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function submitFrame(frame, previewText) {
    state.pending[frame.client_id] = frame;
    addPending(frame.client_id, previewText);
    sendFrame(frame);
  }

  els.composer.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = els.input.value.trim();
    if (!text) { return; }
    submitFrame({ type: "text", client_id: clientId(), text: text }, text);
    els.input.value = "";
    els.input.focus();
  });

  els.input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      els.composer.requestSubmit();
    }
  });

  els.input.addEventListener("input", function () {
    var now = Date.now();
    if (now - state.lastTyping > 2000) {
      state.lastTyping = now;
      sendFrame({ type: "typing" });
    }
  });

  els.image.addEventListener("change", function () {
    var file = els.image.files && els.image.files[0];
    els.image.value = "";
    if (!file) { return; }
    if (file.size > MAX_IMAGE) { showNotice("图片太大了（最大 2 MB）。"); return; }
    var reader = new FileReader();
    reader.onload = function () {
      var data = String(reader.result).replace(/^data:[^,]*,/, "");
      submitFrame({ type: "image", client_id: clientId(), data: data }, "[图片发送中]");
    };
    reader.readAsDataURL(file);
  });

  els.rating.addEventListener("submit", function (event) {
    event.preventDefault();
    var chosen = els.rating.querySelector('input[name="score"]:checked');
    if (!chosen) { showNotice("请先选择 1 到 5 分。"); return; }
    submitFrame({ type: "rating", client_id: clientId(), conversation_id: state.current,
      score: Number(chosen.value), comment: els.comment.value.trim() }, "评分：" + chosen.value + " 分");
    try { window.localStorage.setItem(RATED_KEY + state.current, "1"); } catch (e) { /* storage blocked */ }
    els.rating.hidden = true;
  });

  function closeWidget() {
    if (parentOrigin) { window.parent.postMessage({ type: "youthdesk:close" }, parentOrigin); }
  }

  els.close.addEventListener("click", closeWidget);
  document.addEventListener("keydown", function (event) { if (event.key === "Escape") { closeWidget(); } });

  function scheduleRead(conversation, seq) {
    if (document.visibilityState !== "visible") { return; }
    clearTimeout(state.readTimer);
    state.readTimer = setTimeout(function () { sendFrame({ type: "read", conversation_id: conversation, seq: seq }); }, 500);
  }

  function enableInput(enabled) {
    els.input.disabled = !enabled;
    els.send.disabled = !enabled;
    els.image.disabled = !enabled;
  }

  function setStatus(text) { els.status.textContent = text; }

  function showNotice(text) {
    els.notice.textContent = text;
    els.notice.hidden = false;
  }

  function cssEscape(value) {
    return window.CSS && window.CSS.escape ? window.CSS.escape(value) : String(value).replace(/["\\]/g, "\\$&");
  }

  start();
}());
