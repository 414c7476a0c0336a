//! The JSON lines of `migrate` (one per image, one per repository, then the totals) and the rows
//! of its text table.

use super::{ConvertSummary, ImageReport, RepositoryStatus};
use serde::Serialize;

/// `referrify migrate --format json` (schema [`STREAM_SCHEMA_VERSION`](super::STREAM_SCHEMA_VERSION)):
/// one [`MigrateImage`] line per image as its batch finishes, one [`MigrateRepository`] line
/// per repository when it is done, then one [`MigrateSummary`] line. No line holds more than one
/// image, so neither referrify nor a reader needs memory that grows with a repository's tags.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateImage<'a> {
    /// `image`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The repository.
    pub repository: &'a str,
    /// The `convert` report of the image, without `requests`.
    #[serde(flatten)]
    pub image: &'a ImageReport,
}

/// What a migration counts, per repository and for the run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateCounts {
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
    /// Writes of a referrers tag that an earlier batch of the same repository had written
    /// already: images that share a platform manifest fell in different batches (left out
    /// when none).
    #[serde(skip_serializing_if = "super::convert::is_zero")]
    pub tags_rewritten_across_batches: usize,
    /// Artifact manifests pushed (or to push).
    pub manifests: usize,
    /// Blobs uploaded because the registry refused a cross-repository mount (left out when
    /// none).
    #[serde(skip_serializing_if = "super::convert::is_zero")]
    pub mounts_refused: usize,
}

impl MigrateCounts {
    /// Adds the images of one batch.
    pub fn add_images(&mut self, images: &[ImageReport]) {
        let c = ConvertSummary::of(images);
        self.images += c.images;
        self.failed_images += c.failed_images;
        self.attestations += c.attestations;
        self.converted += c.converted;
        self.already_done += c.already_done;
        self.failed += c.failed;
        for w in images.iter().map(|i| &i.writes) {
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

    fn add(&mut self, o: &MigrateCounts) {
        self.images += o.images;
        self.failed_images += o.failed_images;
        self.resumed_images += o.resumed_images;
        self.attestations += o.attestations;
        self.converted += o.converted;
        self.already_done += o.already_done;
        self.failed += o.failed;
        self.tags_created += o.tags_created;
        self.tags_updated += o.tags_updated;
        self.tags_rewritten_across_batches += o.tags_rewritten_across_batches;
        self.manifests += o.manifests;
        self.mounts_refused += o.mounts_refused;
    }
}

/// Tag problems kept per repository (the count says how many there were).
pub const TAG_PROBLEMS_KEPT: usize = 100;

/// One repository of a migration, when it is done: its counts, not its images (those had their
/// own lines).
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
    /// Why the repository could not be read (fully).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its counts.
    #[serde(flatten)]
    pub counts: MigrateCounts,
    /// Batches its tags were worked on in.
    pub batches: usize,
    /// Tags that could not be read (the first [`TAG_PROBLEMS_KEPT`]).
    pub tag_problems: Vec<TagProblem>,
    /// Tags that could not be read, all of them.
    pub tag_problems_total: usize,
    /// The first image error, for the text table.
    #[serde(skip)]
    pub first_error: Option<String>,
}

impl MigrateRepository {
    /// A repository not worked on yet.
    pub fn new(repository: String) -> MigrateRepository {
        MigrateRepository {
            kind: "repository",
            repository,
            status: RepositoryStatus::Unchanged,
            error: None,
            counts: MigrateCounts::default(),
            batches: 0,
            tag_problems: Vec::new(),
            tag_problems_total: 0,
            first_error: None,
        }
    }

    /// Adds a tag that could not be read.
    pub fn tag_problem(&mut self, p: TagProblem) {
        self.tag_problems_total += 1;
        if self.tag_problems.len() < TAG_PROBLEMS_KEPT {
            self.tag_problems.push(p);
        }
    }

    /// Adds a finished batch's images.
    pub fn add_images(&mut self, images: &[ImageReport]) {
        self.batches += 1;
        self.counts.add_images(images);
        if self.first_error.is_none() {
            self.first_error = images.iter().find_map(|i| {
                i.error
                    .clone()
                    .or_else(|| {
                        i.problems
                            .first()
                            .map(|p| format!("{}: {}", p.digest, p.message))
                    })
                    .or_else(|| i.attestations.iter().find_map(|a| a.reason.clone()))
                    .map(|e| format!("{}: {e}", i.reference))
            });
        }
    }
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
    /// [`STREAM_SCHEMA_VERSION`](super::STREAM_SCHEMA_VERSION).
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
    /// The images' counts, summed.
    #[serde(flatten)]
    pub counts: MigrateCounts,
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
        self.counts.add(&r.counts);
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
        let error = r
            .error
            .clone()
            .or_else(|| r.first_error.clone())
            .or_else(|| {
                r.tag_problems
                    .first()
                    .map(|t| format!("tag {}: {}", t.tag, t.message))
            });
        MigrateRow {
            repository: r.repository.clone(),
            status: r.status,
            images: r.counts.images,
            converted: r.counts.converted,
            already_done: r.counts.already_done,
            failed: r.counts.failed,
            tags_created: r.counts.tags_created,
            error,
        }
    }
}
