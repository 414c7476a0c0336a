//! A registry repository as a store. Referrers API support is probed with the real subject digest
//! and cached per repository (registries.md §3); without it the referrers tag schema is used.

use super::{ReferrersListing, SharedBlob, StoreError};
use crate::model::digest::Digest;
use crate::model::image::Raw;
use crate::model::media;
use crate::model::reference::{Locator, RegistryRef};
use crate::model::referrers::{fallback_tag, read_tag_index, Listing};
use crate::transport::error::RegistryError;
use crate::transport::{BlobPut, Client, Fetched, Referrers};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// What is known about one repository, shared by every image of it in a run: probed once,
/// checked once.
#[derive(Debug, Default)]
pub struct RepoState {
    /// Referrers API support: `None` until probed.
    support: Mutex<Option<bool>>,
    /// "No API" answers in a row since the API was found: one odd 400 or 404 does not switch
    /// a repository to the tag schema; the registry has to keep saying so.
    contrary: Mutex<u32>,
    /// Blobs known to be in the repository (a HEAD said so, or we pushed them).
    blobs: Mutex<BTreeSet<Digest>>,
}

/// What is known about a whole registry in a run.
#[derive(Debug, Default)]
pub struct RegistryState {
    /// Per blob, a repository we pushed it to: later repositories mount it from there.
    blob_sources: Mutex<HashMap<Digest, String>>,
    /// Per blob, held by the repository that is finding out whether it must be uploaded.
    establishing: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held by the one repository that found a shared blob missing, from that `HEAD` until its
/// upload ends: other repositories wait for it, then mount instead of uploading too.
pub struct UploadGate(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<()>);

/// "No API" answers in a row after which a repository whose Referrers API was found is taken
/// to have lost it (oras-go keeps the first answer for good; a registry can be reconfigured).
const CONTRARY_ANSWERS: u32 = 3;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One repository of a registry.
pub struct RegistryStore {
    pub(super) client: Client,
    pub(super) reference: RegistryRef,
    repo_state: Arc<RepoState>,
    registry_state: Arc<RegistryState>,
}

impl RegistryStore {
    /// A store for the repository of `reference` that shares what is known about the registry
    /// with other stores of the same run.
    pub(super) fn new(
        client: Client,
        reference: RegistryRef,
        registry_state: Arc<RegistryState>,
    ) -> RegistryStore {
        RegistryStore {
            client,
            reference,
            repo_state: Arc::default(),
            registry_state,
        }
    }

    /// The image reference (or `repository` alone, in a registry walk).
    pub fn reference(&self) -> &RegistryRef {
        &self.reference
    }

    pub(super) fn repo(&self) -> &str {
        &self.reference.repository
    }

    /// Whether the Referrers API was found (`None`: not probed yet).
    pub fn api_support(&self) -> Option<bool> {
        *lock(&self.repo_state.support)
    }

    pub(super) fn requests(&self) -> u64 {
        self.client.request_count()
    }

    fn source_elsewhere(&self, digest: &Digest) -> bool {
        lock(&self.registry_state.blob_sources)
            .get(digest)
            .is_some_and(|r| r != self.repo())
    }

    /// Whether a blob every repository needs (the `{}` config) is here already. `false` also
    /// when another repository of the run has it: the upload is then a one-request mount. The
    /// first repository to ask checks with a `HEAD` and, when it must upload, gets the gate the
    /// others wait on, instead of each checking and uploading the same bytes.
    pub(super) async fn shared_blob(&self, digest: &Digest) -> Result<SharedBlob, StoreError> {
        let answer = |present| SharedBlob {
            present,
            gate: None,
        };
        if lock(&self.repo_state.blobs).contains(digest) {
            return Ok(answer(true));
        }
        if self.source_elsewhere(digest) {
            return Ok(answer(false));
        }
        let gate = lock(&self.registry_state.establishing)
            .entry(digest.clone())
            .or_default()
            .clone();
        match gate.clone().try_lock_owned() {
            Ok(guard) => {
                let present = self.blob_exists(digest).await?;
                Ok(SharedBlob {
                    present,
                    gate: (!present).then_some(UploadGate(guard)),
                })
            }
            Err(_) => {
                drop(gate.lock().await);
                if self.source_elsewhere(digest) {
                    return Ok(answer(false));
                }
                Ok(answer(self.blob_exists(digest).await?))
            }
        }
    }

