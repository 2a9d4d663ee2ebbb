// The settings pages: copy buttons, confirmations, and the widget's live preview.
(function () {
  "use strict";

  function copyText(text) {
    // Plain-http sites have no clipboard API, and it refuses a page without focus: then select the
    // text and copy the old way.
    if (!navigator.clipboard || !window.isSecureContext) return copyByHand(text);
    // The clipboard API may also wait on the browser (a permission, focus): not more than a second.
    var waited = new Promise(function (resolve, reject) { setTimeout(reject, 1000); });
    return Promise.race([navigator.clipboard.writeText(text), waited]).catch(function () { return copyByHand(text); });
  }

  function copyByHand(text) {
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.dataset.copy);
    if (!source) return;
    copyText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    });
  });

  document.addEventListener("submit", function (event) {
    var button = event.submitter && event.submitter.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });

  // The preview shows the unsaved colour, greeting and pre-chat questions as they are typed.
  var preview = document.getElementById("widget-preview");
  if (!preview) return;
  var timer = null;
  function refresh() {
    var params = new URLSearchParams();
    var colour = document.getElementById("id_color");
    var greeting = document.getElementById("id_greeting");
    if (colour) params.set("color", colour.value);
    if (greeting) params.set("greeting", greeting.value);
    var asked = Array.prototype.map.call(document.querySelectorAll("input[name=prechat_fields]:checked"), function (box) { return box.value; });
    params.set("prechat", asked.join(","));
    var required = document.getElementById("id_prechat_required");
    if (required && required.checked) params.set("prechat_required", "1");
    preview.src = preview.dataset.previewBase + "&" + params.toString();
  }
  document.addEventListener("input", function (event) {
    if (!event.target.closest("#id_color, #id_greeting, [name=prechat_fields], #id_prechat_required")) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  });
})();
