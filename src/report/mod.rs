//! What commands print. The structs here are the JSON schema (`schemaVersion` 1, documented in
//! the README); `text` renders the same data for people. stdout carries results only.

pub mod commands;
pub mod html;
pub mod progress;
pub mod sanitize;
pub mod states;
pub mod text;

use crate::model::digest::Digest;
use crate::model::referrers::Via;
use crate::plan::coverage::{Found, PlatformState, StatementCheck};
use serde::Serialize;
pub use states::{AttestationState, ImageStatus, RepositoryStatus, UndoStatus};
use std::collections::BTreeMap;

/// The JSON schema version of every report.
pub const SCHEMA_VERSION: u32 = 1;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// One JSON document.
    Json,
}

/// `referrify convert` output.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvertReport {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `convert`.
    pub command: &'static str,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// `keep` or `rewrite`.
    pub index_mode: &'static str,
    /// One per image reference.
    pub images: Vec<ImageReport>,
    /// Totals.
    pub summary: ConvertSummary,
}

/// Totals of a convert run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvertSummary {
    /// Images processed.
    pub images: usize,
    /// Images that failed (fully or partly).
    pub failed_images: usize,
    /// Attestations found.
    pub attestations: usize,
    /// Made discoverable by this run (or, in a dry run, that would be).
    pub converted: usize,
    /// Already discoverable before the run.
    pub already_done: usize,
    /// Could not be made discoverable.
    pub failed: usize,
}

/// The result for one image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageReport {
    /// The reference as given.
    pub reference: String,
    /// The index (or manifest) digest read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// `done`, `unchanged`, `planned`, `failed`, or `not-an-index`.
    pub status: ImageStatus,
    /// Why the image failed as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// One per attestation entry.
    pub attestations: Vec<AttestationReport>,
    /// Entries left alone (other reference types).
    pub skipped: Vec<Problem>,
    /// Entries that could not be used.
    pub problems: Vec<Problem>,
    /// The index rewrite (`--index rewrite`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_rewrite: Option<IndexRewrite>,
    /// Writes made (or planned, in a dry run).
    pub writes: Writes,
    /// HTTP requests sent to the registry for this image (0 for layouts; left out by `migrate`,
    /// which counts per run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
}

pub use crate::model::image::Problem;

/// A rewritten index.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexRewrite {
    /// The index before.
    pub old: Digest,
    /// The index after.
    pub new: Digest,
    /// Tags moved from old to new.
    pub tags_moved: Vec<String>,
}

/// Writes of one image.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Writes {
    /// Blobs uploaded.
    pub blobs: usize,
    /// Manifests pushed.
    pub manifests: usize,
    /// Referrers tags written.
    pub referrers_tags: Vec<TagWrite>,
    /// Descriptors added to an OCI layout's index.json.
    pub layout_index_entries: usize,
}

/// One referrers tag write.
#[derive(Debug, Clone, Serialize)]
pub struct TagWrite {
    /// The tag.
    pub tag: String,
    /// Whether it was created (else updated).
    pub created: bool,
}

/// One attestation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationReport {
    /// The subject's platform.
    pub platform: String,
    /// The platform manifest.
    pub subject: Digest,
    /// The attestation manifest in the index.
    pub source: Digest,
    /// The artifact manifest.
    pub artifact: Digest,
    /// Its size.
    pub artifact_size: usize,
    /// Whether the artifact was created from a legacy manifest (false: it already was one).
    pub created: bool,
    /// Predicate types, in layer order.
    pub predicate_types: Vec<String>,
    /// `done` (made discoverable now), `already-done`, `planned` (dry run), `blocked`, `failed`.
    pub state: AttestationState,
    /// How it is discoverable.
    pub via: Via,
    /// Whether the artifact manifest was (or would be) pushed.
    pub pushed: bool,
    /// The referrers tag maintained, when the tag schema is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrers_tag: Option<String>,
    /// Whether a fresh listing found it (`null`: not verified).
    pub verified: Option<bool>,
    /// Why it is blocked or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A command an independent client can run to confirm.
    pub confirm: String,
}

