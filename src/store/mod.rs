//! Where images live: a registry repository or an OCI layout directory, behind one interface.
//! Callers never see which: every operation, "add these referrers to subject S" included, means
//! the same on both. Both back ends keep bytes exactly as stored and check digests on every read.

mod files;
pub mod layout;
mod open;
pub mod registry;
mod statement;
mod tags;

pub use crate::transport::error::OciErrorCode;
pub use crate::transport::listing::{
    fingerprint, Cursor, TagPage, TagPages, MAX_PAGES as MAX_CATALOG_PAGES,
};
pub use crate::transport::{BlobPut, MAX_MANIFEST_BYTES, MAX_STATEMENT_BYTES};
pub use open::{Catalog, Stores, StoresOptions};
pub use registry::UploadGate;
pub use statement::StatementRead;

use crate::model::digest::Digest;
use crate::model::document::Descriptor;
use crate::model::image::Raw;
use crate::model::reference::Locator;
use crate::model::referrers::{Listing, ReferrersUpdate, Via};
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
        /// The I/O error behind it, when there is one.
        #[source]
        source: Option<std::io::Error>,
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
    /// The operation has no meaning for this kind of store.
    #[error("{0}")]
    Unsupported(String),
}

/// A subject's referrers: how they are listed, and the descriptors listed.
#[derive(Debug, Clone)]
pub struct ReferrersListing {
    /// How and what (with what a write over it needs: the tag's bytes and `ETag`).
    pub listing: Listing,
    /// The descriptors (artifactType included where the store reports it).
    pub descriptors: Vec<Descriptor>,
}

/// What adding referrers wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferrersWrites {
    /// Referrers tags written: `(tag, created)`.
    pub tags: Vec<(String, bool)>,
    /// Referrers tags another writer changed since they were read (not written).
    pub changed: Vec<String>,
    /// Descriptors added to an OCI layout's `index.json`.
    pub index_entries: usize,
    /// Per subject whose referrers tag was written, every entry the written index holds: what a
    /// read-back must still find (another tool's entry missing from it was dropped by a
    /// concurrent writer).
    pub entries: Vec<(Digest, Vec<serde_json::Value>)>,
    /// The longest time from reading a tag again to its write being answered: a concurrent
    /// writer doing the same lands its write within about this much after ours.
    pub window: std::time::Duration,
}

/// What to do with a referrers tag when referrify's entries are taken out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagChange {
    /// Write these bytes over it (conditionally on the listing it was read with).
    Rewrite(Vec<u8>),
    /// Delete it (its manifest, by the digest of the bytes read).
    Delete,
}

/// Whether a blob every repository needs is present, and, when this caller is the one to upload
/// it, the gate other repositories wait on until the upload ends (dropping it lets them go on).
pub struct SharedBlob {
    /// Present already.
    pub present: bool,
    /// Held by the repository that must upload it.
    pub gate: Option<UploadGate>,
}

enum Backend {
    Registry(registry::RegistryStore),
    Layout(layout::LayoutStore),
}

/// A registry repository or an OCI layout.
pub struct Store {
    backend: Backend,
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match &$self.backend {
            Backend::Registry($s) => $e,
            Backend::Layout($s) => $e,
        }
    };
}

impl From<registry::RegistryStore> for Store {
    fn from(r: registry::RegistryStore) -> Store {
        Store {
            backend: Backend::Registry(r),
        }
    }
}

impl From<layout::LayoutStore> for Store {
    fn from(l: layout::LayoutStore) -> Store {
        Store {
            backend: Backend::Layout(l),
        }
    }
}

