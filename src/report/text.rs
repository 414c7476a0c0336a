//! Human-readable rendering of reports. Every string that came from outside goes through
//! [`sanitize`].

use super::sanitize::sanitize;
use super::states::{AttestationState, RepositoryStatus};
use super::{
    CheckImage, CheckReport, ConvertReport, CoverageSummary, MigrateRow, MigrateSummary,
    RegistryCheckReport,
};
use crate::model::referrers::Via;
use crate::plan::coverage::Found;
use std::fmt::Write as _;

fn via(v: Via) -> &'static str {
    match v {
        Via::Api => "referrers API",
        Via::Tag => "referrers tag",
        Via::Layout => "layout index.json",
        Via::None => "not discoverable",
    }
}

fn short_type(t: &str) -> String {
    let t = t.trim_start_matches("https://");
    sanitize(t)
}

/// Renders a convert report.
pub fn convert(r: &ConvertReport, verbose: bool) -> String {
    let mut o = String::new();
    let (push, list, add) = if r.dry_run {
        (
            "would push artifact",
            "would list it in tag",
            "would add it to index.json",
        )
    } else {
        (
            "pushed artifact",
            "listed it in tag",
            "added it to index.json",
        )
    };
    for img in &r.images {
        let digest = img.digest.as_ref().map(|d| d.short()).unwrap_or_default();
        let _ = writeln!(
            o,
            "{}  {}  {}",
            sanitize(&img.reference),
            digest,
            img.status
        );
        if let Some(e) = &img.error {
            let _ = writeln!(o, "  error: {}", sanitize(e));
        }
        for a in &img.attestations {
            let action = match a.state {
                AttestationState::AlreadyDone => format!("already discoverable ({})", via(a.via)),
                AttestationState::Blocked | AttestationState::Failed => format!(
                    "{}: {}",
                    a.state,
                    sanitize(a.reason.as_deref().unwrap_or(""))
                ),
                _ => {
                    let mut parts = Vec::new();
                    if a.pushed {
                        parts.push(push.to_string());
                    }
                    if let Some(t) = &a.referrers_tag {
                        parts.push(format!("{list} {}", short_tag(t)));
                    }
                    if a.via == Via::Layout {
                        parts.push(add.to_string());
                    }
                    if a.via == Via::Api && !a.pushed {
                        parts.push("listed by the referrers API".into());
                    }
                    let mut s = parts.join(", ");
                    match a.verified {
                        Some(true) => s.push_str(&format!("; verified via {}", via(a.via))),
                        Some(false) => s.push_str("; NOT found when listing referrers"),
                        None => {}
                    }
                    s
                }
            };
            let arrow = if a.created {
                format!("{} -> {}", a.source.short(), a.artifact.short())
            } else {
                format!("{} (already an artifact)", a.artifact.short())
            };
            let _ = writeln!(o, "  {:<14} {}  {}", sanitize(&a.platform), arrow, action);
            if verbose {
                let types: Vec<String> = a.predicate_types.iter().map(|t| short_type(t)).collect();
                let _ = writeln!(o, "  {:<14} predicates: {}", "", types.join(", "));
                let _ = writeln!(o, "  {:<14} confirm: {}", "", sanitize(&a.confirm));
            }
        }
        for p in &img.problems {
            let _ = writeln!(
                o,
                "  problem: {}: {}",
                p.digest.short(),
                sanitize(&p.message)
            );
        }
        for p in &img.skipped {
            let _ = writeln!(
                o,
                "  skipped: {}: {}",
                p.digest.short(),
                sanitize(&p.message)
            );
        }
        if let Some(ix) = &img.index_rewrite {
            let (verb, moved) = if r.dry_run {
                ("would be rewritten", "would move")
            } else {
                ("rewritten", "moved")
            };
            let tags = if ix.tags_moved.is_empty() {
                String::new()
            } else {
                format!("; {moved} tag {}", ix.tags_moved.join(", "))
            };
            let _ = writeln!(
                o,
                "  index {verb}: {} -> {}{}",
                ix.old.short(),
                ix.new.short(),
                sanitize(&tags)
            );
        }
    }
    let s = &r.summary;
    let _ = writeln!(
        o,
        "{} image{}, {} attestation{}: {} {}, {} already done, {} failed{}",
        s.images,
        plural(s.images),
        s.attestations,
        plural(s.attestations),
        s.converted,
        if r.dry_run {
            "to convert"
        } else {
            "made discoverable"
        },
        s.already_done,
        s.failed,
        if r.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
    o
}

fn short_tag(t: &str) -> String {
    if t.len() > 19 {
        format!("{}…", &t[..19])
    } else {
        t.to_string()
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Renders a check report.
pub fn check(r: &CheckReport) -> String {
    let mut o = String::new();
    check_images(&mut o, &r.images, true);
    let s = &r.summary;
    coverage_line(&mut o, s.covered, s.platforms, s.failed_images);
    o
}

fn coverage_line(o: &mut String, covered: usize, platforms: usize, failed_images: usize) {
    let _ = writeln!(
        o,
        "coverage: {} of {} platform manifest{} covered{}",
        covered,
        platforms,
        plural(platforms),
        if failed_images > 0 {
            format!(
                ", {} image{} could not be read",
                failed_images,
                plural(failed_images)
            )
        } else {
            String::new()
        }
    );
}

/// Renders a registry-wide check: a line per repository, then every gap with why and the fix
/// (`verbose`: every platform).
pub fn check_registry(r: &RegistryCheckReport, verbose: bool) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<40} {:>6} {:>9} {:>7} {:>5}  STATES",
        "REPOSITORY", "IMAGES", "PLATFORMS", "COVERED", "GAPS"
    );
    for repo in &r.repositories {
        let mut s = CoverageSummary::default();
        s.add(repo);
        let states = state_counts(&s);
        let _ = writeln!(
            o,
            "{:<40} {:>6} {:>9} {:>7} {:>5}  {}",
            sanitize(&repo.repository),
            s.images,
            s.platforms,
            s.covered,
            s.uncovered,
            if let Some(e) = &repo.error {
                format!("error: {}", sanitize(e))
            } else {
                states.join(" ")
            }
        );
    }
    let gaps: Vec<CheckImage> = r
        .repositories
        .iter()
        .flat_map(|repo| repo.images.iter())
        .filter(|i| {
            verbose
                || i.error.is_some()
                || !i.problems.is_empty()
                || i.platforms.iter().any(|p| !p.covered)
        })
        .cloned()
        .collect();
    if !gaps.is_empty() {
        let _ = writeln!(o, "\n{}", if verbose { "images:" } else { "gaps:" });
        check_images(&mut o, &gaps, verbose);
    }
    let s = &r.summary;
    let states = state_counts(s);
    let _ = writeln!(
        o,
        "\n{} repositor{}, {} image{}; states: {}",
        s.repositories,
        if s.repositories == 1 { "y" } else { "ies" },
        s.images,
        plural(s.images),
        if states.is_empty() {
            "-".to_string()
        } else {
            states.join(" ")
        }
    );
    coverage_line(&mut o, s.covered, s.platforms, s.failed_images);
    o
}

