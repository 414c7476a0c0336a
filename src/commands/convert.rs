//! `referrify convert`: each image named is one batch of the engine.

use super::{emit, Context};
use crate::cli::{ConvertArgs, IndexMode};
use crate::engine::load::{load, Loaded};
use crate::engine::{self, Input, Options};
use crate::exit::Exit;
use crate::model::reference::ImageRef;
use crate::report::progress::Progress;
use crate::report::{text, ConvertReport, ConvertSummary, ImageReport, SCHEMA_VERSION};
use std::io::Write;

/// Runs `convert` over `refs`.
pub async fn run(
    ctx: &Context,
    args: &ConvertArgs,
    refs: Vec<(String, ImageRef)>,
    out: &mut dyn Write,
) -> Exit {
    let g = &ctx.global;
    let verb = if args.dry_run {
        "planning"
    } else {
        "converting"
    };
    let progress = Progress::new(refs.len(), ctx.progress(), verb);
    let opts = Options {
        dry_run: args.dry_run,
        verify: !args.no_verify,
        rewrite: args.index == IndexMode::Rewrite,
    };
    let mut images = Vec::new();
    for (text, r) in &refs {
        if crate::stop::requested() {
            break;
        }
        progress.start(text);
        let report = one(ctx, opts, text, r, &progress).await;
        if let Some(e) = &report.error {
            super::notice::failed(g, text, e);
        }
        images.push(report);
        progress.finish_one();
    }
    progress.done();
    let report = ConvertReport {
        schema_version: SCHEMA_VERSION,
        command: "convert",
        dry_run: args.dry_run,
        index_mode: match args.index {
            IndexMode::Keep => "keep",
            IndexMode::Rewrite => "rewrite",
        },
        summary: ConvertSummary::of(&images),
        images,
    };
    emit(out, g, &report, || text::convert(&report, g.verbose > 0));
    if report.summary.failed_images > 0 {
        Exit::Failure
    } else {
        Exit::Ok
    }
}

/// Converts one image: opens its store, reads it, runs the engine on it alone.
async fn one(
    ctx: &Context,
    opts: Options,
    text: &str,
    r: &ImageRef,
    progress: &Progress,
) -> ImageReport {
    let store = match ctx.stores.open(r) {
        Ok(s) => s,
        Err(e) => return engine::failed(text, e.to_string()),
    };
    let before = store.requests();
    let mut report = match load(&store).await {
        Ok(Loaded::Index(image)) => {
            let tags = match r {
                ImageRef::Registry(rr) => rr.tag.iter().cloned().collect(),
                ImageRef::Layout(_) => Vec::new(),
            };
            let input = Input {
                text: text.to_string(),
                image,
                tags,
            };
            engine::convert(&store, std::slice::from_ref(&input), opts, progress)
                .await
                .pop()
                .unwrap_or_else(|| engine::failed(text, "internal: no report".into()))
        }
        Ok(Loaded::Manifest(raw, _)) => engine::not_an_index(text, raw.digest),
        Err(e) => engine::failed(text, e.to_string()),
    };
    report.requests = Some(store.requests() - before);
    report
}
