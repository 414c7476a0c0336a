//! Coverage of images, per platform manifest: is there an attestation, is it discoverable as a
//! referrer, and do its in-toto statements name that manifest? Facts are gathered here in up to
//! three concurrent rounds (referrers listings, manifests, statement blobs, each fetched once);
//! `plan::coverage` judges them.

use super::load::{load, load_raw, Depth, Loaded};
use super::supply::{self, Known, Subject};
use crate::model::attestation;
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, Document, ManifestView};
use crate::model::image::Raw;
use crate::model::media;
use crate::model::referrers::Via;
use crate::model::statement::Statement;
use crate::model::supply::{self as kinds, CosignTag};
use crate::plan::coverage::{judge, Facts, PlatformState, StatementCheck};
use crate::plan::supply::Requirement;
use crate::report::commands;
use crate::report::{CheckImage, PlatformReport};
use crate::store::{ReferrersListing, Store};
use futures_util::future::join_all;
use std::collections::{BTreeMap, BTreeSet};

/// One platform manifest to check, with the attestation manifests its index names.
struct Target {
    platform: String,
    /// Whether the manifest sits in an index under `platform`.
    in_an_index: bool,
    digest: Digest,
    /// The image index that holds it, if any (its referrers count for the platform too).
    index: Option<Digest>,
    /// The index's attestation entries for it, with their manifests where already read.
    in_index: Vec<(Digest, Option<ManifestView>)>,
    /// The command that converts the image, for gaps it can close.
    fix: Option<String>,
}

/// The outcome of an image that could not be checked.
pub fn failed(text: &str, error: String) -> CheckImage {
    CheckImage {
        reference: text.to_string(),
        digest: None,
        tags: Vec::new(),
        error: Some(error),
        platforms: Vec::new(),
        problems: Vec::new(),
    }
}

/// What a check asks beyond today's coverage: the `--require` list, and cosign's tag-scheme tags
/// from a tag list already read (`None`: none was read).
#[derive(Default)]
pub struct Asked<'a> {
    /// Requirements to judge each platform against.
    pub required: &'a [Requirement],
    /// cosign tags by the digest they name.
    pub cosign_tags: Option<&'a BTreeMap<Digest, Vec<CosignTag>>>,
}

/// Checks the image the store's reference names, statements included.
pub async fn check_image(store: &Store, text: &str, fix: String, asked: &Asked<'_>) -> CheckImage {
    let loaded = match load(store).await {
        Ok(l) => l,
        Err(e) => return failed(text, e.to_string()),
    };
    let mut image = failed(text, String::new());
    image.error = None;
    let targets = targets(&loaded, &fix, &mut image);
    // An attestation manifest that could not be read is a gap with its reason, never taken
    // for a platform without attestations.
    let failed = match &loaded {
        Loaded::Index(img) => img
            .failures
            .iter()
            .map(|p| (p.digest.clone(), p.message.clone()))
            .collect(),
        Loaded::Manifest(..) => BTreeMap::new(),
    };
    image.platforms = check_platforms(store, targets, true, &failed, asked).await;
    image
}

/// An image of a repository, as a registry walk read it.
pub struct Tagged {
    /// What its tags resolved to.
    pub raw: Raw,
    /// The tags.
    pub tags: Vec<String>,
}

