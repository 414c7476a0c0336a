//! Where images live: a registry repository or an OCI layout directory, behind one set of reads
//! and writes. Both back ends keep bytes exactly as stored and check digests on every read.

pub mod layout;
pub mod registry;

use crate::model::digest::Digest;
use crate::model::document::Descriptor;
use crate::plan::image::{Listing, Raw};
use crate::transport::error::RegistryError;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The layout directory failed.
    #[error("{path}: {message}")]
    Layout {
        /// The file or directory.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The store changed under us in a way that makes a planned write unsafe.
    #[error("{0}")]
    Conflict(String),
    /// A conditional write was refused (HTTP 412): the tag changed since it was read.
    #[error("{0} changed since it was read (HTTP 412); not overwritten")]
    Changed(String),
    /// Something that must exist does not.
    #[error("{0} not found")]
    NotFound(String),
}

/// A subject's referrers: how they are listed, and the descriptors listed.
#[derive(Debug, Clone)]
pub struct ReferrersListing {
    /// How and what.
    pub listing: Listing,
    /// The descriptors (artifactType included where the store reports it).
    pub descriptors: Vec<Descriptor>,
}

/// Either back end.
pub enum Store {
    /// A registry repository.
    Registry(registry::RegistryStore),
    /// An OCI layout directory.
    Layout(layout::LayoutStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Registry($s) => $e,
            Store::Layout($s) => $e,
        }
    };
}

impl Store {
    /// The image the reference names (its index or manifest).
    pub async fn resolve(&self) -> Result<Raw, StoreError> {
        dispatch!(self, s => s.resolve().await)
    }
    /// A manifest that must exist.
    pub async fn manifest(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        dispatch!(self, s => s.manifest(digest).await)
    }
    /// Whether a manifest exists.
    pub async fn manifest_exists(&self, digest: &Digest) -> Result<bool, StoreError> {
        dispatch!(self, s => s.manifest_exists(digest).await)
    }
    /// A blob, up to `limit` bytes.
    pub async fn blob(&self, digest: &Digest, limit: usize) -> Result<Vec<u8>, StoreError> {
        dispatch!(self, s => s.blob(digest, limit).await)
    }
    /// Whether a blob exists.
    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool, StoreError> {
        dispatch!(self, s => s.blob_exists(digest).await)
    }
    /// The referrers of `subject` (fresh: no cached listing, only the cached API support).
    pub async fn referrers(&self, subject: &Digest) -> Result<ReferrersListing, StoreError> {
        dispatch!(self, s => s.referrers(subject).await)
    }
    /// The referrers of several subjects: the first alone (it settles whether the registry has the
    /// Referrers API, so the others do not all probe), the rest concurrently. Same order as given.
    pub async fn referrers_many(
        &self,
        subjects: &[Digest],
    ) -> Vec<Result<ReferrersListing, StoreError>> {
        let Some((first, rest)) = subjects.split_first() else {
            return Vec::new();
        };
        let mut out = vec![self.referrers(first).await];
        out.extend(futures_util::future::join_all(rest.iter().map(|s| self.referrers(s))).await);
        out
    }

    /// Whether a blob that every repository of a run needs is present (registries: `false` also
    /// where it will be mounted from another repository; see `RegistryStore`).
    pub async fn shared_blob_present(&self, digest: &Digest) -> Result<bool, StoreError> {
        match self {
            Store::Registry(r) => r.shared_blob_present(digest).await,
            Store::Layout(l) => l.blob_exists(digest).await,
        }
    }

    /// Uploads a blob even where it is believed to be there already.
    pub async fn reupload_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        match self {
            Store::Registry(r) => r.reupload_blob(digest, bytes).await,
            Store::Layout(l) => l.put_blob(digest, bytes).await,
        }
    }

    /// Stores a blob.
    pub async fn put_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        dispatch!(self, s => s.put_blob(digest, bytes).await)
    }
    /// Stores a manifest by digest.
    pub async fn put_manifest(
        &self,
        digest: &Digest,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.put_manifest(digest, media_type, bytes).await)
    }
    /// A short name for messages and commands (`host/repo` or the layout path).
    pub fn name(&self) -> String {
        dispatch!(self, s => s.name())
    }
    /// The command an independent client runs to list the attestation referrers of `subject`
    /// (`platform`: its platform inside the image index, when it has one).
    pub fn confirm_command(&self, subject: &Digest, platform: Option<&str>) -> String {
        dispatch!(self, s => s.confirm_command(subject, platform))
    }
}
