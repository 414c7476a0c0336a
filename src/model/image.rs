//! What was read from a store for an image: exact bytes with their digest, the image index and
//! its attestation manifests, and what could not be used. Every layer reads these.

use super::attestation::IndexEntries;
use super::digest::Digest;
use super::document::{IndexView, ManifestView};
use std::collections::BTreeMap;

/// Bytes we read, with their digest and media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// Their sha256.
    pub digest: Digest,
    /// Media type (from the body, else the registry's `Content-Type`).
    pub media_type: String,
}

/// An attestation manifest as read.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedManifest {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// The view.
    pub view: ManifestView,
    /// Per layer, the predicate type read from the statement where the layer has no annotation.
    pub statement_types: Vec<Option<String>>,
}

/// Something about one entry that stops it from being converted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The entry's digest.
    pub digest: Digest,
    /// What is wrong.
    pub message: String,
}

/// An image index and its attestation manifests, as read from a store.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedImage {
    /// The index bytes.
    pub index: Raw,
    /// The index view.
    pub view: IndexView,
    /// Its entries by role.
    pub entries: IndexEntries,
    /// Attestation manifests by digest.
    pub manifests: BTreeMap<Digest, LoadedManifest>,
    /// Attestation manifests that could not be read.
    pub failures: Vec<Problem>,
}

impl LoadedImage {
    /// Attestation entries that cannot be used: broken annotations, or manifests that could not be read.
    pub fn problems(&self) -> Vec<Problem> {
        let broken = self.entries.broken.iter().map(|s| Problem {
            digest: s.digest.clone(),
            message: s.reason.clone(),
        });
        broken.chain(self.failures.iter().cloned()).collect()
    }
}
