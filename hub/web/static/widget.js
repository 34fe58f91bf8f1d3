/* Okno web-chat widget. Embed with:
 *   <script src="https://HUB/widget.js" data-account="NAME" async></script>
 * No framework, no requests but to the hub, every text inserted as text (never as HTML). Its words come
 * with its configuration, in the visitor's language (the hub's gettext catalogs).
 * The visitor's token and unsent messages live in localStorage: history comes back on reload and in
 * other tabs, and what was typed while offline is sent once the socket is back (the hub drops repeats
 * by the message's own id, so nothing is doubled).
 * A site that knows its logged-in user adds data-identifier and data-identifier-hash (hex HMAC-SHA256
 * of the identifier with the account's identity secret, computed on the site's server), or calls
 * window.OknoWidget.identify({ identifier: ..., identifier_hash: ... }); the hub checks the hash. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var account = script.getAttribute("data-account") || "";
  var hub = new URL(script.src, location.href);
  var base = hub.origin + hub.pathname.replace(/\/widget\.js$/, "");
  var KEY = "okno.webchat." + account + "@" + hub.origin;
  if (window["__okno_" + KEY]) return;
  window["__okno_" + KEY] = true;
  var ident = {};
  function identify(o) {
    ident = o && o.identifier ? { identifier: String(o.identifier), identifier_hash: String(o.identifier_hash || "") } : {};
  }
  identify({ identifier: script.getAttribute("data-identifier"), identifier_hash: script.getAttribute("data-identifier-hash") });
  var api = window.OknoWidget = window.OknoWidget || {}, before = api.identify;
  api.identify = function (o) { if (before) before(o); identify(o); if (ws) resync(); };

  // -- storage -----------------------------------------------------------------------------------------
  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (e) { return {}; }
  }
  var state = load();
  state.pending = Array.isArray(state.pending) ? state.pending : [];
  function save() {
    var fresh = load();  // another tab may have written meanwhile: keep its token and its pending ones
    state.token = state.token || fresh.token;
    try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode: memory only */ }
  }
  function newId() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // -- DOM helpers: text only ----------------------------------------------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = String(text);
    return node;
  }
  function svg(path) {
    var ns = "http://www.w3.org/2000/svg";
    var icon = document.createElementNS(ns, "svg");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("aria-hidden", "true");
    var p = document.createElementNS(ns, "path");
    p.setAttribute("d", path);
    icon.appendChild(p);
    return icon;
  }
  var ICON_CHAT = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z";
  var ICON_CLOSE = "M6 6l12 12M18 6L6 18";
  var ICON_SEND = "M3 11.5L21 3l-8.5 18-2.2-7.3L3 11.5z";
  var ICON_CLIP = "M16 7l-7 7a2 2 0 0 0 3 3l7-7a4 4 0 0 0-6-6l-7 7a6 6 0 0 0 8 8l6-6";

  function contrast(hex) {
    var h = hex.replace("#", "");
    if (h.length === 3) h = h.replace(/(.)/g, "$1$1");
    var n = parseInt(h, 16), r = n >> 16 & 255, g = n >> 8 & 255, b = n & 255;
    return (0.299 * r + 0.587 * g + 0.114 * b) > 170 ? "#1f2430" : "#ffffff";
  }
  function hhmm(iso) {
    var d = iso ? new Date(iso) : new Date();
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box}",
    ".w{position:fixed;right:20px;bottom:20px;z-index:2147483000;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,'Noto Sans','Liberation Sans',sans-serif;color:#1f2430;-webkit-font-smoothing:antialiased}",
    ".launch{width:56px;height:56px;border-radius:50%;border:0;background:var(--a);color:var(--on);cursor:pointer;box-shadow:0 6px 20px rgba(20,30,50,.25);display:flex;align-items:center;justify-content:center;margin-left:auto;position:relative;transition:transform .15s}",
    ".launch:hover{transform:translateY(-1px)}",
    ".launch svg{width:26px;height:26px;fill:currentColor}",
    ".launch .xi{display:none;fill:none;stroke:currentColor;stroke-width:2.2;stroke-linecap:round;width:22px;height:22px}",
    ".open .launch .xi{display:block}.open .launch .ci{display:none}",
    ".badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#e5484d;color:#fff;font-size:12px;font-weight:600;line-height:20px;text-align:center}",
    ".panel{display:none;flex-direction:column;width:370px;height:560px;max-height:calc(100vh - 104px);max-width:calc(100vw - 24px);margin-bottom:14px;background:#fff;border-radius:16px;overflow:hidden;box-shadow:0 12px 40px rgba(20,30,50,.22),0 0 0 1px rgba(20,30,50,.06)}",
    ".open .panel{display:flex}",
    ".head{background:var(--a);color:var(--on);padding:16px 16px 14px 18px;display:flex;align-items:flex-start;gap:10px}",
    ".head .t{flex:1;min-width:0}",
    ".title{font-size:16px;font-weight:600;line-height:1.3;overflow-wrap:anywhere}",
    ".sub{font-size:12.5px;opacity:.85;margin-top:2px;display:flex;align-items:center;gap:6px}",
    ".dot{width:8px;height:8px;border-radius:50%;background:#3ecf8e;box-shadow:0 0 0 2px rgba(255,255,255,.5);flex:none}",
    ".dot.off{background:#b0b7c3}",
    ".x{background:transparent;border:0;color:inherit;cursor:pointer;padding:4px;border-radius:8px;opacity:.85}",
    ".x:hover{opacity:1;background:rgba(255,255,255,.15)}",
    ".x svg{width:20px;height:20px;stroke:currentColor;stroke-width:2;fill:none;stroke-linecap:round}",
    ".log{flex:1;overflow-y:auto;padding:16px 14px 8px;background:#f7f8fa;display:flex;flex-direction:column;gap:4px}",
    ".m{max-width:82%;display:flex;flex-direction:column}",
    ".m.v{align-self:flex-end;align-items:flex-end}",
    ".m.v+.m.a,.m.a+.m.v{margin-top:10px}",
    ".m.a{align-self:flex-start;align-items:flex-start}",
    ".who{font-size:12px;color:#6b7280;margin:8px 0 2px 4px}",
    ".b{padding:8px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}",
    ".v .b{background:var(--a);color:var(--on);border-bottom-right-radius:4px}",
    ".a .b{background:#fff;border:1px solid #e6e8ec;border-bottom-left-radius:4px}",
    ".g .b{background:#fff;border:1px solid #e6e8ec}",
    ".meta{font-size:11px;color:#8a919e;margin:2px 6px 6px}",
    ".m.p .b{opacity:.7}",
    ".m.f .meta{color:#d93036}",
    ".typing{font-size:12px;color:#6b7280;padding:0 18px 6px;min-height:18px;background:#f7f8fa}",
    ".net{font-size:12px;color:#8a5a00;background:#fff6e0;padding:5px 14px;display:none}",
    ".net.on{display:block}",
    ".foot{display:flex;align-items:flex-end;gap:8px;padding:10px 10px 10px 14px;border-top:1px solid #eceef2;background:#fff}",
    "textarea,input{font:inherit;color:inherit}",
    ".foot textarea{flex:1;resize:none;border:0;outline:0;max-height:120px;min-height:22px;padding:8px 0;background:transparent}",
    ".foot textarea:focus-visible{outline:0}",
    ".foot:focus-within{border-top-color:var(--a)}",
    ".send{width:38px;height:38px;border-radius:10px;border:0;background:var(--a);color:var(--on);cursor:pointer;display:flex;align-items:center;justify-content:center;flex:none}",
    ".send:disabled{opacity:.4;cursor:default}",
    ".send svg{width:18px;height:18px;fill:currentColor}",
    ".clip{background:none;border:0;color:#8a919e;cursor:pointer;padding:8px 2px}",
    ".clip svg{width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round}",
    ".fl{display:flex;flex-direction:column;gap:4px;margin-top:4px}.fl a{color:inherit;font-size:13px}",
    ".fl img{max-width:200px;max-height:160px;border-radius:8px;display:block}",
    "button:focus-visible,textarea:focus-visible,input:focus-visible{outline:2px solid var(--a);outline-offset:2px}",
    ".form{padding:18px;display:flex;flex-direction:column;gap:10px;overflow-y:auto;flex:1;background:#fff}",
    ".form p{margin:0 0 4px;color:#4b5563}",
    ".form label{font-size:12.5px;color:#4b5563;display:flex;flex-direction:column;gap:4px}",
    ".form input,.form textarea{border:1px solid #d9dde3;border-radius:10px;padding:9px 11px;outline:0;background:#fff}",
    ".form input:focus,.form textarea:focus{border-color:var(--a)}",
    ".form textarea{min-height:96px;resize:vertical}",
    ".go{border:0;border-radius:10px;padding:10px 14px;background:var(--a);color:var(--on);font:inherit;font-weight:600;cursor:pointer}",
    ".err{color:#d93036;font-size:12.5px;min-height:1em}",
    ".brand{font-size:11px;color:#a0a6b1;text-align:center;padding:0 0 8px;background:#fff}",
    "@media (max-width:480px){.w{right:12px;bottom:12px}.panel{width:calc(100vw - 24px);height:calc(100vh - 96px)}}"
  ].join("\n");

  // -- state ---------------------------------------------------------------------------------------------
  var config = null, t = {}, ws = null, ready = false, retries = 0, retryTimer = null, pingTimer = null;
  var shown = {}, byCid = {}, unread = 0, unseen = [], agentName = null, typingTimer = null, typedAt = 0;
  var ui = {};

  function build() {
    var host = el("div");
    host.setAttribute("data-okno-widget", account);
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      root.appendChild(el("style", null, CSS));
    }
    var w = ui.w = el("div", "w");
    w.style.setProperty("--a", config.color);
    w.style.setProperty("--on", contrast(config.color));
    var panel = ui.panel = el("div", "panel");
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", config.title);
    var head = el("div", "head"), tt = el("div", "t");
    tt.appendChild(el("div", "title", config.title));
    ui.sub = el("div", "sub");
    tt.appendChild(ui.sub);
    head.appendChild(tt);
    var x = el("button", "x");
    x.type = "button";
    x.setAttribute("aria-label", t.close);
    x.appendChild(svg(ICON_CLOSE));
    x.onclick = function () { toggle(false); };
    head.appendChild(x);
    panel.appendChild(head);
    ui.net = el("div", "net", t.connecting);
    panel.appendChild(ui.net);
    ui.body = el("div");
    ui.body.style.cssText = "display:flex;flex-direction:column;flex:1;min-height:0";
    panel.appendChild(ui.body);
    panel.appendChild(el("div", "brand", t.powered));
    var launch = ui.launch = el("button", "launch");
    launch.type = "button";
    launch.setAttribute("aria-label", t.open);
    launch.setAttribute("aria-expanded", "false");
    launch.setAttribute("aria-haspopup", "dialog");
    var chatIcon = svg(ICON_CHAT), closeIcon = svg(ICON_CLOSE);
    chatIcon.setAttribute("class", "ci");
    closeIcon.setAttribute("class", "xi");
    launch.appendChild(chatIcon);
    launch.appendChild(closeIcon);
    ui.badge = el("span", "badge");
    ui.badge.style.display = "none";
    launch.appendChild(ui.badge);
    launch.onclick = function () { toggle(!w.classList.contains("open")); };
    w.appendChild(panel);
    w.appendChild(launch);
    w.addEventListener("keydown", function (e) { if (e.key === "Escape") toggle(false); });
    root.appendChild(w);
    document.body.appendChild(host);
    header();
    if (!config.online && !state.token) offlineForm();
    else if (config.prechat && !state.profile) prechatForm();
    else chat();
  }

  function header() {
    ui.sub.replaceChildren();
    var dot = el("span", "dot" + (config.online ? "" : " off"));
    ui.sub.appendChild(dot);
    ui.sub.appendChild(el("span", null, agentName ? t.answers + agentName : (config.online ? t.usually : t.offline)));
  }

  function toggle(open) {
    ui.w.classList.toggle("open", open);
    ui.launch.setAttribute("aria-expanded", String(open));
    state.open = open;
    save();
    if (open) {
      unread = 0;
      badge();
      markSeen();
      if (ui.log) connect();  // the forms need no socket
      var focus = ui.body.querySelector("textarea,input");
      if (focus) focus.focus();
      scroll();
    } else {
      ui.launch.focus();
    }
  }

  function badge() {
    ui.badge.textContent = String(unread);
    ui.badge.style.display = unread ? "" : "none";
  }

  // -- the chat view ---------------------------------------------------------------------------------------
  function chat() {
    ui.body.replaceChildren();
    ui.log = el("div", "log");
    ui.log.setAttribute("role", "log");
    ui.log.setAttribute("aria-live", "polite");
    if (config.greeting) {
      var g = el("div", "m a g");
      g.appendChild(el("div", "b", config.greeting));
      ui.log.appendChild(g);
    }
    ui.typing = el("div", "typing");
    var foot = el("div", "foot");
    var box = ui.box = el("textarea");
    box.rows = 1;
    box.placeholder = t.placeholder;
    box.setAttribute("aria-label", t.placeholder);
    box.maxLength = config.max_message_chars;
    var send = ui.send = el("button", "send");
    send.type = "button";
    send.setAttribute("aria-label", t.send);
    send.appendChild(svg(ICON_SEND));
    send.disabled = true;
    box.addEventListener("input", function () {
      box.style.height = "auto";
      box.style.height = Math.min(box.scrollHeight, 120) + "px";
      send.disabled = !box.value.trim();
      typing(!!box.value.trim());
    });
    box.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    });
    send.onclick = submit;
    var pick = null;
    if (config.max_file_bytes) {  // files: only where the hub takes them
      var clip = el("button", "clip");
      pick = el("input");
      pick.type = "file";
      pick.hidden = true;
      pick.accept = "image/*,.pdf,.doc,.docx,.xls,.xlsx,.ppt,.pptx,.odt,.ods,.odp,.txt";
      pick.onchange = function () { if (pick.files[0]) upload(pick.files[0]); pick.value = ""; };
      clip.type = "button";
      clip.setAttribute("aria-label", t.attach);
      clip.appendChild(svg(ICON_CLIP));
      clip.onclick = function () { pick.click(); };
      foot.appendChild(clip);
    }
    foot.appendChild(box);
    foot.appendChild(send);
    if (pick) foot.appendChild(pick);  // after the box: opening the chat focuses the first field
    ui.body.appendChild(ui.log);
    ui.body.appendChild(ui.typing);
    ui.body.appendChild(foot);
    shown = {};
    byCid = {};
    state.pending.forEach(function (p) { render({ cid: p.id, from: "visitor", text: p.text, at: p.at }, "p"); });
  }

  function submit() {
    var text = ui.box.value;
    if (!text.trim()) return;
    if (text.length > config.max_message_chars) { note(t.tooLong); return; }
    var item = { id: newId(), text: text, at: new Date().toISOString() };
    state.pending.push(item);
    save();
    ui.box.value = "";
    ui.box.style.height = "auto";
    ui.send.disabled = true;
    typing(false);
    render({ cid: item.id, from: "visitor", text: text, at: item.at }, "p");
    scroll();
    connect();
    flush();
  }

  function note(text) { ui.typing.textContent = text; }

  // Files picked before the socket's hello gave this visitor a token wait for it (sent then, in order).
  var uploadsWaiting = [];
  function upload(file) {  // sent over HTTP (a socket frame is small); stored like a message, by its id
    if (file.size > config.max_file_bytes) { note(t.tooBig); return; }
    var id = newId();
    render({ cid: id, from: "visitor", text: file.name }, "p");
    scroll();
    if (!ready || !state.token) { uploadsWaiting.push({ id: id, file: file }); return; }
    sendUpload(id, file);
  }
  function sendUpload(id, file) {
    var body = new FormData();
    body.append("token", state.token || "");
    body.append("id", id);
    body.append("page", location.href);
    body.append("file", file);
    fetch(base + "/webchat/" + encodeURIComponent(account) + "/files", { method: "POST", body: body, credentials: "omit" })
      .then(function (r) { return r.json().then(function (d) { if (!r.ok) throw d; return d; }); })
      .then(function (d) { render(d.message, "s"); scroll(); })
      .catch(function (d) {
        var c = d && d.error && d.error.code, n = byCid[id];
        n.classList.add("f");
        n.lastChild.textContent = t.failed + " · " + (c === "payload_too_large" ? t.tooBig : c === "unsupported_media_type" ? t.badFile : t.error);
      });
  }

  function files(node, list) {  // links (and previews of images) fetched with the visitor's own token
    if (!list || !list.length || node.querySelector(".fl")) return;
    var box = el("div", "fl");
    list.forEach(function (f) {
      if (f.id == null) { box.appendChild(el("span", null, f.name)); return; }
      var a = el("a", null, f.name), url = base + "/webchat/" + encodeURIComponent(account) + "/files/" + f.id + "?token=" + encodeURIComponent(state.token || "");
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      if (/^image\//.test(f.type)) { var img = el("img"); img.src = url; img.alt = f.name; a.replaceChildren(img); }
      box.appendChild(a);
    });
    node.querySelector(".b").appendChild(box);
  }

  function render(msg, status) {
    if (!ui.log) return;
    if (msg.id != null && shown[msg.id]) { files(shown[msg.id], msg.files); return; }  // a later copy may bring its files
    var node = msg.cid && byCid[msg.cid];
    if (!node) {
      var last = ui.log.lastElementChild;
      var visitor = msg.from === "visitor";
      node = el("div", "m " + (visitor ? "v" : "a"));
      if (!visitor && !(last && last.getAttribute("data-agent") === (msg.agent || ""))) {
        node.appendChild(el("div", "who", msg.agent || t.agent));
      }
      if (!visitor) node.setAttribute("data-agent", msg.agent || "");
      node.appendChild(el("div", "b", msg.text));
      node.appendChild(el("div", "meta"));
      ui.log.appendChild(node);
      if (msg.cid) byCid[msg.cid] = node;
    }
    files(node, msg.files);
    if (msg.id != null) {
      shown[msg.id] = node;
      node.setAttribute("data-id", String(msg.id));
    }
    node.classList.toggle("p", status === "p");
    node.classList.toggle("f", status === "f");
    var label = msg.from === "visitor" ? (status === "p" ? t.pending : status === "f" ? t.failed : t.sent) : "";
    node.lastChild.textContent = hhmm(msg.at) + (label ? " · " + label : "");
    if (msg.from === "agent" && msg.id != null && !msg.seen) {
      unseen.push(msg.id);
      if (!ui.w.classList.contains("open") || document.hidden) { unread += 1; badge(); }
      markSeen();
    }
  }

  function scroll() { if (ui.log) ui.log.scrollTop = ui.log.scrollHeight; }

  function markSeen() {
    if (!unseen.length || !ready || !ui.w.classList.contains("open")) return;
    send({ type: "seen", ids: unseen.splice(0, 200) });
  }

  function typing(on) {
    var now = Date.now();
    clearTimeout(typingTimer);
    if (on) {
      if (now - typedAt > 2500) { typedAt = now; send({ type: "typing", on: true }); }
      typingTimer = setTimeout(function () { typing(false); }, 4000);
    } else if (typedAt) {
      typedAt = 0;
      send({ type: "typing", on: false });
    }
  }

  // -- forms -----------------------------------------------------------------------------------------------
  function field(form, label, type, name, required) {
    var l = el("label", null, label);
    var input = type === "textarea" ? el("textarea") : el("input");
    if (type !== "textarea") input.type = type;
    input.name = name;
    input.required = !!required;
    l.appendChild(input);
    form.appendChild(l);
    return input;
  }

  function prechatForm() {
    ui.body.replaceChildren();
    var form = el("form", "form");
    form.appendChild(el("p", null, config.greeting || t.prechat));
    var name = field(form, t.name, "text", "name", false);
    var email = field(form, t.email, "email", "email", false);
    var phone = field(form, t.phone, "tel", "phone", false);
    var err = el("div", "err");
    form.appendChild(err);
    var go = el("button", "go", t.start);
    go.type = "submit";
    form.appendChild(go);
    form.onsubmit = function (e) {
      e.preventDefault();
      if (!email.value.trim() && !phone.value.trim()) { err.textContent = t.needContact; return; }
      state.profile = { name: name.value.trim(), email: email.value.trim(), phone: phone.value.trim() };
      save();
      chat();
      connect();
      if (ready) send(profileFrame());
      ui.box.focus();
    };
    ui.body.appendChild(form);
  }

  function offlineForm() {
    ui.body.replaceChildren();
    var form = el("form", "form");
    form.appendChild(el("p", null, t.offlineHint));
    var name = field(form, t.name, "text", "name", false);
    var email = field(form, t.email, "email", "email", true);
    var text = field(form, t.message, "textarea", "text", true);
    var err = el("div", "err");
    form.appendChild(err);
    var go = el("button", "go", t.leave);
    go.type = "submit";
    form.appendChild(go);
    form.onsubmit = function (e) {
      e.preventDefault();
      if (!email.value.trim()) { err.textContent = t.needEmail; return; }
      go.disabled = true;
      var body = { token: state.token || null, id: newId(), name: name.value.trim(), email: email.value.trim(),
                   text: text.value, page: location.href, lang: config.language, identifier: ident.identifier,
                   identifier_hash: ident.identifier_hash };
      fetch(base + "/webchat/" + encodeURIComponent(account) + "/offline", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "omit"
      }).then(function (r) {
        return r.json().then(function (data) { if (!r.ok) throw data; return data; });
      }).then(function (data) {
        state.token = data.token;
        state.profile = { name: body.name, email: body.email };
        save();
        chat();
        note(t.thanks);
        resync();
      }).catch(function (data) {
        go.disabled = false;
        err.textContent = (data && data.error && data.error.field === "email") ? t.needEmail : t.error;
      });
    };
    ui.body.appendChild(form);
  }

  function profileFrame() {
    var p = state.profile || {};
    return { type: "profile", name: p.name || null, email: p.email || null, phone: p.phone || null };
  }

  // -- the socket ------------------------------------------------------------------------------------------
  function send(frame) {
    if (ws && ready && ws.readyState === 1) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function flush() {
    if (!ready) return;
    var now = Date.now();
    state.pending.forEach(function (p) {
      if (p.wait && p.wait > now) return;
      if (p.sentAt && now - p.sentAt < 10000) return;  // in flight: wait for its ack
      p.sentAt = now;
      send({ type: "message", id: p.id, text: p.text });
    });
  }

  function settle(cid) {
    state.pending = state.pending.filter(function (p) { return p.id !== cid; });
    save();
  }

  function connect() {
    if (ws) return;
    if (!navigator.onLine) { later(); return; }
    clearTimeout(retryTimer);
    var fresh = load();
    state.token = fresh.token || state.token;
    var url = base.replace(/^http/, "ws") + "/webchat/" + encodeURIComponent(account) + "/ws";
    var socket = ws = new WebSocket(url);
    socket.onopen = function () {
      socket.send(JSON.stringify(Object.assign({ type: "hello", token: state.token || null, page: location.href }, ident)));
    };
    socket.onmessage = function (e) {
      var f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      on(f);
    };
    socket.onclose = function () {
      if (ws !== socket) return;
      ws = null;
      ready = false;
      clearInterval(pingTimer);
      ui.net.classList.add("on");
      later();
    };
  }

  function resync() {  // a fresh hello: the history again, under the token just stored
    if (ws) { var old = ws; ws = null; ready = false; old.onclose = null; old.close(); }
    connect();
  }

  function later() {
    clearTimeout(retryTimer);
    var delay = Math.min(15000, 700 * Math.pow(2, retries)) * (0.8 + Math.random() * 0.4);
    retries += 1;
    retryTimer = setTimeout(connect, delay);
  }

  function on(f) {
    if (f.type === "hello") {
      ready = true;
      retries = 0;
      ui.net.classList.remove("on");
      state.token = f.token;
      save();
      uploadsWaiting.splice(0).forEach(function (u) { sendUpload(u.id, u.file); });
      agentName = f.agent || null;
      header();
      if (state.profile) send(profileFrame());
      var known = {};
      (f.messages || []).forEach(function (m) {
        if (m.cid) known[m.cid] = true;
        render(m, "s");
      });
      state.pending = state.pending.filter(function (p) { return !known[p.id]; });
      state.pending.forEach(function (p) { p.sentAt = 0; });
      save();
      scroll();
      flush();
      markSeen();
      clearInterval(pingTimer);
      var pongAt = Date.now();
      pingTimer = setInterval(function () {
        if (Date.now() - pongAt > 45000 && ws) { ws.close(); return; }
        send({ type: "ping" });
        flush();
      }, 15000);
      ws.addEventListener("message", function () { pongAt = Date.now(); });
    } else if (f.type === "ack") {
      settle(f.id);
      if (f.message) render(f.message, "s");
      scroll();
    } else if (f.type === "message") {
      if (f.message.cid) settle(f.message.cid);
      render(f.message, "s");
      if (f.message.from === "agent") { agentName = f.message.agent || agentName; header(); note(""); }
      scroll();
    } else if (f.type === "typing") {
      note(f.on ? (f.name || t.agent) + t.typing : "");
    } else if (f.type === "agent") {
      agentName = f.name || null;
      header();
    } else if (f.type === "error" && !f.id) {
      if (f.code === "rate_limited") retries = Math.max(retries, 5);  // new chats from here: back off
      else if (window.console) console.warn("Okno widget: " + f.message);
    } else if (f.type === "error" && f.id) {
      var item = state.pending.filter(function (p) { return p.id === f.id; })[0];
      if ((f.code === "rate_limited" || f.code === "unavailable") && item) {  // sent again after retry_after
        item.wait = Date.now() + (f.retry_after || 5) * 1000;
        item.sentAt = 0;
        setTimeout(flush, (f.retry_after || 5) * 1000 + 50);
      } else if (item) {
        settle(f.id);
        var node = byCid[f.id];
        if (node) { node.classList.add("f"); node.lastChild.textContent = t.failed + (f.code === "too_long" ? " · " + t.tooLong : ""); }
      }
    }
  }

  window.addEventListener("online", function () { retries = 0; if (!ws) connect(); });
  window.addEventListener("storage", function (e) {
    if (e.key !== KEY || !e.newValue) return;
    var other = load();
    if (other.token && other.token !== state.token && ws) { state.token = other.token; ws.close(); }
  });
  document.addEventListener("visibilitychange", markSeen);

  function start() {
    // The hub picks the language (the account's, data-lang, else the browser's) and sends the words in it.
    var lang = script.getAttribute("data-lang");
    var query = lang ? "?lang=" + encodeURIComponent(lang) : "";
    fetch(base + "/webchat/" + encodeURIComponent(account) + "/config" + query, { credentials: "omit" })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (c) {
        config = c;
        t = c.strings;
        build();
        if (state.token || state.pending.length) connect();
        if (state.open) toggle(true);
      })
      .catch(function () { /* no widget on this page: the hub is unreachable or the account unknown */ });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
