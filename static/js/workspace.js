// The agent workspace's glue: live updates arrive as htmx out-of-band fragments over the socket.
(function () {
  "use strict";

  // After an outage, come back within seconds: htmx's default "full-jitter" can wait up to 64 s once
  // a few attempts have failed. Exponential from 0.5 s, capped at 5 s, jittered so that a server
  // restart is not met by every agent at the same instant.
  htmx.config.wsReconnectDelay = function (retries) {
    var ceiling = Math.min(5000, 500 * Math.pow(2, retries));
    return ceiling / 2 + Math.random() * ceiling / 2;
  };

  // A refused action answers 409 (the send guard) or 422 (nothing to send, a bad value) with the
  // fragment that says why: show it rather than dropping it.
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "409|422", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
  ];

  // Live events speak of panes that may not be on this screen (a timeline not open, the header of a
  // conversation after a bulk action, a sidebar of another customer): such a fragment is dropped
  // before htmx looks for its target, which it would report as an error.
  htmx.defineExtension("quiet-oob", {
    transformResponse: function (text) {
      if (text.indexOf("hx-swap-oob") === -1) return text;
      var holder = document.createElement("template");
      holder.innerHTML = text;
      var dropped = false;
      Array.prototype.slice.call(holder.content.children).forEach(function (node) {
        var spec = node.getAttribute("hx-swap-oob");
        if (spec === null) return;
        var colon = spec.indexOf(":");
        var selector = colon > 0 ? spec.slice(colon + 1) : node.id ? "#" + CSS.escape(node.id) : "";
        if (selector && !document.querySelector(selector)) { node.remove(); dropped = true; }
      });
      return dropped ? holder.innerHTML : text;
    },
  });

  // Label colours come as data-label-color rather than style="": the Content-Security-Policy refuses
  // inline styles, but a property set from script is allowed. A mutation observer reaches every
  // chip however it arrives (htmx swaps, socket events, the list's own upserts) before it is painted.
  function paintLabels(root) {
    var chips = Array.prototype.slice.call(root.querySelectorAll("[data-label-color]"));
    if (root.matches("[data-label-color]")) chips.push(root);
    chips.forEach(function (chip) { chip.style.setProperty("--label", chip.dataset.labelColor); });
  }
  paintLabels(document.body);  // this script is deferred: the page is parsed by now
  new MutationObserver(function (records) {
    records.forEach(function (record) {
      record.addedNodes.forEach(function (node) { if (node.nodeType === Node.ELEMENT_NODE) paintLabels(node); });
    });
  }).observe(document.body, { childList: true, subtree: true });

  function me() { return document.body.dataset.userId || ""; }

  function cursor() {
    var el = document.getElementById("rt-cursor");
    return el ? el.dataset.cursor : "";
  }

  function openCustomer() {
    var pane = document.querySelector(".timeline-pane");
    return pane ? pane.dataset.customer : "";
  }

  function scrollTimeline() {
    var timeline = document.querySelector(".timeline");
    if (timeline) timeline.scrollTop = timeline.scrollHeight;
  }

  function setConnection(state, label) {
    var el = document.getElementById("connection");
    if (el) { el.dataset.state = state; el.textContent = label; }
  }

  // Times arrive in UTC; show them in the agent's own time zone.
  function localizeTimes() {
    var today = new Date().toDateString();
    document.querySelectorAll("time[datetime]:not([data-local])").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.title = when.toLocaleString();
      el.dataset.local = "1";
      if (el.hasAttribute("data-relative")) return;  // "5 minutes ago" is right anywhere
      var clock = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      el.textContent = when.toDateString() === today ? clock
        : when.toLocaleDateString([], { month: "short", day: "numeric" }) + ", " + clock;
    });
  }
  // A chat visitor's own clock, in their time zone, as the agent reads it.
  function visitorClocks() {
    document.querySelectorAll("time.local-clock[data-zone]").forEach(function (el) {
      try {
        el.textContent = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", timeZone: el.dataset.zone })
          + " (" + el.dataset.zone + ")";
      } catch (e) { /* a zone this browser does not know: the name stays */ }
    });
  }
  setInterval(visitorClocks, 30000);

  // Service-level deadlines count down while the agent watches; past one, the badge says how late
  // (the server's sweep records the breach and tells whoever holds the conversation).
  function span(seconds) {
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
    var m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    if (d) return d + " d" + (h ? " " + h + " h" : "");
    if (h) return h + " h" + (m ? " " + m + " min" : "");
    if (m) return m + " min" + (m < 10 && s ? " " + s + " s" : "");
    return s + " s";
  }
  function slaClocks() {
    var now = Date.now();
    document.querySelectorAll(".sla[data-sla-due]").forEach(function (el) {
      var left = Math.round((new Date(el.dataset.slaDue) - now) / 1000);
      var time = el.querySelector("time");
      if (!time || isNaN(left)) return;
      var shown = left > 60 ? Math.ceil(left / 60) * 60 : Math.abs(left);  // "in 40 min" until 39 min are left
      time.textContent = (left <= 0 ? el.dataset.late : el.dataset.in).replace("%s", span(shown));
      el.classList.toggle("breached", left <= 0);
      el.classList.toggle("soon", left > 0 && left <= 900);
    });
  }
  setInterval(slaClocks, 10000);
  ["DOMContentLoaded", "htmx:afterSettle", "htmx:wsAfterMessage"].forEach(function (name) {
    document.addEventListener(name, localizeTimes);
    document.addEventListener(name, visitorClocks);
    document.addEventListener(name, slaClocks);
  });

  // A fragment can reach us twice (the reply's own response and the socket, or a resync): an
  // element that already exists is never appended again.
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var fragment = evt.detail.fragment;
    if (!fragment || !fragment.querySelector) return;
    if (evt.detail.target && evt.detail.target.id === "conversation-list") {
      // Rows are placed by the list's own rules (its view, filters and sort), never simply prepended.
      evt.detail.shouldSwap = false;
      Array.prototype.slice.call(fragment.querySelectorAll("li.conversation-row")).forEach(window.inboxList.upsert);
      return;
    }
    var first = fragment.firstElementChild || (fragment.children && fragment.children[0]);
    if (first && first.id && first.id !== evt.detail.target.id && document.getElementById(first.id)) {
      evt.detail.shouldSwap = false;
    }
    // Nor is a header replaced by an older one (a resync's answer can trail a live event).
    var updated = first && first.dataset && first.dataset.updated;
    var shownUpdated = evt.detail.target && evt.detail.target.dataset && evt.detail.target.dataset.updated;
    if (updated && shownUpdated && updated < shownUpdated) evt.detail.shouldSwap = false;
    // A resync sends again what did not change (a header, a status): left as it is, so that a click
    // on it at that moment is not lost to a swap.
    if (first && first.id === evt.detail.target.id && first.isEqualNode(evt.detail.target)) {
      evt.detail.shouldSwap = false;
    }
  });

  // A menu that stays open while it is used (the labels, ticked one after another) is open again
  // after its header is swapped, with the focus on the same box, whether the swap is the tick's own
  // answer or a live event.
  var keptOpen = null;
  function rememberMenus(evt) {
    var target = evt.detail.target;
    var menu = target && target.querySelector && target.querySelector("details[data-keep-open][open]");
    if (!menu) return;
    var focused = document.activeElement && menu.contains(document.activeElement) ? document.activeElement : null;
    keptOpen = { id: menu.id, focus: focused && focused.name ? [focused.name, focused.value] : null };
  }
  function reopenMenus() {
    if (!keptOpen) return;
    var menu = document.getElementById(keptOpen.id);
    if (menu) {
      menu.open = true;
      var f = keptOpen.focus;
      var box = f && menu.querySelector('[name="' + f[0] + '"][value="' + CSS.escape(f[1]) + '"]');
      if (box) box.focus();
    }
    keptOpen = null;
  }
  document.addEventListener("htmx:beforeSwap", rememberMenus);
  document.addEventListener("htmx:oobBeforeSwap", rememberMenus);
  document.addEventListener("htmx:afterSwap", reopenMenus);
  document.addEventListener("htmx:oobAfterSwap", reopenMenus);

  // A message fetched by a resync can be older than ones the socket delivered meanwhile: keep the
  // timeline in time order (ISO times in UTC compare as strings).
  function placeInOrder(item) {
    var before = item.previousElementSibling;
    while (before && (before.classList.contains("day") || (before.dataset.at && before.dataset.at > item.dataset.at))) {
      before = before.previousElementSibling;
    }
    if (before !== item.previousElementSibling) before ? before.after(item) : item.parentNode.prepend(item);
  }

  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    var target = evt.detail.target;
    if (target && target.classList && target.classList.contains("timeline")) {
      if (target.lastElementChild && target.lastElementChild.dataset.at) placeInOrder(target.lastElementChild);
      scrollTimeline();
    }
  });

  // Any pub/sub can drop an event (a Redis blip, a reconnect), so the page also asks what changed
  // since its cursor: whenever the socket opens, when a conversation pane arrives, when the tab
  // comes back, and every minute. Only these answers move the cursor; swaps are idempotent.
  var syncing = false;
  function sync() {
    if (syncing || !document.body.dataset.syncUrl) return;
    syncing = true;
    var url = document.body.dataset.syncUrl + "?since=" + encodeURIComponent(cursor());
    if (openCustomer()) url += "&customer=" + encodeURIComponent(openCustomer());
    var pane = document.querySelector(".timeline-pane");
    if (pane) url += "&conversation=" + encodeURIComponent(pane.dataset.conversation);
    // A sync that fails (the server restarting, the session signed out) is simply tried again later.
    htmx.ajax("GET", url, { swap: "none" }).catch(function () {}).finally(function () { syncing = false; });
  }
  setInterval(sync, 60000);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") sync();
  });

  document.addEventListener("htmx:wsOpen", function () {
    setConnection("live", "live");
    sync();
  });
  document.addEventListener("htmx:wsClose", function (evt) {
    if (evt.detail.event && evt.detail.event.code === 4401) {
      // Signed out (here or in another tab) or access withdrawn: the login page is the way back.
      setConnection("offline", "signed out");
      window.location.reload();
      return;
    }
    setConnection("offline", "reconnecting…");
  });

  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "conversation-pane") {
      document.querySelector(".panes").classList.add("has-conversation");
      document.querySelectorAll("details[open]").forEach(function (d) { d.open = false; });
      scrollTimeline();
      sync();
    }
    var input = document.getElementById("reply-text");
    if (input && evt.detail.target && evt.detail.target.id === "composer") input.focus();
  });
  document.addEventListener("DOMContentLoaded", scrollTimeline);

  // On a tablet the customer sidebar opens over the timeline.
  document.addEventListener("click", function (evt) {
    if (evt.target.closest("[data-toggle-customer]")) document.querySelector(".panes").classList.toggle("show-customer");
    if (evt.target.closest("[data-close-customer]")) document.querySelector(".panes").classList.remove("show-customer");
  });

  // Day separators in the agent's own time zone, redrawn whenever the timeline changes.
  function markDays() {
    var timeline = document.querySelector(".timeline");
    if (!timeline) return;
    timeline.querySelectorAll("li.day").forEach(function (day) { day.remove(); });
    var today = new Date().toDateString();
    var yesterday = new Date(Date.now() - 86400000).toDateString();
    var last = "";
    timeline.querySelectorAll("li.message").forEach(function (item) {
      var when = new Date(item.dataset.at);
      var day = when.toDateString();
      if (day === last) return;
      last = day;
      var separator = document.createElement("li");
      separator.className = "day";
      separator.textContent = day === today ? "Today" : day === yesterday ? "Yesterday"
        : when.toLocaleDateString([], { weekday: "short", month: "short", day: "numeric", year: "numeric" });
      item.before(separator);
    });
  }
  ["DOMContentLoaded", "htmx:afterSettle", "htmx:oobAfterSwap"].forEach(function (name) {
    document.addEventListener(name, markDays);
  });

  // Notifications: the count in the title, and the browser's own notifications when allowed.
  function updateTitle() {
    var count = document.getElementById("notif-count");
    var unread = count ? Number(count.dataset.count || 0) : 0;
    var base = document.title.replace(/^\(\d+\) /, "");
    document.title = (unread ? "(" + unread + ") " : "") + base;
  }
  function announce() {
    document.querySelectorAll("#notification-list li[data-fresh]").forEach(function (item) {
      delete item.dataset.fresh;
      if (!("Notification" in window) || Notification.permission !== "granted") return;
      if (!document.hidden && item.dataset.conversation === openConversation()) return;
      var shown = new Notification(item.dataset.title, { body: item.dataset.body, tag: item.id });
      shown.onclick = function () { window.focus(); item.querySelector("a").click(); };
    });
  }
  function offerNotifications() {
    var button = document.querySelector("[data-enable-notifications]");
    if (button) button.hidden = !("Notification" in window) || Notification.permission !== "default";
  }
  document.addEventListener("click", function (evt) {
    if (evt.target.matches("[data-enable-notifications]")) Notification.requestPermission().then(offerNotifications);
  });
  ["DOMContentLoaded", "htmx:afterSettle", "htmx:wsAfterMessage"].forEach(function (name) {
    document.addEventListener(name, function () { updateTitle(); announce(); offerNotifications(); });
  });
})();
