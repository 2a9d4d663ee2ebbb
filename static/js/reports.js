// The reports page: tables for screen readers shown on request, and the range kept consistent with
// the dates typed.
(function () {
  "use strict";
  const form = document.getElementById("report-filters");
  if (!form) return;
  const range = form.elements.range;
  for (const name of ["from", "to"]) {
    form.elements[name].addEventListener("change", () => { range.value = "custom"; });
  }
  range.addEventListener("change", () => { if (range.value !== "custom") form.requestSubmit(); });
  for (const input of form.querySelectorAll("select:not([name=range]), input[type=radio]")) {
    input.addEventListener("change", () => form.requestSubmit());
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-toggle-table]");
    if (!button) return;
    const table = document.getElementById(button.dataset.toggleTable);
    const hidden = table.classList.toggle("visually-hidden");
    button.setAttribute("aria-expanded", String(!hidden));
  });
})();
