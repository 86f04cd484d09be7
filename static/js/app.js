// Tell the server the browser's timezone so times are shown locally (see UserTimezoneMiddleware).
(function () {
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.indexOf("tz=" + tz) === -1) {
      document.cookie = "tz=" + tz + ";path=/;max-age=31536000;SameSite=Lax";
    }
  } catch (e) { /* older browsers: times stay in UTC */ }
})();

// Plotly figures are embedded as JSON in <script type="application/json" data-plotly="id">;
// render them on load and after every htmx swap, so partial refreshes redraw charts in place.
function renderPlotlyFigures(root) {
  if (!window.Plotly) return;
  (root || document).querySelectorAll("script[data-plotly]").forEach(function (node) {
    var target = document.getElementById(node.dataset.plotly);
    if (!target) return;
    var fig = JSON.parse(node.textContent);
    var config = Object.assign({ responsive: true, displaylogo: false }, fig.config || {});
    window.Plotly.react(target, fig.data || [], fig.layout || {}, config);
    target.dataset.rendered = "1";
  });
}
document.addEventListener("DOMContentLoaded", function () { renderPlotlyFigures(document); });
document.addEventListener("htmx:afterSettle", function (evt) { renderPlotlyFigures(evt.detail.elt); });
