//! The page's CSS and JavaScript, inlined into every page so it needs no other file. `render`
//! hashes the script into the Content-Security-Policy, so editing it needs no hash by hand.

/// The page's style sheet. The coverage table is laid out as a grid per row, so that rows
/// off screen can skip layout (`content-visibility`): thousands of rows stay cheap to sort.
pub(super) const STYLE: &str = r#"
:root {
  color-scheme: light dark;
  --bg: #f5f6f8; --panel: #ffffff; --fg: #1b2130; --muted: #5f6b7a; --line: #e1e5ea;
  --zebra: #f7f8fa; --hover: #edf3ff; --head: #f0f2f5; --code: #f3f4f7; --accent: #2f5fd0;
  --ok: #1f7a3a; --gap: #c2410c; --fail: #6d4c9f;
  --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace;
  --cols: minmax(150px, 1.4fr) minmax(64px, 0.6fr) 112px 128px 112px 172px minmax(178px, 1fr) minmax(300px, 2.6fr);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif;
  font-size: 14px; line-height: 1.45; color: var(--fg); background: var(--bg);
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14171c; --panel: #1b1f26; --fg: #e4e8ee; --muted: #98a2b0; --line: #2d333c;
    --zebra: #1f242b; --hover: #25303e; --head: #222730; --code: #252b33; --accent: #82a6ff;
    --ok: #4cc173; --gap: #ff8a4c; --fail: #b79cf0;
  }
}
* { box-sizing: border-box; }
body { margin: 0; padding: 24px clamp(12px, 3vw, 40px) 48px; }
code, .mono, .digest, .badge { font-family: var(--mono); }
h1 { font-size: 22px; margin: 0 0 6px; font-weight: 650; letter-spacing: -0.01em; }
h1 .registry { color: var(--accent); font-family: var(--mono); font-weight: 600; word-break: break-all; margin-left: 4px; }
h2 { font-size: 16px; margin: 0; font-weight: 650; }
.note { margin: 0 0 20px; color: var(--muted); max-width: 120ch; }
.note code { font-size: 12.5px; background: var(--code); padding: 1px 5px; border-radius: 4px; }
.muted { color: var(--muted); }
section { margin-bottom: 28px; }

.cards { display: grid; grid-template-columns: minmax(220px, 2fr) repeat(7, minmax(100px, 1fr)); gap: 12px; margin-bottom: 12px; }
.card, .state-card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px 12px 16px; position: relative; overflow: hidden; }
.card .value, .state-card .value { font-size: 26px; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.15; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; }
.card.big .value { font-size: 30px; }
.card.big .label { text-transform: none; letter-spacing: 0; font-size: 13px; }
.card.ok .value { color: var(--ok); }
.card.gap .value { color: var(--gap); }
.card.fail .value { color: var(--fail); }
.card::before, .state-card::before { content: ""; position: absolute; inset: 0 auto 0 0; width: 4px; background: transparent; }
.card.ok::before { background: var(--ok); } .card.gap::before { background: var(--gap); } .card.fail::before { background: var(--fail); }
.bar { margin-top: 8px; height: 6px; border-radius: 3px; background: color-mix(in srgb, var(--gap) 22%, transparent); overflow: hidden; }
.bar span { display: block; height: 100%; background: var(--ok); border-radius: 3px; }

.states { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px; }
.state-card { padding: 9px 12px 10px 16px; }
.state-card::before { background: var(--c); }
.state-card .head { display: flex; align-items: baseline; gap: 10px; }
.state-card .value { color: var(--c); font-size: 22px; min-width: 1.5ch; }
.state-card .label { font-family: var(--mono); font-size: 12.5px; font-weight: 600; overflow-wrap: anywhere; }
.state-card .desc { color: var(--muted); font-size: 12px; margin-top: 2px; line-height: 1.35; }
.state-card.zero { opacity: 0.55; }
.state-card.zero .value { color: var(--muted); }
.dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; background: var(--c); margin-right: 6px; vertical-align: 1px; }

