// youthdesk widget loader: <script src="https://GATEWAY/widget/loader.js" data-partner="ID" async></script>
// Adds a launcher button and opens the chat iframe served by the gateway. The partner's signed
// token (data-token, or window.youthdesk.identify(token)) is handed to the iframe by postMessage,
// addressed to the gateway's origin only.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var partner = script.getAttribute("data-partner");
  var gateway = new URL(script.src).origin;
  var token = script.getAttribute("data-token") || null;
  var frame = null;
  var launcher = document.createElement("button");
  var opened = false;

  launcher.type = "button";
  launcher.textContent = "12355 在线咨询";
  launcher.setAttribute("aria-label", "打开 12355 青少年在线咨询");
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("data-youthdesk", "launcher");
  setStyle(launcher, {
    position: "fixed", right: "16px", bottom: "16px", zIndex: "2147483000", padding: "12px 18px",
    border: "0", borderRadius: "24px", background: "#0b4f8a", color: "#ffffff", fontSize: "16px",
    boxShadow: "0 2px 8px rgba(0,0,0,.3)", cursor: "pointer"
  });

  function setStyle(element, styles) {
    Object.keys(styles).forEach(function (key) { element.style[key] = styles[key]; });
  }

  function createFrame() {
    frame = document.createElement("iframe");
    frame.src = gateway + "/widget/frame?partner=" + encodeURIComponent(partner);
    frame.title = "12355 青少年在线咨询";
    frame.setAttribute("data-youthdesk", "frame");
    setStyle(frame, {
      position: "fixed", right: "16px", bottom: "76px", width: "min(380px, calc(100vw - 32px))",
      height: "min(600px, calc(100vh - 96px))", border: "1px solid #c9d2dc", borderRadius: "12px",
      background: "#ffffff", zIndex: "2147483000", boxShadow: "0 4px 16px rgba(0,0,0,.25)"
    });
    document.body.appendChild(frame);
  }

  function postIdentity() {
    if (frame && frame.contentWindow) {
      frame.contentWindow.postMessage({ type: "youthdesk:identity", token: token }, gateway);
    }
  }

  function open() {
    if (!frame) { createFrame(); }
    frame.style.display = "block";
    opened = true;
    launcher.setAttribute("aria-expanded", "true");
    frame.focus();
  }

  function close() {
    if (frame) { frame.style.display = "none"; }
    opened = false;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== gateway || !frame || event.source !== frame.contentWindow) { return; }
    var data = event.data || {};
    if (data.type === "youthdesk:ready") { postIdentity(); }
    if (data.type === "youthdesk:close") { close(); }
  });

  launcher.addEventListener("click", function () { if (opened) { close(); } else { open(); } });

  window.youthdesk = {
    open: open,
    close: close,
    identify: function (newToken) { token = newToken; postIdentity(); }
  };

  if (document.body) { document.body.appendChild(launcher); }
  else { document.addEventListener("DOMContentLoaded", function () { document.body.appendChild(launcher); }); }
}());
