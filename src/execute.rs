//! Carries out a plan and checks the result with fresh reads. Decides nothing: every write comes
//! from the plan, in its order.

use crate::model::digest::Digest;
use crate::model::media;
use crate::plan::image::{Action, Conversion, ImagePlan, Via};
use crate::plan::referrers::fallback_tag;
use crate::store::{Store, StoreError};
use futures_util::future::join_all;
use std::time::Duration;

/// Something execution reports as it goes (progress bars listen to these).
pub trait Observer: Send + Sync {
    /// An action finished.
    fn action_done(&self, _action: &Action) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// What execution did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Blobs uploaded.
    pub blobs_pushed: usize,
    /// Artifact manifests pushed.
    pub manifests_pushed: usize,
    /// Their digests.
    pub pushed: Vec<Digest>,
    /// Referrers tags written: `(tag, created)`.
    pub tags_written: Vec<(String, bool)>,
    /// Descriptors added to a layout's index.json.
    pub layout_entries_added: usize,
    /// New index pushed and tags moved.
    pub index_pushed: Option<Digest>,
    /// Tags moved to the new index.
    pub tags_moved: Vec<String>,
    /// Referrers tags a conditional write found changed by another writer (not written).
    pub tags_changed: Vec<String>,
}

/// Carries out `plan` in order and stops at the first failure (later steps depend on earlier
/// ones). Returns what was done, and the failure if there was one.
pub async fn run(
    store: &Store,
    plan: &ImagePlan,
    tags: &[String],
    observer: &dyn Observer,
) -> (Outcome, Option<StoreError>) {
    let mut out = Outcome::default();
    match run_actions(store, plan, tags, observer, &mut out).await {
        Ok(()) => (out, None),
        Err(e) => (out, Some(e)),
    }
}

/// What one finished action did.
enum Done {
    Blob,
    Manifest(Digest),
    Tag(String, bool),
    TagChanged(String),
    Layout(usize),
    Index(Digest, Vec<String>),
}

