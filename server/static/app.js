/* goldkey: optional helpers. The pages work without this file; the server validates everything.
   - show_when: hides a field whose data-show-when expression is false for what is typed (a small evaluator of
     the expression language: and/or/not, comparisons, in, is, lists, strings, numbers, True/False/None);
   - tables: the "add row" button;
   - drafts: what is typed into a form is kept in this tab (sessionStorage) until it is sent;
   - lookups: a field that holds a record's key (data-lookup) suggests records as one types and fills the fields
     its data-fill names that are still empty;
   - imports: a <progress data-job> follows its import job and shows the report when it ends;
   - checklist results: a failed result makes its note required; an item's choice can be cleared. */
(function () {
  "use strict";

  // --- the expression language (a safe subset; anything else throws and the field stays visible) ---
  function tokenize(src) {
    var tokens = [], i = 0, m;
    var re = /\s*(?:(\d+(?:\.\d+)?)|('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|([A-Za-z_][A-Za-z_0-9]*)|(==|!=|<=|>=|[<>()[\],+\-]))/y;
    while (i < src.length) {
      if (/^\s*$/.test(src.slice(i))) break;
      re.lastIndex = i;
      m = re.exec(src);
      if (!m) throw new Error("syntax");
      i = re.lastIndex;
      if (m[1] !== undefined) tokens.push({ t: "num", v: parseFloat(m[1]) });
      else if (m[2] !== undefined) tokens.push({ t: "str", v: m[2].slice(1, -1).replace(/\\(.)/g, "$1") });
      else if (m[3] !== undefined) tokens.push({ t: "name", v: m[3] });
      else tokens.push({ t: "op", v: m[4] });
    }
    return tokens;
  }

  function parse(src) {
    var toks = tokenize(src), pos = 0;
    function peek(v) { var k = toks[pos]; return k && (v === undefined || k.v === v) && (k.t === "op" || k.t === "name") ? k : null; }
    function take(v) { if (peek(v)) { pos++; return true; } return false; }
    function need(v) { if (!take(v)) throw new Error("expected " + v); }
    function ternary() {
      var a = orExpr();
      if (take("if")) { var c = orExpr(); need("else"); var b = ternary(); return function (s) { return truthy(c(s)) ? a(s) : b(s); }; }
      return a;
    }
    function orExpr() {
      var a = andExpr();
      while (take("or")) { a = (function (l, r) { return function (s) { var v = l(s); return truthy(v) ? v : r(s); }; })(a, andExpr()); }
      return a;
    }
    function andExpr() {
      var a = notExpr();
      while (take("and")) { a = (function (l, r) { return function (s) { var v = l(s); return truthy(v) ? r(s) : v; }; })(a, notExpr()); }
      return a;
    }
    function notExpr() {
      if (take("not")) { var a = notExpr(); return function (s) { return !truthy(a(s)); }; }
      return comparison();
    }
    function comparison() {
      var left = sum(), parts = [];
      for (;;) {
        var op = null;
        if (take("==")) op = "=="; else if (take("!=")) op = "!="; else if (take("<=")) op = "<=";
        else if (take(">=")) op = ">="; else if (take("<")) op = "<"; else if (take(">")) op = ">";
        else if (take("in")) op = "in";
        else if (peek("not") && toks[pos + 1] && toks[pos + 1].v === "in") { pos += 2; op = "not in"; }
        else if (take("is")) op = take("not") ? "is not" : "is";
        if (!op) break;
        parts.push([op, sum()]);
      }
      if (!parts.length) return left;
      return function (s) {
        var a = left(s);
        for (var k = 0; k < parts.length; k++) {
          var b = parts[k][1](s);
          if (!compare(parts[k][0], a, b)) return false;
          a = b;
        }
        return true;
      };
    }
    function sum() {
      var a = atom();
      for (;;) {
        if (take("+")) a = (function (l, r) { return function (s) { return num(l(s)) + num(r(s)); }; })(a, atom());
        else if (take("-")) a = (function (l, r) { return function (s) { return num(l(s)) - num(r(s)); }; })(a, atom());
        else return a;
      }
    }
    function atom() {
      var k = toks[pos++], node;
      if (!k) throw new Error("end");
      if (k.t === "num" || k.t === "str") { node = (function (v) { return function () { return v; }; })(k.v); }
      else if (k.t === "op" && k.v === "(") { node = ternary(); need(")"); }
      else if (k.t === "op" && k.v === "[") {
        var items = [];
        if (!take("]")) { do { items.push(ternary()); } while (take(",")); need("]"); }
        node = function (s) { return items.map(function (f) { return f(s); }); };
      }
      else if (k.t === "op" && k.v === "-") { var inner = atom(); node = function (s) { return -num(inner(s)); }; }
      else if (k.t === "name") {
        if (k.v === "True") node = function () { return true; };
        else if (k.v === "False") node = function () { return false; };
        else if (k.v === "None") node = function () { return null; };
        else if (k.v === "len" && take("(")) { var arg = ternary(); need(")"); node = function (s) { var v = arg(s); if (v == null) throw new Error("len"); return v.length; }; }
        else node = (function (n) { return function (s) { return s(n); }; })(k.v);
      }
      else throw new Error("unexpected");
      while (take("[")) { node = (function (o, ix) { return function (s) { var v = o(s), i = ix(s); if (v == null) throw new Error("index"); return v[i]; }; })(node, ternary()); need("]"); }
      return node;
    }
    var f = ternary();
    if (pos !== toks.length) throw new Error("trailing");
    return f;
  }

  function truthy(v) { return !(v === null || v === undefined || v === false || v === 0 || v === "" || (Array.isArray(v) && !v.length)); }
  function num(v) { if (typeof v === "number") return v; if (typeof v === "string" && v.trim() !== "" && !isNaN(+v)) return +v; throw new Error("number"); }
  function same(a, b) {
    if (typeof a === "number" || typeof b === "number") { try { return num(a) === num(b); } catch (e) { return false; } }
    if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every(function (x, i) { return same(x, b[i]); });
    return a === b;
  }
  function compare(op, a, b) {
    switch (op) {
      case "==": return same(a, b);
      case "!=": return !same(a, b);
      case "is": return a === b;
      case "is not": return a !== b;
      case "in": case "not in":
        if (b == null) throw new Error("in");
        var found = Array.isArray(b) ? b.some(function (x) { return same(a, x); }) : String(b).indexOf(String(a)) >= 0;
        return op === "in" ? found : !found;
      default:
        if (a == null || b == null) throw new Error("order");
        var x = typeof a === "string" && typeof b === "string" ? a : num(a), y = typeof a === "string" && typeof b === "string" ? b : num(b);
        return op === "<" ? x < y : op === "<=" ? x <= y : op === ">" ? x > y : x >= y;
    }
  }

  // --- reading a form's current values ---
  function fieldValue(form, name, fallback) {
    var box = form.querySelector('.field[data-field="' + name + '"]');
    if (!box) return Object.prototype.hasOwnProperty.call(fallback, name) ? fallback[name] : null;
    var inputs = box.querySelectorAll('[name="f.' + name + '"]'), i, out;
    if (box.classList.contains("field-checkbox")) return !!(inputs[0] && inputs[0].checked);
    if (box.classList.contains("field-radio")) {
      for (i = 0; i < inputs.length; i++) if (inputs[i].checked) return inputs[i].value || null;
      return null;
    }
    if (box.classList.contains("field-checkboxes")) {
      out = [];
      for (i = 0; i < inputs.length; i++) if (inputs[i].checked) out.push(inputs[i].value);
      return out.length ? out : null;
    }
    if (!inputs.length) return null;
    var text = String(inputs[0].value || "").trim();
    if (text === "") return null;
    if (box.classList.contains("field-number") || box.classList.contains("field-money")) {
      return isNaN(+text) ? text : +text;
    }
    return text;
  }

  function applyShowWhen(form) {
    var fallback = {};
    try { fallback = JSON.parse(form.getAttribute("data-values") || "{}"); } catch (e) { fallback = {}; }
    var boxes = form.querySelectorAll(".field[data-show-when]");
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i], show = true;
      if (!box._when) { try { box._when = parse(box.getAttribute("data-show-when")); } catch (e) { box._when = "bad"; } }
      if (box._when !== "bad" && !box.classList.contains("has-error")) {
        try { show = truthy(box._when(function (n) { return fieldValue(form, n, fallback); })); } catch (e) { show = true; }
      }
      box.hidden = !show;
    }
  }

  // --- tables: add a row ---
  function addRow(button) {
    var table = button.parentNode.querySelector('table[data-rows="' + button.getAttribute("data-add-row") + '"]');
    if (!table) return;
    var body = table.tBodies[0], last = body.rows[body.rows.length - 1];
    if (!last) return;
    var index = body.rows.length, row = last.cloneNode(true);
    var controls = row.querySelectorAll("input, select, textarea");
    for (var i = 0; i < controls.length; i++) {
      var c = controls[i];
      c.name = c.name.replace(/\.\d+\.([^.]+)$/, "." + index + ".$1");
      if (c.id) c.id = c.id.replace(/-\d+-([^-]+)$/, "-" + index + "-$1");
      if (c.type === "checkbox" || c.type === "radio") c.checked = false; else c.value = "";
    }
    if (row.cells[0]) row.cells[0].textContent = String(index + 1);
    body.appendChild(row);
  }

  // --- drafts (this tab only; cleared on send and on logout) ---
  var PREFIX = "goldkey-draft:";
  function draftKey(form) { return PREFIX + (document.body.getAttribute("data-user") || "") + ":" + form.getAttribute("data-draft"); }
  function snapshot(form) {
    var out = [];
    for (var i = 0; i < form.elements.length; i++) {
      var el = form.elements[i];
      if (!el.name || el.disabled || el.type === "hidden" || el.type === "submit" || el.type === "button" || el.type === "password" || el.type === "file") continue;
      out.push(el.type === "checkbox" || el.type === "radio" ? [el.name, el.value, el.checked] : [el.name, null, el.value]);
    }
    return out;
  }
  function restore(form, saved) {
    saved.forEach(function (item) {
      var els = form.querySelectorAll('[name="' + item[0].replace(/"/g, "") + '"]');
      for (var i = 0; i < els.length; i++) {
        var el = els[i];
        if (el.disabled) continue;
        if (el.type === "checkbox" || el.type === "radio") { if (el.value === item[1]) el.checked = item[2]; }
        else el.value = item[2];
      }
    });
  }
  function setupDraft(form) {
    var store;
    try { store = window.sessionStorage; store.getItem("x"); } catch (e) { return; }
    var key = draftKey(form), raw = store.getItem(key), timer = null;
    if (raw && !form.classList.contains("has-errors")) {
      var bar = document.createElement("div");
      bar.className = "draft-bar";
      var text = document.createElement("span");
      text.textContent = "這個表單有尚未送出的草稿。";
      var use = document.createElement("button");
      use.type = "button"; use.textContent = "恢復草稿";
      var drop = document.createElement("button");
      drop.type = "button"; drop.textContent = "捨棄";
      bar.appendChild(text); bar.appendChild(use); bar.appendChild(drop);
      form.insertBefore(bar, form.firstChild);
      use.addEventListener("click", function () {
        try { restore(form, JSON.parse(raw)); } catch (e) { /* a broken draft is ignored */ }
        bar.remove(); applyShowWhen(form); refreshResults(form);
      });
      drop.addEventListener("click", function () { store.removeItem(key); bar.remove(); });
    }
    function save() { try { store.setItem(key, JSON.stringify(snapshot(form))); } catch (e) { /* full: no draft */ } }
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(save, 400); });
    form.addEventListener("submit", function () { clearTimeout(timer); store.removeItem(key); });
  }

  function clearDrafts() {
    try {
      var store = window.sessionStorage, keys = [];
      for (var i = 0; i < store.length; i++) if (store.key(i).indexOf(PREFIX) === 0) keys.push(store.key(i));
      keys.forEach(function (k) { store.removeItem(k); });
    } catch (e) { /* no storage */ }
  }


  // --- lookups: search records as one types; choosing one sets its key and fills the empty fields it names ---
  var HIDDEN_VALUE = "（保密）";
  function setupLookup(input) {
    var list = document.getElementById(input.getAttribute("aria-controls"));
    if (!list) return;
    var form = input.form, url = input.getAttribute("data-lookup"), fill = {};
    try { fill = JSON.parse(input.getAttribute("data-fill") || "{}") || {}; } catch (e) { fill = {}; }
    var timer = null, request = null, items = [], active = -1, off = false, quiet = false;

    function close() {
      list.hidden = true; list.innerHTML = ""; items = []; active = -1;
      input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant");
    }
    function mark(index) {
      active = index;
      var options = list.querySelectorAll('[role="option"]');
      for (var i = 0; i < options.length; i++) options[i].setAttribute("aria-selected", i === index ? "true" : "false");
      if (index >= 0 && options[index]) {
        input.setAttribute("aria-activedescendant", options[index].id);
        if (options[index].scrollIntoView) options[index].scrollIntoView({ block: "nearest" });
      } else input.removeAttribute("aria-activedescendant");
    }
    function show(found) {
      list.innerHTML = ""; items = found; active = -1;
      if (!found.length) {
        var none = document.createElement("li");
        none.className = "none"; none.setAttribute("aria-disabled", "true");
        none.textContent = "沒有相符的資料";
        list.appendChild(none);
      }
      found.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = input.id + "-option-" + i;
        li.setAttribute("role", "option"); li.setAttribute("aria-selected", "false");
        li.setAttribute("data-index", String(i));
        var label = document.createElement("span");
        label.className = "label-text"; label.textContent = item.label || item.key;
        li.appendChild(label);
        if (item.state) {
          var state = document.createElement("span");
          state.className = "state"; state.textContent = item.state;
          li.appendChild(state);
        }
        list.appendChild(li);
      });
      list.hidden = false; input.setAttribute("aria-expanded", "true");
    }
    function search() {
      var text = input.value.trim();
      if (request) request.abort();
      request = null;
      if (off || text.length < 1) { close(); return; }
      var query = "?q=" + encodeURIComponent(text), site = form && form.querySelector('select[name="site"]');
      if (site && site.value) query += "&site=" + encodeURIComponent(site.value);
      var mine = request = window.AbortController ? new AbortController() : null;
      fetch(url + query, { credentials: "same-origin", headers: { accept: "application/json" }, signal: mine ? mine.signal : undefined })
        .then(function (resp) {
          if (resp.status === 401 || resp.status === 403) { off = true; return null; }  // plain text from now on
          return resp.ok ? resp.json() : null;
        })
        .then(function (found) {
          if (mine !== request) return;  // a later search is under way
          request = null;
          if (Array.isArray(found) && input.value.trim() === text && document.activeElement === input) show(found);
          else if (!Array.isArray(found)) close();
        })
        .catch(function () { /* aborted or offline: the field stays plain text */ });
    }
    function changed(el) {
      el.dispatchEvent(new Event("input", { bubbles: true }));
      el.dispatchEvent(new Event("change", { bubbles: true }));
    }
    function choose(index) {
      var item = items[index];
      if (!item) return;
      quiet = true;
      input.value = item.key; changed(input);
      Object.keys(fill).forEach(function (target) {
        var value = item.data ? item.data[fill[target]] : null, el = form && form.elements["f." + target];
        if (!el || el.length !== undefined && !el.tagName || value === null || value === undefined || value === "" || value === HIDDEN_VALUE) return;
        if (el.type === "checkbox" || el.type === "radio" || el.type === "file" || String(el.value || "").trim() !== "") return;
        el.value = String(value); changed(el);
      });
      quiet = false;
      close();
    }

    input.addEventListener("input", function () {
      if (quiet) return;
      clearTimeout(timer);
      if (request) { request.abort(); request = null; }
      if (input.value.trim().length < 1) { close(); return; }
      timer = setTimeout(search, 150);
    });
    input.addEventListener("keydown", function (ev) {
      var open = !list.hidden && items.length > 0;
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        if (!open) return;
        ev.preventDefault();
        var step = ev.key === "ArrowDown" ? 1 : -1;
        mark((active + step + items.length) % items.length);
      } else if (ev.key === "Enter") {
        if (open && active >= 0) { ev.preventDefault(); choose(active); }
      } else if (ev.key === "Escape") {
        if (!list.hidden) { ev.preventDefault(); close(); }
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    list.addEventListener("mousedown", function (ev) { ev.preventDefault(); });  // keep the focus in the input
    list.addEventListener("click", function (ev) {
      var li = ev.target.closest ? ev.target.closest('[role="option"]') : null;
      if (li) choose(parseInt(li.getAttribute("data-index"), 10));
    });
  }

  // --- checklist results (templates/_results.html): a failed result makes its item's note required (the server
  //     refuses a failure without one anyway); 清除選擇 un-chooses an item's result ---
  function refreshResults(form) {
    var boxes = form.querySelectorAll("[data-failed]");
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i], failed = [];
      try { failed = JSON.parse(box.getAttribute("data-failed") || "[]") || []; } catch (e) { failed = []; }
      var chosen = box.querySelector('input[type="radio"]:checked'), need = !!chosen && failed.indexOf(chosen.value) >= 0;
      var note = box.querySelector("textarea"), mark = box.querySelector("[data-note-required]");
      var hint = box.querySelector("[data-note-hint]"), clear = box.querySelector("[data-clear-result]");
      if (note) {
        note.required = need;
        if (need) note.setAttribute("aria-required", "true"); else note.removeAttribute("aria-required");
      }
      if (mark) mark.hidden = !need;
      if (hint) hint.hidden = need;
      if (clear) clear.parentNode.hidden = !chosen;
      box.classList.toggle("failing", need);
    }
  }
  function setupResults(form) {
    if (!form.querySelector("[data-failed]")) return;
    form.addEventListener("change", function () { refreshResults(form); });
    form.addEventListener("click", function (ev) {
      var b = ev.target.closest ? ev.target.closest("[data-clear-result]") : null;
      if (!b) return;
      ev.preventDefault();
      var radios = b.closest("[data-failed]").querySelectorAll('input[type="radio"]');
      for (var i = 0; i < radios.length; i++) radios[i].checked = false;
      refreshResults(form);
      form.dispatchEvent(new Event("input", { bubbles: true }));  // (the draft follows)
    });
    refreshResults(form);
  }

  // --- imports: follow the job every 500 ms; when it ends, the page (with its report) is loaded again ---
  function followJob(bar) {
    var url = bar.getAttribute("data-job"), text = document.querySelector("[data-job-text]");
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } })
        .then(function (resp) { return resp.ok ? resp.json() : null; })
        .then(function (job) {
          if (!job) return;  // not this user's job, or gone: the page says what it knew
          if (job.total) { bar.max = job.total; bar.value = job.done; }
          if (text && job.text) text.textContent = job.text;
          if (job.status === "running") setTimeout(poll, 500);
          else window.location.reload();
        })
        .catch(function () { setTimeout(poll, 2000); });
    }
    setTimeout(poll, 500);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form.wf-form");
    for (var i = 0; i < forms.length; i++) {
      (function (form) {
        applyShowWhen(form);
        form.addEventListener("input", function () { applyShowWhen(form); });
        form.addEventListener("change", function () { applyShowWhen(form); });
        if (form.hasAttribute("data-draft")) setupDraft(form);
        setupResults(form);
      })(forms[i]);
    }
    document.addEventListener("click", function (ev) {
      var b = ev.target.closest ? ev.target.closest("[data-add-row]") : null;
      if (b) { ev.preventDefault(); addRow(b); }
    });
    var lookups = document.querySelectorAll("input[data-lookup]");
    for (var j = 0; j < lookups.length; j++) setupLookup(lookups[j]);
    var job = document.querySelector("progress[data-job]");
    if (job) followJob(job);
    var out = document.querySelector("form.logout");
    if (out) out.addEventListener("submit", clearDrafts);
  });
})();
