//! The JSON lines of `migrate` (one per repository, then the totals) and the rows of its text
//! table.

use super::{ConvertSummary, ImageReport, RepositoryStatus};
use serde::Serialize;

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
    /// [`SCHEMA_VERSION`](super::SCHEMA_VERSION).
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
    /// Blobs uploaded because the registry refused a cross-repository mount (left out when
    /// none).
    #[serde(skip_serializing_if = "super::convert::is_zero")]
    pub mounts_refused: usize,
    /// HTTP requests sent (tokens and retries included).
    pub requests: u64,
    /// Wall time.
    pub seconds: f64,
    /// Why the catalog walk stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog_error: Option<String>,
}

impl MigrateSummary {
    /// Adds one repository.
    pub fn add(&mut self, r: &MigrateRepository) {
        self.repositories += 1;
        self.failed_repositories += usize::from(r.status == RepositoryStatus::Failed);
        self.resumed_repositories += usize::from(r.status == RepositoryStatus::Resumed);
        self.resumed_images += r.resumed_images;
        // Images and attestations count as in a convert run of the repository's images.
        let c = ConvertSummary::of(&r.images);
        self.images += c.images;
        self.failed_images += c.failed_images;
        self.attestations += c.attestations;
        self.converted += c.converted;
        self.already_done += c.already_done;
        self.failed += c.failed;
        for w in r.images.iter().map(|i| &i.writes) {
            self.manifests += w.manifests;
            self.mounts_refused += w.mounts_refused;
            for t in &w.referrers_tags {
                if t.created {
                    self.tags_created += 1;
                } else {
                    self.tags_updated += 1;
                }
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
