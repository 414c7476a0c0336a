//! Human-readable rendering of reports. Every string that came from outside goes through
//! [`sanitize`].

use super::sanitize::sanitize;
use super::states::{AttestationState, RepositoryStatus};
use super::{
    AttestationReport, CheckImage, CheckReport, ConvertReport, CoverageSummary, ImageReport,
    MigrateRow, MigrateSummary, PlatformReport, Problem, RegistryCheckReport, UndoReport,
};
use crate::model::digest::Digest;
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
    for img in &r.images {
        // A layout is written as files: no push.
        let layout = img.reference.starts_with("oci-layout://");
        let verbs = match (r.dry_run, layout) {
            (false, false) => &DID,
            (true, false) => &WOULD,
            (false, true) => &DID_LAYOUT,
            (true, true) => &WOULD_LAYOUT,
        };
        convert_image(&mut o, img, verbs, verbose);
        super::repair::lines(&mut o, &img.repaired_entries, r.dry_run);
    }
    let s = &r.summary;
    let _ = writeln!(
        o,
        "{} image{}{}, {} attestation{}: {} {}, {} already done, {} failed{}",
        s.images,
        plural(s.images),
        if s.failed_images > 0 {
            format!(" ({} failed)", s.failed_images)
        } else {
            String::new()
        },
        s.attestations,
        plural(s.attestations),
        s.converted,
        converted(r.dry_run),
        s.already_done,
        s.failed,
        dry_note(r.dry_run)
    );
    o
}

/// How a convert report words its writes: done, or (dry run) only planned.
struct Verbs {
    push: &'static str,
    list: &'static str,
    add: &'static str,
    rewritten: &'static str,
    moved: &'static str,
}

const DID: Verbs = Verbs {
    push: "pushed artifact",
    list: "listed it in tag",
    add: "added it to index.json",
    rewritten: "rewritten",
    moved: "moved",
};

const WOULD: Verbs = Verbs {
    push: "would push artifact",
    list: "would list it in tag",
    add: "would add it to index.json",
    rewritten: "would be rewritten",
    moved: "would move",
};

const DID_LAYOUT: Verbs = Verbs {
    push: "wrote artifact to blobs/",
    ..DID
};

const WOULD_LAYOUT: Verbs = Verbs {
    push: "would write artifact to blobs/",
    ..WOULD
};

/// The width of `sha256:0123456789ab -> sha256:0123456789ab`, the attestation column.
const ARROW: usize = 42;

/// One image of a convert report: its line, then a line per attestation, problem and rewrite.
fn convert_image(o: &mut String, img: &ImageReport, verbs: &Verbs, verbose: bool) {
    let _ = writeln!(
        o,
        "{}  {}",
        image_heading(&img.reference, img.digest.as_ref()),
        img.status
    );
    if let Some(e) = &img.error {
        error_line(o, e);
    }
    if !img.attestations.is_empty() {
        let _ = writeln!(
            o,
            "  {:<14} {:<ARROW$}  WHAT",
            "PLATFORM", "LEGACY ATTESTATION -> OCI 1.1 ARTIFACT"
        );
    }
    for a in &img.attestations {
        attestation_lines(o, a, verbs, verbose);
    }
    problem_lines(o, "problem", &img.problems);
    problem_lines(o, "skipped", &img.skipped);
    if let Some(ix) = &img.index_rewrite {
        let tags = if ix.tags_moved.is_empty() {
            String::new()
        } else {
            format!("; {} tag {}", verbs.moved, ix.tags_moved.join(", "))
        };
        let _ = writeln!(
            o,
            "  index {}: {} -> {}{}",
            verbs.rewritten,
            ix.old.short(),
            ix.new.short(),
            sanitize(&tags)
        );
    }
}

