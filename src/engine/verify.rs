//! Checks the writes with fresh reads, the way a client lists referrers, and repairs referrers
//! tags that a concurrent writer's lost update dropped our entries from.

use crate::model::digest::Digest;
use crate::model::referrers::{Listing, ReferrersUpdate, Via};
use crate::plan::image::Conversion;
use crate::store::{Store, StoreError};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How many times verification lists referrers before calling an artifact missing.
pub const VERIFY_ATTEMPTS: u32 = 4;

/// How many times a lost update of a referrers tag is repaired before the attestation is
/// reported as failed.
const REPAIR_ROUNDS: u32 = 5;

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
    /// The `artifactType` the listing reports for the artifact, where the registry gave one.
    pub listed_type: Option<String>,
}

/// Verifies, and where another writer's concurrent write of a referrers tag dropped our entries,
/// merges them in again and verifies again (with jittered backoff, so two writers that keep
/// colliding drift apart).
pub async fn verify_and_repair(store: &Store, live: &[Conversion]) -> Verified {
    let Verified {
        mut results,
        mut listed,
    } = verify(store, live, VERIFY_ATTEMPTS).await;
    for round in 1..=REPAIR_ROUNDS {
        let lost: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.found && v.via == Via::Tag && v.error.is_none())
            .map(|(i, _)| i)
            .collect();
        if lost.is_empty() {
            break;
        }
        let convs: Vec<Conversion> = lost.iter().map(|&i| live[i].clone()).collect();
        tracing::warn!(
            "{}: {} referrers tag entr{} lost to a concurrent write; merging again (round {round})",
            store.name(),
            convs.len(),
            if convs.len() == 1 { "y" } else { "ies" }
        );
        let pause = 20 + fastrand::u64(0..(40u64 << round.min(5)));
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if let Err(e) = repair(store, &convs).await {
            for &i in &lost {
                results[i].error = Some(format!("merging the referrers tag again: {e}"));
            }
            break;
        }
        let again = verify(store, &convs, 1).await;
        listed.extend(again.listed);
        for (&i, v) in lost.iter().zip(again.results) {
            results[i] = v;
        }
    }
    Verified { results, listed }
}

/// Puts back the entries of other tools that a referrers tag held when referrify wrote it
/// (`written`) but its last listing (`listed`) no longer shows: a concurrent writer that read
/// the tag before dropped them. Only entries whose manifest still exists come back (one that
/// was deleted was taken away on purpose). Returns how many were put back.
pub async fn restore_foreign(
    store: &Store,
    written: &[(Digest, Vec<Value>)],
    listed: &BTreeMap<Digest, Vec<Digest>>,
    ours: &BTreeSet<Digest>,
) -> usize {
    let mut restored = 0;
    for (subject, entries) in written {
        let Some(now) = listed.get(subject) else {
            continue;
        };
        let mut back = Vec::new();
        for e in entries {
            let Some(d) = e
                .get("digest")
                .and_then(Value::as_str)
                .and_then(|d| Digest::parse(d).ok())
            else {
                continue;
            };
            if now.contains(&d) || ours.contains(&d) {
                continue;
            }
            if store.manifest_exists(&d).await.unwrap_or(false) {
                back.push(e.clone());
            }
        }
        if back.is_empty() {
            continue;
        }
        tracing::warn!(
            "{}: {} entr{} of other tools dropped from the referrers tag of {subject} by a concurrent write; putting {} back",
            store.name(),
            back.len(),
            if back.len() == 1 { "y" } else { "ies" },
            if back.len() == 1 { "it" } else { "them" }
        );
        let Ok(now) = store.referrers(subject).await else {
            continue;
        };
        let update = ReferrersUpdate {
            subject: subject.clone(),
            listing: now.listing,
            additions: back,
        };
        let (w, failure) = store.add_referrers(&[&update]).await;
        if failure.is_none() && !w.tags.is_empty() {
            restored += update.additions.len();
        }
    }
    restored
}

