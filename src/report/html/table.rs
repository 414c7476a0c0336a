//! The coverage table: its toolbar, headers and one row per platform manifest.

use super::totals::tone;
use super::{escape, Row};
use crate::model::digest::Digest;
use crate::report::PlatformReport;
use std::fmt::Write as _;

/// An empty cell's content.
const NONE: &str = r#"<span class="muted">–</span>"#;

/// The column headers, `(data-key, label)`; every column but the last sorts.
const COLUMNS: [(&str, &str); 11] = [
    ("repository", "Repository"),
    ("tags", "Tags"),
    ("image", "Image"),
    ("platform", "Platform"),
    ("manifest", "Manifest"),
    ("state", "State"),
    ("predicates", "Predicate types"),
    ("sbom", "SBOM"),
    ("provenance", "Provenance"),
    ("signature", "Signature"),
    ("details", "Why / what to do"),
];

/// The toolbar and the coverage table.
pub(super) fn table(out: &mut String, rows: &[Row<'_>]) {
    let n = rows.len();
    let _ = write!(
        out,
        r#"<section class="platforms" aria-labelledby="platforms-h">
<div class="toolbar">
<h2 id="platforms-h">Platform manifests</h2>
<input id="filter" type="search" placeholder="Filter by repository, tag, digest, platform, state…" aria-label="Filter rows" autocomplete="off" spellcheck="false">
<label class="toggle"><input id="gaps-only" type="checkbox"> gaps only</label>
<span id="row-count" aria-live="polite">{n} of {n} {rows_word}</span>
</div>
<table id="coverage-table">
<thead><tr>"#,
        rows_word = if n == 1 { "row" } else { "rows" },
    );
    for (i, (key, label)) in COLUMNS.iter().enumerate() {
        if i == COLUMNS.len() - 1 {
            let _ = write!(out, r#"<th scope="col" data-key="{key}">{label}</th>"#);
        } else {
            let _ = write!(
                out,
                r#"<th scope="col" data-key="{key}" class="sortable"><button type="button">{label}<span class="arrow" aria-hidden="true"></span></button></th>"#
            );
        }
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (i, r) in rows.iter().enumerate() {
        row(out, r, i % 2 == 1);
    }
    let _ = write!(
        out,
        "</tbody>\n</table>\n<p id=\"no-rows\" class=\"empty\"{}>{}</p>\n</section>\n",
        if n == 0 { "" } else { " hidden" },
        if n == 0 {
            "No platform manifest was found."
        } else {
            "No row matches the filter."
        }
    );
}

/// One `<tr>`; every sortable cell carries `data-sort`. `alt`: a zebra stripe.
fn row(out: &mut String, r: &Row<'_>, alt: bool) {
    let p = r.platform;
    let state = p.state.as_str();
    let tone = tone(p.state);
    let tags = escape(&r.image.tags.join(", "));
    let _ = write!(
        out,
        r#"<tr class="row {tone}{alt}" data-state="{state}" data-gap="{gap}"><td class="repo" data-sort="{repo}">{repo}</td><td class="tags" data-sort="{tags}">{shown}</td>"#,
        alt = if alt { " alt" } else { "" },
        gap = u8::from(!p.covered),
        repo = escape(r.repository),
        shown = if tags.is_empty() { NONE } else { &tags },
    );
    match &r.image.digest {
        Some(d) => digest_cell(out, d),
        None => {
            let _ = write!(out, r#"<td class="digest" data-sort="">{NONE}</td>"#);
        }
    }
    let _ = write!(
        out,
        r#"<td class="platform" data-sort="{platform}">{platform}</td>"#,
        platform = escape(&p.platform)
    );
    digest_cell(out, &p.digest);
    let _ = write!(
        out,
        r#"<td class="state" data-sort="{ord}"><span class="badge s-{state} {tone}">{state}</span></td>"#,
        ord = p.state as u8 + 10, // two digits, so the key also sorts as text
    );
    predicates_cell(out, &p.predicate_types);
    let s = &p.supply;
    for item in [&s.sbom, &s.provenance, &s.signature] {
        supply_cell(out, item.as_ref());
    }
    details_cell(out, p);
    out.push_str("</tr>\n");
}

/// The predicate types, one a line; `https://` is left out of what shows (`title` has it all).
fn predicates_cell(out: &mut String, types: &[String]) {
    let _ = write!(
        out,
        r#"<td class="preds" data-sort="{}">"#,
        escape(&types.join(" "))
    );
    if types.is_empty() {
        out.push_str(NONE);
    }
    for t in types {
        match t.strip_prefix("https://") {
            Some(shown) => {
                let _ = write!(
                    out,
                    r#"<span class="pred" title="{}">{}</span>"#,
                    escape(t),
                    escape(shown)
                );
            }
            None => {
                let _ = write!(out, r#"<span class="pred">{}</span>"#, escape(t));
            }
        }
    }
    out.push_str("</td>");
}

/// Where an SBOM, provenance or signature was found (`referrer`, or only a `cosign tag`), on
/// the platform manifest or its index; sorts found before missing.
fn supply_cell(out: &mut String, item: Option<&crate::plan::supply::Item>) {
    match item {
        Some(i) => {
            let shown = crate::report::supply::where_found(i);
            let _ = write!(
                out,
                r#"<td class="supply ok" data-sort="1 {s}">{s}</td>"#,
                s = escape(&shown)
            );
        }
        None => {
            let _ = write!(out, r#"<td class="supply" data-sort="0">{NONE}</td>"#);
        }
    }
}

/// Why a platform is not covered, with the fix and confirm commands; a covered one only
/// needs the confirm command, so it is folded away.
fn details_cell(out: &mut String, p: &PlatformReport) {
    out.push_str(r#"<td class="details">"#);
    if p.covered && p.reasons.is_empty() && p.supply.unmet.is_empty() {
        warnings(out, &p.warnings);
        out.push_str(r#"<details><summary>confirm</summary>"#);
        command(out, "confirm", &p.confirm);
        out.push_str("</details>");
    } else {
        warnings(out, &p.warnings);
        if !p.reasons.is_empty() {
            out.push_str(r#"<ul class="reasons">"#);
            for reason in &p.reasons {
                let _ = write!(out, "<li>{}</li>", escape(reason));
            }
            out.push_str("</ul>");
        }
        if !p.supply.unmet.is_empty() {
            out.push_str(r#"<ul class="reasons unmet">"#);
            for u in &p.supply.unmet {
                let _ = write!(out, "<li>{}</li>", escape(u));
            }
            out.push_str("</ul>");
        }
        if let Some(fix) = &p.fix {
            command(out, "fix", fix);
        }
        command(out, "confirm", &p.confirm);
    }
    if !p.supply.verify.is_empty() {
        out.push_str(r#"<details><summary>verify</summary>"#);
        for c in &p.supply.verify {
            command(out, "verify", c);
        }
        out.push_str("</details>");
    }
    out.push_str("</td>");
}

/// What a person should know although the platform may be covered (a referrer listed under
/// another `artifactType`, say).
fn warnings(out: &mut String, warnings: &[String]) {
    if warnings.is_empty() {
        return;
    }
    out.push_str(r#"<ul class="warnings">"#);
    for w in warnings {
        let _ = write!(out, "<li>{}</li>", escape(w));
    }
    out.push_str("</ul>");
}

/// A digest cell: the first 12 hex characters, the full digest in `title`.
fn digest_cell(out: &mut String, d: &Digest) {
    let full = escape(d.as_str());
    let enc = d.encoded();
    let _ = write!(
        out,
        r#"<td class="digest" data-sort="{full}"><span title="{full}">{}</span></td>"#,
        escape(&enc[..enc.len().min(12)])
    );
}

/// A labelled command with a copy button, shown whole (it wraps; nothing is cut off).
fn command(out: &mut String, label: &str, cmd: &str) {
    if cmd.is_empty() {
        return;
    }
    let _ = write!(
        out,
        r#"<div class="cmd {label}"><span class="cmd-label">{label}</span><code>{}</code><button type="button" class="copy" title="Copy to the clipboard" aria-label="Copy the {label} command"></button></div>"#,
        escape(cmd)
    );
}
