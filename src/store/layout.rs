//! An OCI image layout directory (image-spec v1.1.1 `image-layout.md`) as a store: `index.json`
//! plus `blobs/<alg>/<encoded>`. Referrers are the manifests reachable from `index.json` whose
//! subject is the image, which is how `oras discover --oci-layout` finds them. Files are written
//! to a temporary name and renamed, so a crash never leaves a half-written blob or index.

use super::files::{self, read_limited, read_verified, write_atomic};
use super::{BlobPut, ReferrersListing, ReferrersWrites, StoreError};
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, Document, IndexView};
use crate::model::image::Raw;
use crate::model::reference::{LayoutRef, Locator};
use crate::model::referrers::{Listing, ReferrersUpdate};
use crate::model::{jsonspan, media};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;

/// `index.json` is small in practice; this bounds a hostile one.
const MAX_INDEX_JSON: usize = 64 * 1024 * 1024;

/// An OCI layout directory.
pub struct LayoutStore {
    reference: LayoutRef,
    /// Subjects of manifests read so far (`None`: no subject).
    subjects: Mutex<BTreeMap<Digest, Option<Digest>>>,
    /// The image `resolve` found, for confirmation commands.
    resolved: Mutex<Option<Digest>>,
    /// Referrers by subject, for the `index.json` bytes they were computed from (blobs never
    /// change, so the same `index.json` means the same graph). One scan serves every subject
    /// of an index with thousands of platforms.
    referrer_map: Mutex<Option<(Vec<u8>, ReferrerMap)>>,
}

/// Manifests reachable from `index.json`, by the subject they name.
type ReferrerMap = std::sync::Arc<BTreeMap<Digest, Vec<Descriptor>>>;

impl LayoutStore {
    /// Opens the layout at `reference.dir`; fails when it is not an OCI layout.
    pub fn open(reference: LayoutRef) -> Result<LayoutStore, StoreError> {
        let marker = reference.dir.join("oci-layout");
        if !reference.dir.exists() {
            return Err(files::err(&reference.dir, "no such directory"));
        }
        if !reference.dir.is_dir() {
            return Err(files::err(
                &reference.dir,
                "not a directory (an OCI layout is a directory)",
            ));
        }
        if !marker.is_file() {
            return Err(files::err(
                &reference.dir,
                "not an OCI image layout (no oci-layout file)",
            ));
        }
        files::check_confined(&reference.dir)?;
        let s = LayoutStore {
            reference,
            subjects: Mutex::new(BTreeMap::new()),
            resolved: Mutex::new(None),
            referrer_map: Mutex::new(None),
        };
        s.index_json()?;
        Ok(s)
    }

    fn index_path(&self) -> PathBuf {
        self.reference.dir.join("index.json")
    }

    fn read_index_bytes(&self) -> Result<Vec<u8>, StoreError> {
        let p = self.index_path();
        let bytes = read_limited(&p, MAX_INDEX_JSON)?;
        Ok(bytes)
    }