/// `referrify check` output.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `check`.
    pub command: &'static str,
    /// One per image reference.
    pub images: Vec<CheckImage>,
    /// Totals.
    pub summary: CheckSummary,
}

/// Totals of a check run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckSummary {
    /// Images checked.
    pub images: usize,
    /// Images that could not be read.
    pub failed_images: usize,
    /// Platform manifests seen.
    pub platforms: usize,
    /// Covered platform manifests.
    pub covered: usize,
    /// Platform manifests with a gap.
    pub uncovered: usize,
}

/// Coverage of one image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckImage {
    /// The reference as given.
    pub reference: String,
    /// The index (or manifest) digest read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Tags that point to this image (registry-wide checks; empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Why the image could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// One per platform manifest.
    pub platforms: Vec<PlatformReport>,
    /// Index entries that are broken.
    pub problems: Vec<Problem>,
}

/// Coverage of one platform manifest.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformReport {
    /// `os/arch[/variant]`.
    pub platform: String,
    /// The platform manifest.
    pub digest: Digest,
    /// `artifact`, `legacy` or `none`.
    pub attestation: Found,
    /// `api`, `tag`, `layout` or `none`.
    pub discoverable: Via,
    /// Attestation referrers listed.
    pub referrers: Vec<Digest>,
    /// Predicate types found.
    pub predicate_types: Vec<String>,
    /// Whether every statement's subject names this manifest (`null`: none checked).
    pub subjects_match: Option<bool>,
    /// The checked statements.
    pub statements: Vec<StatementCheck>,
    /// Covered: discoverable and every statement names this manifest.
    pub covered: bool,
    /// The state in one word (`discoverable-api`, `legacy-only`, ...).
    pub state: PlatformState,
    /// Why not covered.
    pub reasons: Vec<String>,
    /// A command an independent client can run to confirm.
    pub confirm: String,
    /// The command that closes the gap, when referrify can.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// `referrify check REGISTRY`: coverage across repositories.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCheckReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `check`.
    pub command: &'static str,
    /// The registry host as given.
    pub registry: String,
    /// Whether in-toto statements were read (`--statements`).
    pub statements_checked: bool,
    /// One per repository, in catalog order.
    pub repositories: Vec<RepositoryCoverage>,
    /// Totals.
    pub summary: CoverageSummary,
}

/// Coverage of one repository.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryCoverage {
    /// The repository name.
    pub repository: String,
    /// Why it could not be read (its tags could not be listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// One per distinct image (index or manifest digest) its tags point to.
    pub images: Vec<CheckImage>,
}

/// Totals of a registry-wide check.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoverageSummary {
    /// Repositories checked.
    pub repositories: usize,
    /// Repositories that could not be read.
    pub failed_repositories: usize,
    /// Distinct images checked.
    pub images: usize,
    /// Images that could not be read.
    pub failed_images: usize,
    /// Platform manifests checked.
    pub platforms: usize,
    /// Covered platform manifests.
    pub covered: usize,
    /// Platform manifests with a gap.
    pub uncovered: usize,
    /// Platform manifests per state.
    pub states: BTreeMap<PlatformState, usize>,
    /// HTTP requests sent (tokens and retries included).
    pub requests: u64,
}

impl CoverageSummary {
    /// Adds one repository's images to the totals.
    pub fn add(&mut self, repo: &RepositoryCoverage) {
        self.repositories += 1;
        self.failed_repositories += usize::from(repo.error.is_some());
        for i in &repo.images {
            self.images += 1;
            self.failed_images += usize::from(i.error.is_some());
            for p in &i.platforms {
                self.platforms += 1;
                if p.covered {
                    self.covered += 1;
                } else {
                    self.uncovered += 1;
                }
                *self.states.entry(p.state).or_default() += 1;
            }
        }
    }
}

/// `referrify migrate --format json`: one [`MigrateRepository`] line per repository as it
/// finishes, then one [`MigrateSummary`] line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateRepository {
    /// `repository`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The repository.
    pub repository: String,
    /// `done`, `planned`, `unchanged`, `resumed` (done in an earlier run) or `failed`.
    pub status: RepositoryStatus,
    /// Why the repository could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// One per image converted or planned (the `convert` report of each).
    pub images: Vec<ImageReport>,
    /// Images skipped because the state file records them as done.
    pub resumed_images: usize,
    /// Tags that could not be read.
    pub tag_problems: Vec<TagProblem>,
}

