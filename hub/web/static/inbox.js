/* Okno agent inbox: live updates over /api/v1/ws, actions through the JSON API, fragments rendered
 * (and escaped) by the server swapped in. No framework, no build step. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("okno-data").textContent);
  var S = data.strings;
  var current = data.conversation;
  var query = data.query;
  var $ = function (id) { return document.getElementById(id); };

  // -- requests ------------------------------------------------------------------------------------------
  var request = window.oknoRequest;
  function fragment(url) {
    return request("GET", url).then(function (r) { return r.text(); }).then(function (html) {
      var tpl = document.createElement("template");
      tpl.innerHTML = html;  // rendered by the server with every value escaped
      return tpl.content;
    });
  }
  function fail(error) {
    var box = $("composer-error");
    if (box) { box.textContent = S.failed_action + ": " + error.message; setTimeout(function () { box.textContent = ""; }, 6000); }
  }

  // -- the list ------------------------------------------------------------------------------------------
  function markCurrent() {
    document.querySelectorAll(".row").forEach(function (row) {
      if (String(row.getAttribute("data-id")) === String(current)) {
        row.setAttribute("aria-current", "true");
        // Open: read (the server marked it when it rendered the conversation).
        row.classList.remove("unread");
        var count = row.querySelector(".unread-count");
        if (count) count.remove();
      } else row.removeAttribute("aria-current");
    });
  }
  var listSeq = 0, convSeq = 0;  // a slow answer to an older request must not overwrite a newer one
  function refreshList() {
    var seq = ++listSeq;
    return fragment("/inbox/parts/list?" + query).then(function (content) {
      if (seq !== listSeq) return;
      // Read when the new list arrives: the focus may have moved to a row meanwhile (j/k, Tab).
      var focused = document.activeElement && document.activeElement.classList.contains("row")
        ? document.activeElement.getAttribute("data-id") : null;
      var scroller = $("rows"), top = scroller ? scroller.scrollTop : 0;
      var list = $("list");
      list.replaceChildren(content);
      var rows = $("rows");
      rows.scrollTop = top;
      var counts = JSON.parse(rows.getAttribute("data-counts") || "{}");
      Object.keys(counts).forEach(function (key) {
        var badge = document.querySelector('[data-count="' + key + '"]');
        if (badge) badge.textContent = String(counts[key]);
      });
      markCurrent();
      if (focused) {
        var again = document.querySelector('.row[data-id="' + focused + '"]');
        if (again) again.focus();
      }
    }).catch(function () { /* the next event or reconnect refreshes again */ });
  }

  // -- the conversation ----------------------------------------------------------------------------------
  function fieldKey(field) {
    var form = field.form;
    return (form ? form.className : "") + "|" + field.name;
  }
  function initialValue(field) {  // what the server rendered into a field (a select: its selected option)
    if (field.tagName !== "SELECT") return field.defaultValue;
    var chosen = Array.prototype.find.call(field.options, function (o) { return o.defaultSelected; }) || field.options[0];
    return chosen ? chosen.value : "";
  }
  function typedFields() {
    var values = {}, focused = null;
    ["part-head", "part-card"].forEach(function (part) {
      var root = $(part);
      if (!root) return;
      root.querySelectorAll("form input[name], form textarea[name], form select[name]").forEach(function (field) {
        if (field.type === "hidden" || field.type === "checkbox" || field.type === "radio") return;
        if (field.value !== initialValue(field)) values[fieldKey(field)] = field.value;
        if (field === document.activeElement) {
          focused = { key: fieldKey(field), start: field.selectionStart, end: field.selectionEnd };
        }
      });
    });
    // A focused button of the card or head (Edit, "+ field", a remove button…): a key pressed on it while
    // the part is re-rendered must reach its twin in the new part, not the page's body.
    var active = document.activeElement, button = null;
    if (!focused && active && active.closest && active.closest("#part-head, #part-card") && active.getAttribute("data-card")) {
      var twins = document.querySelectorAll('#part-head [data-card="' + active.getAttribute("data-card") + '"], #part-card [data-card="' + active.getAttribute("data-card") + '"]');
      button = { card: active.getAttribute("data-card"), index: Array.prototype.indexOf.call(twins, active) };
    }
    // What the server said about a refused save (the message under a form, the field it marked): the agent
    // is still correcting it, and an event's re-render must not take it away.
    var errors = {}, invalid = {};
    ["part-head", "part-card"].forEach(function (part) {
      var root = $(part);
      if (!root) return;
      root.querySelectorAll("form .error-text, form .id-error").forEach(function (box) {
        if (box.textContent) errors[errorKey(box)] = box.textContent;
      });
      root.querySelectorAll("form [aria-invalid=true]").forEach(function (field) { invalid[fieldKey(field)] = true; });
    });
    return { values: values, focused: focused, button: button, errors: errors, invalid: invalid };
  }
  function errorKey(box) { return (box.closest("form") || {}).className + "|" + box.className; }
  function restoreTyped(typed) {
    ["part-head", "part-card"].forEach(function (part) {
      var root = $(part);
      if (!root) return;
      root.querySelectorAll("form .error-text, form .id-error").forEach(function (box) {
        var said = typed.errors[errorKey(box)];
        if (said && !box.textContent) box.textContent = said;
      });
    });
    if (typed.button) {
      var twin = document.querySelectorAll('#part-head [data-card="' + typed.button.card + '"], #part-card [data-card="' + typed.button.card + '"]')[typed.button.index];
      if (twin) twin.focus();
    }
    ["part-head", "part-card"].forEach(function (part) {
      var root = $(part);
      if (!root) return;
      root.querySelectorAll("form input[name], form textarea[name], form select[name]").forEach(function (field) {
        var key = fieldKey(field);
        if (Object.prototype.hasOwnProperty.call(typed.values, key)) field.value = typed.values[key];
        if (typed.invalid[key]) field.setAttribute("aria-invalid", "true");
        if (typed.focused && typed.focused.key === key) {
          field.focus();
          try { field.setSelectionRange(typed.focused.start, typed.focused.end); } catch (e) { /* not a text field */ }
        }
      });
    });
  }
  function atBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 60; }
  // The conversation the agent is going to (a click, j/k, back) while its part loads. A refresh of the one
  // still shown (an event, an action) must not supersede it: the agent's click would be lost.
  var navigating = null;
  function refreshConversation() {
    if (navigating !== null || !current) return Promise.resolve();
    return showConversation(current, false);
  }
  function showConversation(id, push) {
    var scroller = $("part-timeline");
    var keep = id === current && !atBottom(scroller) ? scroller.scrollTop : null;
    var seq = ++convSeq;
    navigating = id !== current ? id : null;
    return fragment("/inbox/parts/conversation/" + id).then(function (content) {
      if (seq !== convSeq) return;
      navigating = null;
      // A refresh of the same conversation (an event, an action) must not wipe what the agent is typing
      // into a form of the head or the card (a task's title, due time, assignee): carry them and focus over.
      var typed = id === current ? typedFields() : null;
      ["head", "timeline", "card"].forEach(function (name) {
        var part = content.querySelector('[data-part="' + name + '"]');
        var target = $("part-" + name);
        if (part && target) target.replaceChildren.apply(target, Array.prototype.slice.call(part.childNodes));
      });
      if (typed) { reviveCard(); restoreTyped(typed); hideRemovedRows(); }
      else cardState = null;
      var changed = id !== current;
      current = id;
      $("composer").hidden = false;
      if (push) history.pushState({ id: id }, "", "/inbox/" + id + "?" + query);
      if (changed) { $("task-status").textContent = ""; $("reply").value = ""; templateId = null; closeSlash(); setMode("reply"); showTyping(false); clearFiles(); }
      if (changed || !suggestions.childNodes.length) loadSuggestions();
      offerFiles();
      offerReply();
      scroller.scrollTop = keep === null ? scroller.scrollHeight : keep;
      cardOpen(document.body.classList.contains("card-open"));  // the new head's button says so too
      markCurrent();
    }).catch(function (error) {
      if (seq === convSeq) navigating = null;
      if (String(error.message).indexOf("40") === 0 || /cannot see|not found/.test(error.message)) {
        location.href = "/inbox?" + query;
      }
    });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-open]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    showConversation(Number(link.getAttribute("data-open")), true).then(function () { $("reply").focus(); });
  });
  window.addEventListener("popstate", function () {
    var match = /^\/inbox\/(\d+)/.exec(location.pathname);
    if (match) showConversation(Number(match[1]), false);
    else location.reload();
  });

  // -- actions -------------------------------------------------------------------------------------------
  function afterChange() { return Promise.all([refreshConversation(), refreshList()]); }
  function snoozeUntil(choice) {
    var d = new Date();
    if (choice === "1h") d = new Date(d.getTime() + 3600e3);
    else if (choice === "4h") d = new Date(d.getTime() + 4 * 3600e3);
    else if (choice === "week") d = new Date(d.getTime() + 7 * 86400e3);
    else { d.setDate(d.getDate() + 1); d.setHours(9, 0, 0, 0); }
    return d.toISOString();
  }
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.closest && el.closest("#filters")) { el.form.submit(); return; }
    if (el.id === "timezone") {
      saveZone(el.value).catch(fail);
      return;
    }
    if (el.id === "availability") {
      var before = el.getAttribute("data-status");
      request("PUT", "/api/v1/me/availability", { status: el.value })
        .then(function () { el.setAttribute("data-status", el.value); })
        .catch(function (e) { el.value = before; fail(e); });
      return;
    }
    var action = el.getAttribute && el.getAttribute("data-action");
    if (!action || !current) return;
    var url = "/api/v1/conversations/" + current;
    var value = el.value ? Number(el.value) : null;
    var call;
    if (action === "assign") call = request("POST", url + "/assign", { assignee_id: value });
    else if (action === "team") call = request("POST", url + "/assign", { team_id: value });
    else if (action === "snooze" && el.value) call = request("POST", url + "/status", { status: "snoozed", snoozed_until: snoozeUntil(el.value) });
    if (call) call.then(afterChange).catch(function (e) { fail(e); afterChange(); });
  });
  document.addEventListener("click", function (event) {
    var el = event.target.closest && event.target.closest("button[data-action]");
    if (!el) return;
    var action = el.getAttribute("data-action");
    var call;
    if (action === "take" && current) {
      call = request("POST", "/api/v1/conversations/" + current + "/take");
    } else if (action === "status" && current) {
      call = request("POST", "/api/v1/conversations/" + current + "/status", { status: el.getAttribute("data-status") });
    } else if (action === "merge") {
      call = request("POST", "/api/v1/contacts/" + el.getAttribute("data-contact") + "/merge", { merge_id: Number(el.getAttribute("data-merge")) });
    } else if (action === "retry") {
      call = request("POST", "/api/v1/messages/" + el.getAttribute("data-message") + "/retry");
    } else if (action === "callback" && current) {
      call = request("POST", "/api/v1/tasks", {
        kind: "callback", title: el.getAttribute("data-title"), assignee_id: data.agent_id,
        contact_id: Number(el.getAttribute("data-contact")), conversation_id: current
      }).then(function () { taskDone(S.callback_created); });
    } else if (action === "dismiss") {
      call = request("POST", "/api/v1/contacts/duplicates/" + el.getAttribute("data-duplicate") + "/dismiss");
    }
    if (call) { el.disabled = true; call.then(afterChange).catch(function (e) { el.disabled = false; fail(e); }); }
  });

  // -- time zone: times are rendered in the agent's zone; unset, it is taken from the browser ------------
  function saveZone(zone) {
    var shown = data.zone;  // the zone the page's times were rendered in
    return request("PUT", "/api/v1/me/timezone", { timezone: zone }).then(function () {
      var select = $("timezone");
      if (select && select.value !== zone) {
        if (!Array.prototype.some.call(select.options, function (o) { return o.value === zone; })) {
          var option = document.createElement("option");
          option.value = zone;
          option.textContent = zone;
          select.insertBefore(option, select.firstChild);
        }
        select.value = zone;
      }
      data.timezone = data.zone = zone;
      if (zone === shown) return undefined;
      return current ? afterChange() : refreshList();  // re-rendered by the server in the new zone
    });
  }
  function zoneFromBrowser() {
    if (data.timezone) return;
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    if (zone) saveZone(zone).catch(function () { /* a zone the server does not know: keep the hub's */ });
  }

  // -- the client card in a narrow window: folded into a panel the head's "Client card" button opens ---------
  function cardOpen(on) {
    document.body.classList.toggle("card-open", on);
    document.querySelectorAll("[data-card-toggle]").forEach(function (b) { b.setAttribute("aria-expanded", String(on)); });
  }
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest("[data-card-toggle]");
    if (!toggle) return;
    var on = !document.body.classList.contains("card-open");
    cardOpen(on);
    if (on) { var card = $("part-card"); card.setAttribute("tabindex", "-1"); card.focus(); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !document.body.classList.contains("card-open")) return;
    cardOpen(false);
    var toggle = document.querySelector("[data-card-toggle]");
    if (toggle) toggle.focus();
  });

  // The header's count of my open tasks (the tasks page's "mine" tab) follows task events.
  var countSeq = 0;
  function countMyTasks() {
    var badge = $("my-tasks"), seq = ++countSeq;
    if (!badge) return;
    request("GET", "/api/v1/tasks?view=mine&limit=500").then(function (r) { return r.json(); }).then(function (found) {
      if (seq === countSeq) badge.textContent = String(found.items.length);
    }).catch(function () { /* the next event counts again */ });
  }
  function taskDone(text) {
    var status = $("task-status");
    if (status) status.textContent = text;
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form.task-form") || !current) return;
    event.preventDefault();
    var title = form.elements.title.value.trim();
    if (!title) { form.elements.title.focus(); return; }
    var button = form.querySelector("button");
    button.disabled = true;
    var body = {
      title: title, contact_id: Number(form.getAttribute("data-contact")), conversation_id: current, assignee_id: data.agent_id
    };
    var due = form.elements.due, assignee = form.elements.assignee;
    if (assignee && assignee.value) body.assignee_id = Number(assignee.value);
    if (due && due.value) body.due_at = new Date(due.value).toISOString();  // the browser's local time
    request("POST", "/api/v1/tasks", body).then(function () { form.reset(); taskDone(S.task_created); return afterChange(); })
      .catch(function (e) { button.disabled = false; fail(e); });
  });
  // A task on the card done with its result; a callback's outcome goes first ("no_answer: note").
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form.task-done-form")) return;
    event.preventDefault();
    var note = form.elements.result.value.trim(), outcome = form.querySelector('input[name="outcome"]:checked');
    var result = outcome ? outcome.value + (note ? ": " + note : "") : note;
    var button = form.querySelector("button");
    button.disabled = true;
    request("PATCH", "/api/v1/tasks/" + Number(form.getAttribute("data-task")), { status: "done", result: result || null })
      .then(function () { taskDone(S.task_closed); return afterChange(); })
      .catch(function (e) { button.disabled = false; fail(e); });
  });

  // -- the client card: edit mode, identities, "Merge with…" ---------------------------------------------
  // The card part is re-rendered on events: what the agent has open (edit mode, added custom-field rows,
  // the merge box) lives here and is put back; typed values come back through typedFields/restoreTyped.
  var cardState = null;  // {contact, editing, extra, merge: {q} | {other}}
  function cardRoot() { return document.querySelector("#part-card .card-inner"); }
  function cardId() { var root = cardRoot(); return root ? Number(root.getAttribute("data-contact")) : null; }
  function state() {
    var id = cardId();
    if (!cardState || cardState.contact !== id) cardState = { contact: id, editing: false, extra: 0, merge: null };
    return cardState;
  }
  function setEditing(on) {
    var root = cardRoot();
    if (!root) return;
    var form = root.querySelector("form.card-edit"), open = root.querySelector('[data-card="edit"]');
    form.hidden = !on;
    open.setAttribute("aria-expanded", String(on));
    state().editing = on;
  }
  function addFieldRow(focus) {
    var root = cardRoot();
    var add = root.querySelector('[data-card="cf-add"]'), rows = root.querySelector(".cf-rows");
    var n = Number(add.getAttribute("data-first")) + rows.querySelectorAll(".cf-row.extra").length;
    var row = document.createElement("div");
    row.className = "cf-row extra";
    [["cf_key_", S.card_field_name, 100], ["cf_value_", S.card_field_value, 2000]].forEach(function (spec) {
      var input = document.createElement("input");
      input.name = spec[0] + n;
      input.maxLength = spec[2];
      input.setAttribute("aria-label", spec[1]);
      row.appendChild(input);
    });
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "ghost sm";
    remove.setAttribute("data-card", "cf-remove");
    remove.setAttribute("aria-label", S.card_field_remove);
    remove.textContent = "×";
    row.appendChild(remove);
    rows.appendChild(row);
    if (focus) row.querySelector("input").focus();
    return row;
  }
  function reviveCard() {
    if (!cardState || cardState.contact !== cardId()) { cardState = null; return; }
    var kept = cardState;
    if (kept.editing) setEditing(true);
    for (var i = 0; i < kept.extra; i++) addFieldRow(false);
    if (kept.merge) loadMerge(kept.merge);
  }
  function hideRemovedRows() {
    var root = cardRoot();
    if (!root) return;
    root.querySelectorAll(".cf-row").forEach(function (row) {
      var key = row.querySelector('input[name^="cf_key_"]');
      if (key && key.defaultValue && !key.value) row.hidden = true;
    });
  }
  function cardError(form, error) {
    form.querySelectorAll("[aria-invalid]").forEach(function (f) { f.removeAttribute("aria-invalid"); });
    var box = form.querySelector(".error-text");
    if (!error) { box.textContent = ""; return; }
    var name = error.field ? String(error.field).split(".")[0] : "";
    var target = name === "custom_fields" ? form.querySelector('input[name^="cf_key_"]') : (name && form.elements[name]);
    if (target && target.setAttribute) { target.setAttribute("aria-invalid", "true"); target.focus(); }
    box.textContent = error.message;
  }
  function readCard(form) {
    // Only what changed is sent, so the audit row says what the agent did.
    var changes = {}, el = form.elements;
    ["name", "company"].forEach(function (name) {
      if (el[name].value !== el[name].defaultValue) changes[name] = el[name].value.trim() || null;
    });
    if (el.kind.value !== initialValue(el.kind)) changes.kind = el.kind.value;
    if (el.owner_id.value !== initialValue(el.owner_id)) changes.owner_id = el.owner_id.value ? Number(el.owner_id.value) : null;
    if (el.tags.value !== el.tags.defaultValue) {
      changes.tags = el.tags.value.split(",").map(function (t) { return t.trim(); }).filter(Boolean);
    }
    var fields = {}, touched = false;
    form.querySelectorAll(".cf-row").forEach(function (row) {
      var key = row.querySelector('input[name^="cf_key_"]'), value = row.querySelector('input[name^="cf_value_"]');
      if (row.hidden || row.classList.contains("extra") || key.value !== key.defaultValue || value.value !== value.defaultValue) touched = true;
      if (row.hidden || !key.value.trim()) return;
      var original = row.getAttribute("data-original");
      // A value left as it was keeps its stored type (a number stays a number).
      fields[key.value.trim()] = original !== null && value.value === value.defaultValue ? JSON.parse(original) : value.value;
    });
    if (touched) changes.custom_fields = fields;
    return changes;
  }
  // Only the newest merge request fills the box: a refresh re-asks for what the box showed, and under load
  // that older answer could land after the agent's new search and put the old hits back.
  var mergeSeq = 0;
  function loadMerge(what) {
    var root = cardRoot(), id = cardId();
    if (!root || !root.querySelector(".merge-box")) return Promise.resolve();
    state().merge = what;
    var seq = ++mergeSeq;
    var url = "/inbox/parts/merge?contact=" + id + (what.other ? "&other=" + what.other : "&q=" + encodeURIComponent(what.q));
    return fragment(url).then(function (content) {
      var box = cardRoot() && cardRoot().querySelector(".merge-box");
      if (!box || cardId() !== id || seq !== mergeSeq) return;
      box.replaceChildren(content);
      var first = what.other ? box.querySelector('[data-card="merge-confirm"]') : null;
      if (first && what.focus) first.focus();
    }).catch(fail);
  }
  document.addEventListener("click", function (event) {
    var el = event.target.closest && event.target.closest("#part-card [data-card]");
    if (!el) return;
    var what = el.getAttribute("data-card"), form = el.closest("form");
    if (what === "edit") {
      var on = cardRoot().querySelector("form.card-edit").hidden;
      setEditing(on);
      if (on) { var name = cardRoot().querySelector("#ce-name"); name.focus(); name.setSelectionRange(name.value.length, name.value.length); }
    } else if (what === "cancel") {
      form.reset();
      form.querySelectorAll(".cf-row.extra").forEach(function (row) { row.remove(); });
      form.querySelectorAll(".cf-row").forEach(function (row) { row.hidden = false; });
      state().extra = 0;
      cardError(form, null);
      setEditing(false);
      cardRoot().querySelector('[data-card="edit"]').focus();
    } else if (what === "cf-add") {
      addFieldRow(true);
      state().extra += 1;
    } else if (what === "cf-remove") {
      var row = el.closest(".cf-row"), next = row.nextElementSibling || form.querySelector('[data-card="cf-add"]');
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      row.hidden = true;
      (next.querySelector ? (next.querySelector("input") || next) : next).focus();
    } else if (what === "id-remove") {
      var value = el.closest("li").querySelector(".id-value").textContent;
      if (!window.confirm(S.card_confirm_remove.replace("{value}", value))) return;
      var box = cardRoot().querySelector(".id-error");
      el.disabled = true;
      request("DELETE", "/api/v1/contacts/" + cardId() + "/identities/" + el.getAttribute("data-identity"))
        .then(afterChange)
        .catch(function (e) { el.disabled = false; box.textContent = e.message; });
    } else if (what === "merge-pick") {
      loadMerge({ other: Number(el.getAttribute("data-other")), focus: true });
    } else if (what === "merge-cancel") {
      state().merge = null;
      mergeSeq++;  // an answer still on its way must not reopen the box
      cardRoot().querySelector(".merge-box").replaceChildren();
      cardRoot().querySelector("#merge-q").focus();
    } else if (what === "merge-confirm") {
      el.disabled = true;
      request("POST", "/api/v1/contacts/" + cardId() + "/merge", { merge_id: Number(el.getAttribute("data-merge")) })
        .then(function () { state().merge = null; var q = cardRoot().querySelector("#merge-q"); if (q) q.value = ""; return afterChange(); })
        .catch(function (e) { el.disabled = false; fail(e); var box = cardRoot().querySelector(".merge-box"); if (box) { var p = document.createElement("p"); p.className = "error-text"; p.setAttribute("role", "alert"); p.textContent = e.message; box.appendChild(p); } });
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.closest || !form.closest("#part-card")) return;
    if (form.matches("form.card-edit")) {
      event.preventDefault();
      var changes = readCard(form), button = form.querySelector('button[type="submit"]');
      if (!Object.keys(changes).length) { setEditing(false); return; }
      button.disabled = true;
      request("PATCH", "/api/v1/contacts/" + cardId(), changes)
        .then(function () {
          // Saved: the form goes back to what the server will render, closed.
          form.reset();
          form.querySelectorAll(".cf-row.extra").forEach(function (row) { row.remove(); });
          cardError(form, null);
          setEditing(false);
          cardState = null;
          return afterChange();
        })
        .catch(function (e) { button.disabled = false; cardError(form, e); });
    } else if (form.matches("form.id-add")) {
      event.preventDefault();
      var input = form.elements.value, kind = form.elements.kind.value;
      if (!input.value.trim()) { input.focus(); return; }
      var add = form.querySelector("button");
      add.disabled = true;
      request("POST", "/api/v1/contacts/" + cardId() + "/identities", { kind: kind, value: input.value })
        .then(function () { input.value = ""; cardError(form, null); return afterChange(); })
        .catch(function (e) {
          add.disabled = false;
          cardError(form, e);
          // Held by another card: never shared. Offer the merge: the box searches for it (and finds the
          // card only if this agent may see it).
          var q = cardRoot().querySelector("#merge-q");
          if (e.code === "identity_taken" && q) { q.value = input.value.trim(); loadMerge({ q: q.value }); }
        });
    } else if (form.matches("form.merge-find")) {
      event.preventDefault();
      var words = form.elements.q.value.trim();
      if (!words) { form.elements.q.focus(); return; }
      loadMerge({ q: words });
    }
  });

  // -- the composer --------------------------------------------------------------------------------------
  var composer = $("composer"), box = $("reply"), typedAt = 0, typingFor = null;
  function canReply() { var h = head(); return !h || h.getAttribute("data-text") !== "0"; }
  function offerReply() {
    // A channel that cannot carry a reply (a phone line): no reply tab, notes only; the head offers
    // "Call back" and "Create task" instead.
    var tab = composer.querySelector('.tabs button[data-mode="reply"]');
    if (tab) tab.hidden = !canReply();
    if (!canReply() && composer.getAttribute("data-mode") === "reply") setMode("note");
  }
  function setMode(mode) {
    if (mode === "reply" && !canReply()) mode = "note";
    composer.setAttribute("data-mode", mode);
    composer.querySelectorAll("[data-mode]").forEach(function (tab) {
      if (tab.tagName === "BUTTON") tab.setAttribute("aria-selected", String(tab.getAttribute("data-mode") === mode));
    });
    box.placeholder = mode === "note" ? S.note_placeholder : S.reply_placeholder;
    $("send").textContent = mode === "note" ? S.add_note : S.send;
  }
  composer.addEventListener("click", function (event) {
    var tab = event.target.closest("button[data-mode]");
    if (tab) { setMode(tab.getAttribute("data-mode")); box.focus(); }
  });
  // Files are offered only where the channel carries them (the head says so: data-attachments).
  var attach = $("attach");
  function head() { return document.querySelector(".conv-head"); }
  function offerFiles() {
    var h = head(), on = !!h && h.getAttribute("data-attachments") === "1";
    $("attach-wrap").hidden = !on;
    if (!on) clearFiles();
  }
  function clearFiles() { attach.value = ""; $("attach-names").textContent = ""; }
  attach.addEventListener("change", function () {
    var n = attach.files.length;
    $("attach-names").textContent = n ? S.attach_count.replace("{n}", String(n)) : "";
  });
  function readFiles() {
    var h = head(), max = h ? Number(h.getAttribute("data-max-file")) : 0;
    var files = composer.getAttribute("data-mode") === "reply" && !$("attach-wrap").hidden ? Array.prototype.slice.call(attach.files) : [];
    return Promise.all(files.map(function (file) {
      if (max && file.size > max) return Promise.reject(new Error(S.attach_too_large.replace("{name}", file.name)));
      return new Promise(function (resolve, reject) {
        var reader = new FileReader();
        reader.onload = function () {
          var url = String(reader.result);
          resolve({ filename: file.name, content_type: file.type || "application/octet-stream", content_base64: url.slice(url.indexOf(",") + 1) });
        };
        reader.onerror = function () { reject(reader.error); };
        reader.readAsDataURL(file);
      });
    }));
  }
  function agentTyping(on) {
    var h = head();
    if (!current || !h || h.getAttribute("data-typing") !== "1") return;
    var now = Date.now();
    if (on && now - typedAt < 3000) return;
    if (!on && !typedAt) return;
    typedAt = on ? now : 0;
    typingFor = current;
    request("POST", "/webchat/conversations/" + current + "/typing", { on: on }).catch(function () {});
  }
  box.addEventListener("input", function () {
    if (composer.getAttribute("data-mode") === "reply") agentTyping(!!box.value.trim());
    if (!box.value.trim()) templateId = null;
    clearTimeout(slashTimer);
    slashTimer = setTimeout(slashSearch, 120);
  });
  box.addEventListener("keydown", function (event) {
    if (!slash.hidden && event.key === "Escape") { event.preventDefault(); closeSlash(); return; }
    if (!slash.hidden && event.key === "Enter" && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      var first = slash.querySelector("button[data-template]");
      if (first) { event.preventDefault(); insertTemplate(Number(first.getAttribute("data-template")), true); return; }
    }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); submit(); }
  });
  composer.addEventListener("submit", function (event) { event.preventDefault(); submit(); });
  function submit() {
    var text = box.value;
    if (!text.trim() || !current) return;
    var note = composer.getAttribute("data-mode") === "note";
    var send = $("send");
    send.disabled = true;
    readFiles()
      .then(function (files) {
        var body = files.length ? { text: text, attachments: files } : { text: text };
        if (!note && templateId) body.template_id = templateId;  // which template the reply came from
        return request("POST", "/api/v1/conversations/" + current + (note ? "/notes" : "/replies"), body);
      })
      .then(function () {
        box.value = "";
        templateId = null;
        if (!note) clearFiles();
        if (!note) agentTyping(false);
        return afterChange();
      })
      .catch(fail)
      .then(function () { send.disabled = false; box.focus(); });
  }

  // -- knowledge base: suggested replies above the box, "/" + words to search ---------------------------
  var suggestions = $("suggestions"), slash = $("slash"), templateId = null, slashTimer = null;
  var suggestSeq = 0, slashSeq = 0;
  function templateButton(template) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "chip";
    button.setAttribute("data-template", String(template.id));
    button.textContent = template.title;
    button.title = template.body;
    return button;
  }
  function loadSuggestions() {
    if (!current) return;
    var id = current, seq = ++suggestSeq;
    request("GET", "/api/v1/conversations/" + id + "/suggestions")
      .then(function (r) { return r.json(); })
      .then(function (found) {
        if (seq !== suggestSeq || id !== current) return;
        var label = document.createElement("span");
        label.className = "label";
        label.textContent = S.kb_suggested;
        suggestions.replaceChildren(label);
        found.items.forEach(function (t) { suggestions.appendChild(templateButton(t)); });
        suggestions.hidden = !found.items.length;
      })
      .catch(function () { suggestions.hidden = true; });
  }
  function closeSlash() { slash.hidden = true; slash.replaceChildren(); }
  function slashSearch() {
    var match = /^\/([\s\S]*)$/.exec(box.value);
    var words = match ? match[1].trim() : "";
    if (!words) { closeSlash(); return; }
    var seq = ++slashSeq;
    var head = document.querySelector(".conv-head");
    var channel = head ? head.getAttribute("data-channel") : "";
    var url = "/api/v1/templates?limit=6&q=" + encodeURIComponent(words) + (channel ? "&channel=" + encodeURIComponent(channel) : "");
    request("GET", url).then(function (r) { return r.json(); }).then(function (found) {
      if (seq !== slashSeq) return;
      slash.replaceChildren();
      if (!found.items.length) {
        var none = document.createElement("li");
        none.className = "muted";
        none.textContent = S.kb_no_results;
        slash.appendChild(none);
      }
      found.items.forEach(function (t) {
        var item = document.createElement("li");
        item.appendChild(templateButton(t));
        slash.appendChild(item);
      });
      slash.hidden = false;
    }).catch(closeSlash);
  }
  function insertTemplate(id, replaceAll) {
    // Counted as a use; the text comes rendered for this conversation's client, for the agent to edit.
    return request("POST", "/api/v1/templates/" + id + "/use", { conversation_id: current })
      .then(function (r) { return r.json(); })
      .then(function (used) {
        if (replaceAll || !box.value.trim()) box.value = used.text;
        else box.value = box.value.replace(/\s*$/, "\n\n") + used.text;
        templateId = id;
        closeSlash();
        setMode("reply");
        box.focus();
        box.setSelectionRange(box.value.length, box.value.length);
      })
      .catch(fail);
  }
  composer.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-template]");
    if (button) insertTemplate(Number(button.getAttribute("data-template")), slash.contains(button));
  });

  // -- live updates --------------------------------------------------------------------------------------
  var typingTimer = null;
  function showTyping(on) {
    $("typing").textContent = on ? S.typing_client : "";
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(function () { showTyping(false); }, 6000);
  }
  var pendingList = false, pendingConv = false, timer = null;
  function schedule(list, conv) {
    pendingList = pendingList || list;
    pendingConv = pendingConv || conv;
    clearTimeout(timer);
    timer = setTimeout(function () {
      // The open conversation first: showing it marks it read, so the list after it shows it read.
      var list = pendingList, conv = pendingConv && current;
      pendingList = pendingConv = false;
      var first = conv ? refreshConversation() : Promise.resolve();
      if (list) first.then(refreshList);
    }, 120);
  }
  function onEvent(frame) {
    var type = frame.type, mine = current && frame.conversation_id === current;
    if (type === "hello" || type === "pong" || type === "agent.presence" || type === "webchat.conversation") return;
    if (type === "client.returned") {  // my client wrote again, maybe to a colleague's dialog
      var link = $("notice-link"), d = frame.data || {};
      link.textContent = S.client_returned + ": " + String(d.preview || "").slice(0, 120);
      link.setAttribute("href", "/inbox/" + Number(d.conversation_id) + "?" + query);
      $("notice").hidden = false;
      setTimeout(function () { $("notice").hidden = true; }, 15000);
      schedule(true, !!mine);
      return;
    }
    if (type === "agent.availability") {
      var mineNow = frame.data && frame.data.agent_id === data.agent_id && $("availability");
      if (mineNow) { mineNow.value = frame.data.status; mineNow.setAttribute("data-status", frame.data.status); }
      return;
    }
    if (type === "conversation.typing") {
      if (mine && frame.data && frame.data.from === "visitor") showTyping(!!frame.data.on);
      return;
    }
    if (type.indexOf("template.") === 0) {  // the knowledge base changed: suggestions and "/" search follow
      if (current) loadSuggestions();
      if (!slash.hidden) slashSearch();
      return;
    }
    if (type.indexOf("task.") === 0) {  // a task of the open card changed: its list on the card follows
      var shown = head(), about = frame.data && frame.data.contact_id;
      if (shown && about && String(about) === shown.getAttribute("data-contact")) schedule(false, true);
      countMyTasks();
      return;
    }
    if (type === "message.created" && mine && frame.data && frame.data.direction === "in") { showTyping(false); loadSuggestions(); }
    if (type === "resync") { schedule(true, true); return; }
    schedule(true, !!mine);
  }
  var socket = null, retries = 0, bannerTimer = null;
  function live(state) {
    $("live").setAttribute("data-state", state);
    clearTimeout(bannerTimer);
    if (state === "open") $("banner").hidden = true;
    else bannerTimer = setTimeout(function () { $("banner").hidden = false; }, 2500);
  }
  function connect() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/ws";
    var ws = socket = new WebSocket(url);
    ws.onopen = function () {
      if (retries > 0) schedule(true, true);  // events may have been missed while away
      retries = 0;
      reportedIdle = false;  // a new socket starts active
      live("open");
      reportIdle();
    };
    ws.onmessage = function (event) {
      try { onEvent(JSON.parse(event.data)); } catch (e) { /* not ours */ }
    };
    ws.onclose = function () {
      if (socket !== ws) return;
      live("closed");
      retries += 1;
      setTimeout(connect, Math.min(15000, 500 * Math.pow(2, retries)));
    };
  }
  setInterval(function () { if (socket && socket.readyState === 1) socket.send('{"type":"ping"}'); }, 25000);

  // -- search: the header's box ("/" focuses it), a panel of grouped results; Enter opens ---------------
  var searchBox = $("search-q"), searchPanel = $("search-panel"), searchTimer = null, searchSeq = 0;
  function hits() { return Array.prototype.slice.call(searchPanel.querySelectorAll("a.hit")); }
  function closeSearch() { searchPanel.hidden = true; searchPanel.replaceChildren(); }
  function runSearch() {
    var q = searchBox.value.trim(), seq = ++searchSeq;
    if (!q) { closeSearch(); return Promise.resolve(); }
    var h = head(), contact = h ? h.getAttribute("data-contact") : "";
    return fragment("/inbox/parts/search?q=" + encodeURIComponent(q) + "&contact=" + encodeURIComponent(contact || ""))
      .then(function (content) {
        if (seq !== searchSeq) return;
        searchPanel.replaceChildren(content);
        searchPanel.hidden = false;
      })
      .catch(fail);
  }
  if (searchBox) {
    $("search").addEventListener("submit", function (event) { event.preventDefault(); });
    searchBox.addEventListener("input", function () { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 150); });
    searchBox.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { searchBox.value = ""; closeSearch(); return; }
      if (event.key === "ArrowDown") { event.preventDefault(); var all = hits(); if (all.length) all[0].focus(); return; }
      if (event.key === "Enter") {
        event.preventDefault();
        clearTimeout(searchTimer);
        runSearch().then(function () { var all = hits(); if (all.length) location.href = all[0].href; });
      }
    });
    searchPanel.addEventListener("keydown", function (event) {
      var all = hits(), at = all.indexOf(document.activeElement);
      if (event.key === "ArrowDown" && at >= 0 && at < all.length - 1) { event.preventDefault(); all[at + 1].focus(); }
      else if (event.key === "ArrowUp") { event.preventDefault(); if (at > 0) all[at - 1].focus(); else searchBox.focus(); }
      else if (event.key === "Escape") { closeSearch(); searchBox.focus(); }
    });
    document.addEventListener("click", function (event) {
      if (!searchPanel.hidden && !$("search").contains(event.target)) closeSearch();
    });
  }
  // -- keyboard shortcuts: j/k next/previous conversation, / search, r reply, n note, e resolve, a assignee,
  // ? the list of them (a modal <dialog>: Esc closes it, focus comes back). Never while typing in a field
  // or with Ctrl/Alt/Meta held, so the browser's and the screen reader's own keys stay theirs.
  var keysDialog = $("keys");
  var keysFrom = null;
  function openKeys() {
    if (!keysDialog || keysDialog.open) return;
    keysFrom = document.activeElement;
    keysDialog.showModal();
    $("keys-close").focus();
  }
  if (keysDialog) {
    keysDialog.addEventListener("close", function () {
      // The list may have been re-rendered while the dialog was open (a live update): the row it was opened
      // from is then a new element with the same id.
      var back = keysFrom;
      if (back && !back.isConnected && back.classList && back.classList.contains("row")) {
        back = document.querySelector('#rows .row[data-id="' + back.getAttribute("data-id") + '"]');
      }
      if (back && back.isConnected && back.focus) back.focus();
      keysFrom = null;
    });
    $("keys-close").addEventListener("click", function () { keysDialog.close(); });
    keysDialog.addEventListener("click", function (event) { if (event.target === keysDialog) keysDialog.close(); });
  }
  var keysButton = $("keys-open");
  if (keysButton) keysButton.addEventListener("click", openKeys);
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#rows .row")); }
  function step(by) {
    // From the row that has the focus, else the open conversation's row; j from nowhere takes the first.
    var all = rows();
    if (!all.length) return;
    var active = document.activeElement;
    var at = active && active.classList && active.classList.contains("row") ? all.indexOf(active)
      : all.findIndex(function (row) { return String(row.getAttribute("data-id")) === String(current); });
    var next = at < 0 ? (by > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + by));
    var row = all[next];
    row.focus();  // the focused link is what a screen reader reads; aria-current marks the open one
    row.scrollIntoView({ block: "nearest" });
    var id = Number(row.getAttribute("data-id"));
    if (id !== current) showConversation(id, true);
  }
  function composing(mode) {
    if (!current || composer.hidden) return;
    setMode(mode);
    box.focus();
  }
  var SHORTCUTS = {
    j: function () { step(1); },
    k: function () { step(-1); },
    r: function () { composing("reply"); },
    n: function () { composing("note"); },
    e: function () {
      var resolve = current && document.querySelector('#part-head button[data-action="status"][data-status="resolved"]');
      if (resolve && !resolve.disabled) resolve.click();  // the Resolve button's own action
    },
    a: function () {
      var assign = current && document.querySelector('#part-head select[data-action="assign"]');
      if (assign) assign.focus();
    },
    "/": function () { if (searchBox) { searchBox.focus(); searchBox.select(); } },
    "?": openKeys,
  };
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented || event.isComposing) return;
    if (keysDialog && keysDialog.open) return;  // the dialog's own keys: Tab, Enter, Esc
    var t = event.target, tag = t && t.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (t && t.isContentEditable)) return;
    var key = event.key;
    if (!Object.prototype.hasOwnProperty.call(SHORTCUTS, key) && !/^[a-zA-Z]$/.test(key || "")) {
      // A Russian (or other) layout: the same physical keys, read from their codes (KeyJ types "о",
      // Slash types "." and "," there). A Latin letter is taken as typed (Dvorak and the like).
      var letter = /^Key([A-Z])$/.exec(event.code || "");
      key = letter ? (event.shiftKey ? "" : letter[1].toLowerCase()) : event.code === "Slash" ? (event.shiftKey ? "?" : "/") : key;
    }
    var action = Object.prototype.hasOwnProperty.call(SHORTCUTS, key) ? SHORTCUTS[key] : null;
    if (!action) return;
    event.preventDefault();
    action();
  });

  // -- idleness: a tab hidden or untouched for IDLE_MS makes its agent "away" (no new dialogs) --------------
  var IDLE_MS = 5 * 60 * 1000, lastActive = Date.now(), reportedIdle = false;
  function reportIdle() {
    var idle = document.hidden || Date.now() - lastActive > IDLE_MS;
    if (idle === reportedIdle || !socket || socket.readyState !== 1) return;
    reportedIdle = idle;
    socket.send(JSON.stringify({ type: "idle", idle: idle }));
  }
  ["keydown", "pointerdown", "pointermove", "wheel", "focus"].forEach(function (name) {
    window.addEventListener(name, function () { lastActive = Date.now(); if (reportedIdle) reportIdle(); }, { passive: true });
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) lastActive = Date.now(); reportIdle(); });
  setInterval(reportIdle, 30000);
  connect();
  markCurrent();
  zoneFromBrowser();
  if (current) {
    offerReply();
    var scroller = $("part-timeline");
    scroller.scrollTop = scroller.scrollHeight;
    loadSuggestions();
  }
  window.addEventListener("beforeunload", function () { if (typingFor) agentTyping(false); });
})();
