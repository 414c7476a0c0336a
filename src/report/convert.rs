//! The JSON schema of `convert`: what happened to each image and each attestation, and the
//! totals. `migrate` reports every image it converts in this same shape.

use super::{AttestationState, ImageStatus, Problem};
use crate::model::digest::Digest;
use crate::model::referrers::Via;
use serde::Serialize;

/// `referrify convert` output.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvertReport {
    /// Always [`SCHEMA_VERSION`](super::SCHEMA_VERSION).
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
    /// `--repair-tag-entries`: referrers tag entries filled in (left out when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repaired_entries: Vec<super::repair::RepairedEntry>,
}

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
    /// Blobs uploaded because the registry refused to mount them from another repository
    /// (left out when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub mounts_refused: usize,
}

pub(super) fn is_zero(n: &usize) -> bool {
    *n == 0
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
    /// What a person should know although it worked: the registry lists the artifact under
    /// another `artifactType`, say (left out when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ConvertSummary {
    /// The totals of a convert run; `migrate` adds these up per repository.
    pub fn of(images: &[ImageReport]) -> ConvertSummary {
        let mut s = ConvertSummary {
            images: images.len(),
            ..Default::default()
        };
        for i in images {
            s.failed_images += usize::from(i.status == ImageStatus::Failed);
            for a in &i.attestations {
                s.attestations += 1;
                if a.state.is_converted() {
                    s.converted += 1;
                } else if a.state == AttestationState::AlreadyDone {
                    s.already_done += 1;
                } else {
                    s.failed += 1;
                }
            }
        }
        s
    }
}
