//! The HTML coverage page of `referrify check REGISTRY --html FILE`: totals, one sortable and
//! filterable row per platform manifest, and what could not be checked.
//!
//! The page is one self-contained file: inline CSS and inline vanilla JS, no fonts, images or
//! other assets, so it works from `file://` and sends no request. A Content-Security-Policy
//! (`default-src 'none'`, the script allowed by its hash) makes sure of both. Every value that
//! came from the registry is HTML-escaped. Rows are built here, as one string, already in the
//! default order (gaps first, then repository, then platform); the script only sorts, filters
//! and copies.

use super::{CheckImage, PlatformReport, RegistryCheckReport};
use crate::model::digest::Digest;
use crate::plan::coverage::PlatformState;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Every state, in their sort order (gaps first). States the summary names that are missing
/// here are still shown.
const STATES: [PlatformState; 8] = [
    PlatformState::ListingFailed,
    PlatformState::NoAttestation,
    PlatformState::LegacyOnly,
    PlatformState::NotDiscoverable,
    PlatformState::SubjectMismatch,
    PlatformState::DiscoverableApi,
    PlatformState::DiscoverableTag,
    PlatformState::DiscoverableLayout,
];

/// Renders the whole page.
pub fn render(report: &RegistryCheckReport) -> String {
    render_generated(report, &utc_now())
}

/// [`render`] with the generation time given (`YYYY-MM-DD HH:MM UTC`).
fn render_generated(report: &RegistryCheckReport, generated: &str) -> String {
    let rows = rows(report);
    let mut out = String::with_capacity(4096 + rows.len() * 900);
    let registry = escape(&report.registry);
    let script_hash =
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-{script_hash}'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="referrify {version}">
<title>Attestation coverage of {registry}</title>
<style>{STYLE}</style>
</head>
<body>
<header class="page-head">
<h1>Attestation coverage <span class="registry">{registry}</span></h1>
<p class="note">Generated {generated} by referrify {version} · <code>referrify check {registry}</code> · {requests}<br>{statements}</p>
</header>
<main>
"#,
        version = env!("CARGO_PKG_VERSION"),
        generated = escape(generated),
        statements = if report.statements_checked {
            "In-toto statements were read: a platform is covered when an attestation is discoverable and every statement names it."
        } else {
            "In-toto statements were not read (<code>--statements</code>): a platform is covered when an attestation is discoverable."
        },
        requests = plural(
            report.summary.requests as usize,
            "HTTP request",
            "HTTP requests"
        ),
    );
    totals(&mut out, report);
    table(&mut out, &rows);
    failures(&mut out, report);
    let _ = write!(
        out,
        "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    out
}

/// One table row: a platform manifest of an image of a repository.
struct Row<'a> {
    repository: &'a str,
    image: &'a CheckImage,
    platform: &'a PlatformReport,
}

/// Every platform manifest, in the default order: gaps first (the state's order), then
/// repository, then platform; catalog order after that.
fn rows(report: &RegistryCheckReport) -> Vec<Row<'_>> {
    let mut rows: Vec<Row<'_>> = report
        .repositories
        .iter()
        .flat_map(|r| {
            r.images.iter().flat_map(move |i| {
                i.platforms.iter().map(move |p| Row {
                    repository: &r.repository,
                    image: i,
                    platform: p,
                })
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.platform.state, a.repository, a.platform.platform.as_str()).cmp(&(
            b.platform.state,
            b.repository,
            b.platform.platform.as_str(),
        ))
    });
    rows
}

/// `ok` (covered), `fail` (the state could not be established) or `gap`.
fn tone(state: PlatformState) -> &'static str {
    if state.is_covered() {
        "ok"
    } else if state == PlatformState::ListingFailed {
        "fail"
    } else {
        "gap"
    }
}