    fn index_json(&self) -> Result<IndexView, StoreError> {
        let bytes = self.read_index_bytes()?;
        Document::parse_index(&bytes, Some(media::OCI_INDEX))
            .map_err(|e| files::err(&self.index_path(), e.to_string()))
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        // Digest::parse allows only [a-z0-9+._-] and [a-zA-Z0-9=_-]: no path separators.
        self.reference
            .dir
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.encoded())
    }

    pub(super) async fn resolve(&self) -> Result<Raw, StoreError> {
        let index = self.index_json()?;
        let r = &self.reference;
        let chosen: Descriptor = if let Some(d) = &r.digest {
            match index.manifests.iter().find(|m| &m.digest == d) {
                Some(m) => m.clone(),
                None => {
                    let bytes = self.blob(d, super::MAX_MANIFEST_BYTES).await?;
                    let media_type = super::registry::body_media_type(&bytes).unwrap_or_default();
                    return Ok(Raw {
                        bytes,
                        digest: d.clone(),
                        media_type,
                    });
                }
            }
        } else if let Some(t) = &r.tag {
            index
                .manifests
                .iter()
                .find(|m| m.annotations.get(media::REF_NAME) == Some(t))
                .cloned()
                .ok_or_else(|| {
                    StoreError::NotFound(format!("tag {t:?} in {}", self.index_path().display()))
                })?
        } else {
            let images: Vec<&Descriptor> = index
                .manifests
                .iter()
                .filter(|m| {
                    m.artifact_type.is_none()
                        && (media::is_index(&m.media_type) || media::is_manifest(&m.media_type))
                })
                .collect();
            match images.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    return Err(StoreError::NotFound(format!(
                        "an image in {}",
                        self.index_path().display()
                    )))
                }
                many => {
                    let names: Vec<String> = many
                        .iter()
                        .map(|m| {
                            m.annotations
                                .get(media::REF_NAME)
                                .cloned()
                                .unwrap_or_else(|| m.digest.to_string())
                        })
                        .collect();
                    return Err(files::err(
                        &self.index_path(),
                        format!(
                            "holds {} images ({}); name one with :TAG or @DIGEST",
                            many.len(),
                            names.join(", ")
                        ),
                    ));
                }
            }
        };
        let bytes = self.blob(&chosen.digest, super::MAX_MANIFEST_BYTES).await?;
        let media_type = super::registry::body_media_type(&bytes).unwrap_or(chosen.media_type);
        *self.resolved.lock().unwrap_or_else(|e| e.into_inner()) = Some(chosen.digest.clone());
        Ok(Raw {
            bytes,
            digest: chosen.digest,
            media_type,
        })
    }

    /// A manifest by digest, or by the tag (`org.opencontainers.image.ref.name`) of an
    /// `index.json` entry.
    pub(super) async fn read(&self, reference: &str) -> Result<Option<Raw>, StoreError> {
        let digest = match Digest::parse(reference) {
            Ok(d) => Some(d),
            Err(_) => self
                .index_json()?
                .manifests
                .into_iter()
                .find(|m| m.annotations.get(media::REF_NAME).map(String::as_str) == Some(reference))
                .map(|m| m.digest),
        };
        let Some(digest) = digest.filter(|d| self.blob_path(d).is_file()) else {
            return Ok(None);
        };
        let bytes = self.manifest(&digest).await?;
        let media_type = super::registry::body_media_type(&bytes).unwrap_or_default();
        Ok(Some(Raw {
            bytes,
            digest,
            media_type,
        }))
    }

    pub(super) async fn manifest(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        self.blob(digest, super::MAX_MANIFEST_BYTES).await
    }

    pub(super) async fn manifest_exists(&self, digest: &Digest) -> Result<bool, StoreError> {
        self.blob_exists(digest).await
    }

    pub(super) async fn blob(&self, digest: &Digest, limit: usize) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest);
        if !p.exists() {
            return Err(StoreError::NotFound(format!(
                "blob {digest} in {}",
                self.reference.dir.display()
            )));
        }
        read_verified(&p, digest, limit)
    }

    pub(super) async fn statement(&self, digest: &Digest) -> super::StatementRead {
        let p = self.blob_path(digest);
        if !p.exists() {
            return Err(StoreError::NotFound(format!(
                "blob {digest} in {}",
                self.reference.dir.display()
            )));
        }
        super::statement::from_file(&p, digest, super::MAX_STATEMENT_BYTES).await
    }

    /// Whether a blob is there, its content checked: a file that does not match its digest is
    /// an error, never taken for the blob.
    pub(super) async fn blob_exists(&self, digest: &Digest) -> Result<bool, StoreError> {
        let p = self.blob_path(digest);
        if !p.exists() {
            return Ok(false);
        }
        read_verified(&p, digest, super::MAX_STATEMENT_BYTES).map(|_| true)
    }

    /// Digests of manifests reachable from `index.json` (its entries and the entries of the
    /// indexes it lists, two levels deep).
    fn reachable(&self) -> Result<Vec<Descriptor>, StoreError> {
        let index = self.index_json()?;
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut frontier: Vec<(Descriptor, u8)> =
            index.manifests.into_iter().map(|d| (d, 0)).collect();
        while let Some((d, depth)) = frontier.pop() {
            if !seen.insert(d.digest.clone()) {
                continue;
            }
            if media::is_index(&d.media_type) && depth < 2 {
                if let Ok(bytes) = read_verified(
                    &self.blob_path(&d.digest),
                    &d.digest,
                    super::MAX_MANIFEST_BYTES,
                ) {
                    if let Ok(child) = Document::parse_index(&bytes, None) {
                        frontier.extend(child.manifests.into_iter().map(|c| (c, depth + 1)));
                    }
                }
            }
            out.push(d);
        }
        Ok(out)
    }

    /// Every reachable manifest with a subject, by subject (cached per `index.json` content).
    fn referrer_map(&self) -> Result<ReferrerMap, StoreError> {
        let bytes = self.read_index_bytes()?;
        if let Some((b, m)) = &*self.referrer_map.lock().unwrap_or_else(|e| e.into_inner()) {
            if *b == bytes {
                return Ok(m.clone());
            }
        }
        let mut map: BTreeMap<Digest, Vec<Descriptor>> = BTreeMap::new();
        for d in self.reachable()? {
            if !media::is_manifest(&d.media_type) {
                continue;
            }
            let known = self
                .subjects
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&d.digest)
                .cloned();
            let (subj, artifact_type) = match known {
                Some(s) => (s, d.artifact_type.clone()),
                None => {
                    // A manifest that does not match its digest is nobody's referrer.
                    let Ok(bytes) = read_verified(
                        &self.blob_path(&d.digest),
                        &d.digest,
                        super::MAX_MANIFEST_BYTES,
                    ) else {
                        continue;
                    };
                    let Ok(m) = Document::parse_manifest(&bytes, None) else {
                        continue;
                    };
                    let s = m.subject.map(|s| s.digest);
                    self.subjects
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(d.digest.clone(), s.clone());
                    (s, d.artifact_type.clone().or(m.artifact_type))
                }
            };
            if let Some(subject) = subj {
                let mut d = d;
                d.artifact_type = d.artifact_type.or(artifact_type);
                map.entry(subject).or_default().push(d);
            }
        }
        let map = std::sync::Arc::new(map);
        *self.referrer_map.lock().unwrap_or_else(|e| e.into_inner()) = Some((bytes, map.clone()));
        Ok(map)
    }

    pub(super) async fn referrers(&self, subject: &Digest) -> Result<ReferrersListing, StoreError> {
        let descriptors = self
            .referrer_map()?
            .get(subject)
            .cloned()
            .unwrap_or_default();
        Ok(ReferrersListing {
            listing: Listing::Layout {
                listed: descriptors.iter().map(|d| d.digest.clone()).collect(),
            },
            descriptors,
        })
    }

    pub(super) async fn put_blob(
        &self,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<BlobPut, StoreError> {
        if digest.verify(bytes) != Some(true) {
            return Err(files::err(
                &self.blob_path(digest),
                "refusing to write bytes that do not match their digest",
            ));
        }
        let p = self.blob_path(digest);
        if !files::is_regular(&p) {
            write_atomic(&p, bytes)?;
        }
        Ok(BlobPut::Uploaded)
    }

    pub(super) async fn put_manifest(
        &self,
        digest: &Digest,
        _media_type: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.put_blob(digest, bytes).await.map(|_| ())
    }

    /// Adds every update's descriptors to `index.json` in one write: a layout's referrers are
    /// the manifests its `index.json` reaches.
    pub(super) async fn add_referrers(
        &self,
        updates: &[&ReferrersUpdate],
    ) -> (ReferrersWrites, Option<StoreError>) {
        let additions: Vec<serde_json::Value> = updates
            .iter()
            .filter(|u| matches!(u.listing, Listing::Layout { .. }))
            .flat_map(|u| u.additions.iter().cloned())
            .collect();
        if additions.is_empty() {
            return (ReferrersWrites::default(), None);
        }
        match self.add_to_index(&additions).await {
            Ok(n) => (
                ReferrersWrites {
                    index_entries: n,
                    ..ReferrersWrites::default()
                },
                None,
            ),
            Err(e) => (ReferrersWrites::default(), Some(e)),
        }
    }

    /// Appends descriptors to `index.json` (skipping digests already listed there), keeping
    /// every existing byte.
    async fn add_to_index(&self, descriptors: &[serde_json::Value]) -> Result<usize, StoreError> {
        let _one_writer = files::lock_index(&self.reference.dir)?;
        let p = self.index_path();
        let bytes = self.read_index_bytes()?;
        let index = Document::parse_index(&bytes, Some(media::OCI_INDEX))
            .map_err(|e| files::err(&p, e.to_string()))?;
        let present: BTreeSet<String> = index
            .manifests
            .iter()
            .map(|m| m.digest.to_string())
            .collect();
        let new: Vec<&serde_json::Value> = descriptors
            .iter()
            .filter(|d| {
                d.get("digest")
                    .and_then(|v| v.as_str())
                    .is_some_and(|d| !present.contains(d))
            })
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        let out = jsonspan::append_to_member(&bytes, "manifests", &new)
            .map_err(|e| files::err(&p, e.to_string()))?;
        write_atomic(&p, &out)?;
        Ok(new.len())
    }

    /// Points every `index.json` entry for `old` at `new` (digest and size), keeping annotations.
    /// Returns the tags (`org.opencontainers.image.ref.name`) of the entries moved.
    pub(super) async fn repoint(
        &self,
        old: &Digest,
        new: &Digest,
        size: u64,
    ) -> Result<Vec<String>, StoreError> {
        let _one_writer = files::lock_index(&self.reference.dir)?;
        let p = self.index_path();
        let bytes = self.read_index_bytes()?;
        let index = Document::parse_index(&bytes, Some(media::OCI_INDEX))
            .map_err(|e| files::err(&p, e.to_string()))?;
        let updates: Vec<crate::model::rewrite::EntryUpdate> = index
            .manifests
            .iter()
            .enumerate()
            .filter(|(_, m)| &m.digest == old)
            .map(|(position, _)| crate::model::rewrite::EntryUpdate {
                position,
                digest: new.clone(),
                size,
                media_type: None,
            })
            .collect();
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let out = crate::model::rewrite::rewrite_index(&bytes, &updates)
            .map_err(|e| files::err(&p, e.to_string()))?;
        write_atomic(&p, &out)?;
        Ok(updates
            .iter()
            .map(|u| {
                index.manifests[u.position]
                    .annotations
                    .get(media::REF_NAME)
                    .cloned()
                    .unwrap_or_else(|| "(untagged index.json entry)".into())
            })
            .collect())
    }

    pub(super) fn name(&self) -> String {
        self.reference.dir.display().to_string()
    }

    pub(super) fn tags(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .index_json()?
            .manifests
            .into_iter()
            .filter_map(|m| m.annotations.get(media::REF_NAME).cloned())
            .collect())
    }

    pub(super) fn locator(&self) -> Locator {
        Locator::Layout {
            reference: self.reference.clone(),
            resolved: self
                .resolved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}
