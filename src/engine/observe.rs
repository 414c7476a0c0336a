//! Reads the target's state for a batch of conversions: each subject's referrers, which
//! artifacts exist, and whether the `{}` blob is there.

use crate::model::digest::Digest;
use crate::model::image::Problem;
use crate::model::media;
use crate::model::referrers::Listing;
use crate::plan::image::Conversion;
use crate::plan::writes::Observed;
use crate::store::{Store, StoreError, UploadGate};
use futures_util::future::join_all;
use std::collections::{BTreeMap, BTreeSet};

/// What observing found: the state planning decides on, the subjects whose referrers could not
/// be listed, and, when this batch must upload the `{}` blob that other repositories wait for,
/// the gate to release once it is uploaded (or when the batch ends).
pub struct Observation {
    /// The target's state.
    pub state: Observed,
    /// Subjects whose listing failed (their conversions are blocked).
    pub problems: Vec<Problem>,
    /// Held while this batch is the one to upload the `{}` blob.
    pub gate: Option<UploadGate>,
}

/// Reads the target state for `convs`: which artifacts exist, whether the `{}` blob is there
/// (asked only when an artifact is missing), and each subject's referrers listing.
/// A listing that fails is left out, which blocks that subject in the plan.
pub async fn observe(store: &Store, convs: &[Conversion]) -> Result<Observation, StoreError> {
    let mut obs = Observation {
        state: Observed::default(),
        problems: Vec::new(),
        gate: None,
    };
    let mut seen = BTreeSet::new();
    let subjects: Vec<Digest> = convs
        .iter()
        .filter(|c| seen.insert(&c.subject.digest))
        .map(|c| c.subject.digest.clone())
        .collect();
    for (subject, r) in subjects.iter().zip(list_subjects(store, &subjects).await) {
        match r {
            Ok(l) => {
                obs.state.listings.insert(subject.clone(), l);
            }
            Err(e) => obs.problems.push(Problem {
                digest: subject.clone(),
                message: format!("listing referrers failed: {e}"),
            }),
        }
    }
    let exists = ask_unlisted(store, convs, &obs.state).await?;
    let mut need_blob = false;
    for c in convs {
        let present = listed(&obs.state, c) || exists.get(&c.artifact.digest) == Some(&true);
        if present {
            obs.state.present.insert(c.artifact.digest.clone());
        } else if c.created {
            need_blob = true;
        }
    }
    if need_blob {
        let empty = Digest::parse(media::EMPTY_JSON_DIGEST).expect("constant");
        // Where another repository of this run has it, the upload is a one-request mount.
        let shared = store.shared_blob(&empty).await?;
        obs.state.empty_blob = shared.present;
        obs.gate = shared.gate;
    }
    Ok(obs)
}

fn listed(state: &Observed, c: &Conversion) -> bool {
    state
        .listings
        .get(&c.subject.digest)
        .is_some_and(|l| l.listed().contains(&c.artifact.digest))
}

/// A listed referrer exists. An unlisted one is pushed: with the Referrers API the push is what
/// gets it listed, and on a registry a manifest PUT costs what a HEAD costs. Only where asking
/// is free (an OCI layout) is it asked whether the manifest is there.
async fn ask_unlisted(
    store: &Store,
    convs: &[Conversion],
    state: &Observed,
) -> Result<BTreeMap<Digest, bool>, StoreError> {
    if !store.existence_is_free() {
        return Ok(BTreeMap::new());
    }
    let ask: Vec<&Conversion> = convs.iter().filter(|c| !listed(state, c)).collect();
    let heads = join_all(
        ask.iter()
            .map(|c| store.manifest_exists(&c.artifact.digest)),
    )
    .await;
    let mut exists = BTreeMap::new();
    for (c, h) in ask.iter().zip(heads) {
        exists.insert(c.artifact.digest.clone(), h?);
    }
    Ok(exists)
}

/// Lists the referrers of every subject: the first alone (it settles whether the registry has
/// the Referrers API), the rest concurrently. Every subject is listed, in a dry run as in a
/// run, so the plan a dry run prints is the plan a run carries out, and a subject converted by
/// an earlier, partial run is seen as such (never pushed again).
async fn list_subjects(store: &Store, subjects: &[Digest]) -> Vec<Result<Listing, StoreError>> {
    store
        .referrers_many(subjects)
        .await
        .into_iter()
        .map(|r| r.map(|l| l.listing))
        .collect()
}