/// What a state means, for the legend.
fn describe(state: PlatformState) -> &'static str {
    match state {
        PlatformState::ListingFailed => {
            "Referrers could not be listed, or a referrer could not be read."
        }
        PlatformState::NoAttestation => "No attestation of any form.",
        PlatformState::LegacyOnly => {
            "Only BuildKit's legacy in-index attestation, which no referrers client finds. referrify convert fixes it."
        }
        PlatformState::NotDiscoverable => {
            "An OCI 1.1 attestation artifact exists, but it is not listed as a referrer."
        }
        PlatformState::SubjectMismatch => {
            "Discoverable, but an in-toto statement does not name this manifest (or cannot be read)."
        }
        PlatformState::DiscoverableApi => {
            "Discoverable through the registry's OCI 1.1 Referrers API."
        }
        PlatformState::DiscoverableTag => {
            "Discoverable through the referrers tag schema (sha256-<hex> tags)."
        }
        PlatformState::DiscoverableLayout => "Discoverable in an OCI layout's index.json.",
    }
}

/// The totals cards and the count per state.
fn totals(out: &mut String, report: &RegistryCheckReport) {
    let s = &report.summary;
    // Rounded down, so one gap never shows as 100%.
    let (percent, width) = match (s.covered * 1000).checked_div(s.platforms) {
        Some(permille) => (
            format!("{}.{}%", permille / 10, permille % 10),
            permille / 10,
        ),
        None => ("–".to_string(), 0),
    };
    let cov_tone = if s.platforms > 0 && s.uncovered == 0 {
        "ok"
    } else {
        "gap"
    };
    let _ = write!(
        out,
        r#"<section id="totals" aria-label="Totals">
<div class="cards">
<div class="card big {cov_tone}" data-total="coverage"><div class="value">{percent}</div><div class="label">covered · {covered} of {platforms}</div><div class="bar" role="presentation"><span style="width:{width}%"></span></div></div>
"#,
        covered = s.covered,
        platforms = plural(s.platforms, "platform", "platforms"),
    );
    let cards: [(&str, usize, &str, &str); 7] = [
        ("platforms", s.platforms, "platforms", ""),
        ("covered", s.covered, "covered", "ok"),
        ("uncovered", s.uncovered, "uncovered", "gap"),
        ("repositories", s.repositories, "repositories", ""),
        ("images", s.images, "images", ""),
        (
            "failed-repositories",
            s.failed_repositories,
            "failed repositories",
            "fail",
        ),
        ("failed-images", s.failed_images, "failed images", "fail"),
    ];
    for (key, value, label, tone) in cards {
        let tone = if value == 0 && tone != "ok" { "" } else { tone };
        let _ = writeln!(
            out,
            r#"<div class="card {tone}" data-total="{key}"><div class="value">{value}</div><div class="label">{label}</div></div>"#
        );
    }
    out.push_str("</div>\n<div class=\"states\">\n");
    let mut states: Vec<PlatformState> = STATES.to_vec();
    states.extend(s.states.keys().copied().filter(|k| !STATES.contains(k)));
    states.sort();
    for state in states {
        let n = s.states.get(&state).copied().unwrap_or(0);
        let name = state.as_str();

        let _ = writeln!(
            out,
            r#"<div class="state-card s-{name} {tone}{zero}" data-state="{name}"><div class="head"><span class="value">{n}</span><span class="label"><span class="dot"></span>{name}</span></div><div class="desc">{desc}</div></div>"#,
            tone = tone(state),
            zero = if n == 0 { " zero" } else { "" },
            desc = escape(describe(state)),
        );
    }
    out.push_str("</div>\n</section>\n");
}

/// The column headers, `(data-key, label)`; every column but the last sorts.
const COLUMNS: [(&str, &str); 8] = [
    ("repository", "Repository"),
    ("tags", "Tags"),
    ("image", "Image"),
    ("platform", "Platform"),
    ("manifest", "Manifest"),
    ("state", "State"),
    ("predicates", "Predicate types"),
    ("details", "Why / what to do"),
];

