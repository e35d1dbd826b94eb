// Tiergate pages: keyboard shortcuts, the time-spent clock and small conveniences. No dependencies.
(function () {
  "use strict";
  var opened = Date.now();

  function typing(event) {
    var el = event.target;
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }

  // Filters apply as soon as a choice changes.
  var filters = document.getElementById("filters");
  if (filters) {
    filters.addEventListener("change", function () { filters.submit(); });
  }

  // Queue rows: click anywhere on a row, or j/k and Enter.
  var rows = Array.prototype.slice.call(document.querySelectorAll("table.queue tbody tr[data-href]"));
  var selected = -1;
  function select(index) {
    if (!rows.length) { return; }
    selected = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach(function (row, i) { row.classList.toggle("selected", i === selected); });
    rows[selected].scrollIntoView({block: "nearest"});
  }
  rows.forEach(function (row) {
    row.addEventListener("click", function (event) {
      if (event.target.tagName !== "A" && event.target.tagName !== "INPUT" && !event.target.closest("td.pick")) {
        window.location = row.dataset.href;
      }
    });
  });

  // Bulk approve: pick low-risk rows, confirm once.
  var bulk = document.getElementById("bulk-form");
  if (bulk) {
    var boxes = Array.prototype.slice.call(bulk.querySelectorAll("input.low-risk"));
    var button = document.getElementById("bulk-approve");
    var all = document.getElementById("select-low-risk");
    var refresh = function () {
      var n = boxes.filter(function (box) { return box.checked; }).length;
      button.disabled = n === 0;
      button.textContent = n ? "Approve " + n + " selected" : "Approve selected";
    };
    boxes.forEach(function (box) { box.addEventListener("change", refresh); });
    if (all) {
      all.disabled = boxes.length === 0;
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
        refresh();
      });
    }
    bulk.addEventListener("submit", function (event) {
      var n = boxes.filter(function (box) { return box.checked; }).length;
      if (!window.confirm("Approve " + n + " item" + (n === 1 ? "" : "s") + " as they are? Each workflow is called back once.")) {
        event.preventDefault();
      }
    });
  }

  // The decision form: record minutes spent unless the reviewer typed them, and mark audit answers.
  var form = document.getElementById("decision-form");
  var minutes = document.getElementById("minutes");
  var correct = document.getElementById("correct");
  if (form) {
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (minutes && !minutes.value) {
        minutes.value = Math.max(0.1, Math.round((Date.now() - opened) / 6000) / 10).toString();
      }
      if (correct && button && button.dataset.correct !== undefined) {
        correct.value = button.dataset.correct;
      }
      if (button && button.value === "reject" && !correct) {
        var note = document.getElementById("note");
        if (note && !note.value.trim()) {
          var reason = window.prompt("Why is this draft rejected? (sent to the workflow as the note)");
          if (reason === null) { event.preventDefault(); return; }
          note.value = reason;
        }
      }
      Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (b) {
        if (b !== button) { b.disabled = true; }
      });
    });
  }

  // A decision may send a reply to a customer, so its shortcut takes two presses: the first arms the
  // button (and says so), the second within a few seconds clicks it.
  var armedId = null, armedTimer = null, armedLabel = "";
  function disarm() {
    var el = armedId && document.getElementById(armedId);
    if (el) { el.textContent = armedLabel; el.classList.remove("armed"); }
    armedId = null;
  }
  function armed(id, event) {
    var el = document.getElementById(id);
    if (!el) { return; }
    event.preventDefault();
    if (armedId === id) { clearTimeout(armedTimer); disarm(); el.click(); return; }
    disarm();
    armedId = id; armedLabel = el.textContent;
    el.classList.add("armed");
    el.textContent = "Press " + event.key + " again to " + el.textContent.replace(/ \(.\)$/, "").toLowerCase();
    armedTimer = setTimeout(disarm, 3000);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (typing(event)) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    var click = function (id) { var el = document.getElementById(id); if (el) { event.preventDefault(); el.click(); } };
    switch (event.key) {
      case "a": armed("approve", event); break;
      case "r": armed("reject", event); break;
      case "n": click("next-link"); break;
      case "e":
        var text = document.getElementById("draft-text");
        if (text) { event.preventDefault(); text.focus(); }
        break;
      case "j": select(selected + 1); break;
      case "k": select(selected - 1); break;
      case "Enter":
        if (selected >= 0 && rows[selected]) { window.location = rows[selected].dataset.href; }
        break;
    }
  });
})();
