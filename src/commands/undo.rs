//! `referrify undo`: takes back referrify's writes for the images named, or for every image of a
//! registry (one engine batch per repository of the registry walk).

use super::{emit, usage, Context};
use crate::cli::UndoArgs;
use crate::engine::undo::{self as undoing, failed};
use crate::exit::Exit;
use crate::model::digest::Digest;
use crate::model::reference::{parse_registry, ImageRef};
use crate::report::{UndoImage, UndoReport, UndoSummary, SCHEMA_VERSION};
use crate::walk::{self, Walked};
use futures_util::StreamExt as _;
use std::io::Write;
use std::sync::Arc;

/// Runs `undo` over images or a whole registry.
pub async fn run(ctx: &Context, args: &UndoArgs, out: &mut dyn Write) -> Exit {
    let registry = match args.refs.as_slice() {
        [one] => parse_registry(one),
        _ => None,
    };
    let images = match (registry, &args.restore_index) {
        (Some(registry), _) => undo_registry(ctx, args, &registry).await,
        (None, Some(d)) => restore(ctx, args, d).await,
        (None, None) => undo_images(ctx, args).await,
    };
    let mut images = match images {
        Ok(i) => i,
        Err(e) => return usage(&e),
    };
    images.sort_by(|a, b| a.reference.cmp(&b.reference));
    for i in &images {
        if let Some(e) = &i.error {
            super::notice::failed(&ctx.global, &i.reference, e);
        }
    }
    let report = UndoReport {
        schema_version: SCHEMA_VERSION,
        command: "undo",
        dry_run: args.dry_run,
        summary: UndoSummary::of(&images),
        images,
    };
    emit(out, &ctx.global, &report, || {
        crate::report::text::undo(&report)
    });
    if report.summary.failed_images > 0 {
        Exit::Failure
    } else {
        Exit::Ok
    }
}

/// Every image of every repository the walk takes.
async fn undo_registry(
    ctx: &Context,
    args: &UndoArgs,
    registry: &str,
) -> Result<Vec<UndoImage>, String> {
    let selection = Arc::new(args.scope.selection(None)?);
    let catalog = ctx.stores.registry(registry).map_err(|e| e.to_string())?;
    let sel = &selection;
    let steps = walk::each_repository(
        catalog,
        selection.clone(),
        ctx.global.jobs,
        |name| async move {
            match ctx.repository(registry, &name, sel).await {
                Ok((store, batches)) => {
                    let base = store.name();
                    let mut out = Vec::new();
                    let work = |batch: walk::Batch| {
                        let (store, base, name) = (&store, &base, &name);
                        async move {
                            let raws = batch
                                .images
                                .into_iter()
                                .map(|t| (format!("{base}:{}", t.tags.join(",")), Some(t.raw)))
                                .collect();
                            let mut done = undoing::undo(store, raws, args.dry_run).await;
                            if let Some(e) = batch.listing_error {
                                done.push(failed(name, e));
                            }
                            done
                        }
                    };
                    walk::each_batch(&store, batches, work, |mut done| out.append(&mut done)).await;
                    out
                }
                Err(e) => vec![failed(&name, e)],
            }
        },
    );
    let mut steps = std::pin::pin!(steps);
    let mut images = Vec::new();
    while let Some(step) = steps.next().await {
        match step {
            Walked::Repository(mut r) => images.append(&mut r),
            Walked::CatalogFailed(e) => images.push(failed("(catalog)", e)),
        }
    }
    Ok(images)
}

/// `--restore-index DIGEST` for one image named by its tag.
async fn restore(ctx: &Context, args: &UndoArgs, digest: &str) -> Result<Vec<UndoImage>, String> {
    let [one] = args.refs.as_slice() else {
        return Err("--restore-index takes exactly one REF:TAG".into());
    };
    let old = Digest::parse(digest).map_err(|e| format!("--restore-index: {e}"))?;
    let r = match ImageRef::parse(one).map_err(|e| e.to_string())? {
        ImageRef::Registry(r) if r.tag.is_some() && r.digest.is_none() => r,
        _ => {
            return Err(
                "--restore-index needs one registry image named by its tag (HOST/REPO:TAG)".into(),
            )
        }
    };
    let tag = r.tag.clone().unwrap_or_default();
    Ok(match ctx.stores.open(&ImageRef::Registry(r)) {
        Ok(store) => undoing::restore_index(&store, one, &tag, &old, args.dry_run).await,
        Err(e) => vec![failed(one, e.to_string())],
    })
}

/// Each image named, alone.
async fn undo_images(ctx: &Context, args: &UndoArgs) -> Result<Vec<UndoImage>, String> {
    if args.refs.is_empty() {
        return Err("name images (HOST/REPO:TAG) or one registry (HOST[:PORT])".into());
    }
    let mut images = Vec::new();
    for text in &args.refs {
        let r = ImageRef::parse(text).map_err(|e| e.to_string())?;
        if let ImageRef::Layout(_) = r {
            images.push(failed(text, "undo works on registries; an OCI layout keeps referrify's writes in index.json, where they can be removed by hand".into()));
            continue;
        }
        match ctx.stores.open(&r) {
            Ok(store) => {
                images.extend(undoing::undo(&store, vec![(text.clone(), None)], args.dry_run).await)
            }
            Err(e) => images.push(failed(text, e.to_string())),
        }
    }
    Ok(images)
}
