//! `convert --repair-tag-entries` and its undo: for each subject's referrers tag (registries
//! without the Referrers API), the entries lacking `artifactType` or annotations are filled in
//! from their manifests (model::repair, a byte-level edit), written over exactly the tag bytes
//! read; undo takes exactly those inserted bytes out again.

use crate::model::digest::Digest;
use crate::model::document::ManifestView;
use crate::model::referrers::{fallback_tag, Listing};
use crate::model::repair::{self, EntryRepair};
use crate::store::{Store, TagChange};
use std::collections::BTreeMap;

/// Entry manifests read per referrers tag, at most.
pub const MAX_ENTRY_READS: usize = 64;

/// What happened to one subject's referrers tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRepair {
    /// The tag.
    pub tag: String,
    /// Entries filled in (repair) or restored (undo).
    pub entries: Vec<EntryRepair>,
    /// Why the tag could not be repaired (or restored).
    pub error: Option<String>,
}

/// Which way to edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Fill in the entries (`convert --repair-tag-entries`).
    Repair,
    /// Take the filled-in members out again (`undo`).
    Restore,
}

/// Repairs (or restores) the referrers tags of `subjects`; only tags with something to do are
/// reported. `dry_run`: nothing is written.
pub async fn tags(
    store: &Store,
    subjects: &[Digest],
    direction: Direction,
    dry_run: bool,
) -> Vec<TagRepair> {
    let mut out = Vec::new();
    for subject in subjects {
        if let Some(r) = one(store, subject, direction, dry_run).await {
            out.push(r);
        }
    }
    out
}

async fn one(
    store: &Store,
    subject: &Digest,
    direction: Direction,
    dry_run: bool,
) -> Option<TagRepair> {
    let tag = fallback_tag(subject);
    let failed = |e: String| {
        Some(TagRepair {
            tag: tag.clone(),
            entries: Vec::new(),
            error: Some(e),
        })
    };
    let listing = match store.referrers(subject).await {
        Ok(l) => l.listing,
        Err(e) => return failed(format!("listing referrers of {subject}: {e}")),
    };
    let Listing::Tag {
        existing: Some(bytes),
        ..
    } = &listing
    else {
        return None;
    };
    let wanted = match direction {
        Direction::Repair => repair::entries_to_repair(bytes, subject),
        Direction::Restore => repair::repaired_candidates(bytes, subject),
    };
    let wanted = match wanted {
        Ok(w) if w.is_empty() => return None,
        Ok(w) => w,
        Err(e) => return failed(e.to_string()),
    };
    let manifests = read(store, &wanted).await;
    let edited = match direction {
        Direction::Repair => repair::repair(bytes, subject, &manifests),
        Direction::Restore => repair::unrepair(bytes, subject, &manifests).map(|r| {
            r.map(|(b, ds)| {
                let entries = ds.into_iter().map(restored).collect();
                (b, entries)
            })
        }),
    };
    let (new, entries) = match edited {
        Ok(Some(x)) => x,
        Ok(None) => return None,
        Err(e) => return failed(e.to_string()),
    };
    if !dry_run {
        if let Err(e) = store
            .change_referrers_tag(subject, &listing, TagChange::Rewrite(new))
            .await
        {
            return failed(format!("referrers tag {tag}: {e}"));
        }
    }
    Some(TagRepair {
        tag,
        entries,
        error: None,
    })
}

fn restored(digest: Digest) -> EntryRepair {
    EntryRepair {
        digest,
        artifact_type: None,
        annotations: Vec::new(),
    }
}

/// The entries' manifests, at most [`MAX_ENTRY_READS`], concurrently; unreadable ones are left
/// out (their entries stay as they are).
async fn read(store: &Store, digests: &[Digest]) -> BTreeMap<Digest, ManifestView> {
    let wanted = digests.iter().take(MAX_ENTRY_READS).cloned().collect();
    super::load::manifest_views(store, wanted).await
}
