//! Writes of a registry's referrers tags and image tags: merging referrers into a
//! `sha256-<hex>` tag over exactly the state read, taking referrify's entries out again, and
//! moving an image's tags to a rewritten index. Each write is conditional on what was read.

use super::registry::{tag_listing, RegistryStore};
use super::{ReferrersWrites, StoreError, TagChange};
use crate::model::digest::Digest;
use crate::model::media;
use crate::model::referrers::{fallback_tag, merge, Listing, ReferrersUpdate};

impl RegistryStore {
    /// Merges each update into its subject's referrers tag and writes it over exactly the state
    /// read; the Referrers API needs no write. The tags of different subjects go out together.
    pub(super) async fn add_referrers(
        &self,
        updates: &[&ReferrersUpdate],
    ) -> (ReferrersWrites, Option<StoreError>) {
        let results = futures_util::future::join_all(updates.iter().map(|u| async move {
            let started = std::time::Instant::now();
            (self.add_to_tag(u).await, started.elapsed())
        }))
        .await;
        let mut out = ReferrersWrites::default();
        let mut failure = None;
        for (u, (r, took)) in updates.iter().zip(results) {
            out.window = out.window.max(took);
            match r {
                Ok(Some(TagOutcome::Changed(tag))) => out.changed.push(tag),
                Ok(Some(TagOutcome::Written {
                    tag,
                    created,
                    entries,
                })) => {
                    out.tags.push((tag, created));
                    out.entries.push((u.subject.clone(), entries));
                }
                Ok(None) => {}
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        (out, failure)
    }

    /// One subject's tag write, or `None` when nothing needed writing.
    async fn add_to_tag(&self, u: &ReferrersUpdate) -> Result<Option<TagOutcome>, StoreError> {
        if !matches!(u.listing, Listing::Tag { .. }) {
            return Ok(None);
        }
        // Read the tag again right before writing: another tool's entries added since the
        // plan's read are merged in, and the window in which a concurrent write can be lost
        // shrinks to this read's round trip (registries that honour If-Match close it).
        let tag = fallback_tag(&u.subject);
        let fresh = tag_listing(
            self.client.get_manifest(self.repo(), &tag).await?,
            &u.subject,
        );
        let listing = match fresh.listing {
            Listing::Unusable { reason } => return Err(StoreError::Conflict(reason)),
            l => l,
        };
        let Listing::Tag { existing, .. } = &listing else {
            return Ok(None);
        };
        let Some(bytes) = merge(existing.as_deref(), &u.subject, &u.additions)
            .map_err(|e| StoreError::Conflict(e.to_string()))?
        else {
            return Ok(None);
        };
        match self
            .put_tag(&tag, media::OCI_INDEX, &bytes, condition(&listing))
            .await
        {
            // Another writer changed the tag since we read it, and the registry refused to let
            // us overwrite that: merged again after the read-back.
            Err(StoreError::Changed(_)) => Ok(Some(TagOutcome::Changed(tag))),
            r => r.map(|()| {
                Some(TagOutcome::Written {
                    tag,
                    created: existing.is_none(),
                    entries: index_entries(&bytes),
                })
            }),
        }
    }

    /// Rewrites (conditionally on `listing`) or deletes a subject's referrers tag.
    pub(super) async fn change_referrers_tag(
        &self,
        subject: &Digest,
        listing: &Listing,
        change: TagChange,
    ) -> Result<(), StoreError> {
        let Listing::Tag {
            existing: Some(read),
            ..
        } = listing
        else {
            return Err(StoreError::Conflict(format!(
                "no referrers tag of {subject} was read"
            )));
        };
        match change {
            TagChange::Rewrite(bytes) => {
                let tag = fallback_tag(subject);
                self.put_tag(&tag, media::OCI_INDEX, &bytes, condition(listing))
                    .await
            }
            TagChange::Delete => self.delete_tag(&fallback_tag(subject), read).await,
        }
    }

    /// Moves `tags` to `new`, each only while it still points to `old` (or already to `new`):
    /// never over an image someone pushed since. The write is conditional on the state read
    /// (`If-Match` its `ETag`, else its digest); where the registry ignores that, reading the
    /// tag back catches a write that landed after ours.
    pub(super) async fn move_tags(
        &self,
        old: &Digest,
        new: &Digest,
        media_type: &str,
        bytes: &[u8],
        tags: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut moved = Vec::new();
        for t in tags {
            let read = self.client.get_manifest(self.repo(), t).await?;
            let now = read.as_ref().map(|f| f.digest.clone());
            if now.as_ref() != Some(old) && now.as_ref() != Some(new) {
                return Err(StoreError::Conflict(format!(
                    "tag {t} now points to {}, not to the index {old} that was read; not moving it",
                    now.map(|d| d.to_string())
                        .unwrap_or_else(|| "nothing".into())
                )));
            }
            let etag = read
                .and_then(|f| f.etag)
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| format!("\"{}\"", now.as_ref().unwrap_or(old)));
            match self
                .put_tag(t, media_type, bytes, Some(("if-match", etag.as_str())))
                .await
            {
                Err(StoreError::Changed(_)) => {
                    return Err(StoreError::Conflict(format!(
                        "tag {t} changed while it was being moved (HTTP 412); not moved"
                    )))
                }
                r => r?,
            }
            let after = self.read(t).await?.map(|r| r.digest);
            if after.as_ref() != Some(new) {
                return Err(StoreError::Conflict(format!(
                    "tag {t} points to {} after the move, not to {new}: another writer moved it at the same time",
                    after.map(|d| d.to_string()).unwrap_or_else(|| "nothing".into())
                )));
            }
            moved.push(t.clone());
        }
        Ok(moved)
    }

    /// Deletes a referrers tag read as `read`: its manifest by digest (which removes the tag on
    /// distribution), then, where the tag is still there (go-containerregistry's registry keeps
    /// it), the tag itself. Succeeds only when the tag is gone.
    async fn delete_tag(&self, tag: &str, read: &[u8]) -> Result<(), StoreError> {
        self.delete_manifest(&Digest::sha256(read)).await?;
        if self.read(tag).await?.is_none() {
            return Ok(());
        }
        self.client.delete_reference(self.repo(), tag).await?;
        match self.read(tag).await? {
            None => Ok(()),
            Some(now) => Err(StoreError::Conflict(format!(
                "the registry kept tag {tag} (now {}) after its manifest was deleted",
                now.digest
            ))),
        }
    }
}

/// What one referrers tag write did.
enum TagOutcome {
    /// Written; `entries`: every entry of the index written.
    Written {
        tag: String,
        created: bool,
        entries: Vec<serde_json::Value>,
    },
    /// Refused: another writer changed it since it was read.
    Changed(String),
}

/// The entries of an index we wrote (bytes we made, so they parse).
fn index_entries(bytes: &[u8]) -> Vec<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("manifests").and_then(|m| m.as_array()).cloned())
        .unwrap_or_default()
}

/// The precondition of a write over a referrers tag read as `listing`: `If-Match` its `ETag`,
/// or `If-None-Match: *` where it did not exist.
fn condition(listing: &Listing) -> Option<(&'static str, &str)> {
    match listing {
        Listing::Tag { existing: None, .. } => Some(("if-none-match", "*")),
        Listing::Tag {
            etag: Some(etag), ..
        } if !etag.is_empty() => Some(("if-match", etag.as_str())),
        _ => None,
    }
}
