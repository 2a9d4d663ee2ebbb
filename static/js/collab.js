// Agents side by side: presence, "‹agent› is viewing" and "‹agent› is typing a reply".
//
// The page talks over the workspace socket that htmx's ws extension opened (#realtime, ws-connect),
// in small JSON frames (the server ignores anything else; see inbox/workspace/consumer.py):
//   {"type": "heartbeat"}                                   every 25 s: keeps this agent online
//   {"type": "viewing", "conversation": 12 | null}          on opening, every 20 s, on leaving
//   {"type": "typing", "conversation": 12, "typing": true|false, "note": true|false}
// and receives htmx fragments (inbox/realtime/presence.py):
//   <div id="collab-12" class="collab" hx-swap-oob="true">…</div>   swapped by htmx as usual
//   <div hx-swap-oob="beforeend:#presence-events"><i data-presence-user="7" data-online="1"></i>…</div>
//     handled here before htmx sees it: every [data-presence-user="7"] on the page gets (or loses)
//     the class "online", now and whenever new markup arrives.
(function () {
  "use strict";

  var HEARTBEAT_MS = 25000;
  var VIEWING_MS = 20000;
  var TYPING_REPEAT_MS = 3000;
  var TYPING_IDLE_MS = 5000;

  var socket = null;      // the ws extension's socketWrapper, from the latest htmx:wsOpen
  var open = false;
  var viewing = null;     // the conversation this page shows, as last told to the server
  var typing = null;      // {conversation, note, at} since "typing: true" was sent
  var idleTimer = null;
  var online = {};        // user id -> true | false, as last heard

  function send(frame) {
    // Never queued while the socket is down: the state is sent afresh when it opens again.
    if (socket && open) socket.send(JSON.stringify(frame));
  }

  function me() { return document.body ? document.body.dataset.userId : ""; }

  function shownConversation() {
    var pane = document.querySelector("#conversation-pane .timeline-pane[data-conversation]") ||
      document.querySelector(".timeline-pane[data-conversation]");
    var id = pane ? parseInt(pane.dataset.conversation, 10) : NaN;
    return isNaN(id) ? null : id;
  }

  // ---- viewing ------------------------------------------------------------------------------
  function updateViewing() {
    var now = shownConversation();
    if (now === viewing) return;
    stopTyping();
    viewing = now;
    send({ type: "viewing", conversation: now });
  }

  // ---- typing -------------------------------------------------------------------------------
  function composerOf(el) { return el.form || (el.closest && el.closest("form#composer")); }

  function isNote(form) { return !!form && form.getAttribute("data-mode") === "note"; }

  function conversationOf(el) {
    var pane = el.closest && el.closest(".timeline-pane[data-conversation]");
    var id = pane ? parseInt(pane.dataset.conversation, 10) : NaN;
    return isNaN(id) ? viewing : id;
  }

  function stopTyping() {
    clearTimeout(idleTimer);
    idleTimer = null;
    if (!typing) return;
    var was = typing;
    typing = null;
    send({ type: "typing", conversation: was.conversation, typing: false, note: was.note });
  }

  function noteTyping(input) {
    var conversation = conversationOf(input);
    if (conversation === null) return;
    if (!input.value.trim()) { stopTyping(); return; }
    var note = isNote(composerOf(input));
    var now = Date.now();
    if (!typing || typing.conversation !== conversation || typing.note !== note || now - typing.at >= TYPING_REPEAT_MS) {
      typing = { conversation: conversation, note: note, at: now };
      send({ type: "typing", conversation: conversation, typing: true, note: note });
    }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  document.addEventListener("input", function (evt) {
    if (evt.target && evt.target.id === "reply-text") noteTyping(evt.target);
  });

  // Switching between reply and private note while typing: say which, at once (a note is never
  // shown to the customer).
  document.addEventListener("click", function (evt) {
    var button = evt.target && evt.target.closest && evt.target.closest("[data-mode-switch]");
    if (!button || !typing) return;
    setTimeout(function () {
      var input = document.getElementById("reply-text");
      if (input && typing) { typing.at = 0; noteTyping(input); }
    }, 0);
  });

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail && evt.detail.elt;
    if (elt && (elt.id === "composer" || (elt.closest && elt.closest("form#composer")))) stopTyping();
  });

  // ---- the socket ---------------------------------------------------------------------------
  document.addEventListener("htmx:wsOpen", function (evt) {
    socket = evt.detail.socketWrapper;
    open = true;
    typing = null;  // the server forgot it with the old socket
    send({ type: "heartbeat" });
    viewing = null;
    updateViewing();
  });
  document.addEventListener("htmx:wsClose", function () { open = false; });

  setInterval(function () { send({ type: "heartbeat" }); }, HEARTBEAT_MS);
  setInterval(function () { if (viewing !== null) send({ type: "viewing", conversation: viewing }); }, VIEWING_MS);

  // A conversation opened or left, whichever way the pane changed (a click, history, a redirect).
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "conversation-pane") updateViewing();
  });
  ["htmx:afterSettle", "htmx:historyRestore"].forEach(function (name) {
    document.addEventListener(name, function () { updateViewing(); });
  });

  var COLLAB = /^\s*<div id="collab-(\d+)"/;
  var PRESENCE = /^\s*<div hx-swap-oob="beforeend:#presence-events">/;

  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    var message = evt.detail.message;
    if (typeof message !== "string") return;
    if (PRESENCE.test(message)) {
      var holder = document.createElement("template");
      holder.innerHTML = message;
      readPresence(holder.content);
      refresh();
      evt.preventDefault();
      return;
    }
    var collab = COLLAB.exec(message);
    // Another conversation's: nothing to update here, and htmx would log a missing target.
    if (collab && !document.getElementById("collab-" + collab[1])) evt.preventDefault();
  });

  // ---- presence and own lines, applied to whatever markup arrives -----------------------------
  function readPresence(root) {
    var carriers = root.querySelectorAll("i[data-presence-user][data-online]");
    for (var i = 0; i < carriers.length; i++) {
      online[carriers[i].getAttribute("data-presence-user")] = carriers[i].getAttribute("data-online") === "1";
      if (carriers[i].parentNode) carriers[i].parentNode.removeChild(carriers[i]);
    }
  }

  // Synchronous, so that an agent never sees their own line flash before it is hidden.
  function refresh() {
    // Carriers that htmx swapped into #presence-events itself (had this script come late) count too.
    var box = document.getElementById("presence-events");
    if (box) readPresence(box);
    document.querySelectorAll("[data-presence-user]").forEach(function (el) {
      var id = el.getAttribute("data-presence-user");
      if (Object.prototype.hasOwnProperty.call(online, id)) el.classList.toggle("online", online[id]);
    });
    var own = me();
    if (own) {
      document.querySelectorAll('.collab [data-user="' + own + '"]').forEach(function (el) { el.hidden = true; });
    }
  }
  ["DOMContentLoaded", "htmx:afterSettle", "htmx:oobAfterSwap", "htmx:wsAfterMessage"].forEach(function (name) {
    document.addEventListener(name, refresh);
  });
})();