    pub(super) async fn resolve(&self) -> Result<Raw, StoreError> {
        let reference = self.reference.reference();
        self.read(&reference)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("image {}", self.reference)))
    }

    /// A manifest by tag or digest, with its media type (from the body, else `Content-Type`).
    pub async fn read(&self, reference: &str) -> Result<Option<Raw>, StoreError> {
        Ok(self
            .client
            .get_manifest(self.repo(), reference)
            .await?
            .map(raw))
    }

    pub(super) async fn manifest(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        Ok(self
            .client
            .get_manifest(self.repo(), digest.as_str())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("manifest {digest} in {}", self.name())))?
            .bytes)
    }

    pub(super) async fn manifest_exists(&self, digest: &Digest) -> Result<bool, StoreError> {
        Ok(self.client.manifest_exists(self.repo(), digest).await?)
    }

    pub(super) async fn blob(&self, digest: &Digest, limit: usize) -> Result<Vec<u8>, StoreError> {
        Ok(self.client.get_blob(self.repo(), digest, limit).await?)
    }

    pub(super) async fn statement(&self, digest: &Digest) -> super::StatementRead {
        let read = || async {
            let body = self.client.open_blob(self.repo(), digest).await?;
            super::statement::from_body(body, digest, super::MAX_STATEMENT_BYTES).await
        };
        Ok(self.client.reading(read).await?)
    }

    pub(super) async fn blob_exists(&self, digest: &Digest) -> Result<bool, StoreError> {
        if lock(&self.repo_state.blobs).contains(digest) {
            return Ok(true);
        }
        let found = self.client.blob_exists(self.repo(), digest).await?;
        if found {
            lock(&self.repo_state.blobs).insert(digest.clone());
        }
        Ok(found)
    }

    /// The repository's tags (`None`: no such repository).
    pub async fn tags(&self) -> Result<Option<Vec<String>>, StoreError> {
        Ok(self.client.tags(self.repo()).await?)
    }

    /// The repository's tags, a page at a time.
    pub fn tag_pages(&self) -> crate::transport::listing::TagPages {
        self.client.tag_pages(self.repo())
    }

    pub(super) async fn referrers(&self, subject: &Digest) -> Result<ReferrersListing, StoreError> {
        self.referrers_typed(subject, Some(media::ATTESTATION_ARTIFACT_TYPE))
            .await
    }

    /// [`Self::referrers`], asking the API for `artifact_type` only (`None`: every referrer;
    /// `check` classifies the whole supply chain). The tag schema lists every type anyway.
    pub(super) async fn referrers_typed(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<ReferrersListing, StoreError> {
        if self.api_support() != Some(false) {
            match self
                .client
                .referrers(self.repo(), subject, artifact_type)
                .await?
            {
                Referrers::Supported { descriptors, .. } => {
                    *lock(&self.repo_state.support) = Some(true);
                    *lock(&self.repo_state.contrary) = 0;
                    return Ok(ReferrersListing {
                        listing: Listing::Api {
                            listed: descriptors.iter().map(|d| d.digest.clone()).collect(),
                        },
                        descriptors,
                    });
                }
                Referrers::Unsupported { reason, status } => {
                    // Quay answers 400 for a subject it does not have: that says nothing about
                    // the API (registries.md §3), so it is not taken as "no API".
                    if status == 400 && !self.manifest_exists(subject).await? {
                        return Err(StoreError::NotFound(format!(
                            "subject {subject} in {} (the registry answered HTTP 400 for its referrers)",
                            self.name()
                        )));
                    }
                    self.no_api(subject, &reason)?
                }
            }
        }
        let fetched = self
            .client
            .get_manifest(self.repo(), &fallback_tag(subject))
            .await?;
        Ok(tag_listing(fetched, subject))
    }

    /// Takes a "no Referrers API" answer: the repository uses the tag schema from now on,
    /// unless the API was found before and this is not yet the registry's settled answer
    /// ([`CONTRARY_ANSWERS`] in a row), which is then an error for this subject alone.
    fn no_api(&self, subject: &Digest, reason: &str) -> Result<(), StoreError> {
        let mut support = lock(&self.repo_state.support);
        if *support == Some(true) {
            let mut contrary = lock(&self.repo_state.contrary);
            *contrary += 1;
            if *contrary < CONTRARY_ANSWERS {
                return Err(StoreError::Conflict(format!(
                    "the registry answered the referrers of {subject} with {reason}, although it has the Referrers API; not switching to the tag schema on one answer"
                )));
            }
            tracing::warn!(
                repo = self.repo(),
                reason,
                "the registry stopped answering the Referrers API; using the tag schema"
            );
        } else {
            tracing::debug!(
                repo = self.repo(),
                reason,
                "no Referrers API; using the tag schema"
            );
        }
        *support = Some(false);
        Ok(())
    }

    pub(super) async fn reupload_blob(
        &self,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.client
            .put_blob(self.repo(), digest, bytes, None)
            .await?;
        Ok(())
    }

    pub(super) async fn put_blob(
        &self,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<BlobPut, StoreError> {
        if lock(&self.repo_state.blobs).contains(digest) {
            return Ok(BlobPut::Uploaded);
        }
        let from = lock(&self.registry_state.blob_sources)
            .get(digest)
            .filter(|r| *r != self.repo())
            .cloned();
        let mut result = self
            .client
            .put_blob(self.repo(), digest, bytes, from.as_deref())
            .await;
        if let Err(e) = &result {
            // Another writer uploading the same blob at the same moment can make ours fail
            // (distribution refuses one of two concurrent uploads of a digest); the blob is
            // there all the same.
            if self
                .client
                .blob_exists(self.repo(), digest)
                .await
                .unwrap_or(false)
            {
                tracing::debug!(repo = self.repo(), %digest, "upload failed ({e}), but the blob is there");
                result = Ok(BlobPut::Uploaded);
            }
        }
        if let Ok(BlobPut::UploadedAfterRefusedMount) = &result {
            tracing::warn!(
                repo = self.repo(),
                from = from.as_deref().unwrap_or(""),
                "the registry refused to mount {digest}; uploaded it instead"
            );
        }
        if result.is_ok() {
            lock(&self.repo_state.blobs).insert(digest.clone());
            lock(&self.registry_state.blob_sources)
                .entry(digest.clone())
                .or_insert_with(|| self.repo().to_string());
        }
        Ok(result?)
    }

    pub(super) async fn put_manifest(
        &self,
        digest: &Digest,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.client
            .put_manifest(self.repo(), digest.as_str(), media_type, bytes)
            .await?;
        Ok(())
    }

    /// PUTs manifest bytes under a tag, with an optional precondition header (registries that
    /// honour it refuse a write over another writer's; distribution 2.8 and ferro ignore it).
    pub(super) async fn put_tag(
        &self,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
        condition: Option<(&'static str, &str)>,
    ) -> Result<(), StoreError> {
        match self
            .client
            .put_manifest_if(self.repo(), tag, media_type, bytes, condition)
            .await
        {
            Err(RegistryError::Status { status: 412, .. }) => {
                Err(StoreError::Changed(format!("tag {tag}")))
            }
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    pub(super) async fn delete_manifest(&self, digest: &Digest) -> Result<bool, StoreError> {
        Ok(self.client.delete_manifest(self.repo(), digest).await?)
    }

    /// `registry/repository`, for messages.
    pub fn name(&self) -> String {
        self.reference.name()
    }

    pub(super) fn locator(&self) -> Locator {
        Locator::Registry {
            reference: self.reference.clone(),
            plain_http: self.client.is_plain_http(),
            referrers_api: self.api_support(),
        }
    }
}

/// A referrers tag as read, or unusable as one.
pub(super) fn tag_listing(fetched: Option<Fetched>, subject: &Digest) -> ReferrersListing {
    let Some(f) = fetched else {
        return ReferrersListing {
            listing: Listing::Tag {
                existing: None,
                listed: Vec::new(),
                etag: None,
            },
            descriptors: Vec::new(),
        };
    };
    match read_tag_index(&f.bytes, subject) {
        Ok(descriptors) => ReferrersListing {
            listing: Listing::Tag {
                listed: descriptors.iter().map(|d| d.digest.clone()).collect(),
                existing: Some(f.bytes),
                etag: f.etag,
            },
            descriptors,
        },
        Err(e) => ReferrersListing {
            listing: Listing::Unusable {
                reason: e.to_string(),
            },
            descriptors: Vec::new(),
        },
    }
}

fn raw(f: Fetched) -> Raw {
    let media_type = body_media_type(&f.bytes)
        .or(f.content_type)
        .unwrap_or_default();
    Raw {
        bytes: f.bytes,
        digest: f.digest,
        media_type,
    }
}

/// The `mediaType` a manifest body declares.
pub fn body_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct M {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<M>(bytes)
        .ok()
        .and_then(|m| m.media_type)
        .filter(|m| !m.is_empty())
}
