//! The HTML coverage page of `referrify check REGISTRY --html FILE`: totals, one sortable and
//! filterable row per platform manifest, and what could not be checked.
//!
//! The page is one self-contained file: inline CSS and inline vanilla JS, no fonts, images or
//! other assets, so it works from `file://` and sends no request. A Content-Security-Policy
//! (`default-src 'none'`, the script allowed by its hash) makes sure of both. Every value that
//! came from the registry is HTML-escaped. Rows are built here, as one string, already in the
//! default order (gaps first, then repository, then platform); the script only sorts, filters
//! and copies.

mod assets;
mod failures;
mod rollup;
mod table;
mod totals;

use super::{CheckImage, PlatformReport, RegistryCheckReport};
use assets::{SCRIPT, STYLE};
use base64::Engine as _;
use failures::failures;
use sha2::{Digest as _, Sha256};
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};
use table::table;
use totals::totals;

/// Renders the whole page of `check REGISTRY`.
pub fn render(report: &RegistryCheckReport) -> String {
    let head = Head {
        title: report.registry.clone(),
        command: format!("referrify check {}", report.registry),
        requests: Some(report.summary.requests),
    };
    render_generated(report, &head, &utc_now())
}

/// Renders the page of `check REF...`: named for its images (`images`, as given).
pub fn render_images(report: &RegistryCheckReport, images: &[String]) -> String {
    let title = match images {
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [a, rest @ ..] => format!("{a} and {} other images", rest.len()),
        [] => "no image".into(),
    };
    let quoted: Vec<String> = images
        .iter()
        .map(|i| crate::report::commands::quote(i))
        .collect();
    let head = Head {
        title,
        command: format!("referrify check {}", quoted.join(" ")),
        requests: None,
    };
    render_generated(report, &head, &utc_now())
}

/// What the page's head names: what was checked, the command, what it cost.
struct Head {
    title: String,
    command: String,
    requests: Option<u64>,
}

/// The whole page, with the generation time given (`YYYY-MM-DD HH:MM UTC`).
fn render_generated(report: &RegistryCheckReport, head: &Head, generated: &str) -> String {
    let rows = rows(report);
    let mut out = String::with_capacity(4096 + rows.len() * 900);
    let registry = escape(&head.title);
    let command = escape(&head.command);
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
<p class="note">Generated {generated} by referrify {version} · <code>{command}</code>{requests}<br>{statements}</p>
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
        requests = head
            .requests
            .map(|n| format!(" · {}", plural(n as usize, "HTTP request", "HTTP requests")))
            .unwrap_or_default(),
    );
    totals(&mut out, report);
    rollup::rollup(&mut out, report);
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

/// `1 thing` / `2 things`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// HTML-escapes `& < > " '`, for text and attribute values alike.
pub fn escape(s: &str) -> String {
    // Control, bidi and zero-width characters are shown as escapes first (they would reorder
    // or hide what the page shows), then the HTML specials are escaped.
    let s = crate::report::sanitize::sanitize(s);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_shown_escaped() {
        let mut p = platform(PlatformState::DiscoverableApi, "linux/amd64");
        p.warnings = vec!["listed as <b>x</b>".into()];
        let mut repo = report("w");
        repo.repositories[0].images[0].platforms = vec![p];
        let page = render(&repo);
        assert!(
            page.contains(r#"<ul class="warnings"><li>listed as &lt;b&gt;x&lt;/b&gt;</li></ul>"#)
        );
    }

    #[test]
    fn escape_neutralises_markup_and_reordering_characters() {
        assert_eq!(escape("<a>&\"'"), "&lt;a&gt;&amp;&quot;&#39;");
        assert_eq!(escape("x\u{202e}y\r"), "x\\u{202e}y\\u{d}");
    }
    use crate::model::digest::Digest;
    use crate::model::referrers::Via;
    use crate::plan::coverage::{Found, PlatformState};
    use crate::report::{Problem, RepositoryCoverage};

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
            warnings: vec![],
            supply: Default::default(),
        }
    }

    fn report(repo: &str) -> RegistryCheckReport {
        let mut one = RepositoryCoverage::of_images(
            repo.into(),
            vec![CheckImage {
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
        );
        one.error = Some("<img src=x onerror=alert(1)>".into());
        RegistryCheckReport::of("reg\"<x>".into(), false, vec![one], 0, 0)
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
    fn an_images_page_is_named_for_its_images_and_a_registry_page_for_its_registry() {
        let r = report("team/app");
        let page = render_images(&r, &["reg/a:1".into(), "oci-layout://o u t:2".into()]);
        assert!(page
            .contains("<title>Attestation coverage of reg/a:1 and oci-layout://o u t:2</title>"));
        assert!(page
            .contains("<code>referrify check reg/a:1 &#39;oci-layout://o u t:2&#39;</code><br>"));
        assert!(!page.contains("HTTP request"));
        let page = render(&r);
        assert!(page.contains("<title>Attestation coverage of reg&quot;&lt;x&gt;</title>"));
        assert!(page.contains("</code> · 0 HTTP requests<br>"));
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400 + 3_661), "2000-02-29 01:01 UTC");
        assert_eq!(utc(1_767_225_540), "2025-12-31 23:59 UTC");
    }
}