impl Store {
    /// The image the reference names (its index or manifest).
    pub async fn resolve(&self) -> Result<Raw, StoreError> {
        dispatch!(self, s => s.resolve().await)
    }
    /// A manifest by tag or digest (`None`: not there).
    pub async fn read(&self, reference: &str) -> Result<Option<Raw>, StoreError> {
        dispatch!(self, s => s.read(reference).await)
    }
    /// A manifest that must exist.
    pub async fn manifest(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        dispatch!(self, s => s.manifest(digest).await)
    }
    /// Whether a manifest exists.
    pub async fn manifest_exists(&self, digest: &Digest) -> Result<bool, StoreError> {
        dispatch!(self, s => s.manifest_exists(digest).await)
    }
    /// Whether asking [`Store::manifest_exists`] costs nothing (a file check, not a request):
    /// only then is it worth asking before a push that costs the same as the question.
    pub fn existence_is_free(&self) -> bool {
        matches!(self.backend, Backend::Layout(_))
    }
    /// A blob, up to `limit` bytes.
    pub async fn blob(&self, digest: &Digest, limit: usize) -> Result<Vec<u8>, StoreError> {
        dispatch!(self, s => s.blob(digest, limit).await)
    }
    /// An in-toto statement blob, read as it streams (at most [`MAX_STATEMENT_BYTES`]): only
    /// its predicate type and subjects are kept, so memory does not grow with its size.
    pub async fn statement(&self, digest: &Digest) -> StatementRead {
        dispatch!(self, s => s.statement(digest).await)
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

    /// [`Store::referrers_many`] with every referrer, not only attestations, asked of the
    /// Referrers API (`check` classifies signatures, SBOMs and the rest too).
    pub async fn referrers_many_of_any_type(
        &self,
        subjects: &[Digest],
    ) -> Vec<Result<ReferrersListing, StoreError>> {
        let Some((first, rest)) = subjects.split_first() else {
            return Vec::new();
        };
        let mut out = vec![self.referrers_of_any_type(first).await];
        out.extend(
            futures_util::future::join_all(rest.iter().map(|s| self.referrers_of_any_type(s)))
                .await,
        );
        out
    }

    async fn referrers_of_any_type(&self, s: &Digest) -> Result<ReferrersListing, StoreError> {
        match &self.backend {
            Backend::Registry(r) => r.referrers_typed(s, None).await,
            Backend::Layout(l) => l.referrers(s).await,
        }
    }

    /// Whether a blob that every repository of a run needs is present (registries: `false` also
    /// where it will be mounted from another repository; see `RegistryStore`).
    pub async fn shared_blob(&self, digest: &Digest) -> Result<SharedBlob, StoreError> {
        match &self.backend {
            Backend::Registry(r) => r.shared_blob(digest).await,
            Backend::Layout(l) => Ok(SharedBlob {
                present: l.blob_exists(digest).await?,
                gate: None,
            }),
        }
    }

    /// Uploads a blob even where it is believed to be there already.
    pub async fn reupload_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Registry(r) => r.reupload_blob(digest, bytes).await,
            Backend::Layout(l) => l.put_blob(digest, bytes).await.map(|_| ()),
        }
    }

    /// Stores a blob; `gate` (from [`Store::shared_blob`]) is released when the upload ends.
    pub async fn put_blob(
        &self,
        digest: &Digest,
        bytes: &[u8],
        gate: Option<UploadGate>,
    ) -> Result<BlobPut, StoreError> {
        let r = dispatch!(self, s => s.put_blob(digest, bytes).await);
        drop(gate);
        r
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

    /// Adds referrers to subjects, each on top of the listing it was planned from: a referrers
    /// tag is merged (every entry kept byte for byte) and written only over the state read; an
    /// OCI layout's `index.json` gets every addition in one write; the Referrers API lists a
    /// pushed manifest by itself. Returns what was written, and the first failure.
    pub async fn add_referrers(
        &self,
        updates: &[&ReferrersUpdate],
    ) -> (ReferrersWrites, Option<StoreError>) {
        match &self.backend {
            Backend::Registry(r) => r.add_referrers(updates).await,
            Backend::Layout(l) => l.add_referrers(updates).await,
        }
    }

    /// Rewrites or deletes a subject's referrers tag read as `listing` (undo).
    pub async fn change_referrers_tag(
        &self,
        subject: &Digest,
        listing: &Listing,
        change: TagChange,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Registry(r) => r.change_referrers_tag(subject, listing, change).await,
            Backend::Layout(_) => Err(StoreError::Unsupported(
                "an OCI layout has no referrers tags".into(),
            )),
        }
    }

    /// Pushes a rewritten index `new` of `old` and points `tags` (registry) or every
    /// `index.json` entry of `old` (layout) at it, never over an image pushed since `old` was
    /// read. Returns the tags moved.
    pub async fn replace_index(
        &self,
        old: &Digest,
        new: &Digest,
        media_type: &str,
        bytes: &[u8],
        tags: &[String],
    ) -> Result<Vec<String>, StoreError> {
        self.put_manifest(new, media_type, bytes).await?;
        match &self.backend {
            Backend::Registry(r) => r.move_tags(old, new, media_type, bytes, tags).await,
            Backend::Layout(l) => l.repoint(old, new, bytes.len() as u64).await,
        }
    }

    /// Points a tag at manifest bytes, unconditionally (`undo --restore-index`, after proof).
    pub async fn put_tag(
        &self,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Registry(r) => r.put_tag(tag, media_type, bytes, None).await,
            Backend::Layout(_) => Err(StoreError::Unsupported(
                "moving a tag of an OCI layout".into(),
            )),
        }
    }

    /// The tags of the repository (a layout: the `org.opencontainers.image.ref.name` of its
    /// `index.json` entries).
    pub async fn tags(&self) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Registry(r) => Ok(r.tags().await?.unwrap_or_default()),
            Backend::Layout(l) => l.tags(),
        }
    }

    /// Deletes a manifest by digest: `Ok(false)` when it was not there.
    pub async fn delete_manifest(&self, digest: &Digest) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Registry(r) => r.delete_manifest(digest).await,
            Backend::Layout(_) => Err(StoreError::Unsupported(
                "undo works on registries; an OCI layout keeps referrify's writes in index.json, where they can be removed by hand".into(),
            )),
        }
    }

    /// How referrers are listed here (`None`: not known yet).
    pub fn referrers_via(&self) -> Option<Via> {
        match &self.backend {
            Backend::Registry(r) => r
                .api_support()
                .map(|api| if api { Via::Api } else { Via::Tag }),
            Backend::Layout(_) => Some(Via::Layout),
        }
    }

    /// A short name for messages and commands (`host/repo` or the layout path).
    pub fn name(&self) -> String {
        dispatch!(self, s => s.name())
    }

    /// Where the store is and how a client reaches it, for the commands reports print.
    pub fn locator(&self) -> Locator {
        dispatch!(self, s => s.locator())
    }

    /// HTTP requests sent so far through this store's client (0 for a layout).
    pub fn requests(&self) -> u64 {
        match &self.backend {
            Backend::Registry(r) => r.requests(),
            Backend::Layout(_) => 0,
        }
    }
}
