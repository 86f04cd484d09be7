// Lifecycle board: drag a card one column to the right to promote it. Progressive enhancement:
// the drop submits the card's own promote form, so the server applies the same rules as the button
// (criteria, override, second approver) and a refusal comes back as a message on the agent's page.
(function () {
  function setUp(root) {
    var dragged = null;
    root.querySelectorAll(".lifecycle-card[draggable=true]").forEach(function (card) {
      card.addEventListener("dragstart", function (event) {
        dragged = card;
        card.classList.add("dragging");
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", card.dataset.agent);
      });
      card.addEventListener("dragend", function () {
        card.classList.remove("dragging");
        root.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
      });
    });
    root.querySelectorAll(".lifecycle-column").forEach(function (column) {
      column.addEventListener("dragover", function (event) {
        if (dragged && dragged.dataset.target === column.dataset.stage) {
          event.preventDefault();
          column.classList.add("drop-target");
        }
      });
      column.addEventListener("dragleave", function () { column.classList.remove("drop-target"); });
      column.addEventListener("drop", function (event) {
        event.preventDefault();
        column.classList.remove("drop-target");
        if (!dragged || dragged.dataset.target !== column.dataset.stage) return;
        var form = dragged.querySelector("form.promote-form");
        if (form) form.submit();
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var board = document.querySelector(".lifecycle-board");
    if (board) setUp(board);
  });
  document.addEventListener("htmx:afterSwap", function () {
    var board = document.querySelector(".lifecycle-board");
    if (board) setUp(board);
  });
})();
