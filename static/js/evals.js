// Evals pages (no inline script: the CSP allows only our static files).
// [data-autosubmit]: submit the element's form when it changes (a <noscript> button covers no-JS).
// [data-select-all="name"]: a checkbox that checks or clears every checkbox named "name".
document.addEventListener("change", function (event) {
  var target = event.target;
  if (target.matches("[data-autosubmit]") && target.form) {
    target.form.submit();
  }
  if (target.matches("[data-select-all]")) {
    document.querySelectorAll('input[type=checkbox][name="' + target.dataset.selectAll + '"]').forEach(function (box) {
      box.checked = target.checked;
    });
  }
});