/// Checks the images of one repository with one listing per platform manifest; attestation
/// manifests are read only to tell why a platform has nothing discoverable, and statements
/// only with `statements`. `fix`: the convert command for an image digest.
pub async fn check_images(
    store: &Store,
    images: Vec<Tagged>,
    fix: impl Fn(&Digest) -> String,
    statements: bool,
    asked: &Asked<'_>,
) -> Vec<CheckImage> {
    let name = store.name();
    let mut out = Vec::with_capacity(images.len());
    let mut targets: Vec<Target> = Vec::new();
    let mut owners: Vec<usize> = Vec::new();
    for (n, img) in images.into_iter().enumerate() {
        let mut ci = CheckImage {
            reference: format!("{name}:{}", img.tags.join(",")),
            digest: Some(img.raw.digest.clone()),
            tags: img.tags,
            error: None,
            platforms: Vec::new(),
            problems: Vec::new(),
        };
        let fix = fix(&img.raw.digest);
        match load_raw(store, img.raw, Depth::Index).await {
            Ok(loaded) => {
                let found = self::targets(&loaded, &fix, &mut ci);
                owners.extend(std::iter::repeat_n(n, found.len()));
                targets.extend(found);
            }
            Err(e) => ci.error = Some(e.to_string()),
        }
        out.push(ci);
    }
    let reports = check_platforms(store, targets, statements, &BTreeMap::new(), asked).await;
    for (n, p) in owners.into_iter().zip(reports) {
        out[n].platforms.push(p);
    }
    out
}

/// The platform manifests of a loaded image; sets the image's digest and entry problems.
fn targets(loaded: &Loaded, fix: &str, image: &mut CheckImage) -> Vec<Target> {
    let img = match loaded {
        Loaded::Manifest(raw, _) => {
            image.digest = Some(raw.digest.clone());
            return vec![Target {
                platform: "(single manifest)".into(),
                in_an_index: false,
                digest: raw.digest.clone(),
                index: None,
                in_index: Vec::new(),
                fix: None,
            }];
        }
        Loaded::Index(img) => img,
    };
    image.digest = Some(img.index.digest.clone());
    image.problems = img.problems();
    img.entries
        .platforms
        .iter()
        .map(|p| Target {
            platform: p.platform(),
            in_an_index: true,
            digest: p.descriptor.digest.clone(),
            index: Some(img.index.digest.clone()),
            in_index: img
                .entries
                .attestations
                .iter()
                .filter(|a| a.subject_position == p.position)
                .map(|a| {
                    let m = img.manifests.get(&a.descriptor.digest);
                    (a.descriptor.digest.clone(), m.map(|m| m.view.clone()))
                })
                .collect(),
            fix: Some(fix.to_string()),
        })
        .collect()
}

/// What listing one platform's referrers found.
struct Listed {
    via: Option<Via>,
    /// Attestation referrers.
    digests: Vec<Digest>,
    error: Option<String>,
    /// Referrers whose listed `artifactType` may not be their own, with that type: their
    /// manifests tell whether they are attestations.
    doubtful: Vec<(Digest, Option<String>)>,
    /// What a client filtering by `artifactType` will not see.
    warnings: Vec<String>,
    /// Every referrer listed, of any type.
    all: Vec<Descriptor>,
}

/// Attestation manifests read for one platform, and the errors reading them.
type Checked = (Vec<(Digest, ManifestView)>, Vec<String>);

/// Statements by layer digest.
type Statements = BTreeMap<Digest, Result<Statement, String>>;

