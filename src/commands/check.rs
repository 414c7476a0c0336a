//! `referrify check`: per platform manifest, is there an attestation, is it discoverable as a
//! referrer, and do its in-toto statements name that manifest?

use super::{emit, Context};
use crate::exit::Exit;
use crate::input::{self, Loaded};
use crate::model::attestation;
use crate::model::digest::Digest;
use crate::model::document::{Document, ManifestView};
use crate::model::media;
use crate::model::reference::ImageRef;
use crate::model::statement::Statement;
use crate::plan::coverage::{judge, Facts, StatementCheck};
use crate::report::progress::Progress;
use crate::report::{
    text, CheckImage, CheckReport, CheckSummary, PlatformReport, Problem, SCHEMA_VERSION,
};
use crate::store::Store;
use crate::transport::MAX_STATEMENT_BYTES;
use futures_util::future::join_all;
use std::collections::BTreeMap;
use std::io::Write;

/// Runs `check` over `refs`.
pub async fn run(ctx: &Context, refs: Vec<(String, ImageRef)>, out: &mut dyn Write) -> Exit {
    let g = &ctx.global;
    let progress = Progress::new(
        refs.len(),
        !g.quiet && g.format == crate::report::Format::Text,
        "checking",
    );
    let mut images = Vec::new();
    for (text, r) in &refs {
        progress.start(text);
        let img = match ctx.open(r) {
            Ok(store) => check_image(&store, text).await,
            Err(e) => failed(text, e.to_string()),
        };
        if let Some(e) = &img.error {
            tracing::error!("{}: {}", text, e);
        }
        images.push(img);
        progress.finish_one();
    }
    progress.done();
    let mut summary = CheckSummary {
        images: images.len(),
        ..Default::default()
    };
    for i in &images {
        summary.failed_images += usize::from(i.error.is_some());
        for p in &i.platforms {
            summary.platforms += 1;
            if p.covered {
                summary.covered += 1;
            } else {
                summary.uncovered += 1;
            }
        }
    }
    let report = CheckReport {
        schema_version: SCHEMA_VERSION,
        command: "check",
        images,
        summary,
    };
    emit(out, g, &report, || text::check(&report));
    if report.summary.failed_images > 0 || report.images.iter().any(|i| !i.problems.is_empty()) {
        Exit::Failure
    } else if report.summary.uncovered > 0 {
        Exit::Uncovered
    } else {
        Exit::Ok
    }
}

fn failed(text: &str, error: String) -> CheckImage {
    CheckImage {
        reference: text.to_string(),
        digest: None,
        tags: Vec::new(),
        error: Some(error),
        platforms: Vec::new(),
        problems: Vec::new(),
    }
}

/// One platform manifest to check, with the attestation manifests its index names.
struct Target {
    platform: String,
    /// Whether the manifest sits in an index under `platform`.
    in_an_index: bool,
    digest: Digest,
    in_index: Attestations,
}

async fn check_image(store: &Store, text: &str) -> CheckImage {
    let loaded = match input::load(store).await {
        Ok(l) => l,
        Err(e) => return failed(text, e.to_string()),
    };
    let (digest, targets, problems) = match loaded {
        Loaded::Manifest(raw, _) => (
            raw.digest.clone(),
            vec![Target {
                platform: "(single manifest)".into(),
                in_an_index: false,
                digest: raw.digest,
                in_index: Vec::new(),
            }],
            Vec::new(),
        ),
        Loaded::Index(img) => {
            let problems: Vec<Problem> = img
                .problems()
                .into_iter()
                .map(|p| Problem {
                    digest: p.digest,
                    message: p.message,
                })
                .collect();
            let targets = img
                .entries
                .platforms
                .iter()
                .map(|p| Target {
                    platform: p.platform(),
                    in_an_index: true,
                    digest: p.descriptor.digest.clone(),
                    in_index: img
                        .entries
                        .attestations
                        .iter()
                        .filter(|a| a.subject_position == p.position)
                        .filter_map(|a| {
                            img.manifests
                                .get(&a.descriptor.digest)
                                .map(|m| (a.descriptor.digest.clone(), m.view.clone()))
                        })
                        .collect(),
                })
                .collect();
            (img.index.digest, targets, problems)
        }
    };
    let platforms = check_platforms(store, &targets).await;
    CheckImage {
        reference: text.to_string(),
        digest: Some(digest),
        tags: Vec::new(),
        error: None,
        platforms,
        problems,
    }
}

/// Attestation manifests by digest.
type Attestations = Vec<(Digest, ManifestView)>;

/// What listing one platform's referrers found.
struct Listed {
    via: Option<crate::plan::image::Via>,
    digests: Vec<Digest>,
    error: Option<String>,
}

