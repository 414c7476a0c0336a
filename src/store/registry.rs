//! A registry repository as a store. Referrers API support is probed with the real subject digest
//! and cached per repository (registries.md §3); without it the referrers tag schema is used.

use super::{ReferrersListing, StoreError};
use crate::model::digest::Digest;
use crate::model::media;
use crate::model::reference::RegistryRef;
use crate::plan::image::{Listing, Raw};
use crate::plan::referrers::{fallback_tag, read_tag_index};
use crate::transport::{Client, Referrers};
use std::sync::Mutex;

/// One repository of a registry.
pub struct RegistryStore {
    /// The HTTP client for the registry.
    pub client: Client,
    /// The image reference.
    pub reference: RegistryRef,
    /// Referrers API support: `None` until probed.
    support: Mutex<Option<bool>>,
}

impl RegistryStore {
    /// A store for the repository of `reference`.
    pub fn new(client: Client, reference: RegistryRef) -> RegistryStore {
        RegistryStore {
            client,
            reference,
            support: Mutex::new(None),
        }
    }

    fn repo(&self) -> &str {
        &self.reference.repository
    }

    /// Whether the Referrers API was found (`None`: not probed yet).
    pub fn api_support(&self) -> Option<bool> {
        *self.support.lock().unwrap_or_else(|e| e.into_inner())
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
        Ok(self.client.blob_exists(self.repo(), digest).await?)
    }

    pub(super) async fn referrers(&self, subject: &Digest) -> Result<ReferrersListing, StoreError> {
        if self.api_support() != Some(false) {
            match self
                .client
                .referrers(self.repo(), subject, Some(media::ATTESTATION_ARTIFACT_TYPE))
                .await?
            {
                Referrers::Supported { descriptors, .. } => {
                    *self.support.lock().unwrap_or_else(|e| e.into_inner()) = Some(true);
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
                    *self.support.lock().unwrap_or_else(|e| e.into_inner()) = Some(false);
                }
            }
        }
        let tag = fallback_tag(subject);
        let Some(f) = self.client.get_manifest(self.repo(), &tag).await? else {
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

    pub(super) async fn put_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        Ok(self.client.put_blob(self.repo(), digest, bytes).await?)
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

    /// PUTs manifest bytes under a tag.
    pub async fn put_tag(
        &self,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.client
            .put_manifest(self.repo(), tag, media_type, bytes)
            .await?;
        Ok(())
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
