//! The supply-chain facts of `check`: every referrer of each platform manifest and of its image
//! index classified (model::supply), reading a referrer's manifest only where its listed
//! descriptor does not say what it is, at most [`MAX_READS_PER_SUBJECT`] per subject; cosign's
//! tag-scheme tags come from a tag list already read. `plan::supply` judges them.

use crate::model::digest::Digest;
use crate::model::document::{Descriptor, Document, ManifestView};
use crate::model::supply::{self, Classified, CosignTag, Kind, Shape};
use crate::plan::supply::{assess, unmet, Requirement, Supply, SupplyFacts};
use crate::report::verify::{self, Subjects};
use crate::store::Store;
use futures_util::future::join_all;
use std::collections::{BTreeMap, BTreeSet};

/// Referrer manifests read per subject to classify entries their listing leaves unexplained.
pub const MAX_READS_PER_SUBJECT: usize = 16;

/// One platform to assess.
pub struct Subject<'a> {
    /// The platform manifest.
    pub platform: &'a Digest,
    /// Its platform name inside the index.
    pub platform_name: Option<&'a str>,
    /// Its image index, if any.
    pub index: Option<&'a Digest>,
    /// Its referrers as listed.
    pub listed: &'a [Descriptor],
    /// Predicate types of BuildKit's legacy in-index attestation for it.
    pub legacy_predicate_types: Vec<String>,
}

/// What the caller already knows: listings of the index digests, manifests already read, and
/// cosign's tags (`None`: no tag list was read).
pub struct Known<'a> {
    /// Referrers of each image index (an error: not listable).
    pub index_listings: &'a BTreeMap<Digest, Result<Vec<Descriptor>, String>>,
    /// Manifests already read, by digest.
    pub manifests: &'a BTreeMap<Digest, ManifestView>,
    /// cosign tag-scheme tags by the digest they name.
    pub cosign_tags: Option<&'a BTreeMap<Digest, Vec<CosignTag>>>,
}

/// Classifies every subject's referrers and judges each platform against `required`.
pub async fn assess_all(
    store: &Store,
    subjects: &[Subject<'_>],
    known: &Known<'_>,
    required: &[Requirement],
) -> Vec<Supply> {
    let no_descriptors: Vec<Descriptor> = Vec::new();
    let index_of = |s: &Subject<'_>| -> &[Descriptor] {
        match s.index.and_then(|i| known.index_listings.get(i)) {
            Some(Ok(d)) => d,
            _ => &no_descriptors,
        }
    };
    let read = read_unclassified(
        store,
        subjects
            .iter()
            .flat_map(|s| [s.listed, index_of(s)])
            .collect(),
        known.manifests,
    )
    .await;
    let att_types = read_att_tags(store, subjects, known.cosign_tags).await;
    let locator = store.locator();
    subjects
        .iter()
        .map(|s| {
            let tags = |d: Option<&Digest>| -> Vec<CosignTag> {
                d.and_then(|d| known.cosign_tags.and_then(|t| t.get(d)))
                    .cloned()
                    .unwrap_or_default()
            };
            let facts = SupplyFacts {
                platform: classify_all(s.listed, known.manifests, &read),
                index: classify_all(index_of(s), known.manifests, &read),
                platform_tags: tags(Some(s.platform)),
                index_tags: tags(s.index),
                legacy_predicate_types: s.legacy_predicate_types.clone(),
                tags_read: known.cosign_tags.is_some(),
                att_types: att_types.clone(),
            };
            let mut out = assess(&facts);
            out.unmet = unmet(&out, &facts, required);
            out.verify = verify::commands(
                &locator,
                &out,
                &Subjects {
                    platform: s.platform,
                    platform_name: s.platform_name,
                    index: s.index,
                },
            );
            out
        })
        .collect()
}

/// Reads each cosign `.att` tag naming a subject (one request each, at most
/// [`MAX_READS_PER_SUBJECT`] per batch): its layers' `predicateType` says SBOM or provenance.
async fn read_att_tags(
    store: &Store,
    subjects: &[Subject<'_>],
    tags: Option<&BTreeMap<Digest, Vec<CosignTag>>>,
) -> BTreeMap<String, Vec<String>> {
    let Some(tags) = tags else {
        return BTreeMap::new();
    };
    let mut seen = BTreeSet::new();
    let wanted: Vec<&str> = subjects
        .iter()
        .flat_map(|s| std::iter::once(s.platform).chain(s.index))
        .filter_map(|d| tags.get(d))
        .flatten()
        .filter(|t| t.kind == Kind::CosignTagAttestation && seen.insert(t.tag.clone()))
        .map(|t| t.tag.as_str())
        .take(MAX_READS_PER_SUBJECT)
        .collect();
    let read = join_all(wanted.iter().map(|t| async move {
        let raw = store.read(t).await.ok()??;
        match Document::parse(&raw.bytes, None).ok()? {
            Document::Manifest(m) => Some(supply::cosign_att_predicate_types(&m)),
            Document::Index(_) => None,
        }
    }))
    .await;
    wanted
        .into_iter()
        .zip(read)
        .filter_map(|(t, types)| types.map(|ty| (t.to_string(), ty)))
        .collect()
}

/// Reads, once each, the manifests of listed referrers whose descriptor does not classify them
/// and that are not already known; bounded per subject.
async fn read_unclassified(
    store: &Store,
    listings: Vec<&[Descriptor]>,
    known: &BTreeMap<Digest, ManifestView>,
) -> BTreeMap<Digest, ManifestView> {
    let mut seen = BTreeSet::new();
    let mut wanted = Vec::new();
    for listed in listings {
        let unclear = listed.iter().filter(|d| {
            supply::classify(Shape::of_descriptor(d)).is_none() && !known.contains_key(&d.digest)
        });
        for d in unclear.take(MAX_READS_PER_SUBJECT) {
            if seen.insert(d.digest.clone()) {
                wanted.push(d.digest.clone());
            }
        }
    }
    super::load::manifest_views(store, wanted).await
}

/// Classifies each listed referrer: by its descriptor, else by its manifest, else (not read) by
/// its listed `artifactType` alone.
fn classify_all(
    listed: &[Descriptor],
    known: &BTreeMap<Digest, ManifestView>,
    read: &BTreeMap<Digest, ManifestView>,
) -> Vec<(Digest, Classified)> {
    listed
        .iter()
        .map(|d| {
            let by_manifest = known
                .get(&d.digest)
                .or_else(|| read.get(&d.digest))
                .and_then(|m| {
                    let types = supply::layer_predicate_types(m);
                    supply::classify(Shape::of_manifest(m, &types))
                });
            let c = supply::classify(Shape::of_descriptor(d))
                .or(by_manifest)
                .unwrap_or_else(|| Classified {
                    kind: Kind::Other,
                    artifact_type: d.artifact_type.clone(),
                    predicate_types: Vec::new(),
                });
            (d.digest.clone(), c)
        })
        .collect()
}