/// Lists each subject's referrers the way a client would and confirms every artifact is there,
/// retrying with backoff because caching registries (Quay) list new referrers late.
pub async fn verify(store: &Store, convs: &[Conversion], attempts: u32) -> Verified {
    let mut listed: BTreeMap<Digest, Vec<Digest>> = BTreeMap::new();
    let mut results: Vec<Option<Verification>> = vec![None; convs.len()];
    let pending = |r: &Option<Verification>| !r.as_ref().is_some_and(|v| v.found);
    for attempt in 1..=attempts.max(1) {
        let mut seen = BTreeSet::new();
        let subjects: Vec<Digest> = convs
            .iter()
            .zip(&results)
            .filter(|(c, r)| pending(r) && seen.insert(&c.subject.digest))
            .map(|(c, _)| c.subject.digest.clone())
            .collect();
        if subjects.is_empty() {
            break;
        }
        let listings = list_referrers(store, &subjects).await;
        for (subject, l) in &listings {
            if let Ok((ds, _)) = l {
                listed.insert(subject.clone(), ds.iter().map(|(d, _)| d.clone()).collect());
            }
        }
        for (c, r) in convs.iter().zip(results.iter_mut()) {
            if let Some(listing) = listings.get(&c.subject.digest) {
                *r = Some(verification(listing, &c.artifact.digest, attempt));
            }
        }
        // A referrers tag reads back what was last written: listing it again cannot change the
        // answer (a lost update is repaired, not waited for). Only API listings, which caching
        // registries serve late, are retried.
        let waiting =
            |r: &Option<Verification>| pending(r) && !r.as_ref().is_some_and(|v| v.via == Via::Tag);
        if attempt < attempts && results.iter().any(waiting) {
            tokio::time::sleep(Duration::from_millis(250 << (attempt - 1).min(4))).await;
        }
    }
    let results = results
        .into_iter()
        .map(|r| {
            r.unwrap_or(Verification {
                found: false,
                via: Via::None,
                attempts: 0,
                error: Some("not verified".into()),
                listed_type: None,
            })
        })
        .collect();
    Verified { results, listed }
}

/// What verification found: per conversion, and per subject the digests last listed.
pub struct Verified {
    /// One per conversion, same order.
    pub results: Vec<Verification>,
    /// Per subject listed, the referrer digests of its last listing.
    pub listed: BTreeMap<Digest, Vec<Digest>>,
}

/// Per subject, what is listed (digest and reported `artifactType`) and how.
type Listed = Result<(Vec<(Digest, Option<String>)>, Via), String>;

/// Every referrer of each subject, whatever type the listing reports: an artifact counts as
/// listed when its digest is there (go-containerregistry's registry, for one, reports the
/// config media type as `artifactType`).
async fn list_referrers(store: &Store, subjects: &[Digest]) -> BTreeMap<Digest, Listed> {
    subjects
        .iter()
        .cloned()
        .zip(store.referrers_many(subjects).await)
        .map(|(s, r)| {
            let r = r
                .map(|l| {
                    let listed = l
                        .descriptors
                        .into_iter()
                        .map(|d| (d.digest, d.artifact_type))
                        .collect();
                    (listed, l.listing.via())
                })
                .map_err(|e| e.to_string());
            (s, r)
        })
        .collect()
}

fn verification(listing: &Listed, artifact: &Digest, attempt: u32) -> Verification {
    match listing {
        Ok((listed, via)) => {
            let found = listed.iter().find(|(d, _)| d == artifact);
            Verification {
                found: found.is_some(),
                via: *via,
                attempts: attempt,
                error: None,
                listed_type: found.and_then(|(_, t)| t.clone()),
            }
        }
        Err(e) => Verification {
            found: false,
            via: Via::None,
            attempts: attempt,
            error: Some(e.clone()),
            listed_type: None,
        },
    }
}

/// Merges conversions whose entries a concurrent writer dropped from a referrers tag (a lost
/// update: two writers read the same tag, each wrote its own merge, the last write won) in
/// again: reads each subject's tag as it is now and adds what is missing, keeping every entry
/// already there byte for byte. A tag changed again since this read is left to the next round.
pub async fn repair(store: &Store, lost: &[Conversion]) -> Result<usize, StoreError> {
    let mut written = 0;
    let mut seen = BTreeSet::new();
    for subject in lost
        .iter()
        .map(|c| &c.subject.digest)
        .filter(|s| seen.insert(*s))
    {
        let listing = store.referrers(subject).await?.listing;
        if !matches!(listing, Listing::Tag { .. }) {
            continue;
        }
        let additions = lost
            .iter()
            .filter(|c| {
                &c.subject.digest == subject && !listing.listed().contains(&c.artifact.digest)
            })
            .map(|c| c.descriptor.clone())
            .collect();
        let update = ReferrersUpdate {
            subject: subject.clone(),
            listing,
            additions,
        };
        let (w, failure) = store.add_referrers(&[&update]).await;
        if let Some(e) = failure {
            return Err(e);
        }
        written += w.tags.len();
    }
    Ok(written)
}
