//! The JSON schema of `undo`: what was taken back per image, and the totals.

use super::{Problem, UndoStatus};
use crate::model::digest::Digest;
use serde::Serialize;

/// `referrify undo`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoReport {
    /// [`SCHEMA_VERSION`](super::SCHEMA_VERSION).
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
    /// Entries `convert --repair-tag-entries` filled in, restored to their original bytes
    /// (left out when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub restored_entries: usize,
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

fn is_zero(n: &usize) -> bool {
    *n == 0
}
