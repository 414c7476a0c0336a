//! `referrify check`: per platform manifest, is there an attestation, is it discoverable as a
//! referrer, and do its in-toto statements name that manifest?

use super::{emit, Context};
use crate::cli::CheckArgs;
use crate::exit::Exit;
use crate::input::{self, Loaded};
use crate::model::attestation;
use crate::model::digest::Digest;
use crate::model::document::{Document, ManifestView};
use crate::model::media;
use crate::model::reference::parse_registry;
use crate::model::reference::ImageRef;
use crate::model::statement::Statement;
use crate::plan::coverage::{judge, Facts, PlatformState, StatementCheck};
use crate::plan::scope::Selection;
use crate::report::progress::Progress;
use crate::report::{
    text, CheckImage, CheckReport, CheckSummary, CoverageSummary, Format, PlatformReport, Problem,
    RegistryCheckReport, RepositoryCoverage, SCHEMA_VERSION,
};
use crate::store::Store;
use crate::transport::MAX_STATEMENT_BYTES;
use crate::walk::{self, Found};
use futures_util::future::join_all;
use futures_util::StreamExt as _;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Runs `check` over `refs`.
pub async fn run(
    ctx: &Context,
    args: &CheckArgs,
    refs: Vec<(String, ImageRef)>,
    out: &mut dyn Write,
) -> Exit {
    if !args.scope.repos.is_empty() || args.scope.tags.is_some() {
        eprintln!("referrify: --repo and --tags select from a registry: name one registry (HOST[:PORT]) instead of images");
        return Exit::Usage;
    }
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
            Ok(store) => check_image(&store, text, fix_command(ctx, text)).await,
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
    if let Some(path) = &args.html {
        let mut repos: Vec<RepositoryCoverage> = Vec::new();
        for i in &report.images {
            repos.push(RepositoryCoverage {
                repository: i.reference.clone(),
                error: None,
                images: vec![i.clone()],
            });
        }
        let whole = registry_report("(images)".into(), false, repos, 0);
        if let Err(e) = write_html(path, &whole) {
            eprintln!("referrify: {e}");
            return Exit::Failure;
        }
    }
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
    /// The index's attestation entries for it, with their manifests where already read.
    in_index: Vec<(Digest, Option<ManifestView>)>,
    /// The command that converts the image, for gaps it can close.
    fix: Option<String>,
}

async fn check_image(store: &Store, text: &str, fix: String) -> CheckImage {
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
                fix: None,
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
                                .map(|m| (a.descriptor.digest.clone(), Some(m.view.clone())))
                        })
                        .collect(),
                    fix: Some(fix.clone()),
                })
                .collect();
            (img.index.digest, targets, problems)
        }
    };
    let platforms = check_platforms(store, targets, true).await;
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

