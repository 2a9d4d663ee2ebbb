// The composer: reply or private note, canned responses by /shortcut, @mentions, and a warning the
// moment something new arrives while the agent is writing (the server's send guard asks to confirm).
(function () {
  "use strict";

  function composer() { return document.getElementById("composer"); }
  function textarea() { return document.getElementById("reply-text"); }

  function setMode(mode) {
    var form = composer();
    if (!form) return;
    form.dataset.mode = mode;
    form.querySelector("input[name=mode]").value = mode;
    form.querySelectorAll("[data-mode-switch]").forEach(function (tab) {
      tab.setAttribute("aria-selected", String(tab.dataset.modeSwitch === mode));
    });
    var input = textarea();
    input.placeholder = mode === "note" ? input.dataset.notePlaceholder : input.dataset.replyPlaceholder;
    document.getElementById("send-button").textContent = mode === "note" ? "Add note" : "Send";
    input.focus();
  }

  document.addEventListener("click", function (evt) {
    var tab = evt.target.closest("[data-mode-switch]");
    if (tab) setMode(tab.dataset.modeSwitch);
    var item = evt.target.closest("#suggestions li");
    if (item) insert(item);
  });

  // ---- suggestions: "/" for canned responses, "@" for agents ----
  var active = -1;
  function suggestions() { return document.getElementById("suggestions"); }

  function tokenAtCaret(input) {
    var upto = input.value.slice(0, input.selectionStart);
    var match = /(^|\s)([/@])([\w.@+-]*)$/.exec(upto);  // sign-in names may hold "@" (an email)
    return match ? { sign: match[2], word: match[3].toLowerCase(), start: upto.length - match[3].length - 1 } : null;
  }

  function candidates(token) {
    var source = token.sign === "/" ? "#canned-data option" : "#mention-agents option";
    return Array.prototype.filter.call(document.querySelectorAll(source), function (option) {
      return option.value.toLowerCase().indexOf(token.word) === 0
        || (option.textContent || "").toLowerCase().indexOf(token.word) !== -1;
    }).slice(0, 8);
  }

  function show(input) {
    var list = suggestions();
    if (!list) return;
    var token = tokenAtCaret(input);
    var found = token ? candidates(token) : [];
    list.innerHTML = "";
    active = found.length ? 0 : -1;
    found.forEach(function (option, i) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      li.dataset.insert = token.sign === "/" ? option.dataset.text : "@" + option.value + " ";
      li.dataset.start = token.start;
      li.textContent = (token.sign === "/" ? "/" : "@") + option.value + "  " + (option.textContent || "");
      if (i === 0) li.classList.add("active");
      list.appendChild(li);
    });
    list.hidden = found.length === 0;
  }

  function insert(item) {
    var input = textarea();
    var start = Number(item.dataset.start);
    var end = input.selectionStart;
    input.value = input.value.slice(0, start) + item.dataset.insert + input.value.slice(end);
    var caret = start + item.dataset.insert.length;
    input.setSelectionRange(caret, caret);
    suggestions().hidden = true;
    input.focus();
  }

  document.addEventListener("input", function (evt) {
    if (evt.target.id === "reply-text") show(evt.target);
  });

  document.addEventListener("keydown", function (evt) {
    if (evt.target.id !== "reply-text") return;
    var list = suggestions();
    if (list && !list.hidden) {
      var items = list.querySelectorAll("li");
      if (evt.key === "ArrowDown" || evt.key === "ArrowUp") {
        evt.preventDefault();
        items[active].classList.remove("active");
        active = (active + (evt.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        items[active].classList.add("active");
        return;
      }
      if ((evt.key === "Enter" && !evt.ctrlKey && !evt.metaKey) || evt.key === "Tab") {
        evt.preventDefault();
        insert(items[active]);
        return;
      }
      if (evt.key === "Escape") { list.hidden = true; evt.stopPropagation(); return; }
    }
    if (evt.key === "Enter" && (evt.ctrlKey || evt.metaKey)) {
      evt.preventDefault();
      htmx.trigger(evt.target.form, "submit");
    }
  });

  // What the agent has seen: everything shown before they started writing. Once they write, it
  // stays put, so that the server's send guard asks about anything that came after.
  function newestShown() {
    var newest = 0;
    document.querySelectorAll(".timeline li.message").forEach(function (item) {
      newest = Math.max(newest, Number(item.id.replace("msg-", "")) || 0);
    });
    return newest;
  }

  // Something new while the agent writes: say so at once (sending will ask to confirm too).
  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || !target.classList || !target.classList.contains("timeline")) return;
    var item = target.lastElementChild;
    var input = textarea();
    if (!input) return;
    if (!input.value.trim()) {
      var seen = composer().querySelector("input[name=seen]");
      seen.value = Math.max(Number(seen.value) || 0, newestShown());
      return;
    }
    if (!item || item.classList.contains("note")) return;
    if (item.dataset.author && item.dataset.author === document.body.dataset.userId) return;
    var form = composer();
    if (form.querySelector(".arrived")) return;
    var notice = document.createElement("p");
    notice.className = "arrived";
    notice.setAttribute("role", "status");
    notice.textContent = "A new message arrived while you were writing: read it before sending.";
    form.insertBefore(notice, input);
  });

  // Snoozes "until tomorrow 9:00" mean the agent's 9:00, and the audit log's days are their days.
  function fillTimeZone() {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    document.querySelectorAll("input.tz").forEach(function (input) { input.value = zone; });
  }
  ["DOMContentLoaded", "htmx:afterSettle", "htmx:oobAfterSwap"].forEach(function (name) {
    document.addEventListener(name, fillTimeZone);
  });

  window.inboxComposer = { setMode: setMode };
})();
