//! Carries out a plan and checks the result with fresh reads. Decides nothing: every write comes
//! from the plan, in its order.

use crate::model::digest::Digest;
use crate::model::media;
use crate::plan::image::{Action, Conversion, ImagePlan, Via};
use crate::store::{Store, StoreError};
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
    /// Referrers tags written: `(tag, created)`.
    pub tags_written: Vec<(String, bool)>,
    /// Descriptors added to a layout's index.json.
    pub layout_entries_added: usize,
    /// New index pushed and tags moved.
    pub index_pushed: Option<Digest>,
    /// Tags moved to the new index.
    pub tags_moved: Vec<String>,
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

async fn run_actions(
    store: &Store,
    plan: &ImagePlan,
    tags: &[String],
    observer: &dyn Observer,
    out: &mut Outcome,
) -> Result<(), StoreError> {
    for action in &plan.actions {
        match action {
            Action::PutBlob { digest, bytes } => {
                store.put_blob(digest, bytes).await?;
                out.blobs_pushed += 1;
            }
            Action::PutManifest { digest, bytes, .. } => {
                store
                    .put_manifest(digest, media::OCI_MANIFEST, bytes)
                    .await?;
                out.manifests_pushed += 1;
            }
            Action::PutReferrersTag {
                tag,
                bytes,
                creates_tag,
                ..
            } => {
                let Store::Registry(r) = store else {
                    unreachable_layout("referrers tag")?;
                    continue;
                };
                r.put_tag(tag, media::OCI_INDEX, bytes).await?;
                out.tags_written.push((tag.clone(), *creates_tag));
            }
            Action::AddToLayoutIndex { descriptors } => {
                let Store::Layout(l) = store else {
                    unreachable_layout("layout index")?;
                    continue;
                };
                out.layout_entries_added += l.add_to_index(descriptors).await?;
            }
            Action::PutIndex {
                old,
                digest,
                bytes,
                media_type,
            } => {
                store.put_manifest(digest, media_type, bytes).await?;
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
                            out.tags_moved.push(t.clone());
                        }
                    }
                    Store::Layout(l) => {
                        if l.repoint(old, digest, bytes.len() as u64).await? > 0 {
                            out.tags_moved.push("index.json".into());
                        }
                    }
                }
                out.index_pushed = Some(digest.clone());
            }
        }
        observer.action_done(action);
    }
    Ok(())
}

fn unreachable_layout(what: &str) -> Result<(), StoreError> {
    Err(StoreError::Layout {
        path: String::new(),
        message: format!("internal: a {what} action planned for the wrong kind of store"),
    })
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
        let mut pending = false;
        let mut seen: std::collections::BTreeMap<Digest, Result<(Vec<Digest>, Via), String>> =
            Default::default();
        for (i, c) in convs.iter().enumerate() {
            if results[i].as_ref().is_some_and(|v| v.found) {
                continue;
            }
            let s = &c.subject.digest;
            if !seen.contains_key(s) {
                let r = store
                    .referrers(s)
                    .await
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
                seen.insert(s.clone(), r);
            }
            let v = match &seen[s] {
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
            };
            pending |= !v.found;
            results[i] = Some(v);
        }
        if !pending {
            break;
        }
        if attempt < attempts {
            tokio::time::sleep(Duration::from_millis(250 << (attempt - 1).min(4))).await;
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every conversion verified"))
        .collect()
}