/// One attestation: source and artifact, what happened (`verbose`: predicates and confirm too).
fn attestation_lines(o: &mut String, a: &AttestationReport, verbs: &Verbs, verbose: bool) {
    let action = match a.state {
        AttestationState::AlreadyDone => format!("already discoverable ({})", via(a.via)),
        AttestationState::Blocked | AttestationState::Failed => format!(
            "{}: {}",
            a.state,
            sanitize(a.reason.as_deref().unwrap_or(""))
        ),
        _ => written(a, verbs),
    };
    let arrow = if a.created {
        format!("{} -> {}", a.source.short(), a.artifact.short())
    } else {
        format!("{} (already an artifact)", a.artifact.short())
    };
    let _ = writeln!(
        o,
        "  {:<14} {:<ARROW$}  {}",
        sanitize(&a.platform),
        arrow,
        action
    );
    for w in &a.warnings {
        let _ = writeln!(o, "  {:<14} warning: {}", "", sanitize(w));
    }
    if verbose {
        let types: Vec<String> = a.predicate_types.iter().map(|t| short_type(t)).collect();
        let _ = writeln!(o, "  {:<14} predicates: {}", "", types.join(", "));
        let _ = writeln!(o, "  {:<14} confirm: {}", "", sanitize(&a.confirm));
    }
}

/// The writes made (or planned) for one attestation, and what a fresh listing found.
fn written(a: &AttestationReport, verbs: &Verbs) -> String {
    let mut parts = Vec::new();
    if a.pushed {
        parts.push(verbs.push.to_string());
    }
    if let Some(t) = &a.referrers_tag {
        parts.push(format!("{} {}", verbs.list, short_tag(t)));
    }
    if a.via == Via::Layout {
        parts.push(verbs.add.to_string());
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

/// `reference  sha256:0123456789ab`, the start of an image's first line.
fn image_heading(reference: &str, digest: Option<&Digest>) -> String {
    let digest = digest.map(|d| d.short()).unwrap_or_default();
    format!("{}  {}", sanitize(reference), digest)
}

/// Why an image (or a repository) failed as a whole.
fn error_line(o: &mut String, e: &str) {
    let _ = writeln!(o, "  error: {}", sanitize(e));
}

/// A line per index entry, e.g. `  problem: sha256:0123456789ab: why`.
fn problem_lines(o: &mut String, label: &str, problems: &[Problem]) {
    for p in problems {
        let _ = writeln!(
            o,
            "  {label}: {}: {}",
            p.digest.short(),
            sanitize(&p.message)
        );
    }
}

/// What `converted` counts, in a real run or a dry run.
fn converted(dry_run: bool) -> &'static str {
    if dry_run {
        "to convert"
    } else {
        "made discoverable"
    }
}

/// Ends a dry run's last line.
fn dry_note(dry_run: bool) -> &'static str {
    if dry_run {
        " (dry run: nothing written)"
    } else {
        ""
    }
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
    let _ = writeln!(o, "{}", super::supply::SupplyTotals::of(&r.images).line());
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
        let s = &repo.totals;
        let states = state_counts(s);
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
                || i.platforms
                    .iter()
                    .any(|p| !p.covered || !p.supply.unmet.is_empty())
        })
        .cloned()
        .collect();
    if !gaps.is_empty() {
        let _ = writeln!(o, "\ngaps:");
        check_images(&mut o, &gaps, verbose);
    }
    if r.gaps_not_shown > 0 {
        let _ = writeln!(
            o,
            "\n{} more platform manifest{} with a gap not shown; list every one with: {}",
            r.gaps_not_shown,
            plural(r.gaps_not_shown),
            crate::report::commands::list_all(&r.registry)
        );
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
    let _ = writeln!(o, "{}", s.supply.line());
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
        let _ = writeln!(o, "{}", image_heading(&img.reference, img.digest.as_ref()));
        if let Some(e) = &img.error {
            error_line(o, e);
            continue;
        }
        let _ = writeln!(
            o,
            "  {:<14} {:<20} {:<11} {:<17} {:<9} PREDICATES",
            "PLATFORM", "MANIFEST", "ATTESTATION", "DISCOVERABLE", "SUBJECTS"
        );
        let gap = |p: &&PlatformReport| !p.covered || !p.supply.unmet.is_empty();
        for p in img.platforms.iter().filter(|p| all || gap(p)) {
            platform_lines(o, p);
            super::supply::lines(o, p, all);
        }
        problem_lines(o, "problem", &img.problems);
    }
}