/// Gathers the facts for every platform in up to three concurrent rounds (referrers listings,
/// manifests, statement blobs, each fetched once), then judges each platform. Without
/// `statements` (registry-wide checks) no statement is read, and a manifest is read only to tell
/// why a platform has no discoverable attestation.
async fn check_platforms(
    store: &Store,
    targets: Vec<Target>,
    statements: bool,
) -> Vec<PlatformReport> {
    // Each platform manifest is listed once, however many images share it.
    let mut subjects: Vec<Digest> = Vec::new();
    for t in &targets {
        if !subjects.contains(&t.digest) {
            subjects.push(t.digest.clone());
        }
    }
    let listed: BTreeMap<Digest, Result<crate::store::ReferrersListing, String>> = subjects
        .iter()
        .cloned()
        .zip(store.referrers_many(&subjects).await)
        .map(|(d, r)| (d, r.map_err(|e| e.to_string())))
        .collect();
    let listings: Vec<Listed> = targets
        .iter()
        .map(|t| (t, listed[&t.digest].clone()))
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
                error: Some(e),
            },
        })
        .collect();

    // Round 2: the manifests to look at, per platform: with statements, the discoverable ones
    // (else the index's); without, the index's, and only where nothing is discoverable.
    let chosen: Vec<Vec<Digest>> = targets
        .iter()
        .zip(&listings)
        .map(|(t, l)| {
            let index = || t.in_index.iter().map(|(d, _)| d.clone()).collect();
            match (statements, l.digests.is_empty()) {
                (true, false) => l.digests.clone(),
                (_, true) => index(),
                (false, false) => Vec::new(),
            }
        })
        .collect();
    let known = |d: &Digest| {
        targets
            .iter()
            .flat_map(|t| t.in_index.iter())
            .find(|(x, v)| x == d && v.is_some())
            .and_then(|(_, v)| v.clone())
    };
    let mut wanted: Vec<Digest> = Vec::new();
    for d in chosen.iter().flatten() {
        if known(d).is_none() && !wanted.contains(d) {
            wanted.push(d.clone());
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
    let read: BTreeMap<Digest, Result<ManifestView, String>> =
        wanted.into_iter().zip(fetched).collect();
    let mut checked: Vec<(Attestations, Vec<String>)> = Vec::new();
    for ds in &chosen {
        let mut manifests = Vec::new();
        let mut errors = Vec::new();
        for d in ds {
            match known(d).map(Ok).unwrap_or_else(|| read[d].clone()) {
                Ok(v) => manifests.push((d.clone(), v)),
                Err(e) => errors.push(format!("attestation {}: {e}", d.short())),
            }
        }
        checked.push((manifests, errors));
    }

    // Round 3: every in-toto layer once.
    let mut layers: Vec<Digest> = Vec::new();
    if statements {
        for (manifests, _) in &checked {
            for (_, m) in manifests {
                for l in m.layers.iter().filter(|l| l.media_type == media::IN_TOTO) {
                    if !layers.contains(&l.digest) {
                        layers.push(l.digest.clone());
                    }
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
    let read_statements: BTreeMap<Digest, Result<Statement, String>> =
        layers.into_iter().zip(blobs).collect();

    targets
        .iter()
        .zip(listings)
        .zip(checked)
        .map(|((t, l), (manifests, errors))| {
            let statements = statements.then_some(&read_statements);
            judge_platform(store, t, l, &manifests, errors, statements)
        })
        .collect()
}

fn judge_platform(
    store: &Store,
    t: &Target,
    listed: Listed,
    manifests: &[(Digest, ManifestView)],
    errors: Vec<String>,
    statements: Option<&BTreeMap<Digest, Result<Statement, String>>>,
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
            let found = statements.and_then(|s| s.get(&layer.digest));
            let (pt, ok, error) = match found {
                Some(Ok(s)) => (
                    Some(s.predicate_type.clone()),
                    s.all_subjects_are(&hex),
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
        confirm: store.confirm_command(&t.digest, t.in_an_index.then_some(t.platform.as_str())),
    }
}

/// The command that converts an image, printed for gaps `convert` closes.
fn fix_command(ctx: &Context, reference: &str) -> String {
    let plain = if ctx.global.plain_http {
        " --plain-http"
    } else {
        ""
    };
    format!("referrify{plain} convert {reference}")
}

fn registry_report(
    registry: String,
    statements: bool,
    mut repositories: Vec<RepositoryCoverage>,
    requests: u64,
) -> RegistryCheckReport {
    repositories.sort_by(|a, b| a.repository.cmp(&b.repository));
    let mut summary = CoverageSummary::default();
    for r in &repositories {
        summary.add(r);
    }
    summary.requests = requests;
    RegistryCheckReport {
        schema_version: SCHEMA_VERSION,
        command: "check",
        registry,
        statements_checked: statements,
        repositories,
        summary,
    }
}

fn write_html(path: &Path, report: &RegistryCheckReport) -> Result<(), String> {
    let page = crate::report::html::render(report);
    std::fs::write(path, page).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The registry a `check` names on its own (`check HOST[:PORT]`), if it does.
pub fn registry_target(a: &CheckArgs) -> Option<String> {
    match (
        a.targets.refs.as_slice(),
        a.targets.metadata_file.is_empty(),
    ) {
        ([one], true) => parse_registry(one),
        _ => None,
    }
}

/// `check REGISTRY`: every image of every repository taken, one batch per repository.
pub async fn run_registry(
    ctx: &Context,
    args: &CheckArgs,
    registry: String,
    out: &mut dyn Write,
) -> Exit {
    let g = &ctx.global;
    let selection = match args.scope.selection(None) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("referrify: {e}");
            return Exit::Usage;
        }
    };
    let client = match ctx.registry_client(&registry) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("referrify: {e}");
            return Exit::Usage;
        }
    };
    let before = client.request_count();
    let progress = crate::report::progress::WalkProgress::new(
        !g.quiet && g.format == Format::Text,
        "checking",
        "platforms",
    );
    let found = walk::repositories(client.clone(), selection.clone());
    let in_flight = (g.jobs.max(1) * 4).max(8);
    let (progress, selection, registry_ref) = (&progress, &selection, &registry);
    let steps = found
        .map(|f| async move {
            match f {
                Found::Repository(name) => {
                    progress.found_repositories(1);
                    let r =
                        check_repository(ctx, registry_ref, name, selection, args.statements).await;
                    progress.repository_done(&r.repository);
                    let platforms: usize = r.images.iter().map(|i| i.platforms.len()).sum();
                    progress.found_images(r.images.len() as u64);
                    progress.images_done(r.images.len() as u64);
                    progress.items(platforms as u64, platforms as u64);
                    Ok(r)
                }
                Found::Failed(e) => Err(e),
            }
        })
        .buffer_unordered(in_flight);
    let mut steps = std::pin::pin!(steps);
    let mut repos = Vec::new();
    let mut catalog_error = None;
    while let Some(step) = steps.next().await {
        match step {
            Ok(r) => repos.push(r),
            Err(e) => {
                tracing::error!("{e}");
                catalog_error = Some(e);
            }
        }
    }
    progress.done();
    let report = registry_report(
        registry.clone(),
        args.statements,
        repos,
        client.request_count() - before,
    );
    emit(out, g, &report, || {
        text::check_registry(&report, g.verbose > 0)
    });
    if let Some(path) = &args.html {
        if let Err(e) = write_html(path, &report) {
            eprintln!("referrify: {e}");
            return Exit::Failure;
        }
    }
    let s = &report.summary;
    if catalog_error.is_some() || s.failed_repositories > 0 || s.failed_images > 0 {
        Exit::Failure
    } else if s.uncovered > 0 {
        Exit::Uncovered
    } else {
        Exit::Ok
    }
}

/// Checks every image of one repository, with one listing per platform manifest.
async fn check_repository(
    ctx: &Context,
    registry: &str,
    name: String,
    selection: &Selection,
    statements: bool,
) -> RepositoryCoverage {
    let mut rep = RepositoryCoverage {
        repository: name.clone(),
        error: None,
        images: Vec::new(),
    };
    let store = match ctx.repository(registry, &name) {
        Ok(s) => s,
        Err(e) => {
            rep.error = Some(e.to_string());
            return rep;
        }
    };
    let (images, tag_problems) = match walk::images(&store, selection).await {
        Ok(Some(x)) => x,
        Ok(None) => {
            rep.error = Some(format!("repository {name} not found"));
            return rep;
        }
        Err(e) => {
            rep.error = Some(format!("listing tags: {e}"));
            return rep;
        }
    };
    if let Some(t) = tag_problems.first() {
        rep.error = Some(format!(
            "{} tag(s) could not be read; first: {}: {}",
            tag_problems.len(),
            t.tag,
            t.message
        ));
    }
    let mut targets: Vec<Target> = Vec::new();
    let mut owners: Vec<usize> = Vec::new();
    for (n, img) in images.iter().enumerate() {
        let reference = store.reference.with_digest(&img.raw.digest);
        let mut ci = CheckImage {
            reference: format!("{}:{}", store.reference, img.tags.join(",")),
            digest: Some(img.raw.digest.clone()),
            tags: img.tags.clone(),
            error: None,
            platforms: Vec::new(),
            problems: Vec::new(),
        };
        match Document::parse(&img.raw.bytes, Some(&img.raw.media_type)) {
            Err(e) => ci.error = Some(format!("{}: {e}", img.raw.digest)),
            Ok(Document::Manifest(_)) => {
                targets.push(Target {
                    platform: "(single manifest)".into(),
                    in_an_index: false,
                    digest: img.raw.digest.clone(),
                    in_index: Vec::new(),
                    fix: None,
                });
                owners.push(n);
            }
            Ok(Document::Index(view)) => {
                let entries = attestation::classify(&view);
                ci.problems = entries
                    .broken
                    .iter()
                    .map(|b| Problem {
                        digest: b.digest.clone(),
                        message: b.reason.clone(),
                    })
                    .collect();
                for p in &entries.platforms {
                    targets.push(Target {
                        platform: p.platform(),
                        in_an_index: true,
                        digest: p.descriptor.digest.clone(),
                        in_index: entries
                            .attestations
                            .iter()
                            .filter(|a| a.subject_position == p.position)
                            .map(|a| (a.descriptor.digest.clone(), None))
                            .collect(),
                        fix: Some(fix_command(ctx, &reference)),
                    });
                    owners.push(n);
                }
            }
        }
        rep.images.push(ci);
    }
    let store = Store::Registry(store);
    let reports = check_platforms(&store, targets, statements).await;
    for (n, p) in owners.into_iter().zip(reports) {
        rep.images[n].platforms.push(p);
    }
    rep
}