/// A tag that could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct TagProblem {
    /// The tag.
    pub tag: String,
    /// Why.
    pub message: String,
}

/// Totals of a `migrate` run (the last JSON line).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateSummary {
    /// `summary`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `migrate`.
    pub command: &'static str,
    /// The registry.
    pub registry: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// `K/N` when sharded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Repositories taken (resumed ones included).
    pub repositories: usize,
    /// Repositories with a failure.
    pub failed_repositories: usize,
    /// Repositories the state file records as done.
    pub resumed_repositories: usize,
    /// Images worked on.
    pub images: usize,
    /// Images with a failure.
    pub failed_images: usize,
    /// Images the state file records as done.
    pub resumed_images: usize,
    /// Attestations found in the images worked on.
    pub attestations: usize,
    /// Converted (or, in a dry run, to convert).
    pub converted: usize,
    /// Already discoverable.
    pub already_done: usize,
    /// Failed or blocked.
    pub failed: usize,
    /// Referrers tags created (or to create).
    pub tags_created: usize,
    /// Referrers tags updated (or to update).
    pub tags_updated: usize,
    /// Artifact manifests pushed (or to push).
    pub manifests: usize,
    /// HTTP requests sent (tokens and retries included).
    pub requests: u64,
    /// Wall time.
    pub seconds: f64,
    /// Why the catalog walk stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog_error: Option<String>,
}

/// Counts one attestation into `(converted, already_done, failed)`.
fn tally(state: AttestationState, counts: (&mut usize, &mut usize, &mut usize)) {
    if state.is_converted() {
        *counts.0 += 1;
    } else if state == AttestationState::AlreadyDone {
        *counts.1 += 1;
    } else {
        *counts.2 += 1;
    }
}

impl ConvertSummary {
    /// The totals of a convert run.
    pub fn of(images: &[ImageReport]) -> ConvertSummary {
        let mut s = ConvertSummary {
            images: images.len(),
            ..Default::default()
        };
        for i in images {
            s.failed_images += usize::from(i.status == ImageStatus::Failed);
            for a in &i.attestations {
                s.attestations += 1;
                tally(
                    a.state,
                    (&mut s.converted, &mut s.already_done, &mut s.failed),
                );
            }
        }
        s
    }
}

impl MigrateSummary {
    /// Adds one repository.
    pub fn add(&mut self, r: &MigrateRepository) {
        self.repositories += 1;
        self.failed_repositories += usize::from(r.status == RepositoryStatus::Failed);
        self.resumed_repositories += usize::from(r.status == RepositoryStatus::Resumed);
        self.resumed_images += r.resumed_images;
        for i in &r.images {
            self.images += 1;
            self.failed_images += usize::from(i.status == ImageStatus::Failed);
            self.manifests += i.writes.manifests;
            for t in &i.writes.referrers_tags {
                if t.created {
                    self.tags_created += 1;
                } else {
                    self.tags_updated += 1;
                }
            }
            for a in &i.attestations {
                self.attestations += 1;
                tally(
                    a.state,
                    (
                        &mut self.converted,
                        &mut self.already_done,
                        &mut self.failed,
                    ),
                );
            }
        }
    }
}

/// One row of the text table of `migrate`.
#[derive(Debug, Clone)]
pub struct MigrateRow {
    /// The repository.
    pub repository: String,
    /// Status.
    pub status: RepositoryStatus,
    /// Images worked on.
    pub images: usize,
    /// Converted (or to convert).
    pub converted: usize,
    /// Already discoverable.
    pub already_done: usize,
    /// Failed.
    pub failed: usize,
    /// Referrers tags created.
    pub tags_created: usize,
    /// First error, if any.
    pub error: Option<String>,
}

