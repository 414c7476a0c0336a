//! A registry repository as a store. Referrers API support is probed with the real subject digest
//! and cached per repository (registries.md §3); without it the referrers tag schema is used.

use super::{ReferrersListing, StoreError};
use crate::model::digest::Digest;
use crate::model::media;
use crate::model::reference::RegistryRef;
use crate::plan::image::{Listing, Raw};
use crate::plan::referrers::{fallback_tag, read_tag_index};
use crate::transport::error::RegistryError;
use crate::transport::{Client, Referrers};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// What is known about one repository, shared by every image of it in a run: probed once,
/// checked once.
#[derive(Debug, Default)]
pub struct RepoState {
    /// Referrers API support: `None` until probed.
    support: Mutex<Option<bool>>,
    /// Blobs known to be in the repository (a HEAD said so, or we pushed them).
    blobs: Mutex<BTreeSet<Digest>>,
    /// Held from the `HEAD` that found a shared blob missing until this repository's upload of
    /// it ends: other repositories wait for it, then mount instead of uploading too.
    establishing: Mutex<Option<tokio::sync::OwnedMutexGuard<()>>>,
    /// Per referrers tag read: its `ETag` (`None`: the tag did not exist), for a conditional
    /// write of what was merged from that read.
    etags: Mutex<HashMap<String, Option<String>>>,
}

/// What is known about a whole registry in a run.
#[derive(Debug, Default)]
pub struct RegistryState {
    /// Per blob, a repository we pushed it to: later repositories mount it from there.
    blob_sources: Mutex<HashMap<Digest, String>>,
    /// Per blob, held by the repository that is finding out whether it must be uploaded.
    establishing: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One repository of a registry.
pub struct RegistryStore {
    /// The HTTP client for the registry.
    pub client: Client,
    /// The image reference.
    pub reference: RegistryRef,
    repo_state: Arc<RepoState>,
    registry_state: Arc<RegistryState>,
}

impl RegistryStore {
    /// A store for the repository of `reference`, with nothing known yet.
    pub fn new(client: Client, reference: RegistryRef) -> RegistryStore {
        Self::with_state(client, reference, Arc::default(), Arc::default())
    }

    /// A store for the repository of `reference` that shares what is known about the repository
    /// and the registry with other stores of the same run.
    pub fn with_state(
        client: Client,
        reference: RegistryRef,
        repo_state: Arc<RepoState>,
        registry_state: Arc<RegistryState>,
    ) -> RegistryStore {
        RegistryStore {
            client,
            reference,
            repo_state,
            registry_state,
        }
    }

    fn repo(&self) -> &str {
        &self.reference.repository
    }

    /// Whether the Referrers API was found (`None`: not probed yet).
    pub fn api_support(&self) -> Option<bool> {
        *lock(&self.repo_state.support)
    }

    fn source_elsewhere(&self, digest: &Digest) -> bool {
        lock(&self.registry_state.blob_sources)
            .get(digest)
            .is_some_and(|r| r != self.repo())
    }

    /// Whether a blob every repository needs (the `{}` config) is here already. `false` also
    /// when another repository of the run has it: the upload is then a one-request mount. The
    /// first repository to ask checks with a `HEAD` and, when it must upload, the others wait
    /// for that upload instead of each checking and uploading the same bytes.
    pub(super) async fn shared_blob_present(&self, digest: &Digest) -> Result<bool, StoreError> {
        if lock(&self.repo_state.blobs).contains(digest) {
            return Ok(true);
        }
        if self.source_elsewhere(digest) {
            return Ok(false);
        }
        let gate = lock(&self.registry_state.establishing)
            .entry(digest.clone())
            .or_default()
            .clone();
        match gate.clone().try_lock_owned() {
            Ok(guard) => {
                let present = self.blob_exists(digest).await?;
                if !present {
                    *lock(&self.repo_state.establishing) = Some(guard);
                }
                Ok(present)
            }
            Err(_) => {
                drop(gate.lock().await);
                if self.source_elsewhere(digest) {
                    return Ok(false);
                }
                self.blob_exists(digest).await
            }
        }
    }

