//! Takes back exactly what referrify added to a registry. The artifacts are recomputed from the
//! legacy attestations (their bytes are deterministic), so undo needs no record of the run: it
//! removes those artifacts' entries from referrers tags (other entries stay byte for byte),
//! deletes a referrers tag only when referrify created it and it then holds nothing, and deletes
//! the artifact manifests where the registry allows deletion.

use super::load::{load, load_raw, Depth, Loaded};
use crate::model::digest::Digest;
use crate::model::document::Document;
use crate::model::image::Raw;
use crate::model::media;
use crate::model::referrers::{fallback_tag, Listing};
use crate::plan::image::{conversions, Conversion};
use crate::plan::undo::{unmerge, TagUndo};
use crate::plan::writes::rewritten_index;
use crate::report::{Problem, UndoImage, UndoStatus};
use crate::store::StoreError;
use crate::store::{Store, TagChange};
use std::collections::{BTreeMap, BTreeSet};

/// The outcome of an image that could not be worked on.
pub fn failed(reference: &str, error: String) -> UndoImage {
    UndoImage {
        reference: reference.to_string(),
        digest: None,
        status: UndoStatus::Failed,
        error: Some(error),
        ..UndoImage::default()
    }
}

/// Undoes referrify's writes for the images of one store (`raw`: already read, or `None` to
/// resolve the store's reference).
pub async fn undo(
    store: &Store,
    images: Vec<(String, Option<Raw>)>,
    dry_run: bool,
) -> Vec<UndoImage> {
    let mut out: Vec<UndoImage> = Vec::new();
    let mut convs: Vec<(usize, Conversion)> = Vec::new();
    let mut artifacts = BTreeSet::new();
    let mut restore: Vec<(usize, Digest)> = Vec::new();
    let mut restoring = BTreeSet::new();
    for (text, raw) in images {
        let loaded = match raw {
            Some(raw) => load_raw(store, raw, Depth::Attestations).await,
            None => load(store).await,
        };
        let mut rep = UndoImage {
            reference: text,
            ..UndoImage::default()
        };
        match loaded {
            Ok(Loaded::Index(img)) => {
                rep.digest = Some(img.index.digest.clone());
                let platforms = img.entries.platforms.iter().map(|p| &p.descriptor.digest);
                for s in std::iter::once(&img.index.digest).chain(platforms) {
                    if restoring.insert(s.clone()) {
                        restore.push((out.len(), s.clone()));
                    }
                }
                for c in conversions(&img).0.into_iter().filter(|c| c.created) {
                    if artifacts.insert(c.artifact.digest.clone()) {
                        convs.push((out.len(), c));
                    }
                }
            }
            Ok(Loaded::Manifest(raw, _)) => rep.digest = Some(raw.digest),
            Err(e) => rep.error = Some(e.to_string()),
        }
        out.push(rep);
    }
    // Entries `convert --repair-tag-entries` filled in get their original bytes back.
    for (owner, subject) in restore {
        restore_entries(store, &subject, &mut out[owner], dry_run).await;
    }
    // Referrers tags first (so no listing names a deleted manifest), then the artifacts.
    let mut seen = BTreeSet::new();
    let subjects: Vec<&Digest> = convs
        .iter()
        .map(|(_, c)| &c.subject.digest)
        .filter(|s| seen.insert(*s))
        .collect();
    let mut unlisted = BTreeSet::new();
    for subject in subjects {
        undo_tag(store, subject, &convs, &mut out, &mut unlisted, dry_run).await;
    }
    delete_unreferenced(store, &convs, &mut out, &unlisted, dry_run).await;
    for r in &mut out {
        r.status = if r.error.is_some() {
            UndoStatus::Failed
        } else if r.removed_entries
            + r.restored_entries
            + r.artifacts_deleted.len()
            + r.tags_deleted.len()
            == 0
        {
            UndoStatus::Unchanged
        } else if dry_run {
            UndoStatus::Planned
        } else {
            UndoStatus::Undone
        };
    }
    out
}

