//! Reads what planning needs from a store: the image, its attestation manifests, and the state
//! of the target (existing artifacts, the `{}` blob, referrers listings).

use crate::model::attestation;
use crate::model::digest::Digest;
use crate::model::document::{Document, ManifestView};
use crate::model::media;
use crate::model::statement::Statement;
use crate::plan::image::{
    Conversion, Listing, LoadedImage, LoadedManifest, Observed, Problem, Raw,
};
use crate::store::{Store, StoreError};
use crate::transport::MAX_STATEMENT_BYTES;
use futures_util::future::join_all;
use std::collections::BTreeMap;

/// What a reference resolved to.
pub enum Loaded {
    /// An image index, with its attestation manifests.
    Index(LoadedImage),
    /// A single image manifest (no index, so no in-index attestations).
    Manifest(Raw, ManifestView),
}

/// An image could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The image's top document is not something we understand.
    #[error("{digest}: {reason}")]
    Unreadable {
        /// Its digest.
        digest: Digest,
        /// Why.
        reason: String,
    },
}

/// Reads the image the store's reference names and every attestation manifest its index lists.
/// A failing attestation manifest is recorded in `failures`; the others are still read.
pub async fn load(store: &Store) -> Result<Loaded, LoadError> {
    let raw = store.resolve().await?;
    load_raw(store, raw).await
}

/// [`load`] for an image already read (a registry walk resolves tags itself).
pub async fn load_raw(store: &Store, raw: Raw) -> Result<Loaded, LoadError> {
    let doc =
        Document::parse(&raw.bytes, Some(&raw.media_type)).map_err(|e| LoadError::Unreadable {
            digest: raw.digest.clone(),
            reason: e.to_string(),
        })?;
    let view = match doc {
        Document::Manifest(m) => return Ok(Loaded::Manifest(raw, *m)),
        Document::Index(i) => *i,
    };
    let entries = attestation::classify(&view);
    let mut digests: Vec<&Digest> = Vec::new();
    for a in &entries.attestations {
        if !digests.contains(&&a.descriptor.digest) {
            digests.push(&a.descriptor.digest);
        }
    }
    let results = join_all(digests.iter().map(|d| load_attestation(store, d))).await;
    let mut manifests = BTreeMap::new();
    let mut failures = Vec::new();
    for (d, r) in digests.into_iter().zip(results) {
        match r {
            Ok(m) => {
                manifests.insert(d.clone(), m);
            }
            Err(message) => failures.push(Problem {
                digest: d.clone(),
                message,
            }),
        }
    }
    Ok(Loaded::Index(LoadedImage {
        index: raw,
        view,
        entries,
        manifests,
        failures,
    }))
}

async fn load_attestation(store: &Store, d: &Digest) -> Result<LoadedManifest, String> {
    let bytes = store.manifest(d).await.map_err(|e| e.to_string())?;
    let view =
        Document::parse_manifest(&bytes, None).map_err(|e| format!("attestation manifest: {e}"))?;
    // Docker media types carry no predicate-type annotation: read it from the statement.
    let mut statement_types = Vec::with_capacity(view.layers.len());
    for l in &view.layers {
        let needs =
            l.media_type == media::IN_TOTO && !l.annotations.contains_key(media::PREDICATE_TYPE);
        if !needs {
            statement_types.push(None);
            continue;
        }
        let blob = store
            .blob(&l.digest, MAX_STATEMENT_BYTES)
            .await
            .map_err(|e| format!("reading statement {}: {e}", l.digest))?;
        let st = Statement::parse(&blob).map_err(|e| format!("statement {}: {e}", l.digest))?;
        statement_types.push(Some(st.predicate_type));
    }
    Ok(LoadedManifest {
        bytes,
        view,
        statement_types,
    })
}

/// Reads the target state for `convs`: which artifacts exist, whether the `{}` blob is there
/// (asked only when an artifact is missing), and each subject's referrers listing.
/// A listing that fails is left out, which blocks that subject in the plan.
/// `thorough` lists every subject (for dry runs, which must tell what is already done).
pub async fn observe(
    store: &Store,
    convs: &[Conversion],
    thorough: bool,
) -> Result<(Observed, Vec<Problem>), StoreError> {
    let mut obs = Observed::default();
    let mut problems = Vec::new();
    let mut subjects: Vec<Digest> = Vec::new();
    for c in convs {
        if !subjects.contains(&c.subject.digest) {
            subjects.push(c.subject.digest.clone());
        }
    }
    for (subject, r) in subjects
        .iter()
        .zip(list_subjects(store, &subjects, thorough).await)
    {
        match r {
            Ok(l) => {
                obs.listings.insert(subject.clone(), l);
            }
            Err(e) => problems.push(Problem {
                digest: subject.clone(),
                message: format!("listing referrers failed: {e}"),
            }),
        }
    }
    // A listed referrer exists. An unlisted one is pushed: with the Referrers API the push is
    // what gets it listed, and on a registry a manifest PUT costs what a HEAD costs. Only an OCI
    // layout, where asking is free, asks whether the manifest is there.
    let listed = |c: &Conversion| {
        obs.listings
            .get(&c.subject.digest)
            .is_some_and(|l| l.listed().contains(&c.artifact.digest))
    };
    let ask: Vec<&Conversion> = match store {
        Store::Layout(_) => convs.iter().filter(|c| !listed(c)).collect(),
        Store::Registry(_) => Vec::new(),
    };
    let heads = join_all(
        ask.iter()
            .map(|c| store.manifest_exists(&c.artifact.digest)),
    )
    .await;
    let mut exists = BTreeMap::new();
    for (c, h) in ask.iter().zip(heads) {
        exists.insert(c.artifact.digest.clone(), h?);
    }
    let mut need_blob = false;
    for c in convs {
        let present = listed(c) || exists.get(&c.artifact.digest).copied().unwrap_or(false);
        if present {
            obs.present.insert(c.artifact.digest.clone());
        } else if c.created {
            need_blob = true;
        }
    }
    if need_blob {
        let empty = Digest::parse(media::EMPTY_JSON_DIGEST).expect("constant");
        // Where another repository of this run has it, the upload is a one-request mount.
        obs.empty_blob = store.shared_blob_present(&empty).await?;
    }
    Ok((obs, problems))
}

/// Lists the referrers of `subjects` for planning. The first listing settles whether the
/// registry has the Referrers API. With the API, when that first subject has no attestation
/// referrer yet, the repository has not been converted before: the others are taken as unlisted
/// and their artifacts pushed without a listing each (the push is what lists them, and the
/// read-back verification confirms it). Otherwise every subject is listed.
async fn list_subjects(
    store: &Store,
    subjects: &[Digest],
    thorough: bool,
) -> Vec<Result<Listing, StoreError>> {
    let Some((first, rest)) = subjects.split_first() else {
        return Vec::new();
    };
    let first = store.referrers(first).await;
    let fresh = match &first {
        Ok(_) if thorough => false,
        Ok(l) => {
            matches!(l.listing, Listing::Api { .. })
                && !l
                    .descriptors
                    .iter()
                    .any(|d| d.artifact_type.as_deref() == Some(media::ATTESTATION_ARTIFACT_TYPE))
        }
        Err(_) => false,
    };
    let mut out = vec![first.map(|l| l.listing)];
    if fresh {
        out.extend(rest.iter().map(|_| Ok(Listing::Api { listed: Vec::new() })));
    } else {
        out.extend(
            join_all(rest.iter().map(|s| store.referrers(s)))
                .await
                .into_iter()
                .map(|r| r.map(|l| l.listing)),
        );
    }
    out
}
