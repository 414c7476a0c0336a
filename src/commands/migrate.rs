//! `referrify migrate`: every image of a registry, converted like `convert` converts one.
//!
//! The catalog is read page by page while repositories are worked on, a bounded number at a
//! time; each repository is one batch (its tags read once, one Referrers API probe, one `{}`
//! blob check, one referrers-tag write per subject), and finished work is appended to the state
//! file so a rerun skips it.

use super::convert::{self, convert_images, Input, Options};
use super::Context;
use crate::cli::MigrateArgs;
use crate::exit::Exit;
use crate::input::{self, Loaded};
use crate::model::reference::parse_registry;
use crate::plan::scope::Selection;
use crate::report::progress::WalkProgress;
use crate::report::{
    text, Format, ImageReport, MigrateRepository, MigrateRow, MigrateSummary, TagProblem,
    SCHEMA_VERSION,
};
use crate::state::{Record, State};
use crate::store::Store;
use crate::walk::{self, Found};
use futures_util::StreamExt as _;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

/// What one unit of the walk produced.
enum Step {
    Repository(MigrateRepository),
    CatalogFailed(String),
}

/// Runs `migrate`.
pub async fn run(ctx: &Context, args: &MigrateArgs, out: &mut dyn Write) -> Exit {
    let g = &ctx.global;
    let usage = |m: String| {
        eprintln!("referrify: {}", crate::report::sanitize::sanitize(&m));
        Exit::Usage
    };
    let Some(registry) = parse_registry(&args.registry) else {
        return usage(format!(
            "{:?} is not a registry: write HOST[:PORT] (e.g. 127.0.0.1:5000 or ghcr.io); select repositories with --repo",
            args.registry
        ));
    };
    let selection = match args.scope.selection(args.shard) {
        Ok(s) => Arc::new(s),
        Err(e) => return usage(e),
    };
    let state = match &args.state {
        Some(p) => match State::open(p, &registry, args.dry_run) {
            Ok(s) => s,
            Err(e) => return usage(e.to_string()),
        },
        None => State::none(),
    };
    if state.skipped_lines > 0 {
        tracing::warn!(
            "state file: {} unreadable line(s) skipped (a run killed while writing)",
            state.skipped_lines
        );
    }
    let client = match ctx.registry_client(&registry) {
        Ok(c) => c,
        Err(e) => return usage(e.to_string()),
    };
    let opts = Options {
        dry_run: args.dry_run,
        verify: !args.no_verify,
        rewrite: false,
    };
    let started = Instant::now();
    let before = client.request_count();
    let progress = WalkProgress::new(
        !g.quiet && g.format == Format::Text,
        if args.dry_run {
            "planning"
        } else {
            "migrating"
        },
        "attestations",
    );
    let found = walk::repositories(client.clone(), selection.clone());
    // Enough repositories in flight to keep every request slot busy while each waits on its
    // own round trips; few enough that memory stays flat.
    let in_flight = (g.jobs.max(1) * 4).max(8);
    let (state, progress, selection, registry_ref) = (&state, &progress, &selection, &registry);
    let steps = found
        .map(|f| async move {
            match f {
                Found::Repository(name) => {
                    progress.found_repositories(1);
                    let r = migrate_repository(
                        ctx,
                        registry_ref,
                        name,
                        selection,
                        state,
                        opts,
                        progress,
                    )
                    .await;
                    progress.repository_done(&r.repository);
                    Step::Repository(r)
                }
                Found::Failed(e) => Step::CatalogFailed(e),
            }
        })
        .buffer_unordered(in_flight);
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
    let mut rows: Vec<MigrateRow> = Vec::new();
    while let Some(step) = steps.next().await {
        match step {
            Step::Repository(r) => {
                summary.add(&r);
                if r.status == "failed" {
                    let row = MigrateRow::of(&r);
                    tracing::error!(
                        "{}: {}",
                        r.repository,
                        row.error.as_deref().unwrap_or("failed")
                    );
                }
                match g.format {
                    Format::Json => {
                        let mut line = serde_json::to_string(&r).unwrap_or_default();
                        line.push('\n');
                        let _ = out.write_all(line.as_bytes());
                        let _ = out.flush();
                    }
                    Format::Text => rows.push(MigrateRow::of(&r)),
                }
            }
            Step::CatalogFailed(e) => {
                tracing::error!("{e}");
                summary.catalog_error = Some(e);
            }
        }
    }
    progress.done();
    if let Err(e) = state.finish() {
        tracing::error!("{e}");
    }
    summary.requests = client.request_count() - before;
    summary.seconds = started.elapsed().as_secs_f64();
    match g.format {
        Format::Json => {
            let mut line = serde_json::to_string(&summary).unwrap_or_default();
            line.push('\n');
            let _ = out.write_all(line.as_bytes());
        }
        Format::Text => {
            rows.sort_by(|a, b| a.repository.cmp(&b.repository));
            let _ = out.write_all(text::migrate(&rows, &summary, g.verbose > 0).as_bytes());
        }
    }
    let _ = out.flush();
    if summary.failed_repositories > 0 || summary.catalog_error.is_some() {
        Exit::Failure
    } else {
        Exit::Ok
    }
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
        status: "unchanged",
        error: None,
        images: Vec::new(),
        resumed_images: 0,
        tag_problems: Vec::new(),
    };
    if state.repository_done(&name) {
        rep.status = "resumed";
        return rep;
    }
    let store = match ctx.repository(registry, &name) {
        Ok(s) => s,
        Err(e) => {
            rep.status = "failed";
            rep.error = Some(e.to_string());
            return rep;
        }
    };
    let (images, tag_problems) = match walk::images(&store, selection).await {
        Ok(Some(x)) => x,
        Ok(None) => {
            rep.status = "failed";
            rep.error = Some(format!("repository {name} not found"));
            return rep;
        }
        Err(e) => {
            rep.status = "failed";
            rep.error = Some(format!("listing tags: {e}"));
            return rep;
        }
    };
    rep.tag_problems = tag_problems
        .into_iter()
        .map(|t| TagProblem {
            tag: t.tag,
            message: t.message,
        })
        .collect();
    let todo: Vec<walk::TaggedImage> = images
        .into_iter()
        .filter(|i| {
            let done = state.image_done(&name, &i.raw.digest);
            rep.resumed_images += usize::from(done);
            !done
        })
        .collect();
    progress.found_images(todo.len() as u64);
    let base = store.reference.to_string();
    let store = Store::Registry(store);
    // Read every image (their attestation manifests concurrently), then convert them together.
    let loaded = futures_util::future::join_all(todo.into_iter().map(|t| {
        let (store, base) = (&store, &base);
        async move {
            let text = format!("{base}:{}", t.tags.join(","));
            let digest = t.raw.digest.clone();
            (text, digest, t.tags, input::load_raw(store, t.raw).await)
        }
    }))
    .await;
    let mut inputs = Vec::new();
    let mut other: Vec<ImageReport> = Vec::new();
    for (text, digest, tags, l) in loaded {
        match l {
            Ok(Loaded::Index(image)) => inputs.push(Input { text, image, tags }),
            Ok(Loaded::Manifest(..)) => other.push(convert::not_an_index(&text, digest)),
            Err(e) => {
                let mut f = convert::failed(&text, e.to_string());
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
        convert_images(&store, &inputs, opts, &crate::execute::Silent).await
    };
    progress.items(found, found);
    progress.images_done((reports.len() + other.len()) as u64);
    rep.images = reports.into_iter().chain(other).collect();
    for i in &mut rep.images {
        // Requests are counted per run: repositories share the connection pool and run at once.
        i.requests = None;
    }
    let ok =
        |i: &ImageReport| matches!(i.status, "done" | "unchanged" | "not-an-index" | "planned");
    if !opts.dry_run {
        for i in rep.images.iter().filter(|i| ok(i)) {
            if let Some(d) = &i.digest {
                let r = state.record(&Record::Image {
                    repository: name.clone(),
                    image: d.clone(),
                    attestations: i.attestations.len(),
                });
                if let Err(e) = r {
                    rep.error.get_or_insert(e.to_string());
                }
            }
        }
    }
    let all_ok = rep.images.iter().all(ok) && rep.tag_problems.is_empty() && rep.error.is_none();
    rep.status = if !all_ok {
        "failed"
    } else if rep
        .images
        .iter()
        .all(|i| i.status != "done" && i.status != "planned")
    {
        if rep.resumed_images > 0 && rep.images.is_empty() {
            "resumed"
        } else {
            "unchanged"
        }
    } else if opts.dry_run {
        "planned"
    } else {
        "done"
    };
    if all_ok && !opts.dry_run {
        if let Err(e) = state.record(&Record::Repository {
            repository: name,
            complete: true,
        }) {
            rep.error = Some(e.to_string());
            rep.status = "failed";
        }
    }
    rep
}
