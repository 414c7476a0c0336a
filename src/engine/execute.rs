//! Carries out a plan. Decides nothing: every write comes from the plan, in its order.

use crate::model::digest::Digest;
use crate::model::media;
use crate::model::referrers::ReferrersUpdate;
use crate::plan::writes::{Action, ImagePlan};
use crate::report::progress::Observer;
use crate::store::{BlobPut, OciErrorCode, ReferrersWrites, Store, StoreError, UploadGate};
use futures_util::future::join_all;
use std::sync::Mutex;
use std::time::Duration;

/// What execution did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Blobs uploaded.
    pub blobs_pushed: usize,
    /// Of those, uploaded because the registry refused to mount them.
    pub mounts_refused: usize,
    /// Their digests.
    pub pushed: Vec<Digest>,
    /// Referrers tags written: `(tag, created)`.
    pub tags_written: Vec<(String, bool)>,
    /// Descriptors added to a layout's index.json.
    pub layout_entries_added: usize,
    /// Tags moved to the new index.
    pub tags_moved: Vec<String>,
    /// Referrers tags a conditional write found changed by another writer (not written).
    pub tags_changed: Vec<String>,
    /// Per subject whose referrers tag was written, the entries written.
    pub tag_entries: Vec<(Digest, Vec<serde_json::Value>)>,
    /// The longest read-again-then-write of a referrers tag (see [`ReferrersWrites::window`]).
    pub tag_window: Duration,
}

impl Outcome {
    /// What `plan` would write: the report of a dry run (`tags`: the tags the rewritten index
    /// would move).
    pub fn planned(plan: &ImagePlan, tags: &[String]) -> Outcome {
        let mut o = Outcome::default();
        for a in &plan.actions {
            match a {
                Action::PutBlob { .. } => o.blobs_pushed += 1,
                Action::PutManifest { digest, .. } => o.pushed.push(digest.clone()),
                Action::AddReferrers(u) => match u.listing.via() {
                    crate::model::referrers::Via::Layout => {
                        o.layout_entries_added += u.additions.len()
                    }
                    _ => o.tags_written.extend(u.tag_write()),
                },
                Action::PutIndex { .. } => o.tags_moved = tags.to_vec(),
            }
        }
        o
    }

    fn add_referrers(&mut self, w: ReferrersWrites) {
        self.tags_written.extend(w.tags);
        self.tags_changed.extend(w.changed);
        self.tag_entries.extend(w.entries);
        self.layout_entries_added += w.index_entries;
        self.tag_window = self.tag_window.max(w.window);
    }
}

/// Carries out `plan` in order and stops at the first failure (later steps depend on earlier
/// ones). `gate`: held while this batch uploads the `{}` blob others wait for. Returns what was
/// done, and the failure if there was one.
pub async fn run(
    store: &Store,
    plan: &ImagePlan,
    tags: &[String],
    gate: Option<UploadGate>,
    observer: &dyn Observer,
) -> (Outcome, Option<StoreError>) {
    let mut out = Outcome::default();
    let gate = Mutex::new(gate);
    let actions = &plan.actions;
    let mut i = 0;
    while i < actions.len() {
        // Consecutive actions of one kind (the artifact pushes, the referrers of different
        // subjects) are independent and go out together; a phase starts only when the one
        // before it has fully succeeded.
        let kind = std::mem::discriminant(&actions[i]);
        let n = actions[i..]
            .iter()
            .take_while(|a| std::mem::discriminant(*a) == kind)
            .count();
        let phase = &actions[i..i + n];
        if let Err(e) = run_phase(store, phase, tags, &gate, &mut out).await {
            return (out, Some(e));
        }
        for a in phase {
            observer.action_done(a);
        }
        i += n;
    }
    (out, None)
}

async fn run_phase(
    store: &Store,
    phase: &[Action],
    tags: &[String],
    gate: &Mutex<Option<UploadGate>>,
    out: &mut Outcome,
) -> Result<(), StoreError> {
    if let [Action::AddReferrers(_), ..] = phase {
        let updates: Vec<&ReferrersUpdate> = phase
            .iter()
            .filter_map(|a| match a {
                Action::AddReferrers(u) => Some(u),
                _ => None,
            })
            .collect();
        let (written, failure) = store.add_referrers(&updates).await;
        out.add_referrers(written);
        return failure.map_or(Ok(()), Err);
    }
    let results = join_all(phase.iter().map(|a| run_one(store, a, tags, gate))).await;
    let mut failure = None;
    for r in results {
        match r {
            Ok(Done::Blob(put)) => {
                out.blobs_pushed += 1;
                out.mounts_refused += usize::from(put == BlobPut::UploadedAfterRefusedMount);
            }
            Ok(Done::Manifest(d)) => out.pushed.push(d),
            Ok(Done::Index(moved)) => out.tags_moved.extend(moved),
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

/// What one finished action did.
enum Done {
    Blob(BlobPut),
    Manifest(Digest),
    Index(Vec<String>),
}

async fn run_one(
    store: &Store,
    action: &Action,
    tags: &[String],
    gate: &Mutex<Option<UploadGate>>,
) -> Result<Done, StoreError> {
    match action {
        Action::PutBlob { digest, bytes } => {
            let gate = gate.lock().unwrap_or_else(|e| e.into_inner()).take();
            Ok(Done::Blob(store.put_blob(digest, bytes, gate).await?))
        }
        Action::PutManifest { digest, bytes, .. } => {
            push_artifact(store, digest, bytes).await?;
            Ok(Done::Manifest(digest.clone()))
        }
        Action::PutIndex {
            old,
            digest,
            bytes,
            media_type,
        } => Ok(Done::Index(
            store
                .replace_index(old, digest, media_type, bytes, tags)
                .await?,
        )),
        Action::AddReferrers(_) => Err(StoreError::Conflict(
            "internal: referrers are added a phase at a time".into(),
        )),
    }
}

/// Pushes an artifact manifest. Another writer uploading the `{}` blob into this repository at
/// the same moment can leave it unreadable for a moment (distribution 2.8 answers
/// MANIFEST_BLOB_UNKNOWN): upload it again and retry, up to 3 times.
async fn push_artifact(store: &Store, digest: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        match store.put_manifest(digest, media::OCI_MANIFEST, bytes).await {
            Err(StoreError::Registry(e))
                if attempt < 3 && e.has_code(OciErrorCode::ManifestBlobUnknown) =>
            {
                attempt += 1;
                tracing::debug!(%digest, attempt, "config blob not yet readable; uploading it again");
                tokio::time::sleep(Duration::from_millis(100 * attempt + fastrand::u64(0..100)))
                    .await;
                let empty = Digest::parse(media::EMPTY_JSON_DIGEST).expect("constant");
                // Its own failure (a concurrent upload) is not fatal: the PUT is retried.
                let _ = store.reupload_blob(&empty, media::EMPTY_JSON).await;
            }
            r => return r,
        }
    }
}
