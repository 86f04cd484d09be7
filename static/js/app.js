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
    figuresTable(target, fig);
  });
}

// Every chart's text alternative: its figures as a table, folded under the chart ("Figures as a
// table"), built from the same data the chart draws (x and y of each trace; pie labels and values).
// The one number rule of the pages (agentops/formatting.py): separators, at most four decimals.
function chartNumber(value) {
  return value.toLocaleString("en-US", { maximumFractionDigits: 4 });
}

function figuresTable(target, fig) {
  var id = target.id + "-figures";
  var old = document.getElementById(id);
  if (old) old.remove();
  var traces = (fig.data || []).filter(function (t) { return (t.x || t.labels) && (t.y || t.values); });
  if (!traces.length) return;
  var title = (fig.layout && fig.layout.title && (fig.layout.title.text || fig.layout.title)) ||
    target.getAttribute("aria-label") || "Chart";
  var box = document.createElement("details");
  box.id = id;
  box.className = "chart-figures";
  var summary = document.createElement("summary");
  summary.textContent = "Figures as a table";
  box.appendChild(summary);
  traces.forEach(function (t, n) {
    var xs = t.labels || t.x, ys = t.values || t.y;
    if (t.orientation === "h") { xs = t.y; ys = t.x; }
    var table = document.createElement("table");
    var caption = document.createElement("caption");
    caption.textContent = (typeof title === "string" ? title : "Chart") + (t.name ? ": " + t.name : traces.length > 1 ? " (" + (n + 1) + ")" : "");
    table.appendChild(caption);
    var head = table.createTHead().insertRow();
    ["", t.name || "value"].forEach(function (label) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = label;
      head.appendChild(th);
    });
    var body = table.createTBody();
    for (var i = 0; i < Math.min(xs.length, 500); i++) {
      var row = body.insertRow();
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = typeof xs[i] === "number" ? chartNumber(xs[i]) : xs[i];
      row.appendChild(th);
      var td = row.insertCell();
      td.className = "num";
      td.textContent = typeof ys[i] === "number" ? chartNumber(ys[i]) : ys[i];
    }
    box.appendChild(table);
  });
  target.insertAdjacentElement("afterend", box);
}
document.addEventListener("DOMContentLoaded", function () { renderPlotlyFigures(document); });
document.addEventListener("htmx:afterSettle", function (evt) { renderPlotlyFigures(evt.detail.elt); });

// htmx answers with 4xx: a form error (400, 422) or a conflict (409) is a page fragment meant for the
// request's target, so swap it in place; any other refusal (403, 404, 405, 5xx) leaves the page
// alone and shows its message in a banner. In DEBUG, django-htmx's helper would replace the whole
// document with the error answer (unstyled, no layout): the capture listener below runs first and
// keeps it from doing so for answers we handle, in debug and production alike.
(function () {
  var SWAPPED = [400, 409, 422];

  function fragmentFor(html, target) {
    // A full page answered (a view without a partial for this request): take the target's element.
    if (!/<html[\s>]/i.test(html) || !target || !target.id) return html;
    var doc = new DOMParser().parseFromString(html, "text/html");
    var el = doc.getElementById(target.id);
    return el ? el.outerHTML : null;
  }

  function errorText(xhr) {
    var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var msg = doc.querySelector("[data-error-message], .error-page p, .form-error");
    var text = msg ? msg.textContent.trim() : "";
    return "The request failed (" + xhr.status + ")" + (text ? ": " + text : ".");
  }

  window.showErrorBanner = function (text) {
    var main = document.getElementById("main");
    if (!main) return;
    var box = document.getElementById("htmx-error");
    if (!box) {
      box = document.createElement("div");
      box.id = "htmx-error";
      box.className = "flash flash-error";
      box.setAttribute("role", "alert");
      main.insertBefore(box, main.firstChild);
    }
    box.textContent = text;
  };

  window.addEventListener("htmx:beforeOnLoad", function (evt) {
    var status = evt.detail.xhr.status;
    if (status >= 400 && status < 500) evt.stopPropagation();  // not for django-htmx's debug page
  }, true);

  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr, status = xhr.status;
    if (status < 400) return;
    if (SWAPPED.indexOf(status) !== -1) {
      var html = fragmentFor(xhr.responseText, evt.detail.target);
      if (html !== null) {
        evt.detail.serverResponse = html;
        evt.detail.shouldSwap = true;
        evt.detail.isError = false;
        return;
      }
    }
    evt.detail.shouldSwap = false;
    var elt = evt.detail.elt;
    if (elt && /every /.test(elt.getAttribute("hx-trigger") || "")) return;  // a background refresh: next one retries
    window.showErrorBanner(errorText(xhr));
  });
  document.addEventListener("htmx:sendError", function () {
    window.showErrorBanner("The server could not be reached. Check your connection and try again.");
  });
})();

// Buttons that need script (kept out of the pages: the Content-Security-Policy allows no inline script).
// [data-copy="id"]: copy that element's text; shown only where the Clipboard API exists (HTTPS or localhost).
// [data-print]: print the page.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = document.getElementById(button.dataset.copy).textContent.trim();
      navigator.clipboard.writeText(text).then(function () { button.textContent = "Copied"; });
    });
  });
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
});

// Phone widths: the navigation folds behind a "Menu" button (CSS hides it only when JavaScript runs).
document.addEventListener("DOMContentLoaded", function () {
  var toggle = document.getElementById("nav-toggle"), nav = document.getElementById("sidebar");
  if (!toggle || !nav) return;
  toggle.addEventListener("click", function () {
    var open = nav.classList.toggle("nav-open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
});

// A table that scrolls sideways (phone widths) must be reachable by keyboard to scroll it.
function focusableScrollers(root) {
  (root || document).querySelectorAll(".table-wrap, .waterfall-scroll").forEach(function (el) {
    if (el.scrollWidth > el.clientWidth + 1) {
      el.tabIndex = 0;
      if (!el.hasAttribute("aria-label")) {
        var cap = el.querySelector("caption, th");
        el.setAttribute("aria-label", "Scrollable table" + (cap ? ": " + cap.textContent.trim().slice(0, 60) : ""));
      }
    }
  });
}
document.addEventListener("DOMContentLoaded", function () { focusableScrollers(document); });
document.addEventListener("htmx:afterSettle", function () { focusableScrollers(document); });
window.addEventListener("resize", function () { focusableScrollers(document); });

// Wide tables (ROI, root causes): the secondary columns (.col-more) fold away (CSS, only when JavaScript runs); a button shows them.
document.addEventListener("click", function (evt) {
  var button = evt.target.closest("[data-toggle-columns]");
  if (!button) return;
  var table = document.getElementById(button.dataset.toggleColumns);
  if (!table) return;
  var all = table.classList.toggle("show-all");
  button.setAttribute("aria-expanded", all ? "true" : "false");
  button.textContent = all ? "Show key columns only" : "Show all columns";
});
