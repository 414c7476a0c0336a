//! `referrify check`: coverage per platform manifest of the images named, or of a whole
//! registry (`check HOST[:PORT]`, one engine batch per repository of the registry walk).

use super::{emit, usage, Context};
use crate::cli::CheckArgs;
use crate::engine::check::{self as checking, Asked, Tagged};
use crate::exit::Exit;
use crate::model::reference::{parse_registry, ImageRef};
use crate::report::commands::fix;
use crate::report::progress::{Progress, WalkProgress};
use crate::report::{
    text, CheckReport, CheckSummary, RegistryCheckReport, RepositoryCoverage, SCHEMA_VERSION,
};
use crate::walk::{self, Walked};
use futures_util::StreamExt as _;
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
        return usage("--repo and --tags select from a registry: name one registry (HOST[:PORT]) instead of images");
    }
    let g = &ctx.global;
    let progress = Progress::new(refs.len(), ctx.progress(), "checking");
    let mut images = Vec::new();
    for (text, r) in &refs {
        if crate::stop::requested() {
            break;
        }
        progress.start(text);
        let asked = Asked {
            required: &args.require,
            cosign_tags: None,
        };
        let img = match ctx.stores.open(r) {
            Ok(store) => checking::check_image(&store, text, fix(g.plain_http, text), &asked).await,
            Err(e) => checking::failed(text, e.to_string()),
        };
        if let Some(e) = &img.error {
            tracing::error!("{}: {}", text, e);
        }
        images.push(img);
        progress.finish_one();
    }
    progress.done();
    let report = CheckReport {
        schema_version: SCHEMA_VERSION,
        command: "check",
        summary: CheckSummary::of(&images),
        images,
    };
    emit(out, g, &report, || text::check(&report));
    if let Some(path) = &args.html {
        let repos = report
            .images
            .iter()
            .map(|i| RepositoryCoverage {
                repository: i.reference.clone(),
                error: None,
                images: vec![i.clone()],
            })
            .collect();
        let whole = RegistryCheckReport::of("(images)".into(), false, repos, 0);
        if let Err(e) = write_html(path, &whole) {
            eprintln!("referrify: {e}");
            return Exit::Failure;
        }
    }
    if report.summary.failed_images > 0 || report.images.iter().any(|i| !i.problems.is_empty()) {
        Exit::Failure
    } else if gaps(args, report.summary.uncovered, &report.images) {
        Exit::Uncovered
    } else {
        Exit::Ok
    }
}

/// Whether the check found what exits 3: with `--require`, a requirement unmet on some
/// platform; without, an uncovered platform (today's rule).
fn gaps(args: &CheckArgs, uncovered: usize, images: &[crate::report::CheckImage]) -> bool {
    if args.require.is_empty() {
        return uncovered > 0;
    }
    images
        .iter()
        .flat_map(|i| &i.platforms)
        .any(|p| !p.supply.unmet.is_empty())
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
        Err(e) => return usage(&e),
    };
    let catalog = match ctx.stores.registry(&registry) {
        Ok(c) => c,
        Err(e) => return usage(&e.to_string()),
    };
    let before = catalog.requests();
    let progress = WalkProgress::new(ctx.progress(), "checking", "platforms");
    let (progress, sel, registry_ref) = (&progress, &selection, &registry);
    let steps = walk::each_repository(
        catalog.clone(),
        selection.clone(),
        g.jobs,
        |name| async move {
            progress.found_repositories(1);
            let r = check_repository(ctx, registry_ref, name, sel, args).await;
            progress.repository_done(&r.repository);
            let platforms: usize = r.images.iter().map(|i| i.platforms.len()).sum();
            progress.found_images(r.images.len() as u64);
            progress.images_done(r.images.len() as u64);
            progress.items(platforms as u64, platforms as u64);
            r
        },
    );
    let mut steps = std::pin::pin!(steps);
    let mut repos = Vec::new();
    let mut catalog_error = None;
    while let Some(step) = steps.next().await {
        match step {
            Walked::Repository(r) => repos.push(r),
            Walked::CatalogFailed(e) => {
                tracing::error!("{e}");
                catalog_error = Some(e);
            }
        }
    }
    progress.done();
    let requests = catalog.requests() - before;
    let report = RegistryCheckReport::of(registry.clone(), args.statements, repos, requests);
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
    let images: Vec<_> = report
        .repositories
        .iter()
        .flat_map(|r| r.images.iter().cloned())
        .collect();
    if catalog_error.is_some() || s.failed_repositories > 0 || s.failed_images > 0 {
        Exit::Failure
    } else if gaps(args, s.uncovered, &images) {
        Exit::Uncovered
    } else {
        Exit::Ok
    }
}

/// Checks every image of one repository.
async fn check_repository(
    ctx: &Context,
    registry: &str,
    name: String,
    selection: &crate::plan::scope::Selection,
    args: &CheckArgs,
) -> RepositoryCoverage {
    let mut rep = RepositoryCoverage {
        repository: name.clone(),
        error: None,
        images: Vec::new(),
    };
    let (store, images) = match walk::repository(&ctx.stores, registry, &name, selection).await {
        Ok(x) => x,
        Err(e) => {
            rep.error = Some(e);
            return rep;
        }
    };
    if let Some(t) = images.problems.first() {
        rep.error = Some(format!(
            "{} tag(s) could not be read; first: {}: {}",
            images.problems.len(),
            t.tag,
            t.message
        ));
    }
    let plain = ctx.global.plain_http;
    let base = store.name();
    let tagged = images
        .images
        .into_iter()
        .map(|t| Tagged {
            raw: t.raw,
            tags: t.tags,
        })
        .collect();
    let cosign = crate::model::supply::cosign_tags(&images.listed);
    let asked = Asked {
        required: &args.require,
        cosign_tags: Some(&cosign),
    };
    rep.images = checking::check_images(
        &store,
        tagged,
        |d| fix(plain, &format!("{base}@{d}")),
        args.statements,
        &asked,
    )
    .await;
    rep
}