/// Gathers the facts for every platform, then judges each. Without `statements` (registry-wide
/// checks) no statement is read, and a manifest is read only to tell why a platform has no
/// discoverable attestation.
async fn check_platforms(
    store: &Store,
    targets: Vec<Target>,
    statements: bool,
    failed: &BTreeMap<Digest, String>,
    asked: &Asked<'_>,
) -> Vec<PlatformReport> {
    let (mut listings, index_listings) = list(store, &targets).await;
    let already = resolve_doubtful(store, &mut listings).await;
    let checked = read_manifests(store, &targets, &listings, &already, failed, statements).await;
    let read = if statements {
        Some(read_statements(store, &checked).await)
    } else {
        None
    };
    let mut known: BTreeMap<Digest, ManifestView> = already;
    for (d, v) in checked.iter().flat_map(|(m, _)| m.iter()) {
        known.entry(d.clone()).or_insert_with(|| v.clone());
    }
    let subjects: Vec<Subject<'_>> = targets
        .iter()
        .zip(&listings)
        .map(|(t, l)| Subject {
            platform: &t.digest,
            platform_name: t.in_an_index.then_some(t.platform.as_str()),
            index: t.index.as_ref(),
            listed: &l.all,
            legacy_predicate_types: t
                .in_index
                .iter()
                .filter_map(|(_, v)| v.as_ref())
                .flat_map(kinds::layer_predicate_types)
                .collect(),
        })
        .collect();
    let known = Known {
        index_listings: &index_listings,
        manifests: &known,
        cosign_tags: asked.cosign_tags,
    };
    let supplies = supply::assess_all(store, &subjects, &known, asked.required).await;
    let locator = store.locator();
    targets
        .iter()
        .zip(listings)
        .zip(checked)
        .zip(supplies)
        .map(|(((t, l), (manifests, errors)), supply)| {
            let confirm = commands::confirm_filtered(
                &locator,
                &t.digest,
                t.in_an_index.then_some(t.platform.as_str()),
                l.warnings.is_empty(),
            );
            let mut p = judge_platform(t, l, &manifests, errors, read.as_ref(), confirm);
            p.supply = supply;
            p
        })
        .collect()
}

/// Referrers of each image index, by its digest.
type IndexListings = BTreeMap<Digest, Result<Vec<Descriptor>, String>>;

/// Round 1: each platform manifest and each image index listed once, however many images
/// share it.
async fn list(store: &Store, targets: &[Target]) -> (Vec<Listed>, IndexListings) {
    let mut seen = BTreeSet::new();
    let platforms = targets.iter().map(|t| &t.digest);
    let indexes = targets.iter().filter_map(|t| t.index.as_ref());
    let subjects: Vec<Digest> = platforms
        .chain(indexes)
        .filter(|d| seen.insert(*d))
        .cloned()
        .collect();
    let listed: BTreeMap<Digest, Result<ReferrersListing, String>> = subjects
        .iter()
        .cloned()
        .zip(store.referrers_many_of_any_type(&subjects).await)
        .map(|(d, r)| (d, r.map_err(|e| e.to_string())))
        .collect();
    let index_listings = targets
        .iter()
        .filter_map(|t| t.index.as_ref())
        .map(|i| {
            let l = listed[i].as_ref().map(|l| l.descriptors.clone());
            (i.clone(), l.map_err(Clone::clone))
        })
        .collect();
    let per_target = targets
        .iter()
        .map(|t| match &listed[&t.digest] {
            Ok(l) => classify(l, t),
            Err(e) => Listed {
                via: None,
                digests: Vec::new(),
                error: Some(e.clone()),
                doubtful: Vec::new(),
                warnings: Vec::new(),
                all: Vec::new(),
            },
        })
        .collect();
    (per_target, index_listings)
}

/// Sorts one platform's referrers: attestations by their listed type; tag indexes written by
/// some tools omit `artifactType`, so an untyped entry counts when the index names it as this
/// platform's attestation; any other untyped or config-typed entry is doubtful.
fn classify(l: &ReferrersListing, t: &Target) -> Listed {
    let mut out = Listed {
        via: Some(l.listing.via()),
        digests: Vec::new(),
        error: None,
        doubtful: Vec::new(),
        warnings: Vec::new(),
        all: l.descriptors.clone(),
    };
    for d in &l.descriptors {
        let listed = d.artifact_type.as_deref();
        let in_index = t.in_index.iter().any(|(x, _)| x == &d.digest);
        if listed == Some(media::ATTESTATION_ARTIFACT_TYPE) || (listed.is_none() && in_index) {
            out.digests.push(d.digest.clone());
        } else if media::is_doubtful_artifact_type(listed) {
            out.doubtful
                .push((d.digest.clone(), d.artifact_type.clone()));
        }
    }
    out
}

