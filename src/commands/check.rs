//! `referrify check`: coverage per platform manifest of the images named, or of a whole
//! registry (`check HOST[:PORT]`, one engine batch per repository of the registry walk).

use super::{emit, usage, Context, Lines};
use crate::cli::CheckArgs;
use crate::engine::check::{self as checking, Asked, Tagged};
use crate::exit::Exit;
use crate::model::digest::Digest;
use crate::model::reference::{parse_registry, ImageRef};
use crate::plan::scope::Selection;
use crate::report::commands::fix;
use crate::report::progress::{Progress, WalkProgress};
use crate::report::{
    gap_platforms_shown, text, CheckImage, CheckImageLine, CheckReport, CheckSummary,
    CoverageSummary, Format, RegistryCheckReport, RegistrySummaryLine, RepositoryCoverage,
    RepositoryLine, SCHEMA_VERSION, STREAM_SCHEMA_VERSION,
};
use crate::store::Catalog;
use crate::walk::{self, Batch, Walked};
use futures_util::StreamExt as _;
use std::cell::Cell;
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
        let mut whole = RegistryCheckReport::of(names.join(" "), true, repos, 0, 0);
        whole.walked = false;
        if let Err(e) = write_html(path, &whole, &names) {
            eprintln!("referrify: {e}");
            return Exit::Failure;
        }
        super::notice::wrote(g, "the HTML page", path);
    }
    if report.summary.failed_images > 0 || report.images.iter().any(|i| !i.problems.is_empty()) {
        Exit::Failure
    } else if gaps(args, report.summary.uncovered, report.summary.supply.unmet) {
        Exit::Uncovered
    } else {
        Exit::Ok
    }
}

/// Whether the check found what exits 3: with `--require`, a platform with a requirement
/// unmet (`unmet`: how many); without, an uncovered platform (today's rule).
fn gaps(args: &CheckArgs, uncovered: usize, unmet: usize) -> bool {
    if args.require.is_empty() {
        uncovered > 0
    } else {
        unmet > 0
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
    RepositoryCoverage::of_images(repository, vec![image])
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

/// `check REGISTRY`: every image of every repository taken, in bounded batches per repository.
/// JSON streams a line per image and per repository; text and HTML keep every repository's
/// counts and the images with gaps up to a cap.
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
    let lines = Lines::new(out, g.format);
    let keep = g.format == Format::Text || args.html.is_some();
    let walk = Walk {
        ctx,
        registry: &registry,
        selection: &selection,
        statements: args.statements,
        required: &args.require,
        progress: &progress,
        lines: &lines,
        shown: Cell::new(if keep { gap_platforms_shown() } else { 0 }),
        not_shown: Cell::new(0),
    };
    let (repos, mut totals, catalog_error) = walk.all(catalog.clone(), keep).await;
    progress.done();
    totals.requests = catalog.requests() - before;
    lines.json(&RegistrySummaryLine {
        kind: "summary",
        schema_version: STREAM_SCHEMA_VERSION,
        command: "check",
        registry: &registry,
        statements_checked: args.statements,
        summary: &totals,
        catalog_error: catalog_error.as_deref(),
    });
    let report = RegistryCheckReport::of(
        registry.clone(),
        args.statements,
        repos,
        totals.requests,
        walk.not_shown.get(),
    );
    lines.text(|| text::check_registry(&report, g.verbose > 0));
    if let Some(path) = &args.html {
        if let Err(e) = write_html(path, &report, &[]) {
            eprintln!("referrify: {e}");
            return Exit::Failure;
        }
        super::notice::wrote(g, "the HTML page", path);
    }
    let s = &totals;
    if catalog_error.is_some() || s.failed_repositories > 0 || s.failed_images > 0 {
        Exit::Failure
    } else if gaps(args, s.uncovered, s.supply.unmet) {
        Exit::Uncovered
    } else {
        Exit::Ok
    }
}

/// What every repository of a registry check shares.
struct Walk<'a> {
    ctx: &'a Context,
    registry: &'a str,
    selection: &'a Arc<Selection>,
    statements: bool,
    /// `--require`.
    required: &'a [crate::plan::supply::Requirement],
    progress: &'a WalkProgress,
    lines: &'a Lines<'a>,
    /// Platform manifests with a gap that may still be kept for text and HTML.
    shown: Cell<usize>,
    /// Those counted but not kept.
    not_shown: Cell<usize>,
}

