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
    document.getElementById("send-button").textContent = mode === "note" ? "Add note" : mode === "forward" ? "Forward" : "Send";
    var to = document.getElementById("mail-to");
    if (mode === "forward" && to) to.focus(); else input.focus();
  }

  // ---- email: Cc and Bcc, Reply all, forwarding one mail, formatting, pasted images ----
  function showField(name) {
    var field = composer().querySelector('[data-field="' + name + '"]');
    if (!field) return null;
    field.hidden = false;
    return field.querySelector("input");
  }
  function addAddresses(input, addresses) {
    var have = input.value.split(/[,;]/).map(function (a) { return a.trim(); }).filter(Boolean);
    addresses.split(/,\s*/).forEach(function (a) { if (a && have.indexOf(a) === -1) have.push(a); });
    input.value = have.join(", ");
  }
  function forwardOne(id) {
    var form = composer();
    if (!form) return;
    var item = document.getElementById("msg-" + id);
    var subject = item && item.querySelector(".mail-head .subject");
    document.getElementById("forward-of").value = id;
    document.getElementById("forward-what").textContent = subject ? "“" + subject.textContent + "”" : "this mail";
    form.querySelector("[data-forward-all]").hidden = false;
    setMode("forward");
  }
  function forwardAll() {
    document.getElementById("forward-of").value = "";
    document.getElementById("forward-what").textContent = "the whole conversation";
    composer().querySelector("[data-forward-all]").hidden = true;
  }

  // Markdown marks around the selection (or a placeholder to type over): what the mail's HTML is made of.
  var MARKS = { bold: ["**", "**", "bold text"], italic: ["_", "_", "italic text"], link: ["[", "](https://)", "link text"] };
  function format(kind) {
    var input = textarea();
    var start = input.selectionStart, end = input.selectionEnd, chosen = input.value.slice(start, end);
    var before = input.value.slice(0, start), after = input.value.slice(end), inserted, caret;
    if (kind === "bullets" || kind === "numbers") {
      var lines = (chosen || "").split("\n");
      inserted = lines.map(function (line, i) { return (kind === "bullets" ? "- " : (i + 1) + ". ") + line; }).join("\n");
      if (before && !/\n$/.test(before)) inserted = "\n" + inserted;
      caret = [start + inserted.length, start + inserted.length];
    } else {
      var mark = MARKS[kind], text = chosen || mark[2];
      inserted = mark[0] + text + mark[1];
      caret = [start + mark[0].length, start + mark[0].length + text.length];
      // A link's address is what is left to type once the text is there.
      if (kind === "link" && chosen) caret = [start + mark[0].length + text.length + 2, start + inserted.length - 1];
    }
    input.value = before + inserted + after;
    input.focus();
    input.setSelectionRange(caret[0], caret[1]);
  }

  var pasted = 0;
  document.addEventListener("paste", function (evt) {
    if (evt.target.id !== "reply-text" || composer().dataset.kind !== "email") return;
    var files = Array.prototype.filter.call((evt.clipboardData && evt.clipboardData.files) || [], function (f) {
      return /^image\//.test(f.type);
    });
    var picker = document.getElementById("reply-files");
    if (!files.length || !picker || typeof DataTransfer === "undefined") return;
    evt.preventDefault();
    var all = new DataTransfer();
    Array.prototype.forEach.call(picker.files, function (f) { all.items.add(f); });
    var marks = files.map(function (file) {
      pasted += 1;
      var name = "pasted-" + pasted + "." + (file.type.split("/")[1] || "png").replace("jpeg", "jpg");
      all.items.add(new File([file], name, { type: file.type }));
      return "![" + name + "](cid:" + name + ")";
    });
    picker.files = all.files;
    var input = evt.target, at = input.selectionStart;
    input.value = input.value.slice(0, at) + marks.join("\n") + input.value.slice(input.selectionEnd);
  });

  document.addEventListener("change", function (evt) {
    if (evt.target.id === "new-inbox") {
      // The new conversation's form follows the inbox: its fields, the customer's address there, its signature.
      var chosen = evt.target.selectedOptions[0], form = evt.target.form, to = document.getElementById("new-to");
      var before = evt.target.dataset.shown || "";
      form.dataset.kind = chosen.dataset.kind;
      if (!to.value || to.value === before) to.value = chosen.dataset.address;
      evt.target.dataset.shown = chosen.dataset.address;
      to.placeholder = chosen.dataset.kind === "email" ? to.dataset.emailPlaceholder : to.dataset.phonePlaceholder;
      var signature = document.getElementById("new-signature");
      if (signature) signature.textContent = chosen.dataset.signature;
      signature.closest(".signature").hidden = !chosen.dataset.signature;
    }
    if (evt.target.id === "channel-select") {
      var option = evt.target.selectedOptions[0];
      composer().dataset.kind = option ? option.dataset.kind : "";
    }
  });


  document.addEventListener("click", function (evt) {
    var tab = evt.target.closest("[data-mode-switch]");
    if (tab) {
      if (tab.dataset.modeSwitch === "forward" && composer().dataset.mode !== "forward") forwardAll();
      setMode(tab.dataset.modeSwitch);
    }
    var show = evt.target.closest("[data-show-field]");
    if (show) showField(show.dataset.showField).focus();
    var all = evt.target.closest("[data-reply-all]");
    if (all) { addAddresses(showField("cc"), all.dataset.replyAll); textarea().focus(); }
    var forward = evt.target.closest("[data-forward-message]");
    if (forward) forwardOne(forward.dataset.forwardMessage);
    if (evt.target.closest("[data-forward-all]")) forwardAll();
    var emoji = evt.target.closest("[data-emoji]");
    if (emoji) {
      var input = textarea(), at = input.selectionStart, value = emoji.dataset.emoji;
      input.value = input.value.slice(0, at) + value + input.value.slice(input.selectionEnd);
      input.focus();
      input.setSelectionRange(at + value.length, at + value.length);
      emoji.closest("details").open = false;
    }
    var mark = evt.target.closest("[data-format]");
    if (mark) format(mark.dataset.format);
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
    if (evt.target.id === "new-text" && evt.key === "Enter" && (evt.ctrlKey || evt.metaKey)) {
      evt.preventDefault();
      htmx.trigger(evt.target.form, "submit");
      return;
    }
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
    var form = evt.target.form;
    if (evt.key === "Enter" && (evt.ctrlKey || evt.metaKey)) {
      evt.preventDefault();
      htmx.trigger(form, "submit");
      return;
    }
    // In a chat, Enter sends and Shift+Enter starts a new line; a mail or a note needs Ctrl+Enter.
    var chat = form.dataset.mode === "reply" && form.dataset.kind !== "email";
    if (chat && evt.key === "Enter" && !evt.shiftKey && !evt.isComposing) {
      evt.preventDefault();
      if (evt.target.value.trim()) htmx.trigger(form, "submit");
      return;
    }
    if (form.dataset.kind === "email" && (evt.ctrlKey || evt.metaKey)) {
      var key = { b: "bold", i: "italic", k: "link" }[evt.key.toLowerCase()];
      if (key) { evt.preventDefault(); format(key); }
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