    pub(super) async fn resolve(&self) -> Result<Raw, StoreError> {
        let reference = self.reference.reference();
        let f = self
            .client
            .get_manifest(self.repo(), &reference)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("image {}", self.reference)))?;
        let media_type = body_media_type(&f.bytes)
            .or(f.content_type)
            .unwrap_or_default();
        Ok(Raw {
            bytes: f.bytes,
            digest: f.digest,
            media_type,
        })
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

    pub(super) async fn referrers(&self, subject: &Digest) -> Result<ReferrersListing, StoreError> {
        if self.api_support() != Some(false) {
            match self
                .client
                .referrers(self.repo(), subject, Some(media::ATTESTATION_ARTIFACT_TYPE))
                .await?
            {
                Referrers::Supported { descriptors, .. } => {
                    *lock(&self.repo_state.support) = Some(true);
                    return Ok(ReferrersListing {
                        listing: Listing::Api {
                            listed: descriptors.iter().map(|d| d.digest.clone()).collect(),
                        },
                        descriptors,
                    });
                }
                Referrers::Unsupported { reason } => {
                    tracing::debug!(
                        repo = self.repo(),
                        reason,
                        "no Referrers API; using the tag schema"
                    );
                    *lock(&self.repo_state.support) = Some(false);
                }
            }
        }
        let tag = fallback_tag(subject);
        let fetched = self.client.get_manifest(self.repo(), &tag).await?;
        lock(&self.repo_state.etags).insert(
            tag.clone(),
            fetched.as_ref().map(|f| f.etag.clone().unwrap_or_default()),
        );
        let Some(f) = fetched else {
            return Ok(ReferrersListing {
                listing: Listing::Tag {
                    existing: None,
                    listed: Vec::new(),
                },
                descriptors: Vec::new(),
            });
        };
        match read_tag_index(&f.bytes, subject) {
            Ok(descriptors) => Ok(ReferrersListing {
                listing: Listing::Tag {
                    listed: descriptors.iter().map(|d| d.digest.clone()).collect(),
                    existing: Some(f.bytes),
                },
                descriptors,
            }),
            Err(e) => Ok(ReferrersListing {
                listing: Listing::Unusable {
                    reason: e.to_string(),
                },
                descriptors: Vec::new(),
            }),
        }
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

    pub(super) async fn put_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        if lock(&self.repo_state.blobs).contains(digest) {
            return Ok(());
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
                result = Ok(());
            }
        }
        if result.is_ok() {
            lock(&self.repo_state.blobs).insert(digest.clone());
            lock(&self.registry_state.blob_sources)
                .entry(digest.clone())
                .or_insert_with(|| self.repo().to_string());
        }
        // Let the repositories waiting for this upload go on (to a mount, or to their own check).
        lock(&self.repo_state.establishing).take();
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

    /// PUTs manifest bytes under a tag. A referrers tag read before is written conditionally:
    /// `If-Match` its `ETag`, or `If-None-Match: *` where it did not exist (registries that
    /// honour these refuse a write over another writer's; distribution 2.8 and ferro ignore them).
    pub async fn put_tag(
        &self,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let read = lock(&self.repo_state.etags).remove(tag);
        let condition = match &read {
            Some(Some(etag)) if !etag.is_empty() => Some(("if-match", etag.as_str())),
            Some(None) => Some(("if-none-match", "*")),
            _ => None,
        };
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

    /// The digest a tag points to now (`None`: no such tag).
    pub async fn tag_digest(&self, tag: &str) -> Result<Option<Digest>, StoreError> {
        Ok(self
            .client
            .get_manifest(self.repo(), tag)
            .await?
            .map(|f| f.digest))
    }

    pub(super) fn name(&self) -> String {
        self.reference.name()
    }

    pub(super) fn confirm_command(&self, subject: &Digest, _platform: Option<&str>) -> String {
        let plain = if self.client.is_plain_http() {
            " --plain-http"
        } else {
            ""
        };
        let spec = match self.api_support() {
            Some(false) => " --distribution-spec v1.1-referrers-tag",
            _ => "",
        };
        format!(
            "oras discover{plain}{spec} --artifact-type {} {}",
            media::ATTESTATION_ARTIFACT_TYPE,
            self.reference.with_digest(subject)
        )
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
        .ok()?
        .media_type
        .filter(|m| !m.is_empty())
}
