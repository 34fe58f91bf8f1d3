/* Okno tasks page: tabs (mine, my team's, overdue, done), done with a result or a callback's outcome,
 * reassign, a new due time, a new task — all through /api/v1/tasks; the list (rendered and escaped by the
 * server, /tasks/parts/list) is fetched again after each action and when a task.* event arrives on the
 * agent socket. No framework, no build step. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("okno-data").textContent);
  var S = data.strings;
  var view = data.view;
  var $ = function (id) { return document.getElementById(id); };
  var listSeq = 0, timer = null;

  var request = window.oknoRequest;
  function say(text) { $("tasks-error").textContent = ""; $("tasks-status").textContent = text; }
  function showError(error) {
    $("tasks-status").textContent = "";
    $("tasks-error").textContent = S.failed_action + ": " + (error.field ? error.field + ": " : "") + error.message;
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function localValue(iso) {  // an ISO time as a datetime-local input shows it, in the browser's zone
    var d = new Date(iso);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function fillDues() {
    document.querySelectorAll("input[data-iso]").forEach(function (input) {
      var iso = input.getAttribute("data-iso");
      if (iso) input.value = localValue(iso);
    });
  }
  function load() {
    var seq = ++listSeq;
    return request("GET", "/tasks/parts/list?view=" + encodeURIComponent(view)).then(function (r) { return r.text(); })
      .then(function (html) {
        if (seq !== listSeq) return;
        var tpl = document.createElement("template");
        tpl.innerHTML = html;  // rendered by the server with every value escaped
        var part = $("tasks-part");
        // Keep the focus on the same control of the same task when the list is swapped.
        var active = document.activeElement, taskOf = active && active.closest && active.closest("[data-task]");
        var keep = taskOf && part.contains(active) ? { task: taskOf.getAttribute("data-task"), cls: active.className, tag: active.tagName } : null;
        part.replaceChildren(tpl.content);
        fillDues();
        if (keep) {
          var again = part.querySelector('li[data-task="' + keep.task + '"] ' + keep.tag.toLowerCase() + (keep.cls ? "." + keep.cls.split(" ")[0] : ""));
          if (again) again.focus();
        }
      }).catch(showError);
  }
  function reloadSoon() { clearTimeout(timer); timer = setTimeout(load, 120); }
  function patch(id, body, done) {
    return request("PATCH", "/api/v1/tasks/" + id, body).then(function () { say(done); return load(); });
  }

  // Tabs: switch without reloading the page (the URL follows, so a reload shows the same tab).
  document.addEventListener("click", function (event) {
    var tab = event.target.closest && event.target.closest(".task-tabs a[data-view]");
    if (!tab || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    view = tab.getAttribute("data-view");
    history.pushState({ view: view }, "", "/tasks?view=" + encodeURIComponent(view));
    load().then(function () {
      var current = document.querySelector('.task-tabs a[data-view="' + view + '"]');
      if (current) current.focus();
    });
  });
  window.addEventListener("popstate", function () {
    view = new URLSearchParams(location.search).get("view") || "mine";
    load();
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches) return;
    var id = Number(form.getAttribute("data-task"));
    if (form.matches("form.task-done-form")) {
      event.preventDefault();
      var note = form.elements.result.value.trim(), outcome = form.querySelector('input[name="outcome"]:checked');
      var result = outcome ? outcome.value + (note ? ": " + note : "") : note;
      patch(id, { status: "done", result: result || null }, S.task_saved).catch(showError);
    } else if (form.matches("form.task-due-form")) {
      event.preventDefault();
      var due = form.elements.due.value;
      patch(id, { due_at: due ? new Date(due).toISOString() : null }, S.task_saved).catch(showError);
    } else if (form.id === "task-new") {
      event.preventDefault();
      var title = form.elements.title.value.trim();
      if (!title) { form.elements.title.focus(); return; }
      var body = { title: title, kind: form.elements.kind.value, assignee_id: Number(form.elements.assignee.value) };
      if (form.elements.due.value) body.due_at = new Date(form.elements.due.value).toISOString();
      request("POST", "/api/v1/tasks", body).then(function () {
        form.reset();
        say(S.task_created);
        return load();
      }).catch(showError);
    }
  });
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!el.matches || !el.matches("select.task-reassign") || !el.value) return;
    patch(Number(el.getAttribute("data-task")), { assignee_id: Number(el.value) }, S.task_saved).catch(function (e) {
      showError(e);
      load();
    });
  });

  // Live: a task created or changed anywhere that reaches me refreshes the list and its counts. The socket
  // reports itself idle at once: this page takes no dialogs.
  var retries = 0;
  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/ws");
    ws.onopen = function () {
      if (retries > 0) reloadSoon();  // changes may have been missed while away
      retries = 0;
      ws.send(JSON.stringify({ type: "idle", idle: true }));
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "resync" || String(frame.type).indexOf("task.") === 0) reloadSoon();
    };
    ws.onclose = function () {
      retries += 1;
      setTimeout(connect, Math.min(15000, 500 * Math.pow(2, retries)));
    };
  }
  fillDues();
  if (window.WebSocket) connect();
})();
