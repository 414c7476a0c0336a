//! `referrify convert`: each image named is one batch of the engine.

use super::{emit, Context};
use crate::cli::{ConvertArgs, IndexMode};
use crate::engine::load::{load, Loaded};
use crate::engine::{self, Input, Options};
use crate::exit::Exit;
use crate::model::reference::ImageRef;
use crate::report::progress::Progress;
use crate::report::{
    text, ConvertReport, ConvertSummary, ImageReport, ImageStatus, SCHEMA_VERSION,
};
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
        let report = one(ctx, opts, text, r, &progress, args.repair_tag_entries).await;
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

/// The subjects whose referrers tags `--repair-tag-entries` looks at: the index (cosign and
/// GitHub sign and attest it) and every platform manifest.
fn repair_subjects(image: &crate::model::image::LoadedImage) -> Vec<crate::model::digest::Digest> {
    std::iter::once(image.index.digest.clone())
        .chain(
            image
                .entries
                .platforms
                .iter()
                .map(|p| p.descriptor.digest.clone()),
        )
        .collect()
}

/// `--repair-tag-entries`: fills in the entries, each reported; a tag that could not be
/// repaired fails the image.
async fn repair_tag_entries(
    store: &crate::store::Store,
    subjects: &[crate::model::digest::Digest],
    dry_run: bool,
    report: &mut ImageReport,
) {
    use crate::engine::repair::{self, Direction};
    for t in repair::tags(store, subjects, Direction::Repair, dry_run).await {
        if let Some(e) = t.error {
            report.status = ImageStatus::Failed;
            report.error.get_or_insert(e);
            continue;
        }
        report
            .repaired_entries
            .extend(t.entries.into_iter().map(|e| crate::report::RepairedEntry {
                tag: t.tag.clone(),
                digest: e.digest,
                artifact_type: e.artifact_type,
                annotations: e.annotations,
            }));
    }
    if !report.repaired_entries.is_empty() && report.status == ImageStatus::Unchanged {
        report.status = if dry_run {
            ImageStatus::Planned
        } else {
            ImageStatus::Done
        };
    }
}

/// Converts one image: opens its store, reads it, runs the engine on it alone.
async fn one(
    ctx: &Context,
    opts: Options,
    text: &str,
    r: &ImageRef,
    progress: &Progress,
    repair_tags: bool,
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
            let subjects = repair_subjects(&image);
            let input = Input {
                text: text.to_string(),
                image,
                tags,
            };
            let mut report = engine::convert(&store, std::slice::from_ref(&input), opts, progress)
                .await
                .pop()
                .unwrap_or_else(|| engine::failed(text, "internal: no report".into()));
            if repair_tags {
                repair_tag_entries(&store, &subjects, opts.dry_run, &mut report).await;
            }
            report
        }
        Ok(Loaded::Manifest(raw, _)) => engine::not_an_index(text, raw.digest),
        Err(e) => engine::failed(text, e.to_string()),
    };
    report.requests = Some(store.requests() - before);
    report
}