/// One platform's row of the table, then why it is not covered and what to run.
fn platform_lines(o: &mut String, p: &PlatformReport) {
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
    for w in &p.warnings {
        let _ = writeln!(o, "  {:<14} warning: {}", "", sanitize(w));
    }
    if let Some(f) = &p.fix {
        let _ = writeln!(o, "  {:<14} fix: {}", "", sanitize(f));
    }
    let _ = writeln!(o, "  {:<14} confirm: {}", "", sanitize(&p.confirm));
}

/// Renders the summary table of a migration (dry run: the plan).
pub fn migrate(rows: &[MigrateRow], s: &MigrateSummary, verbose: bool) -> String {
    let mut o = String::new();
    let (conv, tags) = if s.dry_run {
        ("TO-CONVERT", "TAGS-TO-CREATE")
    } else {
        ("CONVERTED", "TAGS-CREATED")
    };
    if !rows.is_empty() {
        let _ = writeln!(
            o,
            "{:<40} {:<10} {:>6} {:>10} {:>12} {:>6} {:>14}",
            "REPOSITORY", "STATUS", "IMAGES", conv, "ALREADY-DONE", "FAILED", tags
        );
    }
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
                error_line(&mut o, e);
            }
        }
    }
    migrate_totals(&mut o, s);
    if rows.is_empty() && o.starts_with('\n') {
        // No table (the catalog could not be read, say): no blank line above the totals.
        o.remove(0);
    }
    o
}

/// The totals under the migrate table: repositories and images, attestations and tags, then
/// the cost.
fn migrate_totals(o: &mut String, s: &MigrateSummary) {
    let _ = writeln!(
        o,
        "\n{} repositor{} ({} failed, {} resumed from the state file), {} image{} ({} failed, {} resumed)",
        s.repositories,
        if s.repositories == 1 { "y" } else { "ies" },
        s.failed_repositories,
        s.resumed_repositories,
        s.counts.images,
        plural(s.counts.images),
        s.counts.failed_images,
        s.counts.resumed_images
    );
    let _ = writeln!(
        o,
        "{} attestation{}: {} {}, {} already done, {} failed; {} referrers tag{} {}, {} updated",
        s.counts.attestations,
        plural(s.counts.attestations),
        s.counts.converted,
        converted(s.dry_run),
        s.counts.already_done,
        s.counts.failed,
        s.counts.tags_created,
        plural(s.counts.tags_created),
        if s.dry_run { "to create" } else { "created" },
        s.counts.tags_updated
    );
    if s.counts.mounts_refused > 0 {
        let _ = writeln!(
            o,
            "{} blob mount{} refused by the registry; uploaded instead",
            s.counts.mounts_refused,
            plural(s.counts.mounts_refused)
        );
    }
    if s.counts.tags_rewritten_across_batches > 0 {
        let _ = writeln!(
            o,
            "{} referrers tag write{} repeated: images sharing a platform manifest fell in different batches",
            s.counts.tags_rewritten_across_batches,
            plural(s.counts.tags_rewritten_across_batches)
        );
    }
    if let Some(e) = &s.catalog_error {
        // The walk's errors already start with "reading the catalog: ".
        let label = if e.starts_with("reading the catalog") {
            ""
        } else {
            "catalog: "
        };
        let _ = writeln!(o, "{label}{}", sanitize(e));
    }
    let _ = writeln!(
        o,
        "{} HTTP request{} in {:.1} s{}",
        s.requests,
        if s.requests == 1 { "" } else { "s" },
        s.seconds,
        dry_note(s.dry_run)
    );
}

/// Renders an undo report.
pub fn undo(r: &UndoReport) -> String {
    let mut o = String::new();
    for i in &r.images {
        let heading = image_heading(&i.reference, i.digest.as_ref());
        let _ = writeln!(o, "{heading}  {}", i.status);
        if let Some(e) = &i.error {
            error_line(&mut o, e);
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
        dry_note(r.dry_run)
    );
    o
}
