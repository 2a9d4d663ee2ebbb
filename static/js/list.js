// The conversation list: rows arrive live and are placed by the list's view, filters and sort;
// unread marks are each agent's own; counts follow; rows can be selected for bulk actions.
(function () {
  "use strict";

  function list() { return document.getElementById("conversation-list"); }
  function me() { return document.body.dataset.userId || ""; }
  function openConversation() {
    var pane = document.querySelector(".timeline-pane");
    return pane ? pane.dataset.conversation : "";
  }

  function matches(row, ul) {
    var d = ul.dataset, r = row.dataset;
    if (d.view === "mine" && r.assignee !== me()) return false;
    if (d.view === "unassigned" && r.assignee !== "") return false;
    if (d.team && r.team !== d.team) return false;
    if (d.status && d.status !== "all" && r.status !== d.status) return false;
    if (d.inbox && r.inbox !== d.inbox) return false;
    if (d.assignee && r.assignee !== d.assignee) return false;
    if (d.label && r.labels.indexOf(" " + d.label + " ") === -1) return false;
    if (d.sort === "waiting" && !r.waiting) return false;
    if (d.sort === "sla" && !r.slaDue) return false;
    if (d.view === "breaching" &&
      !(r.slaDue && new Date(r.slaDue) <= Date.now() + Number(d.breachingMinutes || 60) * 60000)) return false;
    return true;
  }

  // Does row a come before row b in this list's order? (ISO times in UTC compare as strings.)
  function before(a, b, sort) {
    if (sort === "priority" && a.dataset.priority !== b.dataset.priority) {
      return Number(a.dataset.priority) > Number(b.dataset.priority);
    }
    if (sort === "sla") {
      if (a.dataset.slaDue !== b.dataset.slaDue) return a.dataset.slaDue < b.dataset.slaDue;
      return Number(a.dataset.id) < Number(b.dataset.id);
    }
    if (sort === "waiting") {
      if (a.dataset.waiting !== b.dataset.waiting) return a.dataset.waiting < b.dataset.waiting;
      return Number(a.dataset.id) < Number(b.dataset.id);
    }
    if (a.dataset.activity !== b.dataset.activity) return a.dataset.activity > b.dataset.activity;
    return Number(a.dataset.id) > Number(b.dataset.id);
  }

  var countsTimer = null;
  function refreshCounts() {
    clearTimeout(countsTimer);
    countsTimer = setTimeout(function () { htmx.trigger(document.body, "refresh-counts"); }, 400);
  }

  var readTimer = {};
  function markRead(id) {
    clearTimeout(readTimer[id]);
    readTimer[id] = setTimeout(function () {
      // A read mark lost with the connection is set again the next time the conversation is open.
      htmx.ajax("POST", "/conversations/" + id + "/read/", { swap: "none" }).catch(function () {});
    }, 500);
  }

  function upsert(row) {
    var ul = list();
    refreshCounts();
    if (!ul) return;
    var old = document.getElementById(row.id);
    // A resync's answer can be older than a live event that came meanwhile: never go back in time.
    if (old && old.dataset.updated && row.dataset.updated && row.dataset.updated < old.dataset.updated) return;
    var unread = row.dataset.unread === "" ? !!(old && old.classList.contains("unread")) : row.dataset.unread === "1";
    if (row.dataset.author && row.dataset.author === me()) unread = false;
    if (unread && row.dataset.id === openConversation()) {
      unread = false;
      markRead(row.dataset.id);
    }
    row.classList.toggle("unread", unread);
    if (old) {
      if (old.classList.contains("selected")) row.classList.add("selected");
      if (old.classList.contains("active")) row.classList.add("active");
      var box = old.querySelector("input.select");
      if (box && box.checked) row.querySelector("input.select").checked = true;
      old.remove();
    }
    if (!matches(row, ul)) return;
    var link = row.querySelector("a[data-base]");
    if (link && ul.dataset.query) {
      var url = link.dataset.base + "?" + ul.dataset.query;
      link.setAttribute("href", url);
      link.setAttribute("hx-get", url);
    }
    var rows = ul.querySelectorAll("li.conversation-row");
    var next = null;
    for (var i = 0; i < rows.length; i++) {
      if (before(row, rows[i], ul.dataset.sort)) { next = rows[i]; break; }
    }
    var more = ul.querySelector("li.more");
    // The "more" item carries the last loaded row's position: a row sorting after it comes with the
    // next page, so placing it now would show it twice once that page arrives.
    if (!next && more && before(more, row, ul.dataset.sort)) return;
    ul.insertBefore(row, next || more);
    var empty = document.getElementById("no-conversations");
    if (empty) empty.remove();
    htmx.process(row);
  }

  function markActive() {
    var open = openConversation();
    document.querySelectorAll("li.conversation-row").forEach(function (row) {
      var active = row.dataset.id === open;
      row.classList.toggle("active", active);
      if (active) row.classList.remove("unread");
    });
  }

  // Bulk actions: the checked rows' ids go with the form; the value list offers what the action needs.
  function checkedIds() {
    return Array.prototype.map.call(document.querySelectorAll("li.conversation-row input.select:checked"),
      function (box) { return box.value; });
  }
  function updateBulk() {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    var ids = checkedIds();
    form.hidden = ids.length === 0;
    var count = document.getElementById("bulk-count");
    if (count && !count.dataset.done) count.textContent = ids.length + " selected";
    var action = document.getElementById("bulk-action").value;
    var value = document.getElementById("bulk-value");
    value.hidden = action !== "assign" && action !== "label";
    value.querySelectorAll("option[data-for]").forEach(function (option) {
      option.hidden = option.dataset.for !== action;
    });
  }
  document.addEventListener("change", function (evt) {
    if (evt.target.matches("li.conversation-row input.select, #bulk-action")) {
      var count = document.getElementById("bulk-count");
      if (count) delete count.dataset.done;
      updateBulk();
    }
  });
  document.addEventListener("click", function (evt) {
    if (evt.target.matches("[data-bulk-clear]")) {
      document.querySelectorAll("li.conversation-row input.select:checked").forEach(function (b) { b.checked = false; });
      updateBulk();
    }
    if (evt.target.matches("[data-search-close]")) {
      var body = document.getElementById("list-body");
      htmx.ajax("GET", "/?" + (body ? body.dataset.listQuery : ""), { target: "#list-pane" }).catch(function () {});
    }
  });
  document.addEventListener("htmx:configRequest", function (evt) {
    if (evt.detail.elt && evt.detail.elt.id === "bulk-form") evt.detail.parameters.ids = checkedIds();
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (evt.detail.elt && evt.detail.elt.id === "bulk-form" && evt.detail.successful) {
      document.querySelectorAll("li.conversation-row input.select:checked").forEach(function (b) { b.checked = false; });
      setTimeout(updateBulk, 2500);
    }
  });

  ["DOMContentLoaded", "htmx:afterSettle"].forEach(function (name) {
    document.addEventListener(name, function () { markActive(); updateBulk(); });
  });

  // "Then: open the next conversation", after a reply or a resolve, as the agent chose (kept per browser).
  var AFTER_KEY = "inbox:after-send";
  function afterChoice() { try { return localStorage.getItem(AFTER_KEY) || "stay"; } catch (e) { return "stay"; } }
  function showAfterChoice() {
    var select = document.getElementById("after-send");
    if (select) select.value = afterChoice();
  }
  document.addEventListener("change", function (evt) {
    if (evt.target.id === "after-send") { try { localStorage.setItem(AFTER_KEY, evt.target.value); } catch (e) { /* private mode */ } }
  });
  // The next row is chosen when the agent acts: by the time the answer comes, a resolved
  // conversation may already have left the list.
  function nextId() {
    var active = document.querySelector("li.conversation-row.active");
    var next = active && (active.nextElementSibling || active.previousElementSibling);
    while (next && !next.classList.contains("conversation-row")) next = next.nextElementSibling;
    return next ? next.dataset.id : null;
  }
  function openRow(id) {
    // The row as it is now (a live event may have redrawn it since).
    var link = id && document.querySelector("#conv-row-" + id + " a[hx-get]");
    if (link) link.click();
  }
  var pendingNext = null;
  function chooseNext() { pendingNext = afterChoice() === "next" ? nextId() : null; }
  document.addEventListener("click", function (evt) {
    if (evt.target.closest("#send-button")) chooseNext();
    if (!evt.target.closest("[data-action=resolve]") || afterChoice() !== "next") return;
    // Resolved once the header says so, whichever comes first: the answer or the live event (which
    // may replace the form that asked, so its own events never reach us).
    var next = nextId(), pane = document.querySelector(".timeline-pane"), waited = 0;
    var conversation = pane && pane.dataset.conversation;
    var timer = setInterval(function () {
      waited += 100;
      var badge = document.getElementById("status-" + conversation);
      if (badge && badge.classList.contains("status-resolved")) { clearInterval(timer); openRow(next); }
      if (waited > 5000) clearInterval(timer);
    }, 100);
  });
  document.addEventListener("keydown", function (evt) {
    if (evt.target.id === "reply-text" && evt.key === "Enter") chooseNext();
  }, true);
  // Before the swap, while the composer that sent is still on the page (it swaps itself away).
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var elt = evt.detail.elt, id = pendingNext, xhr = evt.detail.xhr;
    if (!id || !elt || elt.id !== "composer" || elt.dataset.mode === "note" || !xhr || xhr.status >= 300) return;
    pendingNext = null;
    setTimeout(function () { openRow(id); }, 0);
  });
  ["DOMContentLoaded", "htmx:afterSettle"].forEach(function (name) { document.addEventListener(name, showAfterChoice); });

  window.inboxList = { upsert: upsert, refreshCounts: refreshCounts, markRead: markRead };
})();
