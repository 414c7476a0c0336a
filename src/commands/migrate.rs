//! `referrify migrate`: every image of a registry, converted like `convert` converts one.
//!
//! The catalog is read page by page while repositories are worked on, a bounded number at a
//! time; each repository is worked on in bounded batches of its tags (one Referrers API probe and
//! one `{}` blob check per repository, one referrers-tag write per subject per batch), and each
//! finished batch is printed and appended to the state file so a rerun skips it.

use super::{usage, Context, Lines};
use crate::cli::MigrateArgs;
use crate::engine::load::{load_raw, Depth, Loaded};
use crate::engine::{self, Input, Options};
use crate::exit::Exit;
use crate::model::reference::parse_registry;
use crate::plan::scope::Selection;
use crate::report::progress::{Silent, WalkProgress};
use crate::report::{
    text, Format, ImageReport, MigrateImage, MigrateRepository, MigrateRow, MigrateSummary,
    RepositoryStatus, TagProblem, STREAM_SCHEMA_VERSION,
};
use crate::state::{Record, State};
use crate::store::{Catalog, Store};
use crate::walk::{self, Batch, TaggedImage, Walked};
use futures_util::StreamExt as _;
use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

/// What a migration runs over, from its arguments.
struct Run {
    registry: String,
    selection: Arc<Selection>,
    state: State,
    catalog: Catalog,
}

fn prepare(ctx: &Context, args: &MigrateArgs) -> Result<Run, String> {
    let registry = parse_registry(&args.registry).ok_or_else(|| format!(
        "{:?} is not a registry: write HOST[:PORT] (e.g. 127.0.0.1:5000 or ghcr.io); select repositories with --repo",
        args.registry
    ))?;
    let selection = Arc::new(args.scope.selection(args.shard)?);
    let state = match &args.state {
        Some(p) => State::open(p, &registry, args.dry_run).map_err(|e| e.to_string())?,
        None => State::none(),
    };
    if state.skipped_lines > 0 {
        tracing::warn!(
            "state file: {} unreadable line(s) skipped (a run killed while writing)",
            state.skipped_lines
        );
    }
    let catalog = ctx.stores.registry(&registry).map_err(|e| e.to_string())?;
    Ok(Run {
        registry,
        selection,
        state,
        catalog,
    })
}

/// Runs `migrate`.
pub async fn run(ctx: &Context, args: &MigrateArgs, out: &mut dyn Write) -> Exit {
    let g = &ctx.global;
    let Run {
        registry,
        selection,
        state,
        catalog,
    } = match prepare(ctx, args) {
        Ok(r) => r,
        Err(e) => return usage(&e),
    };
    let opts = Options {
        dry_run: args.dry_run,
        verify: !args.no_verify,
        rewrite: false,
    };
    let started = Instant::now();
    let before = catalog.requests();
    let verb = if args.dry_run {
        "planning"
    } else {
        "migrating"
    };
    let progress = WalkProgress::new(ctx.progress(), verb, "attestations");
    let lines = Lines::new(out, g.format);
    let walk = Walk {
        ctx,
        registry: &registry,
        selection: &selection,
        state: &state,
        opts,
        progress: &progress,
        lines: &lines,
    };
    let mut summary = MigrateSummary {
        kind: "summary",
        schema_version: STREAM_SCHEMA_VERSION,
        command: "migrate",
        registry: registry.clone(),
        dry_run: args.dry_run,
        shard: args.shard.map(|s| format!("{}/{}", s.index, s.count)),
        ..Default::default()
    };
    let mut rows = walk.all(catalog.clone(), &mut summary).await;
    progress.done();
    if let Err(e) = state.finish() {
        tracing::error!("{e}");
    }
    summary.requests = catalog.requests() - before;
    summary.seconds = started.elapsed().as_secs_f64();
    lines.json(&summary);
    rows.sort_by(|a, b| a.repository.cmp(&b.repository));
    lines.text(|| text::migrate(&rows, &summary, g.verbose > 0));
    if summary.failed_repositories > 0 || summary.catalog_error.is_some() {
        Exit::Failure
    } else {
        Exit::Ok
    }
}

