//! The totals section: coverage cards and one card per state, with what each state means.

use super::{escape, plural};
use crate::plan::coverage::PlatformState;
use crate::report::{CoverageSummary, RegistryCheckReport};
use std::fmt::Write as _;

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

/// `ok` (covered), `fail` (the state could not be established) or `gap`.
pub(super) fn tone(state: PlatformState) -> &'static str {
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
pub(super) fn totals(out: &mut String, report: &RegistryCheckReport) {
    let s = &report.summary;
    out.push_str("<section id=\"totals\" aria-label=\"Totals\">\n<div class=\"cards\">\n");
    coverage_card(out, s);
    count_cards(out, s);
    supply_cards(out, s);
    out.push_str("</div>\n<div class=\"states\">\n");
    state_cards(out, s);
    out.push_str("</div>\n</section>\n");
}

/// The big card: the share of platforms covered, with a bar.
fn coverage_card(out: &mut String, s: &CoverageSummary) {
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
    let _ = writeln!(
        out,
        r#"<div class="card big {cov_tone}" data-total="coverage"><div class="value">{percent}</div><div class="label">covered · {covered} of {platforms}</div><div class="bar" role="presentation"><span style="width:{width}%"></span></div></div>"#,
        covered = s.covered,
        platforms = plural(s.platforms, "platform", "platforms"),
    );
}

/// One card per count; a zero count is not coloured as a gap or a failure.
fn count_cards(out: &mut String, s: &CoverageSummary) {
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
}

/// "N of M platforms have a discoverable SBOM, provenance, a signature": one card each.
fn supply_cards(out: &mut String, s: &CoverageSummary) {
    let t = &s.supply;
    let cards = [
        ("sbom", t.sbom, "with a discoverable SBOM"),
        ("provenance", t.provenance, "with provenance"),
        ("signature", t.signature, "with a signature"),
    ];
    for (key, n, label) in cards {
        let tone = if t.platforms > 0 && n == t.platforms {
            "ok"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r#"<div class="card {tone}" data-total="{key}"><div class="value">{n} of {m}</div><div class="label">platforms {label}</div></div>"#,
            m = t.platforms,
        );
    }
}

/// One card per state, every known state even at zero, so the legend is always complete.
fn state_cards(out: &mut String, s: &CoverageSummary) {
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
}
