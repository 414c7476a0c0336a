//! `referrify check`: coverage per platform manifest of the images named, or of a whole
//! registry (`check HOST[:PORT]`, one engine batch per repository of the registry walk).

use super::{emit, usage, Context};
use crate::cli::CheckArgs;
use crate::engine::check::{self as checking, Tagged};
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
        let img = match ctx.stores.open(r) {
            Ok(store) => checking::check_image(&store, text, fix(g.plain_http, text)).await,
            Err(e) => checking::failed(text, e.to_string()),
        };
        if let Some(e) = &img.error {
            super::notice::failed(g, text, e);
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
        let names: Vec<String> = refs.iter().map(|(t, _)| t.clone()).collect();
        let repos = report
            .images
            .iter()
            .zip(&refs)
            .map(|(i, (_, r))| image_row(i, r))
            .collect();
        // `check REF` always reads the in-toto statements.
        let whole = RegistryCheckReport::of(names.join(" "), true, repos, 0);
        if let Err(e) = write_html(path, &whole, &names) {
            eprintln!("referrify: {e}");
            return Exit::Failure;
        }
        super::notice::wrote(g, "the HTML page", path);
    }
    if report.summary.failed_images > 0 || report.images.iter().any(|i| !i.problems.is_empty()) {
        Exit::Failure
    } else if report.summary.uncovered > 0 {
        Exit::Uncovered
    } else {
        Exit::Ok
    }
}

/// Writes the page; `images`: the images named (`check REF...`), none for a registry.
fn write_html(path: &Path, report: &RegistryCheckReport, images: &[String]) -> Result<(), String> {
    let page = if images.is_empty() {
        crate::report::html::render(report)
    } else {
        crate::report::html::render_images(report, images)
    };
    std::fs::write(path, page).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// One image of `check REF` as the page's rows show it: the repository (a layout's directory)
/// in REPOSITORY and the tag in TAGS, as a registry-wide page shows them.
fn image_row(i: &crate::report::CheckImage, r: &ImageRef) -> RepositoryCoverage {
    let (repository, tag) = match r {
        ImageRef::Registry(rr) => (format!("{}/{}", rr.registry, rr.repository), rr.tag.clone()),
        ImageRef::Layout(l) => (format!("oci-layout://{}", l.dir.display()), l.tag.clone()),
    };
    let mut image = i.clone();
    if image.tags.is_empty() {
        image.tags.extend(tag);
    }
    RepositoryCoverage {
        repository,
        error: None,
        images: vec![image],
    }
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
            let r = check_repository(ctx, registry_ref, name, sel, args.statements).await;
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
                // The text report has no line for it: always on stderr.
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
        if let Err(e) = write_html(path, &report, &[]) {
            eprintln!("referrify: {e}");
            return Exit::Failure;
        }
        super::notice::wrote(g, "the HTML page", path);
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

/// Checks every image of one repository.
async fn check_repository(
    ctx: &Context,
    registry: &str,
    name: String,
    selection: &crate::plan::scope::Selection,
    statements: bool,
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
    rep.images = checking::check_images(
        &store,
        tagged,
        |d| fix(plain, &format!("{base}@{d}")),
        statements,
    )
    .await;
    rep
}