impl MigrateRow {
    /// The row of a repository report.
    pub fn of(r: &MigrateRepository) -> MigrateRow {
        let mut s = MigrateSummary::default();
        s.add(r);
        let error = r
            .error
            .clone()
            .or_else(|| {
                r.images.iter().find_map(|i| {
                    i.error
                        .clone()
                        .or_else(|| {
                            i.problems
                                .first()
                                .map(|p| format!("{}: {}", p.digest, p.message))
                        })
                        .or_else(|| i.attestations.iter().find_map(|a| a.reason.clone()))
                        .map(|e| format!("{}: {e}", i.reference))
                })
            })
            .or_else(|| {
                r.tag_problems
                    .first()
                    .map(|t| format!("tag {}: {}", t.tag, t.message))
            });
        MigrateRow {
            repository: r.repository.clone(),
            status: r.status,
            images: s.images,
            converted: s.converted,
            already_done: s.already_done,
            failed: s.failed,
            tags_created: s.tags_created,
            error,
        }
    }
}

/// `referrify undo`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `undo`.
    pub command: &'static str,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// One per image.
    pub images: Vec<UndoImage>,
    /// Totals.
    pub summary: UndoSummary,
}

/// What undo took back for one image (writes shared by several images are reported once).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoImage {
    /// The reference.
    pub reference: String,
    /// The index digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// `undone`, `unchanged`, `planned` (dry run) or `failed`.
    pub status: UndoStatus,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Entries taken out of referrers tags.
    pub removed_entries: usize,
    /// Referrers tags written back without our entries.
    pub tags_rewritten: Vec<String>,
    /// Referrers tags referrify had created, deleted.
    pub tags_deleted: Vec<String>,
    /// Artifact manifests deleted (dry run: that would be).
    pub artifacts_deleted: Vec<Digest>,
    /// Artifact manifests the registry would not delete.
    pub artifacts_kept: Vec<Problem>,
    /// With `--restore-index`: the original index the tag points to again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_restored: Option<Digest>,
}

/// Totals of `undo`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoSummary {
    /// Images.
    pub images: usize,
    /// Images with a failure.
    pub failed_images: usize,
    /// Entries taken out of referrers tags.
    pub removed_entries: usize,
    /// Referrers tags rewritten.
    pub tags_rewritten: usize,
    /// Referrers tags deleted.
    pub tags_deleted: usize,
    /// Artifact manifests deleted.
    pub artifacts_deleted: usize,
    /// Artifact manifests kept because the registry refused to delete them.
    pub artifacts_kept: usize,
}

impl CheckSummary {
    /// The totals of a check of images.
    pub fn of(images: &[CheckImage]) -> CheckSummary {
        let mut s = CheckSummary {
            images: images.len(),
            ..Default::default()
        };
        for i in images {
            s.failed_images += usize::from(i.error.is_some());
            for p in &i.platforms {
                s.platforms += 1;
                if p.covered {
                    s.covered += 1;
                } else {
                    s.uncovered += 1;
                }
            }
        }
        s
    }
}

impl RegistryCheckReport {
    /// The report of a registry-wide check, repositories sorted by name.
    pub fn of(
        registry: String,
        statements: bool,
        mut repositories: Vec<RepositoryCoverage>,
        requests: u64,
    ) -> RegistryCheckReport {
        repositories.sort_by(|a, b| a.repository.cmp(&b.repository));
        let mut summary = CoverageSummary::default();
        for r in &repositories {
            summary.add(r);
        }
        summary.requests = requests;
        RegistryCheckReport {
            schema_version: SCHEMA_VERSION,
            command: "check",
            registry,
            statements_checked: statements,
            repositories,
            summary,
        }
    }
}

impl UndoSummary {
    /// The totals of an undo run.
    pub fn of(images: &[UndoImage]) -> UndoSummary {
        let mut s = UndoSummary::default();
        for i in images {
            s.images += 1;
            s.failed_images += usize::from(i.error.is_some());
            s.removed_entries += i.removed_entries;
            s.tags_rewritten += i.tags_rewritten.len();
            s.tags_deleted += i.tags_deleted.len();
            s.artifacts_deleted += i.artifacts_deleted.len();
            s.artifacts_kept += i.artifacts_kept.len();
        }
        s
    }
}