/// Takes the members `--repair-tag-entries` inserted out of one subject's referrers tag.
async fn restore_entries(store: &Store, subject: &Digest, rep: &mut UndoImage, dry_run: bool) {
    let subjects = std::slice::from_ref(subject);
    for t in super::repair::tags(store, subjects, super::repair::Direction::Restore, dry_run).await
    {
        match t.error {
            Some(e) => {
                rep.error.get_or_insert(e);
            }
            None => {
                rep.restored_entries += t.entries.len();
                if !rep.tags_rewritten.contains(&t.tag) {
                    rep.tags_rewritten.push(t.tag);
                }
            }
        }
    }
}

/// Deletes the artifacts nothing else points to: a tag's index (a rewritten index
/// `--index rewrite` moved a tag to), another tool's referrers tag, or a referrers tag whose
/// rewrite failed all keep it, reported with what references it.
async fn delete_unreferenced(
    store: &Store,
    convs: &[(usize, Conversion)],
    out: &mut [UndoImage],
    unlisted: &BTreeSet<(String, Digest)>,
    dry_run: bool,
) {
    let holders = if convs.is_empty() {
        Ok(BTreeMap::new())
    } else {
        references(store, unlisted).await
    };
    for (owner, c) in convs {
        let rep = &mut out[*owner];
        if rep.error.is_some() {
            continue;
        }
        let d = &c.artifact.digest;
        let kept = |message: String| Problem {
            digest: d.clone(),
            message,
        };
        match &holders {
            Ok(h) => match h.get(d) {
                Some(by) => rep
                    .artifacts_kept
                    .push(kept(format!("still referenced by {by}; not deleted"))),
                None => delete_artifact(store, d, rep, dry_run).await,
            },
            Err(e) => rep.artifacts_kept.push(kept(format!(
                "not deleted: could not prove nothing references it ({e})"
            ))),
        }
    }
}

/// Takes our entries out of one subject's referrers tag (credited to the first image holding
/// the subject).
async fn undo_tag(
    store: &Store,
    subject: &Digest,
    convs: &[(usize, Conversion)],
    out: &mut [UndoImage],
    unlisted: &mut BTreeSet<(String, Digest)>,
    dry_run: bool,
) {
    let owner = convs
        .iter()
        .find(|(_, c)| &c.subject.digest == subject)
        .map(|(i, _)| *i)
        .unwrap_or(0);
    let ours: Vec<serde_json::Value> = convs
        .iter()
        .filter(|(_, c)| &c.subject.digest == subject)
        .map(|(_, c)| c.descriptor.clone())
        .collect();
    let tag = fallback_tag(subject);
    let listing = match store.referrers(subject).await {
        Ok(l) => l.listing,
        Err(e) => {
            out[owner].error = Some(format!("listing referrers of {subject}: {e}"));
            return;
        }
    };
    let Listing::Tag {
        existing: Some(bytes),
        ..
    } = &listing
    else {
        return;
    };
    let rep = &mut out[owner];
    let (change, removed) = match unmerge(bytes, subject, &ours) {
        Ok(TagUndo::Nothing) => return,
        Ok(TagUndo::Rewrite { bytes, removed }) => (TagChange::Rewrite(bytes), removed),
        Ok(TagUndo::Delete { removed }) => (TagChange::Delete, removed),
        Err(e) => {
            rep.error = Some(format!("referrers tag {tag}: {e}"));
            return;
        }
    };
    let deletes = change == TagChange::Delete;
    if !dry_run {
        if let Err(e) = store.change_referrers_tag(subject, &listing, change).await {
            rep.error = Some(format!("referrers tag {tag}: {e}"));
            return;
        }
    }
    // Reported only once done (or, in a dry run, planned).
    rep.removed_entries += removed.len();
    if deletes {
        rep.tags_deleted.push(tag.clone());
    } else {
        rep.tags_rewritten.push(tag.clone());
    }
    unlisted.extend(removed.into_iter().map(|d| (tag.clone(), d)));
}