/// `state=count` for each state with platforms, in state order.
fn state_counts(s: &CoverageSummary) -> Vec<String> {
    s.states
        .iter()
        .map(|(k, n)| format!("{}={n}", k.as_str()))
        .collect()
}

/// Renders the per-platform table of each image (`all`: covered platforms too).
fn check_images(o: &mut String, images: &[CheckImage], all: bool) {
    for img in images {
        let digest = img.digest.as_ref().map(|d| d.short()).unwrap_or_default();
        let _ = writeln!(o, "{}  {}", sanitize(&img.reference), digest);
        if let Some(e) = &img.error {
            let _ = writeln!(o, "  error: {}", sanitize(e));
            continue;
        }
        let _ = writeln!(
            o,
            "  {:<14} {:<20} {:<11} {:<17} {:<9} PREDICATES",
            "PLATFORM", "MANIFEST", "ATTESTATION", "DISCOVERABLE", "SUBJECTS"
        );
        for p in img.platforms.iter().filter(|p| all || !p.covered) {
            let att = match p.attestation {
                Found::Artifact => "artifact",
                Found::Legacy => "legacy",
                Found::None => "none",
            };
            let disc = match p.discoverable {
                Via::Api => "api",
                Via::Tag => "tag",
                Via::Layout => "layout",
                Via::None => "none",
            };
            let subj = match p.subjects_match {
                Some(true) => "ok",
                Some(false) => "MISMATCH",
                None => "-",
            };
            let types: Vec<String> = p.predicate_types.iter().map(|t| short_type(t)).collect();
            let mark = if p.covered { "" } else { "  <- gap" };
            let _ = writeln!(
                o,
                "  {:<14} {:<20} {:<11} {:<17} {:<9} {}{}",
                sanitize(&p.platform),
                p.digest.short(),
                att,
                disc,
                subj,
                if types.is_empty() {
                    "-".to_string()
                } else {
                    types.join(", ")
                },
                mark
            );
            for reason in &p.reasons {
                let _ = writeln!(o, "  {:<14} why: {}", "", sanitize(reason));
            }
            if let Some(f) = &p.fix {
                let _ = writeln!(o, "  {:<14} fix: {}", "", sanitize(f));
            }
            let _ = writeln!(o, "  {:<14} confirm: {}", "", sanitize(&p.confirm));
        }
        for p in &img.problems {
            let _ = writeln!(
                o,
                "  problem: {}: {}",
                p.digest.short(),
                sanitize(&p.message)
            );
        }
    }
}

