/* Okno templates page: list and search the knowledge base, create, edit with a live preview, delete —
 * all through /api/v1/templates; the list follows changes made elsewhere (template.* events on the agent
 * socket). No framework, no build step. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("okno-data").textContent);
  var S = data.strings;
  var $ = function (id) { return document.getElementById(id); };
  var editing = null, listSeq = 0, previewSeq = 0, searchTimer = null, previewTimer = null;

  function request(method, url, body) {  // the answer's JSON (null for 204)
    return window.oknoRequest(method, url, body).then(function (r) { return r.status === 204 ? null : r.json(); });
  }
  function list() {
    var q = $("kb-q").value.trim(), seq = ++listSeq;
    var url = "/api/v1/templates?limit=500" + (q ? "&q=" + encodeURIComponent(q) : "");
    return request("GET", url).then(function (found) {
      if (seq !== listSeq) return;
      var items = $("kb-items");
      items.replaceChildren();
      found.items.forEach(function (t) {
        var li = document.createElement("li"), button = document.createElement("button"), small = document.createElement("small");
        button.type = "button";
        button.setAttribute("data-id", String(t.id));
        if (editing && editing.id === t.id) button.setAttribute("aria-current", "true");
        button.textContent = t.title;
        small.textContent = [t.key, t.language, S.kb_uses + ": " + t.usage_count, t.personal ? S.kb_personal_badge : ""]
          .filter(Boolean).join(" · ");
        button.appendChild(small);
        button.addEventListener("click", function () { edit(t); });
        li.appendChild(button);
        items.appendChild(li);
      });
      $("kb-empty").hidden = found.items.length > 0;
    }).catch(showError);
  }
  function splitList(value) {
    return value.split(",").map(function (v) { return v.trim(); }).filter(Boolean);
  }
  function edit(t) {
    editing = t;
    $("kb-heading").textContent = t ? t.title : S.kb_new;
    $("kb-title").value = t ? t.title : "";
    $("kb-key").value = t ? t.key : "";
    $("kb-language").value = t ? t.language : "ru";
    $("kb-tags").value = t ? t.tags.join(", ") : "";
    $("kb-channels").value = t ? t.channels.join(", ") : "";
    $("kb-body").value = t ? t.body : "";
    var personal = $("kb-personal");
    personal.checked = t ? t.personal : !data.can_manage;
    personal.disabled = !!t || !data.can_manage;  // a template stays shared or personal
    var mayChange = !t || t.personal || data.can_manage;
    $("kb-save").disabled = !mayChange;
    $("kb-delete").hidden = !t || !mayChange;
    $("kb-error").textContent = "";
    $("kb-status").textContent = "";
    document.querySelectorAll("#kb-items button").forEach(function (b) {
      if (t && b.getAttribute("data-id") === String(t.id)) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    });
    preview();
  }
  function preview() {
    var body = $("kb-body").value, seq = ++previewSeq;
    if (!body.trim()) { $("kb-preview").textContent = ""; return; }
    request("POST", "/api/v1/templates/preview", { body: body }).then(function (shown) {
      if (seq !== previewSeq) return;
      $("kb-preview").textContent = shown.text;
      $("kb-error").textContent = "";
    }).catch(function (error) {
      if (seq !== previewSeq) return;
      $("kb-preview").textContent = "";
      showError(error);
    });
  }
  function showError(error) {
    $("kb-status").textContent = "";
    $("kb-error").textContent = S.failed_action + ": " + (error.field ? error.field + ": " : "") + error.message;
  }
  $("kb-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var fields = {
      title: $("kb-title").value,
      body: $("kb-body").value,
      language: $("kb-language").value,
      tags: splitList($("kb-tags").value),
      channels: splitList($("kb-channels").value),
    };
    var key = $("kb-key").value.trim();
    if (key) fields.key = key;
    var call;
    if (editing) call = request("PATCH", "/api/v1/templates/" + editing.id, fields);
    else {
      fields.personal = $("kb-personal").checked;
      call = request("POST", "/api/v1/templates", fields);
    }
    call.then(function (saved) {
      edit(saved);
      $("kb-status").textContent = S.kb_saved;
      return list();
    }).catch(showError);
  });
  $("kb-delete").addEventListener("click", function () {
    if (!editing || !window.confirm(S.kb_confirm_delete.replace("{title}", editing.title))) return;
    request("DELETE", "/api/v1/templates/" + editing.id).then(function () { edit(null); return list(); }).catch(showError);
  });
  $("kb-new").addEventListener("click", function () { edit(null); $("kb-title").focus(); });
  $("kb-q").addEventListener("input", function () { clearTimeout(searchTimer); searchTimer = setTimeout(list, 120); });
  $("kb-body").addEventListener("input", function () { clearTimeout(previewTimer); previewTimer = setTimeout(preview, 250); });
  // Live: a template created, changed or deleted anywhere (shared ones by anyone, my personal ones by me in
  // another tab) refreshes the list. The socket reports itself idle at once: this page takes no dialogs.
  var retries = 0;
  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/ws");
    ws.onopen = function () {
      if (retries > 0) list();  // changes may have been missed while away
      retries = 0;
      ws.send(JSON.stringify({ type: "idle", idle: true }));
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "resync" || String(frame.type).indexOf("template.") === 0) {
        clearTimeout(searchTimer);
        searchTimer = setTimeout(list, 120);
      }
    };
    ws.onclose = function () {
      retries += 1;
      setTimeout(connect, Math.min(15000, 500 * Math.pow(2, retries)));
    };
  }
  edit(null);
  list();
  if (window.WebSocket) connect();
})();