/// Every manifest something in the repository points to, with what: the indexes its tags name
/// (two levels deep) and the entries of every referrers tag, except the entries this undo took
/// out (`unlisted`: in a dry run they are still there).
async fn references(
    store: &Store,
    unlisted: &BTreeSet<(String, Digest)>,
) -> Result<BTreeMap<Digest, String>, StoreError> {
    let mut held = BTreeMap::new();
    for tag in store.tags().await? {
        let Some(raw) = store.read(&tag).await? else {
            continue;
        };
        held.entry(raw.digest.clone())
            .or_insert_with(|| format!("tag {tag}"));
        let mut frontier = vec![(raw, 0u8)];
        while let Some((raw, depth)) = frontier.pop() {
            let Ok(Document::Index(ix)) = Document::parse(&raw.bytes, Some(&raw.media_type)) else {
                continue;
            };
            for m in ix.manifests {
                if unlisted.contains(&(tag.clone(), m.digest.clone())) {
                    continue;
                }
                held.entry(m.digest.clone())
                    .or_insert_with(|| format!("tag {tag} (index {})", raw.digest.short()));
                if media::is_index(&m.media_type) && depth < 1 {
                    if let Some(child) = store.read(m.digest.as_str()).await? {
                        frontier.push((child, depth + 1));
                    }
                }
            }
        }
    }
    Ok(held)
}

async fn delete_artifact(store: &Store, d: &Digest, rep: &mut UndoImage, dry_run: bool) {
    if dry_run {
        match store.manifest_exists(d).await {
            Ok(true) => rep.artifacts_deleted.push(d.clone()),
            Ok(false) => {}
            Err(e) => rep.error = Some(format!("{d}: {e}")),
        }
        return;
    }
    match store.delete_manifest(d).await {
        Ok(true) => rep.artifacts_deleted.push(d.clone()),
        Ok(false) => {}
        Err(e) => rep.artifacts_kept.push(Problem {
            digest: d.clone(),
            message: format!("the registry did not delete it: {e}"),
        }),
    }
}

/// `--restore-index`: proves `tag` points to referrify's rewrite of `old` (rewriting `old` the
/// way `convert --index rewrite` does gives exactly the tag's bytes), moves the tag back to
/// `old`, then takes back the artifacts as for any image.
pub async fn restore_index(
    store: &Store,
    text: &str,
    tag: &str,
    old: &Digest,
    dry_run: bool,
) -> Vec<UndoImage> {
    let fail = |m: String| vec![failed(text, m)];
    let current = match store.read(tag).await {
        Ok(Some(f)) => f,
        Ok(None) => return fail(format!("tag {tag} not found")),
        Err(e) => return fail(e.to_string()),
    };
    let original = match store.read(old.as_str()).await {
        Ok(Some(f)) => f,
        Ok(None) => {
            return fail(format!(
                "the original index {old} is not in {}",
                repository(store)
            ))
        }
        Err(e) => return fail(e.to_string()),
    };
    if let Err(e) = prove_rewrite(store, &original, &current.digest, tag).await {
        return fail(e);
    }
    let mut out = if dry_run {
        Vec::new()
    } else {
        match store
            .put_tag(tag, &original.media_type, &original.bytes)
            .await
        {
            Ok(()) => Vec::new(),
            Err(e) => return fail(format!("moving tag {tag} back to {old}: {e}")),
        }
    };
    out.extend(undo(store, vec![(text.to_string(), Some(original))], dry_run).await);
    for r in &mut out {
        r.index_restored = Some(old.clone());
        if r.error.is_none() {
            r.status = if dry_run {
                UndoStatus::Planned
            } else {
                UndoStatus::Undone
            };
        }
    }
    out
}

/// Proves that `current` is referrify's rewrite of `original`.
async fn prove_rewrite(
    store: &Store,
    original: &Raw,
    current: &Digest,
    tag: &str,
) -> Result<(), String> {
    let old = &original.digest;
    let img = match load_raw(store, original.clone(), Depth::Attestations).await {
        Ok(Loaded::Index(img)) => img,
        Ok(Loaded::Manifest(..)) => return Err(format!("{old} is not an image index")),
        Err(e) => return Err(e.to_string()),
    };
    let (convs, _) = conversions(&img);
    let refs: Vec<&Conversion> = convs.iter().collect();
    match rewritten_index(&img, &refs) {
        Ok(Some(bytes)) if Digest::sha256(&bytes) == *current => Ok(()),
        _ => Err(format!(
            "tag {tag} points to {current}, which is not referrify's rewrite of {old}; nothing restored"
        )),
    }
}

/// The repository's name without the registry host, for messages.
fn repository(store: &Store) -> String {
    match store.locator() {
        crate::model::reference::Locator::Registry { reference, .. } => reference.repository,
        crate::model::reference::Locator::Layout { reference, .. } => {
            reference.dir.display().to_string()
        }
    }
}