impl Walk<'_> {
    /// Walks every repository the selection takes, printing each as it finishes; returns the
    /// repositories kept for text and HTML (`keep`), the totals and why the catalog stopped.
    async fn all(
        &self,
        catalog: Catalog,
        keep: bool,
    ) -> (Vec<RepositoryCoverage>, CoverageSummary, Option<String>) {
        let jobs = self.ctx.global.jobs;
        let steps =
            walk::each_repository(catalog, self.selection.clone(), jobs, |name| async move {
                self.progress.found_repositories(1);
                let r = self.repository(name).await;
                self.progress.repository_done(&r.repository);
                r
            });
        let mut steps = std::pin::pin!(steps);
        let mut repos = Vec::new();
        let mut catalog_error = None;
        let mut totals = CoverageSummary::default();
        while let Some(step) = steps.next().await {
            match step {
                Walked::Repository(r) => {
                    self.lines.json(&RepositoryLine::of(&r));
                    totals.add(&r);
                    if keep {
                        repos.push(r);
                    }
                }
                Walked::CatalogFailed(e) => {
                    // The text report has no line for it: always on stderr.
                    tracing::error!("{e}");
                    catalog_error = Some(e);
                }
            }
        }
        (repos, totals, catalog_error)
    }

    /// Checks every image of one repository, a batch at a time.
    async fn repository(&self, name: String) -> RepositoryCoverage {
        let mut rep = RepositoryCoverage::of_images(name.clone(), Vec::new());
        let (store, batches) = match self
            .ctx
            .repository(self.registry, &name, self.selection)
            .await
        {
            Ok(x) => x,
            Err(e) => {
                rep.error = Some(e);
                return rep;
            }
        };
        let plain = self.ctx.global.plain_http;
        let base = store.name();
        let mut tag_problems = 0usize;
        let mut first_problem = None;
        let work = |batch: Batch| {
            let (store, base) = (&store, &base);
            async move {
                let tagged = batch
                    .images
                    .into_iter()
                    .map(|t| Tagged {
                        raw: t.raw,
                        tags: t.tags,
                    })
                    .collect();
                let fix = |d: &Digest| fix(plain, &format!("{base}@{d}"));
                let asked = Asked {
                    required: self.required,
                    cosign_tags: Some(&batch.cosign_tags),
                };
                let images =
                    checking::check_images(store, tagged, fix, self.statements, &asked).await;
                (batch.problems, batch.listing_error, images)
            }
        };
        let complete = walk::each_batch(
            &store,
            batches,
            work,
            |(problems, listing_error, images)| {
                tag_problems += problems.len();
                if let Some(t) = problems.first() {
                    first_problem.get_or_insert(format!("{}: {}", t.tag, t.message));
                }
                if let Some(e) = listing_error {
                    rep.error.get_or_insert(e);
                }
                self.batch_done(&mut rep, images);
            },
        )
        .await;
        if !complete {
            rep.error
                .get_or_insert_with(|| "stopped before every tag was checked".into());
        }
        if let Some(first) = first_problem {
            rep.error.get_or_insert(format!(
                "{tag_problems} tag(s) could not be read; first: {first}"
            ));
        }
        rep
    }

    /// Prints a batch's images (JSON), counts them, and keeps those with a gap while the cap
    /// allows.
    fn batch_done(&self, rep: &mut RepositoryCoverage, images: Vec<CheckImage>) {
        let platforms: usize = images.iter().map(|i| i.platforms.len()).sum();
        self.progress.found_images(images.len() as u64);
        self.progress.images_done(images.len() as u64);
        self.progress.items(platforms as u64, platforms as u64);
        for i in images {
            self.lines.json(&CheckImageLine {
                kind: "image",
                repository: &rep.repository,
                image: &i,
            });
            rep.totals.add_image(&i);
            let gaps = i
                .platforms
                .iter()
                .filter(|p| !p.covered || !p.supply.unmet.is_empty())
                .count();
            if gaps == 0 && i.error.is_none() && i.problems.is_empty() {
                continue;
            }
            // An image that failed as a whole has no platform rows but still takes a line.
            let cost = gaps.max(1);
            let left = self.shown.get();
            if cost <= left {
                self.shown.set(left - cost);
                rep.images.push(i);
            } else {
                self.shown.set(0);
                self.not_shown.set(self.not_shown.get() + gaps);
            }
        }
    }
}