.s-listing-failed { --c: #7b5ea7; }
.s-no-attestation { --c: #c62828; }
.s-legacy-only { --c: #d9480f; }
.s-not-discoverable { --c: #e67700; }
.s-subject-mismatch { --c: #b0306a; }
.s-discoverable-api { --c: #2b8a3e; }
.s-discoverable-tag { --c: #0c8577; }
.s-discoverable-layout { --c: #5c940d; }
.badge.ok:not([class*=" s-"]) { --c: #2b8a3e; } .badge.gap:not([class*=" s-"]) { --c: #d9480f; } .badge.fail:not([class*=" s-"]) { --c: #7b5ea7; }

.toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 10px 16px; margin-bottom: 10px; }
.toolbar h2 { margin-right: auto; }
#filter { font: inherit; padding: 6px 10px; border: 1px solid var(--line); border-radius: 8px; background: var(--panel); color: var(--fg); width: min(420px, 100%); }
#filter:focus { outline: 2px solid var(--accent); outline-offset: -1px; }
.toggle { display: inline-flex; align-items: center; gap: 6px; cursor: pointer; user-select: none; }
#row-count { color: var(--muted); font-variant-numeric: tabular-nums; min-width: 13ch; text-align: right; }

table { width: 100%; border-collapse: separate; border-spacing: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 10px; }
th, td { text-align: left; vertical-align: top; padding: 7px 10px; }
thead th { background: var(--head); font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); font-weight: 650; white-space: nowrap; }

#coverage-table { display: block; min-width: 1160px; }
#coverage-table thead { display: block; position: sticky; top: 0; z-index: 2; border-radius: 10px 10px 0 0; background: var(--head); border-bottom: 1px solid var(--line); }
#coverage-table tbody { display: block; }
#coverage-table tr { display: grid; grid-template-columns: var(--cols); }
#coverage-table tbody tr { border-bottom: 1px solid var(--line); content-visibility: auto; contain-intrinsic-size: auto 76px; }
#coverage-table tbody tr:last-child { border-bottom: 0; border-radius: 0 0 10px 10px; }
#coverage-table tbody tr[hidden] { display: none; }
#coverage-table th, #coverage-table td { min-width: 0; }
#coverage-table thead th:first-child { border-top-left-radius: 10px; }
#coverage-table thead th:last-child { border-top-right-radius: 10px; }
th.sortable { padding: 0; }
th.sortable button { all: unset; box-sizing: border-box; display: block; width: 100%; padding: 9px 10px; cursor: pointer; }
th.sortable button:hover { color: var(--fg); }
th.sortable button:focus-visible { outline: 2px solid var(--accent); outline-offset: -2px; }
#coverage-table th[data-key="details"] { padding-top: 9px; }
.arrow { display: inline-block; width: 1em; margin-left: 4px; color: var(--accent); }
th[aria-sort="ascending"] .arrow::after { content: "\25B2"; font-size: 10px; }
th[aria-sort="descending"] .arrow::after { content: "\25BC"; font-size: 10px; }
th[aria-sort] { color: var(--fg); }
tbody tr.row.alt { background: var(--zebra); }
tbody tr.row:hover { background: var(--hover); }
td.repo { font-weight: 600; overflow-wrap: anywhere; }
td.tags { overflow-wrap: anywhere; }
td.digest { font-size: 12.5px; padding-top: 8px; }
td.platform { overflow-wrap: anywhere; }
td.preds { font-size: 12.5px; }
.pred { display: block; overflow-wrap: break-word; }
.badge { display: inline-block; white-space: nowrap; font-size: 12px; font-weight: 600; padding: 1px 8px; border-radius: 999px; color: var(--c); background: color-mix(in srgb, var(--c) 12%, transparent); border: 1px solid color-mix(in srgb, var(--c) 40%, transparent); }
.reasons { margin: 0 0 4px; padding: 0; list-style: none; }
.reasons li { margin: 0 0 2px; overflow-wrap: anywhere; }
.warnings { margin: 0 0 4px; padding: 0; list-style: none; color: var(--muted); }
.warnings li { margin: 0 0 2px; overflow-wrap: anywhere; }
.warnings li::before { content: "warning: "; font-weight: 600; }
.cmd { display: flex; align-items: flex-start; gap: 8px; margin: 3px 0; }
.cmd-label { flex: none; width: 7.5ch; padding-top: 3px; color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em; }
.cmd.fix .cmd-label { color: var(--ok); font-weight: 700; }
.cmd code { flex: 1; min-width: 0; font-size: 12px; background: var(--code); border: 1px solid var(--line); border-radius: 6px; padding: 2px 7px; white-space: pre-wrap; overflow-wrap: anywhere; }
.cmd.fix code { border-color: color-mix(in srgb, var(--ok) 45%, var(--line)); }
.copy { flex: none; font: inherit; font-size: 11.5px; padding: 2px 9px; border-radius: 6px; border: 1px solid var(--line); background: var(--panel); color: var(--fg); cursor: pointer; }
.copy::before { content: "Copy"; }
.copy:hover { border-color: var(--accent); color: var(--accent); }
.copy.done::before { content: "Copied"; } .copy.done { color: var(--ok); border-color: var(--ok); }
.copy.failed::before { content: "Selected"; } .copy.failed { color: var(--gap); border-color: var(--gap); }
details summary { cursor: pointer; color: var(--muted); font-size: 12.5px; width: max-content; }
details[open] summary { margin-bottom: 2px; }
.empty { color: var(--muted); padding: 12px 2px; margin: 0; }

#failures h2 { margin-bottom: 10px; }
#failures .count { display: inline-block; min-width: 1.6em; text-align: center; font-size: 12px; padding: 1px 6px; border-radius: 999px; background: var(--head); color: var(--muted); margin-left: 4px; vertical-align: 2px; }
table.failures th, table.failures td { border-bottom: 1px solid var(--line); }
table.failures tbody tr:last-child td { border-bottom: 0; }
table.failures thead th:first-child { border-top-left-radius: 10px; } table.failures thead th:last-child { border-top-right-radius: 10px; }
table.failures { table-layout: fixed; }
table.failures th:nth-child(1) { width: 24%; } table.failures th:nth-child(2) { width: 22%; } table.failures th:nth-child(3) { width: 130px; }
table.failures td { overflow-wrap: anywhere; }
table.failures td.repo { font-weight: 600; }
table.failures tbody tr:nth-child(even) { background: var(--zebra); }
table.rollup th, table.rollup td { border-bottom: 1px solid var(--line); padding: 5px 10px; overflow-wrap: anywhere; }
table.rollup .num { text-align: right; font-variant-numeric: tabular-nums; }
table.rollup tbody tr { content-visibility: auto; contain-intrinsic-size: auto 28px; }
table.rollup tr.gap td:first-child { box-shadow: inset 3px 0 var(--gap); } table.rollup tr.fail td:first-child { box-shadow: inset 3px 0 var(--fail); }
p.not-shown { color: var(--muted); overflow-wrap: anywhere; }
@media (max-width: 1100px) {
  .cards { grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); }
  .card.big { grid-column: span 2; }
  .states { grid-template-columns: repeat(2, minmax(0, 1fr)); }
}
"#;

/// The page's script: sorting, filtering and copying. No network, no templating.
pub(super) const SCRIPT: &str = r#"
(function () {
  "use strict";
  var table = document.getElementById("coverage-table");
  var tbody = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  var filter = document.getElementById("filter");
  var gapsOnly = document.getElementById("gaps-only");
  var count = document.getElementById("row-count");
  var empty = document.getElementById("no-rows");
  var rows = [];
  for (var n = 0; n < tbody.rows.length; n++) {
    var tr = tbody.rows[n];
    rows.push({ tr: tr, i: n, gap: tr.getAttribute("data-gap") === "1", k: "", text: null,
                shown: true, alt: tr.classList.contains("alt") });
  }
  var total = rows.length;
  var sortCol = -1;
  var sortDir = 1;

  function text(r) {
    if (r.text === null) { r.text = r.tr.textContent.toLowerCase(); }
    return r.text;
  }

  // Filters and restripes the rows in their current order; touches only rows that change.
  function apply() {
    var q = filter.value.trim().toLowerCase();
    var g = gapsOnly.checked;
    var shown = 0;
    for (var j = 0; j < rows.length; j++) {
      var r = rows[j];
      var ok = (!g || r.gap) && (q === "" || text(r).indexOf(q) !== -1);
      if (ok !== r.shown) { r.tr.hidden = !ok; r.shown = ok; }
      if (ok) {
        var alt = shown % 2 === 1;
        if (alt !== r.alt) { r.tr.classList.toggle("alt", alt); r.alt = alt; }
        shown++;
      }
    }
    count.textContent = shown + " of " + total + (total === 1 ? " row" : " rows");
    if (total > 0) { empty.hidden = shown !== 0; }
  }

  // Sorts by column c (the same column again: the other way); ties keep the default order.
  // One pass reads the keys, one sort, then the rows are re-appended in one fragment while
  // the body is detached, so the page lays out once.
  function sortBy(c) {
    if (c === sortCol) { sortDir = -sortDir; } else { sortCol = c; sortDir = 1; }
    for (var j = 0; j < rows.length; j++) {
      var td = rows[j].tr.cells[c];
      rows[j].k = (td && td.getAttribute("data-sort")) || "";
    }
    var d = sortDir;
    rows.sort(function (a, b) {
      return a.k < b.k ? -d : a.k > b.k ? d : a.i - b.i;
    });
    var next = tbody.nextSibling;
    table.removeChild(tbody);
    var frag = document.createDocumentFragment();
    for (var m = 0; m < rows.length; m++) { frag.appendChild(rows[m].tr); }
    tbody.appendChild(frag);
    apply();
    table.insertBefore(tbody, next);
    for (var h = 0; h < heads.length; h++) {
      if (h === c) { heads[h].setAttribute("aria-sort", d === 1 ? "ascending" : "descending"); }
      else { heads[h].removeAttribute("aria-sort"); }
    }
  }

  table.tHead.addEventListener("click", function (e) {
    var th = e.target.closest ? e.target.closest("th.sortable") : null;
    if (th) { sortBy(th.cellIndex); }
  });
  filter.addEventListener("input", apply);
  gapsOnly.addEventListener("change", apply);

  function flash(button, ok) {
    button.classList.remove("done", "failed");
    button.classList.add(ok ? "done" : "failed");
    setTimeout(function () { button.classList.remove("done", "failed"); }, 1600);
  }

  // Without a usable clipboard API: copy the selected command, or leave it selected so it can
  // be copied by hand.
  function fallback(button, code) {
    var ok = false;
    var sel = null;
    try {
      var range = document.createRange();
      range.selectNodeContents(code);
      sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      ok = document.execCommand ? document.execCommand("copy") === true : false;
      if (ok) { sel.removeAllRanges(); }
    } catch (err) { ok = false; }
    flash(button, ok);
  }

  table.addEventListener("click", function (e) {
    if (!e.target.closest) { return; }
    var button = e.target.closest("button.copy");
    if (!button) { return; }
    var code = button.parentNode.querySelector("code");
    if (!code) { return; }
    var value = code.textContent;
    try {
      if (navigator.clipboard && typeof navigator.clipboard.writeText === "function") {
        navigator.clipboard.writeText(value).then(
          function () { flash(button, true); },
          function () { fallback(button, code); }
        );
        return;
      }
    } catch (err) { /* fall through */ }
    fallback(button, code);
  });

  // A reload may restore what was typed or ticked: show the rows that match it.
  if (filter.value !== "" || gapsOnly.checked) { apply(); }
})();
"#;