/// Reads the manifests of doubtful referrers (once each) and counts those whose own
/// `artifactType` is an attestation's, with a warning naming the type the registry reports.
async fn resolve_doubtful(
    store: &Store,
    listings: &mut [Listed],
) -> BTreeMap<Digest, ManifestView> {
    let mut seen = BTreeSet::new();
    let wanted: Vec<Digest> = listings
        .iter()
        .flat_map(|l| l.doubtful.iter().map(|(d, _)| d))
        .filter(|d| seen.insert(*d))
        .cloned()
        .collect();
    let fetched = join_all(wanted.iter().map(|d| read_manifest(store, d))).await;
    let read: BTreeMap<Digest, ManifestView> = wanted
        .into_iter()
        .zip(fetched)
        .filter_map(|(d, r)| r.ok().map(|v| (d, v)))
        .collect();
    for l in listings.iter_mut() {
        for (d, listed) in std::mem::take(&mut l.doubtful) {
            let Some(own) = read.get(&d).and_then(|v| v.artifact_type.as_deref()) else {
                continue;
            };
            if own == media::ATTESTATION_ARTIFACT_TYPE {
                l.digests.push(d.clone());
            }
            l.warnings
                .push(mislabel_warning(&d, listed.as_deref(), own));
        }
    }
    read
}

/// What a client filtering by `artifactType` misses when a registry misreports a referrer's type.
pub fn mislabel_warning(digest: &Digest, listed: Option<&str>, own: &str) -> String {
    format!(
        "the registry lists referrer {} with artifactType {}, not its own {own}: clients that filter by artifactType (oras discover --artifact-type) will not find it here",
        digest.short(),
        listed.filter(|t| !t.is_empty()).unwrap_or("(none)")
    )
}

async fn read_manifest(store: &Store, d: &Digest) -> Result<ManifestView, String> {
    store
        .manifest(d)
        .await
        .map_err(|e| e.to_string())
        .and_then(|b| Document::parse_manifest(&b, None).map_err(|e| e.to_string()))
}

/// Round 2: the manifests to look at, per platform: with statements, the discoverable ones
/// (else the index's); without, the index's, and only where nothing is discoverable.
async fn read_manifests(
    store: &Store,
    targets: &[Target],
    listings: &[Listed],
    already: &BTreeMap<Digest, ManifestView>,
    failed: &BTreeMap<Digest, String>,
    statements: bool,
) -> Vec<Checked> {
    let chosen: Vec<Vec<Digest>> = targets
        .iter()
        .zip(listings)
        .map(|(t, l)| match (statements, l.digests.is_empty()) {
            // Registry-wide too: an attestation's predicate types (SBOM? provenance?) are in
            // its manifest's layers, not in the listing.
            (_, false) => l.digests.clone(),
            (_, true) => t.in_index.iter().map(|(d, _)| d.clone()).collect(),
        })
        .collect();
    let mut known: BTreeMap<&Digest, &ManifestView> = already.iter().collect();
    for (d, v) in targets.iter().flat_map(|t| t.in_index.iter()) {
        if let Some(v) = v {
            known.entry(d).or_insert(v);
        }
    }
    let mut seen = BTreeSet::new();
    let wanted: Vec<&Digest> = chosen
        .iter()
        .flatten()
        .filter(|d| !known.contains_key(d) && !failed.contains_key(*d) && seen.insert(*d))
        .collect();
    let fetched = join_all(wanted.iter().map(|d| read_manifest(store, d))).await;
    let mut read: BTreeMap<&Digest, Result<ManifestView, String>> =
        wanted.into_iter().zip(fetched).collect();
    read.extend(failed.iter().map(|(d, e)| (d, Err(e.clone()))));
    chosen
        .iter()
        .map(|ds| {
            let mut manifests = Vec::new();
            let mut errors = Vec::new();
            for d in ds {
                match known
                    .get(d)
                    .map(|v| Ok((*v).clone()))
                    .unwrap_or_else(|| read[d].clone())
                {
                    Ok(v) => manifests.push((d.clone(), v)),
                    Err(e) => errors.push(format!("attestation {}: {e}", d.short())),
                }
            }
            (manifests, errors)
        })
        .collect()
}

