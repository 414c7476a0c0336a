//! What commands print. The structs here are the JSON schema (`schemaVersion` 1, documented in
//! the README); `text` renders the same data for people. stdout carries results only.

pub mod progress;
pub mod sanitize;
pub mod text;

use crate::model::digest::Digest;
use crate::plan::coverage::{Found, StatementCheck};
use crate::plan::image::Via;
use serde::Serialize;

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
    pub status: &'static str,
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
    /// HTTP requests sent to the registry for this image (0 for layouts).
    pub requests: u64,
}

/// An entry problem.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The entry's digest.
    pub digest: Digest,
    /// What is wrong.
    pub message: String,
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
    pub state: &'static str,
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
    /// Why not covered.
    pub reasons: Vec<String>,
    /// A command an independent client can run to confirm.
    pub confirm: String,
}
