// ROI report filters: show only the inputs the chosen period uses. Without JavaScript every input
// is visible and the server ignores the ones the period does not need.
(function () {
  function sync(form) {
    var period = form.querySelector("[name=period]");
    if (!period) return;
    form.querySelectorAll("[data-period-only]").forEach(function (el) {
      el.hidden = el.dataset.periodOnly.split(" ").indexOf(period.value) === -1;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("roi-filters");
    if (!form) return;
    sync(form);
    form.addEventListener("change", function () { sync(form); });
  });
})();