/// Round 3: every in-toto layer once.
async fn read_statements(store: &Store, checked: &[Checked]) -> Statements {
    let mut seen = BTreeSet::new();
    let layers: Vec<Digest> = checked
        .iter()
        .flat_map(|(manifests, _)| manifests.iter())
        .flat_map(|(_, m)| m.layers.iter())
        .filter(|l| l.media_type == media::IN_TOTO && seen.insert(l.digest.clone()))
        .map(|l| l.digest.clone())
        .collect();
    let blobs = join_all(layers.iter().map(|d| async move {
        match store.statement(d).await {
            Ok(parsed) => parsed.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }))
    .await;
    layers.into_iter().zip(blobs).collect()
}

/// The statement checks of one platform's attestation manifests, and the predicate types seen.
fn statement_checks(
    hex: &str,
    manifests: &[(Digest, ManifestView)],
    statements: Option<&Statements>,
) -> (Vec<StatementCheck>, Vec<String>) {
    let mut checks = Vec::new();
    let mut types = Vec::new();
    for (md, m) in manifests {
        let annotated = attestation::annotated_predicate_types(m);
        for (i, layer) in m.layers.iter().enumerate() {
            if layer.media_type != media::IN_TOTO {
                continue;
            }
            let (pt, ok, error) = match statements.and_then(|s| s.get(&layer.digest)) {
                Some(Ok(s)) => (
                    Some(s.predicate_type.clone()),
                    s.all_subjects_are(hex),
                    None,
                ),
                Some(Err(e)) => (annotated.get(i).cloned().flatten(), false, Some(e.clone())),
                None => (annotated.get(i).cloned().flatten(), false, None),
            };
            if let Some(p) = &pt {
                if !types.contains(p) {
                    types.push(p.clone());
                }
            }
            if statements.is_some() {
                checks.push(StatementCheck {
                    manifest: md.clone(),
                    layer: layer.digest.clone(),
                    predicate_type: pt,
                    subject_matches: ok,
                    error,
                });
            }
        }
    }
    (checks, types)
}

fn judge_platform(
    t: &Target,
    listed: Listed,
    manifests: &[(Digest, ManifestView)],
    errors: Vec<String>,
    statements: Option<&Statements>,
    confirm: String,
) -> PlatformReport {
    let (checks, types) = statement_checks(t.digest.encoded(), manifests, statements);
    let is_artifact = |d: &Digest| {
        t.in_index
            .iter()
            .find(|(x, _)| x == d)
            .and_then(|(_, v)| v.as_ref())
            .or_else(|| manifests.iter().find(|(x, _)| x == d).map(|(_, v)| v))
            .is_some_and(attestation::is_artifact)
    };
    let facts = Facts {
        in_index: t
            .in_index
            .iter()
            .map(|(d, _)| (d.clone(), is_artifact(d)))
            .collect(),
        via: listed.via,
        listed: listed.digests.clone(),
        listing_error: listed
            .error
            .or_else(|| (!errors.is_empty()).then(|| errors.join("; "))),
        statements: checks.clone(),
        statements_read: statements.is_some(),
    };
    let v = judge(&facts);
    PlatformReport {
        platform: t.platform.clone(),
        digest: t.digest.clone(),
        attestation: v.attestation,
        discoverable: v.discoverable,
        referrers: listed.digests,
        predicate_types: types,
        subjects_match: v.subjects_match,
        statements: checks,
        covered: v.covered,
        state: v.state,
        reasons: v.reasons,
        fix: matches!(
            v.state,
            PlatformState::LegacyOnly | PlatformState::NotDiscoverable
        )
        .then(|| t.fix.clone())
        .flatten(),
        confirm,
        warnings: listed.warnings,
        supply: Default::default(),
    }
}