/// Renders the summary table of a migration (dry run: the plan).
pub fn migrate(rows: &[MigrateRow], s: &MigrateSummary, verbose: bool) -> String {
    let mut o = String::new();
    let (conv, tags) = if s.dry_run {
        ("TO-CONVERT", "TAGS-TO-CREATE")
    } else {
        ("CONVERTED", "TAGS-CREATED")
    };
    let _ = writeln!(
        o,
        "{:<40} {:<10} {:>6} {:>10} {:>12} {:>6} {:>14}",
        "REPOSITORY", "STATUS", "IMAGES", conv, "ALREADY-DONE", "FAILED", tags
    );
    for r in rows {
        let quiet = matches!(
            r.status,
            RepositoryStatus::Unchanged | RepositoryStatus::Resumed
        ) && r.converted == 0;
        if quiet && !verbose && rows.len() > 50 {
            continue;
        }
        let _ = writeln!(
            o,
            "{:<40} {:<10} {:>6} {:>10} {:>12} {:>6} {:>14}",
            sanitize(&r.repository),
            r.status,
            r.images,
            r.converted,
            r.already_done,
            r.failed,
            r.tags_created
        );
        if let Some(e) = &r.error {
            if r.status == RepositoryStatus::Failed {
                let _ = writeln!(o, "  error: {}", sanitize(e));
            }
        }
    }
    let _ = writeln!(
        o,
        "\n{} repositor{} ({} failed, {} resumed from the state file), {} image{} ({} failed, {} resumed)",
        s.repositories,
        if s.repositories == 1 { "y" } else { "ies" },
        s.failed_repositories,
        s.resumed_repositories,
        s.images,
        plural(s.images),
        s.failed_images,
        s.resumed_images
    );
    let _ =
        writeln!(
        o,
        "{} attestation{}: {} {}, {} already done, {} failed; {} referrers tag{} {}, {} updated",
        s.attestations,
        plural(s.attestations),
        s.converted,
        if s.dry_run { "to convert" } else { "made discoverable" },
        s.already_done,
        s.failed,
        s.tags_created,
        plural(s.tags_created),
        if s.dry_run { "to create" } else { "created" },
        s.tags_updated
    );
    if let Some(e) = &s.catalog_error {
        let _ = writeln!(o, "catalog: {}", sanitize(e));
    }
    let _ = writeln!(
        o,
        "{} HTTP requests in {:.1} s{}",
        s.requests,
        s.seconds,
        if s.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
    o
}

/// Renders an undo report.
pub fn undo(r: &super::UndoReport) -> String {
    let mut o = String::new();
    for i in &r.images {
        let d = i.digest.as_ref().map(|d| d.short()).unwrap_or_default();
        let _ = writeln!(o, "{}  {}  {}", sanitize(&i.reference), d, i.status);
        if let Some(e) = &i.error {
            let _ = writeln!(o, "  error: {}", sanitize(e));
        }
        for t in &i.tags_rewritten {
            let _ = writeln!(o, "  referrers tag {}: our entries taken out", short_tag(t));
        }
        for t in &i.tags_deleted {
            let _ = writeln!(
                o,
                "  referrers tag {}: deleted (referrify created it)",
                short_tag(t)
            );
        }
        for a in &i.artifacts_deleted {
            let _ = writeln!(o, "  artifact {}: deleted", a.short());
        }
        for k in &i.artifacts_kept {
            let _ = writeln!(
                o,
                "  artifact {}: kept: {}",
                k.digest.short(),
                sanitize(&k.message)
            );
        }
    }
    let s = &r.summary;
    let _ = writeln!(
        o,
        "{} image{}: {} entr{} taken out of referrers tags, {} tag{} rewritten, {} deleted, {} artifact{} deleted, {} kept{}",
        s.images,
        plural(s.images),
        s.removed_entries,
        if s.removed_entries == 1 { "y" } else { "ies" },
        s.tags_rewritten,
        plural(s.tags_rewritten),
        s.tags_deleted,
        s.artifacts_deleted,
        plural(s.artifacts_deleted),
        s.artifacts_kept,
        if r.dry_run { " (dry run: nothing written)" } else { "" }
    );
    o
}
