/*
 * The website chat widget. Embed with:
 *   <script src="https://YOUR-INBOX/static/widget/widget.js" data-inbox-token="TOKEN" async></script>
 * A site that knows its user may vouch for them (identity_hash = HMAC-SHA256(inbox secret, email),
 * computed on the site's server):
 *   <script ... data-email="ada@example.com" data-name="Ada" data-identity-hash="..."></script>
 * or set window.InboxWidgetSettings = {email, name, identityHash} before the script loads.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__inboxWidgetLoaded) return;
  window.__inboxWidgetLoaded = true;

  var token = script.dataset.inboxToken;
  var settings = window.InboxWidgetSettings || {};
  var identity = {
    email: settings.email || script.dataset.email || "",
    name: settings.name || script.dataset.name || "",
    identity_hash: settings.identityHash || script.dataset.identityHash || ""
  };
  var base = new URL(script.src);
  var socketUrl = (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/ws/widget/" + encodeURIComponent(token) + "/";
  var storageKey = "inbox-widget:" + token;
  var prechatKey = storageKey + ":prechat";
  // The settings page's live preview passes unsaved look and pre-chat settings on the script tag.
  var preview = script.dataset.preview ? {
    color: script.dataset.previewColor || "",
    greeting: script.dataset.previewGreeting || "",
    prechat: {
      fields: (script.dataset.previewPrechat || "").split(",").filter(Boolean),
      required: !!script.dataset.previewPrechatRequired
    }
  } : null;
  try {
    var answered = JSON.parse(localStorage.getItem(prechatKey) || "null");
    if (answered && !identity.email && !identity.name) { identity.email = answered.email || ""; identity.name = answered.name || ""; }
  } catch (e) { answered = null; }

  var socket = null;
  var retries = 0;
  var pending = {};      // client id -> text, until the server acknowledges it
  var shown = {};        // server message ids already on screen

  // Where the visitor is, for the team: the page, how they came, their time zone and language.
  function context() {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* an old browser */ }
    return { page: location.href, title: document.title, referrer: document.referrer, time_zone: zone,
             language: navigator.language || "" };
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  // ---- the view, in a shadow root so that the host page's CSS cannot break it -------------
  var host = document.createElement("div");
  host.id = "inbox-chat-widget";
  document.body.appendChild(host);
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  // Styles go in as a constructed stylesheet where the browser has them: a website whose
  // Content-Security-Policy forbids inline styles refuses a <style> element, not a stylesheet built
  // by script. Older browsers get the <style> element.
  var css =
    ':host{all:initial}[hidden]{display:none!important}' +
    '.badge{position:absolute;top:-4px;inset-inline-end:-4px;min-width:20px;height:20px;border-radius:10px;background:#d92d20;color:#fff;font:600 12px/20px system-ui,sans-serif;text-align:center;display:none}' +
    '.bubble svg{width:28px;height:28px;fill:#fff}' +
    '.greeting{align-self:center;color:#667085;font-size:13px;text-align:center}' +
    '.bubble{position:fixed;inset-inline-end:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;background:var(--accent,#1f6feb);color:#fff;font:600 24px system-ui,sans-serif;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483646}' +
    '.panel{position:fixed;inset-inline-end:20px;bottom:88px;width:340px;max-width:calc(100vw - 40px);height:460px;max-height:calc(100vh - 120px);display:none;flex-direction:column;background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);font:14px/1.4 system-ui,sans-serif;color:#1b1f24;overflow:hidden;z-index:2147483647}' +
    '.panel.open{display:flex}' +
    'header{padding:12px 16px;background:var(--accent,#1f6feb);color:#fff;font-weight:600;display:flex;justify-content:space-between}' +
    'header .state{font-weight:400;font-size:12px;opacity:.85}' +
    '.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:6px;margin:0;list-style:none}' +
    '.msg{max-width:80%;padding:8px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}' +
    '.msg.visitor{align-self:flex-end;background:var(--accent,#1f6feb);color:#fff}' +
    '.msg.agent{align-self:flex-start;background:#eef1f5}' +
    '.msg .author{display:block;font-size:11px;opacity:.7}' +
    '.msg.pending{opacity:.6}' +
    '.msg.failed{background:#fee4e2;color:#912018}' +
    '.msg.failed::after{content:" (not sent)";font-size:11px}' +
    '.notice{font-size:12px;color:#a40e26;padding:0 12px}' +
    '.prechat{padding:12px 16px;display:flex;flex-direction:column;gap:8px;border-bottom:1px solid #eaecf0}' +
    '.prechat p{margin:0;color:#475467}.prechat input{font:inherit;padding:6px 8px;border:1px solid #d0d5dd;border-radius:6px}' +
    '.prechat .start{border:0;border-radius:6px;background:var(--accent,#1f6feb);color:#fff;padding:6px 12px;font:inherit;cursor:pointer}' +
    '.prechat .skip{border:0;background:none;color:#475467;cursor:pointer;font:inherit}' +
    '.typing{font-size:12px;color:#667085;padding:0 12px 4px;margin:0;display:none}' +
    '.typing.on{display:block}' +
    'form{display:flex;border-top:1px solid #e3e6ea}' +
    'textarea{flex:1;border:0;padding:10px;font:inherit;resize:none;height:44px}' +
    'button.send{border:0;background:none;color:var(--accent,#1f6feb);font-weight:600;padding:0 14px;cursor:pointer}' +
    '.row{display:flex;gap:6px;align-items:flex-end;max-width:85%}.row.visitor{align-self:flex-end;flex-direction:row-reverse}' +
    '.row.agent{align-self:flex-start}.row .msg{max-width:100%}' +
    '.avatar{flex:none;width:26px;height:26px;border-radius:50%;background:#475467;color:#fff;font:600 11px/26px system-ui,sans-serif;text-align:center}' +
    '.msg time{display:block;font-size:10px;opacity:.65;margin-top:2px}' +
    '.msg .files{display:flex;flex-direction:column;gap:4px;margin-top:4px}' +
    '.msg .files img{display:block;max-width:200px;max-height:160px;border-radius:6px}' +
    '.msg .files a{color:inherit}' +
    '.tools{display:flex;align-items:center;border-top:1px solid #e3e6ea}' +
    '.tools button{border:0;background:none;font-size:18px;padding:6px 8px;cursor:pointer;color:#475467}' +
    '.tools .hint{font-size:11px;color:#667085}' +
    '.emoji{display:grid;grid-template-columns:repeat(8,1fr);gap:2px;padding:6px;border-top:1px solid #e3e6ea}' +
    '.emoji button{border:0;background:none;font-size:20px;cursor:pointer;border-radius:4px}.emoji button:hover{background:#eef1f5}' +
    '.drop{outline:2px dashed var(--accent,#1f6feb);outline-offset:-6px}' +
    '.availability{margin:0;padding:8px 12px;font-size:12px;color:#475467;background:#f8f9fb;border-bottom:1px solid #eaecf0}' +
    '.availability.away{background:#fffaeb;color:#93370d}' +
    '.availability form{display:flex;gap:6px;margin-top:6px;border:0}.availability input{flex:1;font:inherit;padding:4px 6px;border:1px solid #d0d5dd;border-radius:6px}' +
    '.availability button{border:0;border-radius:6px;background:var(--accent,#1f6feb);color:#fff;padding:4px 10px;font:inherit;cursor:pointer}' +
    '.survey{display:flex;flex-direction:column;gap:6px;margin-top:6px}.survey .scale{display:flex;gap:4px}' +
    '.survey .scale button{flex:1;border:1px solid #d0d5dd;background:#fff;border-radius:6px;padding:4px 0;font:600 14px system-ui,sans-serif;cursor:pointer;color:#1b1f24}' +
    '.survey .scale button:hover,.survey .scale button:focus{border-color:var(--accent,#1f6feb)}' +
    '.survey .labels{display:flex;justify-content:space-between;font-size:10px;color:#667085}' +
    '.survey textarea{height:52px;border:1px solid #d0d5dd;border-radius:6px}.survey .done{font-size:13px}' +
    '.survey .send-comment{align-self:flex-end;border:0;border-radius:6px;background:var(--accent,#1f6feb);color:#fff;padding:4px 10px;font:inherit;cursor:pointer}' +
    '.stars{color:#f5b301;letter-spacing:1px}';
  var constructed = root.adoptedStyleSheets !== undefined && window.CSSStyleSheet && "replaceSync" in CSSStyleSheet.prototype;
  root.innerHTML =
    (constructed ? '' : '<style>' + css + '</style>') +
    '<button class="bubble" type="button" aria-label="Open chat">' +
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>' +
    '<span class="badge" aria-live="polite"></span></button>' +
    '<section class="panel" role="dialog" aria-label="Chat">' +
    '<header><span>Chat with us</span><span class="state">connecting…</span></header>' +
    '<form class="prechat" hidden><p>Before we start:</p>' +
    '<input name="name" dir="auto" autocomplete="name" placeholder="Your name" aria-label="Your name" hidden>' +
    '<input name="email" type="email" autocomplete="email" placeholder="Your email" aria-label="Your email" hidden>' +
    '<div><button class="start" type="submit">Start chat</button> <button class="skip" type="button">Skip</button></div></form>' +
    '<div class="availability" hidden aria-live="polite"><span class="said"></span>' +
    '<form class="email-me" hidden><input name="email" type="email" autocomplete="email" placeholder="Your email" aria-label="Your email">' +
    '<button type="submit">Notify me</button></form></div>' +
    '<ol class="log" aria-live="polite"></ol><p class="typing" aria-live="polite"></p><p class="notice" role="alert"></p>' +
    '<div class="emoji" hidden role="listbox" aria-label="Emoji"></div>' +
    '<div class="tools"><button type="button" class="emoji-toggle" aria-label="Emoji" title="Emoji">☺</button>' +
    '<button type="button" class="attach" aria-label="Send a file" title="Send a picture or a file">📎</button>' +
    '<input type="file" class="file" hidden accept="image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain">' +
    '<span class="hint">or drop a file here</span></div>' +
    '<form><textarea name="text" dir="auto" maxlength="10000" placeholder="Write a message…" aria-label="Message"></textarea>' +
    '<button class="send" type="submit">Send</button></form></section>';
  if (constructed) {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  }

  var bubble = root.querySelector(".bubble");
  var panel = root.querySelector(".panel");
  var log = root.querySelector(".log");
  var notice = root.querySelector(".notice");
  var stateLabel = root.querySelector(".state");
  var form = root.querySelector("form:not(.prechat)");
  var prechatForm = root.querySelector("form.prechat");
  var input = root.querySelector("textarea");
  var badge = root.querySelector(".badge");
  var typingLine = root.querySelector(".typing");
  var unread = 0;

  // "Sam is typing…" while an agent writes a reply; it fades by itself unless renewed (every 3 s).
  var agentTypingTimer = null;
  function showAgentTyping(name) {
    typingLine.textContent = (name || "Someone") + " is typing…";
    typingLine.classList.add("on");
    clearTimeout(agentTypingTimer);
    agentTypingTimer = setTimeout(hideAgentTyping, 6000);
  }
  function hideAgentTyping() {
    clearTimeout(agentTypingTimer);
    typingLine.classList.remove("on");
    typingLine.textContent = "";
  }

  // Tell the team the visitor is typing: at most every 3 s while keys are pressed, "stopped"
  // after 5 s without a key (the server forgets it by itself once a message is sent).
  var typingSentAt = 0;
  var typingIdle = null;
  function stopTyping(tell) {
    clearTimeout(typingIdle);
    if (typingSentAt && tell) send({ type: "typing", typing: false });
    typingSentAt = 0;
  }
  function noteTyping() {
    if (!input.value.trim()) { stopTyping(true); return; }
    var now = Date.now();
    if (now - typingSentAt >= 3000) { typingSentAt = now; send({ type: "typing", typing: true }); }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(function () { stopTyping(true); }, 5000);
  }

  function showUnread(count) {
    unread = count;
    badge.textContent = count > 9 ? "9+" : String(count);
    badge.style.display = count ? "block" : "none";
  }

  bubble.addEventListener("click", function () {
    panel.classList.toggle("open");
    if (panel.classList.contains("open")) { input.focus(); showUnread(0); sendReceipts(); }
  });

  function render(message, clientId, opts) {
    if (message.id && shown[message.id]) return;
    if (message.client_id && log.querySelector('[data-client-id="' + message.client_id + '"]')) {
      confirm(message.client_id, message);
      return;
    }
    var row = document.createElement("li");
    row.className = "row " + (message.sender === "visitor" ? "visitor" : "agent");
    if (message.sender !== "visitor") {
      var avatar = document.createElement("span");
      avatar.className = "avatar";
      avatar.setAttribute("aria-hidden", "true");
      avatar.textContent = initials(message.author);
      row.appendChild(avatar);
    }
    var li = document.createElement("div");
    row.appendChild(li);
    li.className = "msg " + (message.sender === "visitor" ? "visitor" : "agent") + (clientId ? " pending" : "");
    if (message.sender !== "visitor" && message.author) {
      var who = document.createElement("span");
      who.className = "author";
      who.dir = "auto";
      who.textContent = message.author;
      li.appendChild(who);
    }
    // Each piece of text takes its own direction (an Arabic reply under a Latin name, or the reverse).
    var text = document.createElement("span");
    text.className = "text";
    text.dir = "auto";
    text.textContent = message.text;
    if (message.rating) {
      var rated = document.createElement("span");
      rated.className = "stars";
      rated.setAttribute("aria-label", "Rated " + message.rating + " out of 5");
      rated.textContent = "★★★★★".slice(0, message.rating) + "☆☆☆☆☆".slice(message.rating);
      li.appendChild(rated);
      if (message.text) li.appendChild(document.createElement("br"));
    }
    if (message.text) li.appendChild(text);
    showFiles(li, message.files || []);
    if (message.survey) showSurvey(li, message.survey);
    var when = document.createElement("time");
    var at = message.sent_at ? new Date(message.sent_at) : new Date();
    when.dateTime = at.toISOString();
    when.textContent = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    li.appendChild(when);
    if (clientId) li.dataset.clientId = clientId;
    if (message.id) { li.dataset.messageId = message.id; shown[message.id] = true; }
    log.appendChild(row);
    log.scrollTop = log.scrollHeight;
    if (message.sender === "agent" && message.id && !receipts[message.id]) {
      receipts[message.id] = "new";
      if (!panel.classList.contains("open") && opts && opts.live) showUnread(unread + 1);
      setTimeout(sendReceipts, 0);
    }
  }

  // The satisfaction question: five buttons, then thanks and room for a comment.
  var surveys = {};  // token -> the survey box on screen
  function showSurvey(li, survey) {
    var box = document.createElement("div");
    box.className = "survey";
    surveys[survey.token] = box;
    li.appendChild(box);
    surveyState(box, survey);
  }
  function surveyState(box, survey) {
    box.textContent = "";
    if (!survey.rating) {
      var scale = document.createElement("div");
      scale.className = "scale";
      scale.setAttribute("role", "group");
      scale.setAttribute("aria-label", "Your rating");
      for (var n = 1; n <= 5; n++) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = String(n);
        button.title = survey.labels[n - 1];
        button.setAttribute("aria-label", n + ": " + survey.labels[n - 1]);
        button.dataset.rating = String(n);
        scale.appendChild(button);
      }
      scale.addEventListener("click", function (evt) {
        var rating = Number(evt.target.dataset && evt.target.dataset.rating);
        if (rating) send({ type: "survey", token: survey.token, rating: rating });
      });
      var ends = document.createElement("div");
      ends.className = "labels";
      ends.innerHTML = "<span></span><span></span>";
      ends.firstChild.textContent = survey.labels[0];
      ends.lastChild.textContent = survey.labels[4];
      box.appendChild(scale);
      box.appendChild(ends);
      return;
    }
    var done = document.createElement("span");
    done.className = "done";
    done.textContent = "Thank you! You rated " + survey.rating + " out of 5.";
    box.appendChild(done);
    if (survey.comment) return;
    var comment = document.createElement("textarea");
    comment.dir = "auto";
    comment.maxLength = 2000;
    comment.placeholder = "Anything you would like to add? (optional)";
    comment.setAttribute("aria-label", "Comment");
    var sendComment = document.createElement("button");
    sendComment.type = "button";
    sendComment.className = "send-comment";
    sendComment.textContent = "Send";
    sendComment.addEventListener("click", function () {
      if (comment.value.trim()) send({ type: "survey", token: survey.token, rating: survey.rating, comment: comment.value.trim() });
    });
    box.appendChild(comment);
    box.appendChild(sendComment);
  }

  // The team's availability: away outside business hours (with a way to be answered by email), and
  // how soon it usually replies.
  var availability = root.querySelector(".availability");
  var emailMe = root.querySelector("form.email-me");
  function spanWords(seconds) {
    if (seconds < 600) return "a few minutes";
    if (seconds < 3600) return Math.ceil(seconds / 600) * 10 + " minutes";
    if (seconds < 86400) { var hours = Math.ceil(seconds / 3600); return hours === 1 ? "an hour" : hours + " hours"; }
    var days = Math.ceil(seconds / 86400);
    return days === 1 ? "a day" : days + " days";
  }
  function showAvailability(data) {
    var said = [];
    if (data.away) {
      said.push("We are away right now.");
      if (data.back_at) {
        var back = new Date(data.back_at);
        said.push("We are back " + back.toLocaleString([], { weekday: "long", hour: "2-digit", minute: "2-digit" }) + ".");
      }
    }
    if (data.reply_within) said.push("We usually reply within " + spanWords(data.reply_within) + ".");
    availability.querySelector(".said").textContent = said.join(" ");
    availability.classList.toggle("away", !!data.away);
    availability.hidden = !said.length;
    emailMe.hidden = !data.away || !!identity.email;
    stateLabel.textContent = data.away ? "away" : "online";
  }
  emailMe.addEventListener("submit", function (evt) {
    evt.preventDefault();
    var email = emailMe.elements.email.value.trim();
    if (!email) return;
    identity.email = email;
    answered = { name: identity.name, email: email };
    localStorage.setItem(prechatKey, JSON.stringify(answered));
    send({ type: "hello", visitor_token: localStorage.getItem(storageKey), identity: identity, context: context() });
    send({ type: "contact", email: email });
  });

  function initials(name) {
    var words = (name || "").trim().split(/\s+/).filter(Boolean);
    if (!words.length) return "•";
    return (words[0][0] + (words.length > 1 ? words[words.length - 1][0] : "")).toUpperCase();
  }

  // Pictures show as pictures; any other file as its name, opened from its signed link.
  function showFiles(li, files) {
    var box = li.querySelector(".files");
    if (box) box.remove();
    if (!files.length) return;
    box = document.createElement("div");
    box.className = "files";
    files.forEach(function (file) {
      var link = document.createElement("a");
      link.href = file.url || "#";
      link.target = "_blank";
      link.rel = "noopener";
      if (/^image\//.test(file.type) && (file.url || file.preview)) {
        var img = document.createElement("img");
        img.src = file.preview || file.url;
        img.alt = file.name;
        link.appendChild(img);
      } else {
        link.dir = "auto";
        link.textContent = "📄 " + file.name;
      }
      box.appendChild(link);
    });
    var time = li.querySelector("time");
    li.insertBefore(box, time || null);
  }

  function confirm(clientId, message) {
    delete pending[clientId];
    var li = log.querySelector('[data-client-id="' + clientId + '"]');
    if (li) {
      li.classList.remove("pending");
      if (message && message.id) { li.dataset.messageId = message.id; shown[message.id] = true; }
      if (message && message.files && message.files.length) showFiles(li, message.files);
    } else if (message) {
      render(message);
    }
  }

  // Tell the inbox which agent messages reached the visitor, and which they have seen.
  var receipts = {};  // message id -> "delivered" | "read"
  function visible() { return panel.classList.contains("open") && document.visibilityState === "visible"; }
  function sendReceipts() {
    var status = visible() ? "read" : "delivered";
    var ids = Object.keys(receipts).filter(function (id) {
      return receipts[id] !== "read" && (status === "read" || receipts[id] !== "delivered");
    }).map(Number);
    if (!ids.length || !socket || socket.readyState !== WebSocket.OPEN) return;
    ids.forEach(function (id) { receipts[id] = status; });
    send({ type: "receipt", status: status, ids: ids.slice(0, 100) });
  }
  document.addEventListener("visibilitychange", sendReceipts);

  // A message the inbox will never take (too long, empty): say so and stop resending it.
  function refuse(clientId, reason) {
    delete pending[clientId];
    var li = log.querySelector('[data-client-id="' + clientId + '"]');
    if (li) { li.classList.remove("pending"); li.classList.add("failed"); li.title = "Not sent: " + reason; }
    delete uploads[clientId];
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  // Pre-chat questions: asked once, before the first message, unless the website already said who
  // the visitor is. What is typed is a claim, shown to agents as unverified.
  function askBeforeChat(prechat, hasHistory) {
    var fields = (prechat && prechat.fields) || [];
    var known = identity.email || identity.name || answered;
    if (!fields.length || known || hasHistory) { prechatForm.hidden = true; input.disabled = false; return; }
    fields.forEach(function (name) {
      var field = prechatForm.querySelector('[name="' + name + '"]');
      if (field) { field.hidden = false; field.required = !!prechat.required; }
    });
    prechatForm.querySelector(".skip").hidden = !!prechat.required;
    prechatForm.hidden = false;
    input.disabled = !!prechat.required;
  }
  function prechatDone(values) {
    answered = values;
    localStorage.setItem(prechatKey, JSON.stringify(values));
    identity.name = values.name || identity.name;
    identity.email = values.email || identity.email;
    prechatForm.hidden = true;
    input.disabled = false;
    input.focus();
    // Say who they are now: the next message carries it.
    send({ type: "hello", visitor_token: localStorage.getItem(storageKey), identity: identity, context: context() });
  }
  prechatForm.addEventListener("submit", function (evt) {
    evt.preventDefault();
    prechatDone({ name: prechatForm.elements.name.value.trim(), email: prechatForm.elements.email.value.trim() });
  });
  prechatForm.querySelector(".skip").addEventListener("click", function () { prechatDone({}); });

  function connect() {
    socket = new WebSocket(socketUrl);
    socket.addEventListener("open", function () {
      retries = 0;
      stateLabel.textContent = "online";
      send({ type: "hello", visitor_token: localStorage.getItem(storageKey), identity: identity, context: context() });
    });
    socket.addEventListener("message", function (evt) {
      var data;
      try { data = JSON.parse(evt.data); } catch (e) { return; }
      if (data.type === "welcome") {
        localStorage.setItem(storageKey, data.visitor_token);
        var look = preview || data;
        if (look.color) host.style.setProperty("--accent", look.color);
        if (look.greeting && !log.querySelector(".greeting")) {
          var greeting = document.createElement("li");
          greeting.className = "greeting";
          greeting.dir = "auto";
          greeting.textContent = look.greeting;
          log.insertBefore(greeting, log.firstChild);
        }
        (data.history || []).forEach(function (m) { render(m); });
        showAvailability(data);
        askBeforeChat(look.prechat, (data.history || []).length > 0);
        // Anything typed while offline goes now; the server ignores a second copy.
        Object.keys(pending).forEach(function (id) { send({ type: "message", id: id, text: pending[id] }); });
      } else if (data.type === "message") {
        if (data.message && data.message.sender === "agent") hideAgentTyping();
        render(data.message, null, { live: true });
      } else if (data.type === "survey") {
        if (surveys[data.token]) surveyState(surveys[data.token], { token: data.token, rating: data.rating, comment: data.comment });
      } else if (data.type === "contact") {
        emailMe.hidden = true;
        availability.querySelector(".said").textContent = "Thank you: we will write to " + data.email + " as soon as we are back.";
      } else if (data.type === "typing") {
        if (data.typing) showAgentTyping(data.name); else hideAgentTyping();
      } else if (data.type === "ack") {
        // An ack without a message id means stored, and waiting to be processed: not lost.
        notice.textContent = data.message_id ? "" : "Received. The team will see it shortly.";
        confirm(data.id, data.message);
      } else if (data.type === "error") {
        notice.textContent = data.message;
        if (data.id && pending[data.id] !== undefined) {
          if (data.code === "rate_limited") {
            var id = data.id;
            setTimeout(function () { if (pending[id] !== undefined) send({ type: "message", id: id, text: pending[id] }); }, 10000);
          } else {
            refuse(data.id, data.message);
          }
        }
      }
    });
    socket.addEventListener("close", function (evt) {
      stateLabel.textContent = "reconnecting…";
      hideAgentTyping();
      stopTyping(false);
      if (evt.code === 4404 || evt.code === 4403) { stateLabel.textContent = "unavailable"; return; }
      retries += 1;
      setTimeout(connect, Math.min(30000, 500 * Math.pow(2, retries)) * (0.5 + Math.random()));
    });
  }

  form.addEventListener("submit", function (evt) {
    evt.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    var clientId = uuid();
    pending[clientId] = text;
    render({ sender: "visitor", text: text }, clientId);
    input.value = "";
    stopTyping(false);
    send({ type: "message", id: clientId, text: text });
  });
  input.addEventListener("input", noteTyping);
  input.addEventListener("keydown", function (evt) {
    if (evt.key === "Enter" && !evt.shiftKey) { evt.preventDefault(); form.requestSubmit(); }
  });

  // ---- files: picked, dropped or pasted; sent over HTTP (a socket frame is kept small) --------
  var uploads = {};  // client id -> file, until the server answers
  var uploadUrl = base.origin + "/widget/" + encodeURIComponent(token) + "/upload/";
  var picker = root.querySelector("input.file");
  function sendFile(file) {
    var clientId = uuid();
    uploads[clientId] = file;
    var caption = input.value.trim();
    input.value = "";
    var local = /^image\//.test(file.type) ? URL.createObjectURL(file) : "";
    render({ sender: "visitor", text: caption, files: [{ name: file.name, type: file.type, preview: local }] }, clientId);
    var body = new FormData();
    body.append("file", file);
    body.append("id", clientId);
    body.append("text", caption);
    body.append("visitor_token", localStorage.getItem(storageKey) || "");
    Object.keys(identity).forEach(function (key) { body.append(key, identity[key]); });
    var where = context();
    Object.keys(where).forEach(function (key) { body.append(key, where[key]); });
    fetch(uploadUrl, { method: "POST", body: body, mode: "cors", credentials: "omit" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        delete uploads[clientId];
        if (data.type === "ack") { notice.textContent = ""; confirm(clientId, data.message); }
        else { notice.textContent = data.message; refuse(clientId, data.message); }
      })
      .catch(function () {
        notice.textContent = "The file could not be sent. Check your connection and try again.";
        refuse(clientId, "no connection");
      });
  }
  root.querySelector("button.attach").addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    Array.prototype.forEach.call(picker.files, sendFile);
    picker.value = "";
  });
  input.addEventListener("paste", function (evt) {
    var files = (evt.clipboardData && evt.clipboardData.files) || [];
    if (!files.length) return;
    evt.preventDefault();
    Array.prototype.forEach.call(files, sendFile);
  });
  panel.addEventListener("dragover", function (evt) { evt.preventDefault(); panel.classList.add("drop"); });
  panel.addEventListener("dragleave", function () { panel.classList.remove("drop"); });
  panel.addEventListener("drop", function (evt) {
    evt.preventDefault();
    panel.classList.remove("drop");
    Array.prototype.forEach.call((evt.dataTransfer && evt.dataTransfer.files) || [], sendFile);
  });

  // ---- emoji: the ones people use most in support chats, one click away ---------------------
  var EMOJI = "😀 😊 🙂 😉 😍 😂 🤔 😅 😢 😮 😡 🙏 👍 👎 👌 👋 🙌 👏 🎉 ❤️ 💯 ✅ ❌ ⚠️ 📦 🚚 💳 🧾 📞 ✉️ ⏰ 🎁".split(" ");
  var emojiBox = root.querySelector(".emoji");
  EMOJI.forEach(function (emoji) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = emoji;
    button.setAttribute("role", "option");
    emojiBox.appendChild(button);
  });
  root.querySelector(".emoji-toggle").addEventListener("click", function () { emojiBox.hidden = !emojiBox.hidden; });
  emojiBox.addEventListener("click", function (evt) {
    if (evt.target.tagName !== "BUTTON") return;
    var at = input.selectionStart || input.value.length;
    input.value = input.value.slice(0, at) + evt.target.textContent + input.value.slice(input.selectionEnd || at);
    input.focus();
    input.setSelectionRange(at + evt.target.textContent.length, at + evt.target.textContent.length);
    emojiBox.hidden = true;
  });

  connect();
})();