/// The toolbar and the coverage table.
fn table(out: &mut String, rows: &[Row<'_>]) {
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
        shown = if tags.is_empty() {
            r#"<span class="muted">–</span>"#
        } else {
            &tags
        },
    );
    match &r.image.digest {
        Some(d) => digest_cell(out, d),
        None => {
            out.push_str(r#"<td class="digest" data-sort=""><span class="muted">–</span></td>"#)
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
    let preds = p.predicate_types.join(" ");
    let _ = write!(out, r#"<td class="preds" data-sort="{}">"#, escape(&preds));
    if p.predicate_types.is_empty() {
        out.push_str(r#"<span class="muted">–</span>"#);
    }
    for t in &p.predicate_types {
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
    out.push_str(r#"</td><td class="details">"#);
    if p.covered && p.reasons.is_empty() {
        out.push_str(r#"<details><summary>confirm</summary>"#);
        command(out, "confirm", &p.confirm);
        out.push_str("</details>");
    } else {
        if !p.reasons.is_empty() {
            out.push_str(r#"<ul class="reasons">"#);
            for reason in &p.reasons {
                let _ = write!(out, "<li>{}</li>", escape(reason));
            }
            out.push_str("</ul>");
        }
        if let Some(fix) = &p.fix {
            command(out, "fix", fix);
        }
        command(out, "confirm", &p.confirm);
    }
    out.push_str("</td></tr>\n");
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

/// A labelled command with a copy button. Shown on one line; a click shows all of it.
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

/// The "Could not be checked" section: failed repositories, failed images, broken entries.
fn failures(out: &mut String, report: &RegistryCheckReport) {
    let mut items = String::new();
    let mut n = 0usize;
    for repo in &report.repositories {
        let name = escape(&repo.repository);
        if let Some(e) = &repo.error {
            n += 1;
            let _ = writeln!(
                items,
                r#"<tr class="failure" data-kind="repository"><td class="repo">{name}</td><td><span class="muted">whole repository</span></td><td><span class="badge fail">repository</span></td><td class="message">{}</td></tr>"#,
                escape(e)
            );
        }
        for image in &repo.images {
            let label = image_label(image);
            if let Some(e) = &image.error {
                n += 1;
                let _ = writeln!(
                    items,
                    r#"<tr class="failure" data-kind="image"><td class="repo">{name}</td><td>{label}</td><td><span class="badge fail">image</span></td><td class="message">{}</td></tr>"#,
                    escape(e)
                );
            }
            for problem in &image.problems {
                n += 1;
                let _ = writeln!(
                    items,
                    r#"<tr class="failure" data-kind="problem"><td class="repo">{name}</td><td>{label}</td><td><span class="badge fail">index entry</span></td><td class="message"><span class="mono" title="{full}">{short}</span>: {msg}</td></tr>"#,
                    full = escape(problem.digest.as_str()),
                    short = escape(&problem.digest.short()),
                    msg = escape(&problem.message),
                );
            }
        }
    }
    let _ = write!(
        out,
        r#"<section id="failures" aria-labelledby="failures-h">
<h2 id="failures-h">Could not be checked <span class="count">{n}</span></h2>
"#
    );
    if n == 0 {
        out.push_str(
            "<p class=\"empty\">Every repository and image could be read.</p>\n</section>\n",
        );
    } else {
        let _ = write!(
            out,
            "<table class=\"failures\">\n<thead><tr><th scope=\"col\">Repository</th><th scope=\"col\">Image</th><th scope=\"col\">What</th><th scope=\"col\">Message</th></tr></thead>\n<tbody>\n{items}</tbody>\n</table>\n</section>\n"
        );
    }
}

/// An image for people: its tags and short digest, else the reference as given (escaped).
fn image_label(image: &CheckImage) -> String {
    let mut s = String::new();
    if !image.tags.is_empty() {
        s.push_str(&escape(&image.tags.join(", ")));
    } else {
        s.push_str(&escape(&image.reference));
    }
    if let Some(d) = &image.digest {
        let _ = write!(
            s,
            r#" <span class="mono muted" title="{}">{}</span>"#,
            escape(d.as_str()),
            escape(&d.short())
        );
    }
    s
}

/// `1 thing` / `2 things`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// HTML-escapes `& < > " '`, for text and attribute values alike.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The current time as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc(secs)
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM UTC` (proleptic Gregorian calendar).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The page's style sheet. The coverage table is laid out as a grid per row, so that rows
/// off screen can skip layout (`content-visibility`): thousands of rows stay cheap to sort.
const STYLE: &str = r#"
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
.cmd { display: flex; align-items: center; gap: 8px; margin: 3px 0; }
.cmd-label { flex: none; width: 7.5ch; color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em; }
.cmd.fix .cmd-label { color: var(--ok); font-weight: 700; }
.cmd code { flex: 1; min-width: 0; font-size: 12px; background: var(--code); border: 1px solid var(--line); border-radius: 6px; padding: 2px 7px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; cursor: zoom-in; }
.cmd.fix code { border-color: color-mix(in srgb, var(--ok) 45%, var(--line)); }
.cmd code.wrap { white-space: pre-wrap; overflow-wrap: anywhere; cursor: zoom-out; }
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
@media (max-width: 1100px) {
  .cards { grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); }
  .card.big { grid-column: span 2; }
  .states { grid-template-columns: repeat(2, minmax(0, 1fr)); }
}
"#;

/// The page's script: sorting, filtering and copying. No network, no templating.
const SCRIPT: &str = r#"
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
    var code = e.target.closest(".cmd code");
    if (code) {
      var s = window.getSelection ? window.getSelection() : null;
      if (!s || s.isCollapsed) { code.classList.toggle("wrap"); }
      return;
    }
    var button = e.target.closest("button.copy");
    if (!button) { return; }
    code = button.parentNode.querySelector("code");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::referrers::Via;
    use crate::plan::coverage::Found;
    use crate::report::{CoverageSummary, Problem, RepositoryCoverage, SCHEMA_VERSION};

    fn platform(state: PlatformState, name: &str) -> PlatformReport {
        PlatformReport {
            platform: name.into(),
            digest: Digest::sha256(name.as_bytes()),
            attestation: Found::Legacy,
            discoverable: Via::None,
            referrers: vec![],
            predicate_types: vec!["https://slsa.dev/provenance/v1".into()],
            subjects_match: None,
            statements: vec![],
            covered: state.is_covered(),
            state,
            reasons: if state.is_covered() {
                vec![]
            } else {
                vec!["legacy <b>only</b>".into()]
            },
            confirm: "oras discover 'x' && y".into(),
            fix: Some("referrify convert \"reg/<script>\"".into()),
        }
    }

    fn report(repo: &str) -> RegistryCheckReport {
        let repos = vec![RepositoryCoverage {
            repository: repo.into(),
            error: Some("<img src=x onerror=alert(1)>".into()),
            images: vec![CheckImage {
                reference: format!("reg/{repo}:1"),
                digest: Some(Digest::sha256(b"i")),
                tags: vec!["1".into(), "<latest>".into()],
                error: None,
                platforms: vec![
                    platform(PlatformState::DiscoverableApi, "linux/amd64"),
                    platform(PlatformState::LegacyOnly, "linux/arm64"),
                ],
                problems: vec![Problem {
                    digest: Digest::sha256(b"p"),
                    message: "bad & broken".into(),
                }],
            }],
        }];
        let mut summary = CoverageSummary::default();
        repos.iter().for_each(|r| summary.add(r));
        RegistryCheckReport {
            schema_version: SCHEMA_VERSION,
            command: "check",
            registry: "reg\"<x>".into(),
            statements_checked: false,
            repositories: repos,
            summary,
        }
    }

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain/repo:1.0"), "plain/repo:1.0");
    }

    #[test]
    fn hostile_names_are_escaped_everywhere() {
        let html = render(&report("<script>alert(1)</script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("<img src=x"));
        assert!(!html.contains("<latest>"));
        assert!(!html.contains("<b>only"));
        assert!(!html.contains("reg/<script>"));
        assert!(!html.contains("reg\"<x>"));
        // exactly one script element: the page's own
        assert_eq!(html.matches("<script").count(), 1);
    }

    #[test]
    fn rows_are_ordered_gaps_first_and_the_csp_hash_matches() {
        let html = render(&report("team/app"));
        let legacy = html
            .find(r#"data-state="legacy-only" data-gap="1""#)
            .unwrap();
        let api = html
            .find(r#"data-state="discoverable-api" data-gap="0""#)
            .unwrap();
        assert!(legacy < api);
        assert_eq!(html.matches("<tr class=\"row ").count(), 2);
        let hash =
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
        assert!(html.contains(&format!("script-src 'sha256-{hash}'")));
        assert!(html.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(!html.contains("http://"));
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400 + 3_661), "2000-02-29 01:01 UTC");
        assert_eq!(utc(1_767_225_540), "2025-12-31 23:59 UTC");
    }
}