/// What every repository of a migration shares.
struct Walk<'a> {
    ctx: &'a Context,
    registry: &'a str,
    selection: &'a Arc<Selection>,
    state: &'a State,
    opts: Options,
    progress: &'a WalkProgress,
    lines: &'a Lines<'a>,
}

impl Walk<'_> {
    /// Walks every repository the selection takes, printing each as it finishes; returns the
    /// text table's rows (none for JSON).
    async fn all(&self, catalog: Catalog, summary: &mut MigrateSummary) -> Vec<MigrateRow> {
        let g = &self.ctx.global;
        let steps =
            walk::each_repository(catalog, self.selection.clone(), g.jobs, |name| async move {
                self.progress.found_repositories(1);
                let r = self.repository(name).await;
                self.progress.repository_done(&r.repository);
                r
            });
        let mut steps = std::pin::pin!(steps);
        let mut rows = Vec::new();
        while let Some(step) = steps.next().await {
            match step {
                Walked::Repository(r) => {
                    summary.add(&r);
                    let row = MigrateRow::of(&r);
                    if r.status == RepositoryStatus::Failed {
                        let e = row.error.as_deref().unwrap_or("failed");
                        super::notice::failed(g, &r.repository, e);
                    }
                    self.lines.json(&r);
                    if g.format == Format::Text {
                        rows.push(row);
                    }
                }
                Walked::CatalogFailed(e) => {
                    super::notice::failed(g, "", &e);
                    summary.catalog_error = Some(e);
                }
            }
        }
        rows
    }

    /// Converts every image of one repository, a batch at a time; each batch's images are
    /// printed and recorded in the state file as soon as it is written.
    async fn repository(&self, name: String) -> MigrateRepository {
        let mut rep = MigrateRepository::new(name.clone());
        if self.state.repository_done(&name) {
            rep.status = RepositoryStatus::Resumed;
            return rep;
        }
        let (store, batches) = match self
            .ctx
            .repository(self.registry, &name, self.selection)
            .await
        {
            Ok(x) => x,
            Err(e) => {
                rep.status = RepositoryStatus::Failed;
                rep.error = Some(e);
                return rep;
            }
        };
        let mut written: HashSet<u128> = HashSet::new();
        let mut settled = true;
        let complete = walk::each_batch(
            &store,
            batches,
            |batch| self.batch(&store, &name, batch),
            |(batch, images, resumed)| {
                settled &= images.iter().all(|i| i.status.is_settled());
                self.batch_done(&mut rep, &mut written, batch, &images, resumed);
            },
        )
        .await;
        let all_ok = settled && rep.tag_problems_total == 0 && rep.error.is_none();
        rep.status = status(&rep, all_ok, self.opts.dry_run);
        if all_ok && complete && !self.opts.dry_run {
            if let Err(e) = self.state.record(&Record::Repository {
                repository: name,
                complete: true,
            }) {
                rep.error = Some(e.to_string());
                rep.status = RepositoryStatus::Failed;
            }
        }
        rep
    }

    /// A finished batch: its images printed (JSON), recorded in the state file and counted.
    /// `written`: the referrers tags earlier batches of the repository wrote.
    fn batch_done(
        &self,
        rep: &mut MigrateRepository,
        written: &mut HashSet<u128>,
        batch: Batch,
        images: &[ImageReport],
        resumed: usize,
    ) {
        for t in batch.problems {
            rep.tag_problem(TagProblem {
                tag: t.tag,
                message: t.message,
            });
        }
        if let Some(e) = batch.listing_error {
            rep.error.get_or_insert(e);
        }
        rep.counts.resumed_images += resumed;
        for i in images {
            self.lines.json(&MigrateImage {
                kind: "image",
                repository: &rep.repository,
                image: i,
            });
            for t in &i.writes.referrers_tags {
                if !written.insert(crate::model::digest::key(&t.tag)) {
                    rep.counts.tags_rewritten_across_batches += 1;
                }
            }
        }
        if !self.opts.dry_run {
            let name = rep.repository.clone();
            record_images(self.state, &name, images, rep);
        }
        rep.add_images(images);
    }

    /// One batch: the images the state file does not record as done, converted as one engine
    /// batch.
    async fn batch(
        &self,
        store: &Store,
        name: &str,
        mut batch: Batch,
    ) -> (Batch, Vec<ImageReport>, usize) {
        let mut resumed = 0;
        let todo: Vec<TaggedImage> = std::mem::take(&mut batch.images)
            .into_iter()
            .filter(|i| {
                let done = self.state.image_done(name, &i.raw.digest);
                resumed += usize::from(done);
                !done
            })
            .collect();
        self.progress.found_images(todo.len() as u64);
        let images = convert_batch(store, todo, self.opts, self.progress).await;
        (batch, images, resumed)
    }
}

