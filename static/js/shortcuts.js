// Keyboard first: j/k move, Enter opens, r reply, n note, a assign, e resolve, s snooze, / search, ? help.
(function () {
  "use strict";

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("li.conversation-row")); }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var current = all.findIndex(function (row) { return row.classList.contains("selected"); });
    if (current === -1) current = all.findIndex(function (row) { return row.classList.contains("active"); });
    var next = Math.max(0, Math.min(all.length - 1, current === -1 ? 0 : current + step));
    all.forEach(function (row) { row.classList.remove("selected"); });
    all[next].classList.add("selected");
    all[next].scrollIntoView({ block: "nearest" });
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=true]");
  }

  document.addEventListener("keydown", function (evt) {
    if (evt.ctrlKey || evt.metaKey || evt.altKey) return;
    if (evt.key === "Escape") {
      document.querySelectorAll("details[open]").forEach(function (d) { d.open = false; });
      if (typing(evt.target)) evt.target.blur();
      return;
    }
    if (typing(evt.target)) return;
    var handled = true;
    switch (evt.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter": {
        var selected = document.querySelector("li.conversation-row.selected a");
        if (selected) selected.click(); else handled = false;
        break;
      }
      case "r": if (window.inboxComposer) window.inboxComposer.setMode("reply"); break;
      case "n": if (window.inboxComposer) window.inboxComposer.setMode("note"); break;
      case "c": {
        var compose = document.getElementById("new-conversation-button");
        if (compose) compose.click(); else handled = false;
        break;
      }
      case "a": {
        var assignee = document.getElementById("assignee-select");
        if (assignee) { assignee.focus(); if (assignee.showPicker) try { assignee.showPicker(); } catch (e) { /* not allowed */ } }
        break;
      }
      case "e": {
        var resolve = document.querySelector("#resolve-button[data-action=resolve]");
        if (resolve) resolve.click(); else handled = false;
        break;
      }
      case "s": {
        var snooze = document.getElementById("snooze-menu");
        if (snooze) { snooze.open = true; snooze.querySelector("button").focus(); }
        break;
      }
      case "/": document.getElementById("search-input").focus(); break;
      case "?": document.getElementById("shortcuts").showModal(); break;
      default: handled = false;
    }
    if (handled) evt.preventDefault();
  });

  document.addEventListener("click", function (evt) {
    if (evt.target.matches("[data-show-shortcuts]")) document.getElementById("shortcuts").showModal();
  });
})();