/// Gathers the facts for every platform in three concurrent rounds (referrers listings, referrer
/// manifests, statement blobs, each fetched once), then judges each platform.
async fn check_platforms(store: &Store, targets: &[Target]) -> Vec<PlatformReport> {
    let subjects: Vec<Digest> = targets.iter().map(|t| t.digest.clone()).collect();
    let listings: Vec<Listed> = targets
        .iter()
        .zip(store.referrers_many(&subjects).await)
        .map(|(t, r)| match r {
            Ok(l) => Listed {
                via: Some(l.listing.via()),
                // Attestation referrers; tag indexes written by some tools omit artifactType, so
                // an untyped entry counts when the index names it as this platform's attestation.
                digests: l
                    .descriptors
                    .iter()
                    .filter(|d| {
                        d.artifact_type.as_deref() == Some(media::ATTESTATION_ARTIFACT_TYPE)
                            || (d.artifact_type.is_none()
                                && t.in_index.iter().any(|(x, _)| x == &d.digest))
                    })
                    .map(|d| d.digest.clone())
                    .collect(),
                error: None,
            },
            Err(e) => Listed {
                via: None,
                digests: Vec::new(),
                error: Some(e.to_string()),
            },
        })
        .collect();

    // Round 2: referrer manifests the index does not hold.
    let mut wanted: Vec<Digest> = Vec::new();
    for (t, l) in targets.iter().zip(&listings) {
        for d in &l.digests {
            if !t.in_index.iter().any(|(x, _)| x == d) && !wanted.contains(d) {
                wanted.push(d.clone());
            }
        }
    }
    let fetched = join_all(wanted.iter().map(|d| async move {
        store
            .manifest(d)
            .await
            .map_err(|e| e.to_string())
            .and_then(|b| Document::parse_manifest(&b, None).map_err(|e| e.to_string()))
    }))
    .await;
    let referrer_manifests: BTreeMap<Digest, Result<ManifestView, String>> =
        wanted.into_iter().zip(fetched).collect();

    // Per platform: the manifests whose statements are checked — the discoverable ones, else the index's.
    let mut checked: Vec<(Attestations, Vec<String>)> = Vec::new();
    for (t, l) in targets.iter().zip(&listings) {
        let mut manifests = Vec::new();
        let mut errors = Vec::new();
        for d in &l.digests {
            if let Some((_, v)) = t.in_index.iter().find(|(x, _)| x == d) {
                manifests.push((d.clone(), v.clone()));
            } else {
                match &referrer_manifests[d] {
                    Ok(v) => manifests.push((d.clone(), v.clone())),
                    Err(e) => errors.push(format!("referrer {}: {e}", d.short())),
                }
            }
        }
        if manifests.is_empty() {
            manifests = t.in_index.clone();
        }
        checked.push((manifests, errors));
    }

    // Round 3: every in-toto layer once.
    let mut layers: Vec<Digest> = Vec::new();
    for (manifests, _) in &checked {
        for (_, m) in manifests {
            for l in m.layers.iter().filter(|l| l.media_type == media::IN_TOTO) {
                if !layers.contains(&l.digest) {
                    layers.push(l.digest.clone());
                }
            }
        }
    }
    let blobs = join_all(layers.iter().map(|d| async move {
        match store.blob(d, MAX_STATEMENT_BYTES).await {
            Ok(b) => Statement::parse(&b).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }))
    .await;
    let statements: BTreeMap<Digest, Result<Statement, String>> =
        layers.into_iter().zip(blobs).collect();

    targets
        .iter()
        .zip(listings)
        .zip(checked)
        .map(|((t, l), (manifests, errors))| {
            judge_platform(store, t, l, &manifests, errors, &statements)
        })
        .collect()
}

fn judge_platform(
    store: &Store,
    t: &Target,
    listed: Listed,
    manifests: &[(Digest, ManifestView)],
    errors: Vec<String>,
    statements: &BTreeMap<Digest, Result<Statement, String>>,
) -> PlatformReport {
    let hex = t.digest.encoded().to_string();
    let mut checks = Vec::new();
    let mut types = Vec::new();
    for (md, m) in manifests {
        let annotated = attestation::annotated_predicate_types(m);
        for (i, layer) in m.layers.iter().enumerate() {
            if layer.media_type != media::IN_TOTO {
                continue;
            }
            let (pt, ok, error) = match &statements[&layer.digest] {
                Ok(s) => (
                    Some(s.predicate_type.clone()),
                    s.all_subjects_are(&hex),
                    None,
                ),
                Err(e) => (annotated.get(i).cloned().flatten(), false, Some(e.clone())),
            };
            if let Some(p) = &pt {
                if !types.contains(p) {
                    types.push(p.clone());
                }
            }
            checks.push(StatementCheck {
                manifest: md.clone(),
                layer: layer.digest.clone(),
                predicate_type: pt,
                subject_matches: ok,
                error,
            });
        }
    }
    let facts = Facts {
        in_index: t
            .in_index
            .iter()
            .map(|(d, v)| (d.clone(), attestation::is_artifact(v)))
            .collect(),
        via: listed.via,
        listed: listed.digests.clone(),
        listing_error: listed
            .error
            .or_else(|| (!errors.is_empty()).then(|| errors.join("; "))),
        statements: checks.clone(),
        statements_read: true,
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
        fix: None,
        confirm: store.confirm_command(&t.digest, t.in_an_index.then_some(t.platform.as_str())),
    }
}