/// A worked-on repository's status (`all_ok`: every image settled, every tag read).
fn status(rep: &MigrateRepository, all_ok: bool, dry_run: bool) -> RepositoryStatus {
    let c = &rep.counts;
    let work = c.manifests > 0 || c.tags_created > 0 || c.tags_updated > 0;
    if !all_ok {
        RepositoryStatus::Failed
    } else if c.converted == 0 && c.failed == 0 && !work {
        if c.resumed_images > 0 && c.images == 0 {
            RepositoryStatus::Resumed
        } else {
            RepositoryStatus::Unchanged
        }
    } else if dry_run {
        RepositoryStatus::Planned
    } else {
        RepositoryStatus::Done
    }
}

/// Reads every image of a batch (their attestation manifests concurrently), then converts them
/// as one engine batch. Requests are counted per run, not per image: repositories share the
/// connection pool and run at once.
async fn convert_batch(
    store: &Store,
    todo: Vec<TaggedImage>,
    opts: Options,
    progress: &WalkProgress,
) -> Vec<ImageReport> {
    let base = store.name();
    let loaded = futures_util::future::join_all(todo.into_iter().map(|t| {
        let base = &base;
        async move {
            let text = format!("{base}:{}", t.tags.join(","));
            let digest = t.raw.digest.clone();
            (
                text,
                digest,
                t.tags,
                load_raw(store, t.raw, Depth::Attestations).await,
            )
        }
    }))
    .await;
    let mut inputs = Vec::new();
    let mut other: Vec<ImageReport> = Vec::new();
    for (text, digest, tags, l) in loaded {
        match l {
            Ok(Loaded::Index(image)) => inputs.push(Input { text, image, tags }),
            Ok(Loaded::Manifest(..)) => other.push(engine::not_an_index(&text, digest)),
            Err(e) => {
                let mut f = engine::failed(&text, e.to_string());
                f.digest = Some(digest);
                other.push(f);
            }
        }
    }
    let found: u64 = inputs
        .iter()
        .map(|i| i.image.entries.attestations.len() as u64)
        .sum();
    let reports = if inputs.is_empty() {
        Vec::new()
    } else {
        engine::convert(store, &inputs, opts, &Silent).await
    };
    progress.items(found, found);
    progress.images_done((reports.len() + other.len()) as u64);
    let mut images: Vec<ImageReport> = reports.into_iter().chain(other).collect();
    for i in &mut images {
        i.requests = None;
    }
    images
}

/// Records the images that need no further run in the state file.
fn record_images(
    state: &State,
    repository: &str,
    images: &[ImageReport],
    rep: &mut MigrateRepository,
) {
    for i in images.iter().filter(|i| i.status.is_settled()) {
        if let Some(d) = &i.digest {
            let r = state.record(&Record::Image {
                repository: repository.to_string(),
                image: d.clone(),
                attestations: i.attestations.len(),
            });
            if let Err(e) = r {
                rep.error.get_or_insert(e.to_string());
            }
        }
    }
}