/// Runs the actions phase by phase: consecutive actions of one kind (the artifact pushes, the
/// referrers tags of different subjects) are independent and go out concurrently; a phase starts
/// only when the one before it has fully succeeded.
async fn run_actions(
    store: &Store,
    plan: &ImagePlan,
    tags: &[String],
    observer: &dyn Observer,
    out: &mut Outcome,
) -> Result<(), StoreError> {
    let actions = &plan.actions;
    let mut i = 0;
    while i < actions.len() {
        let kind = std::mem::discriminant(&actions[i]);
        let n = actions[i..]
            .iter()
            .take_while(|a| std::mem::discriminant(*a) == kind)
            .count();
        let phase = &actions[i..i + n];
        let results = join_all(phase.iter().map(|a| run_one(store, a, tags))).await;
        let mut failure = None;
        for (action, r) in phase.iter().zip(results) {
            match r {
                Ok(done) => {
                    match done {
                        Done::Blob => out.blobs_pushed += 1,
                        Done::Manifest(d) => {
                            out.manifests_pushed += 1;
                            out.pushed.push(d);
                        }
                        Done::Tag(t, created) => out.tags_written.push((t, created)),
                        Done::TagChanged(t) => out.tags_changed.push(t),
                        Done::Layout(k) => out.layout_entries_added += k,
                        Done::Index(d, moved) => {
                            out.index_pushed = Some(d);
                            out.tags_moved.extend(moved);
                        }
                    }
                    observer.action_done(action);
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        i += n;
    }
    Ok(())
}

async fn run_one(store: &Store, action: &Action, tags: &[String]) -> Result<Done, StoreError> {
    match action {
        Action::PutBlob { digest, bytes } => {
            store.put_blob(digest, bytes).await?;
            Ok(Done::Blob)
        }
        Action::PutManifest { digest, bytes, .. } => {
            let mut attempt = 0;
            loop {
                match store.put_manifest(digest, media::OCI_MANIFEST, bytes).await {
                    // Another writer uploading the `{}` blob into this repository at the same
                    // moment can leave it unreadable for a moment (distribution 2.8 answers
                    // MANIFEST_BLOB_UNKNOWN): upload it again and retry.
                    Err(e) if attempt < 3 && e.to_string().contains("MANIFEST_BLOB_UNKNOWN") => {
                        attempt += 1;
                        tracing::debug!(%digest, attempt, "config blob not yet readable; uploading it again");
                        tokio::time::sleep(Duration::from_millis(
                            100 * attempt + fastrand::u64(0..100),
                        ))
                        .await;
                        let empty = Digest::parse(media::EMPTY_JSON_DIGEST).expect("constant");
                        // Its own failure (a concurrent upload) is not fatal: the PUT is retried.
                        let _ = store.reupload_blob(&empty, media::EMPTY_JSON).await;
                    }
                    r => {
                        r?;
                        return Ok(Done::Manifest(digest.clone()));
                    }
                }
            }
        }
        Action::PutReferrersTag {
            tag,
            bytes,
            creates_tag,
            ..
        } => {
            let Store::Registry(r) = store else {
                return Err(wrong_store("referrers tag"));
            };
            match r.put_tag(tag, media::OCI_INDEX, bytes).await {
                // Another writer changed the tag since we read it, and the registry refused to
                // let us overwrite that: merged again after the read-back (`remerge`).
                Err(StoreError::Changed(_)) => Ok(Done::TagChanged(tag.clone())),
                r => r.map(|()| Done::Tag(tag.clone(), *creates_tag)),
            }
        }
        Action::AddToLayoutIndex { descriptors } => {
            let Store::Layout(l) = store else {
                return Err(wrong_store("layout index"));
            };
            Ok(Done::Layout(l.add_to_index(descriptors).await?))
        }
        Action::PutIndex {
            old,
            digest,
            bytes,
            media_type,
        } => {
            store.put_manifest(digest, media_type, bytes).await?;
            let mut moved = Vec::new();
            match store {
                Store::Registry(r) => {
                    for t in tags {
                        // Move a tag only from the index we read: never over an image someone
                        // pushed since.
                        let now = r.tag_digest(t).await?;
                        if now.as_ref() != Some(old) && now.as_ref() != Some(digest) {
                            return Err(StoreError::Conflict(format!(
                                "tag {t} now points to {}, not to the index {old} that was read; not moving it",
                                now.map(|d| d.to_string()).unwrap_or_else(|| "nothing".into())
                            )));
                        }
                        r.put_tag(t, media_type, bytes).await?;
                        moved.push(t.clone());
                    }
                }
                Store::Layout(l) => {
                    moved.extend(l.repoint(old, digest, bytes.len() as u64).await?);
                }
            }
            Ok(Done::Index(digest.clone(), moved))
        }
    }
}

fn wrong_store(what: &str) -> StoreError {
    StoreError::Layout {
        path: String::new(),
        message: format!("internal: a {what} action planned for the wrong kind of store"),
    }
}

/// The result of re-listing one conversion's subject after the writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Whether the artifact is listed as a referrer of its subject.
    pub found: bool,
    /// How it was listed.
    pub via: Via,
    /// Attempts it took.
    pub attempts: u32,
    /// Why listing failed, if it did.
    pub error: Option<String>,
}

/// Lists each subject's referrers the way a client would and confirms every artifact is there,
/// retrying with backoff because caching registries (Quay) list new referrers late.
pub async fn verify(store: &Store, convs: &[Conversion], attempts: u32) -> Vec<Verification> {
    let mut results: Vec<Option<Verification>> = vec![None; convs.len()];
    for attempt in 1..=attempts.max(1) {
        let pending = |r: &Option<Verification>| !r.as_ref().is_some_and(|v| v.found);
        let mut subjects: Vec<Digest> = Vec::new();
        for (c, r) in convs.iter().zip(&results) {
            if pending(r) && !subjects.contains(&c.subject.digest) {
                subjects.push(c.subject.digest.clone());
            }
        }
        if subjects.is_empty() {
            break;
        }
        let listings: std::collections::BTreeMap<Digest, Result<(Vec<Digest>, Via), String>> =
            subjects
                .iter()
                .cloned()
                .zip(store.referrers_many(&subjects).await)
                .map(|(s, r)| {
                    let r = r
                        .map(|l| {
                            // Re-filter locally: registries may ignore `artifactType` (registries.md §4).
                            let listed = l
                                .descriptors
                                .iter()
                                .filter(|d| {
                                    d.artifact_type
                                        .as_deref()
                                        .is_none_or(|t| t == media::ATTESTATION_ARTIFACT_TYPE)
                                })
                                .map(|d| d.digest.clone())
                                .collect();
                            (listed, l.listing.via())
                        })
                        .map_err(|e| e.to_string());
                    (s, r)
                })
                .collect();
        for (c, r) in convs.iter().zip(results.iter_mut()) {
            let Some(listing) = listings.get(&c.subject.digest) else {
                continue;
            };
            *r = Some(match listing {
                Ok((listed, via)) => Verification {
                    found: listed.contains(&c.artifact.digest),
                    via: *via,
                    attempts: attempt,
                    error: None,
                },
                Err(e) => Verification {
                    found: false,
                    via: Via::None,
                    attempts: attempt,
                    error: Some(e.clone()),
                },
            });
        }
        // A referrers tag reads back what was last written: listing it again cannot change the
        // answer (a lost update is repaired by `remerge`, not by waiting). Only API listings,
        // which caching registries serve late, are retried.
        let waiting =
            |r: &Option<Verification>| pending(r) && !r.as_ref().is_some_and(|v| v.via == Via::Tag);
        if attempt < attempts && results.iter().any(waiting) {
            tokio::time::sleep(Duration::from_millis(250 << (attempt - 1).min(4))).await;
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or(Verification {
                found: false,
                via: Via::None,
                attempts: 0,
                error: Some("not verified".into()),
            })
        })
        .collect()
}

/// Re-merges conversions whose entries a concurrent writer dropped from a referrers tag (a lost
/// update: two writers read the same tag, each wrote its own merge, the last write won). Reads
/// each subject's tag as it is now, adds the missing descriptors to it (keeping every entry
/// already there, byte for byte) and writes it back. Returns how many tags were written.
pub async fn remerge(store: &Store, lost: &[Conversion]) -> Result<usize, StoreError> {
    let Store::Registry(r) = store else {
        return Ok(0);
    };
    let mut subjects: Vec<&Digest> = Vec::new();
    for c in lost {
        if !subjects.contains(&&c.subject.digest) {
            subjects.push(&c.subject.digest);
        }
    }
    let mut written = 0;
    for subject in subjects {
        let listing = store.referrers(subject).await?;
        let crate::plan::image::Listing::Tag {
            existing, listed, ..
        } = listing.listing
        else {
            continue;
        };
        let adds: Vec<serde_json::Value> = lost
            .iter()
            .filter(|c| &c.subject.digest == subject && !listed.contains(&c.artifact.digest))
            .map(|c| c.descriptor.clone())
            .collect();
        if let Some(bytes) = crate::plan::referrers::merge(existing.as_deref(), subject, &adds)
            .map_err(|e| StoreError::Conflict(e.to_string()))?
        {
            match r
                .put_tag(&fallback_tag(subject), media::OCI_INDEX, &bytes)
                .await
            {
                // Changed again since this read: the next round reads and merges again.
                Err(StoreError::Changed(_)) => {}
                res => {
                    res?;
                    written += 1;
                }
            }
        }
    }
    Ok(written)
}
