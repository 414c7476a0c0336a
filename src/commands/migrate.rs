//! `referrify migrate`: every image of a registry, converted like `convert` converts one.
//!
//! The catalog is read page by page while repositories are worked on, a bounded number at a
//! time; each repository is one batch (its tags read once, one Referrers API probe, one `{}`
//! blob check, one referrers-tag write per subject), and finished work is appended to the state
//! file so a rerun skips it.

use super::{usage, Context};
use crate::cli::{Global, MigrateArgs};
use crate::engine::load::{load_raw, Depth, Loaded};
use crate::engine::{self, Input, Options};
use crate::exit::Exit;
use crate::model::reference::parse_registry;
use crate::plan::scope::Selection;
use crate::report::progress::{Silent, WalkProgress};
use crate::report::{
    text, Format, ImageReport, MigrateRepository, MigrateRow, MigrateSummary, RepositoryStatus,
    TagProblem, SCHEMA_VERSION,
};
use crate::state::{Record, State};
use crate::store::{Catalog, Store};
use crate::walk::{self, TaggedImage, Walked};
use futures_util::StreamExt as _;
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
    let (state, progress, sel, registry_ref) = (&state, &progress, &selection, &registry);
    let steps = walk::each_repository(
        catalog.clone(),
        selection.clone(),
        g.jobs,
        |name| async move {
            progress.found_repositories(1);
            let r = migrate_repository(ctx, registry_ref, name, sel, state, opts, progress).await;
            progress.repository_done(&r.repository);
            r
        },
    );
    let mut steps = std::pin::pin!(steps);
    let mut summary = MigrateSummary {
        kind: "summary",
        schema_version: SCHEMA_VERSION,
        command: "migrate",
        registry: registry.clone(),
        dry_run: args.dry_run,
        shard: args.shard.map(|s| format!("{}/{}", s.index, s.count)),
        ..Default::default()
    };
    let mut printer = Printer {
        global: g.clone(),
        format: g.format,
        verbose: g.verbose > 0,
        rows: Vec::new(),
    };
    while let Some(step) = steps.next().await {
        match step {
            Walked::Repository(r) => {
                summary.add(&r);
                printer.repository(out, &r);
            }
            Walked::CatalogFailed(e) => {
                super::notice::failed(g, "", &e);
                summary.catalog_error = Some(e);
            }
        }
    }
    progress.done();
    if let Err(e) = state.finish() {
        tracing::error!("{e}");
    }
    summary.requests = catalog.requests() - before;
    summary.seconds = started.elapsed().as_secs_f64();
    printer.finish(out, &summary);
    if summary.failed_repositories > 0 || summary.catalog_error.is_some() {
        Exit::Failure
    } else {
        Exit::Ok
    }
}

/// Prints a migration as it goes: a JSON line per repository as it finishes, or a text table
/// of every repository, sorted, at the end.
struct Printer {
    global: Global,
    format: Format,
    verbose: bool,
    rows: Vec<MigrateRow>,
}

impl Printer {
    fn repository(&mut self, out: &mut dyn Write, r: &MigrateRepository) {
        let row = MigrateRow::of(r);
        if r.status == RepositoryStatus::Failed {
            let e = row.error.as_deref().unwrap_or("failed");
            super::notice::failed(&self.global, &r.repository, e);
        }
        match self.format {
            Format::Json => json_line(out, r),
            Format::Text => self.rows.push(row),
        }
    }

    fn finish(mut self, out: &mut dyn Write, summary: &MigrateSummary) {
        match self.format {
            Format::Json => json_line(out, summary),
            Format::Text => {
                self.rows.sort_by(|a, b| a.repository.cmp(&b.repository));
                let text = text::migrate(&self.rows, summary, self.verbose);
                let _ = out.write_all(text.as_bytes());
            }
        }
        let _ = out.flush();
    }
}

/// Writes one JSON line.
fn json_line<T: serde::Serialize>(out: &mut dyn Write, value: &T) {
    let mut line = serde_json::to_string(value).unwrap_or_default();
    line.push('\n');
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
}

/// Converts every image of one repository as one batch.
async fn migrate_repository(
    ctx: &Context,
    registry: &str,
    name: String,
    selection: &Selection,
    state: &State,
    opts: Options,
    progress: &WalkProgress,
) -> MigrateRepository {
    let mut rep = MigrateRepository {
        kind: "repository",
        repository: name.clone(),
        status: RepositoryStatus::Unchanged,
        error: None,
        images: Vec::new(),
        resumed_images: 0,
        tag_problems: Vec::new(),
    };
    if state.repository_done(&name) {
        rep.status = RepositoryStatus::Resumed;
        return rep;
    }
    let (store, found) = match walk::repository(&ctx.stores, registry, &name, selection).await {
        Ok(x) => x,
        Err(e) => {
            rep.status = RepositoryStatus::Failed;
            rep.error = Some(e);
            return rep;
        }
    };
    rep.tag_problems = found
        .problems
        .into_iter()
        .map(|t| TagProblem {
            tag: t.tag,
            message: t.message,
        })
        .collect();
    let todo: Vec<TaggedImage> = found
        .images
        .into_iter()
        .filter(|i| {
            let done = state.image_done(&name, &i.raw.digest);
            rep.resumed_images += usize::from(done);
            !done
        })
        .collect();
    progress.found_images(todo.len() as u64);
    rep.images = convert_repository(&store, todo, opts, progress).await;
    if !opts.dry_run {
        record_images(state, &name, &mut rep);
    }
    let all_ok = rep.images.iter().all(|i| i.status.is_settled())
        && rep.tag_problems.is_empty()
        && rep.error.is_none();
    rep.status = if !all_ok {
        RepositoryStatus::Failed
    } else if !rep.images.iter().any(|i| i.status.did_work()) {
        if rep.resumed_images > 0 && rep.images.is_empty() {
            RepositoryStatus::Resumed
        } else {
            RepositoryStatus::Unchanged
        }
    } else if opts.dry_run {
        RepositoryStatus::Planned
    } else {
        RepositoryStatus::Done
    };
    if all_ok && !opts.dry_run {
        if let Err(e) = state.record(&Record::Repository {
            repository: name,
            complete: true,
        }) {
            rep.error = Some(e.to_string());
            rep.status = RepositoryStatus::Failed;
        }
    }
    rep
}

/// Reads every image (their attestation manifests concurrently), then converts them as one
/// engine batch. Requests are counted per run, not per image: repositories share the
/// connection pool and run at once.
async fn convert_repository(
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
fn record_images(state: &State, repository: &str, rep: &mut MigrateRepository) {
    for i in rep.images.iter().filter(|i| i.status.is_settled()) {
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
