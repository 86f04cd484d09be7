// Handoff pages: live SLA / lease countdowns. (htmx swaps of 400/409 answers: static/js/app.js.)
(function () {
  function fmt(seconds) {
    var s = Math.abs(Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + (m < 10 ? "0" : "") + m + "m";
    if (m) return m + "m " + (r < 10 ? "0" : "") + r + "s";
    return r + "s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var left = (Date.parse(el.dataset.deadline) - now) / 1000;
      var warn = parseFloat(el.dataset.warn || "900");
      el.textContent = left >= 0 ? fmt(left) + " left" : "overdue by " + fmt(left);
      el.classList.toggle("sla-breached", left < 0);
      el.classList.toggle("sla-due_soon", left >= 0 && left <= warn);
      el.classList.toggle("sla-ok", left > warn);
      var box = el.dataset.warnTarget && document.getElementById(el.dataset.warnTarget);
      if (box) box.hidden = !(left <= warn);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
  document.addEventListener("htmx:afterSettle", tick);
})();

// Queue page: the periodic refresh would redraw the rows and drop the ticks of a bulk selection,
// so it pauses while any ticket is ticked.
document.addEventListener("htmx:beforeRequest", function (evt) {
  var elt = evt.detail.elt;
  if (elt && elt.id === "ticket-rows" && document.querySelector(".bulk-pick:checked")) evt.preventDefault();
});

// Ticket page: a saved reply goes into the last text area the reviewer typed in (the note of the
// resolve form by default), at the end of what is there.
(function () {
  var last = null;
  document.addEventListener("focusin", function (evt) {
    if (evt.target.tagName === "TEXTAREA" && evt.target.closest(".ticket-actions")) last = evt.target;
  });
  document.addEventListener("change", function (evt) {
    var select = evt.target;
    if (!select.matches("[data-saved-replies]") || !select.value) return;
    var body = select.selectedOptions[0].dataset.body || "";
    var area = (last && document.body.contains(last)) ? last :
      document.getElementById("id_resolve-note") || document.getElementById("id_note-note");
    if (area) {
      area.value = area.value ? area.value.replace(/\s*$/, "") + "\n" + body : body;
      area.focus();
    }
    select.value = "";
  });
})();
