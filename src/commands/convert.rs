//! `referrify convert`: read → plan → write → verify → report, one image at a time.

use super::{emit, Context};
use crate::cli::{ConvertArgs, IndexMode};
use crate::execute::{self, Verification};
use crate::exit::Exit;
use crate::input::{self, Loaded};
use crate::model::reference::ImageRef;
use crate::plan::image::{self as planning, Conversion, ItemPlan, Via};
use crate::plan::referrers::fallback_tag;
use crate::report::progress::Progress;
use crate::report::{
    text, AttestationReport, ConvertReport, ConvertSummary, ImageReport, IndexRewrite, Problem,
    TagWrite, Writes, SCHEMA_VERSION,
};
use crate::store::Store;
use std::io::Write;

/// How many times verification lists referrers before calling an artifact missing.
const VERIFY_ATTEMPTS: u32 = 4;

/// Runs `convert` over `refs`.
pub async fn run(
    ctx: &Context,
    args: &ConvertArgs,
    refs: Vec<(String, ImageRef)>,
    out: &mut dyn Write,
) -> Exit {
    let g = &ctx.global;
    let progress = Progress::new(
        refs.len(),
        !g.quiet && g.format == crate::report::Format::Text,
        if args.dry_run {
            "planning"
        } else {
            "converting"
        },
    );
    let mut images = Vec::new();
    for (text, r) in &refs {
        progress.start(text);
        let report = one(ctx, args, text, r, &progress).await;
        if let Some(e) = &report.error {
            tracing::error!("{}: {}", text, e);
        }
        images.push(report);
        progress.finish_one();
    }
    progress.done();
    let mut summary = ConvertSummary {
        images: images.len(),
        ..Default::default()
    };
    for i in &images {
        summary.failed_images += usize::from(i.status == "failed");
        for a in &i.attestations {
            summary.attestations += 1;
            match a.state {
                "done" | "planned" => summary.converted += 1,
                "already-done" => summary.already_done += 1,
                _ => summary.failed += 1,
            }
        }
    }
    let report = ConvertReport {
        schema_version: SCHEMA_VERSION,
        command: "convert",
        dry_run: args.dry_run,
        index_mode: match args.index {
            IndexMode::Keep => "keep",
            IndexMode::Rewrite => "rewrite",
        },
        images,
        summary,
    };
    emit(out, g, &report, || text::convert(&report, g.verbose > 0));
    if report.summary.failed_images > 0 {
        Exit::Failure
    } else {
        Exit::Ok
    }
}

fn failed(text: &str, error: String) -> ImageReport {
    ImageReport {
        reference: text.to_string(),
        digest: None,
        status: "failed",
        error: Some(error),
        attestations: Vec::new(),
        skipped: Vec::new(),
        problems: Vec::new(),
        index_rewrite: None,
        writes: Writes::default(),
        requests: 0,
    }
}

fn requests(store: &Store) -> u64 {
    match store {
        Store::Registry(r) => r.client.request_count(),
        Store::Layout(_) => 0,
    }
}

async fn one(
    ctx: &Context,
    args: &ConvertArgs,
    text: &str,
    r: &ImageRef,
    progress: &Progress,
) -> ImageReport {
    let store = match ctx.open(r) {
        Ok(s) => s,
        Err(e) => return failed(text, e.to_string()),
    };
    let before = requests(&store);
    let mut report = convert_image(&store, args, text, r, progress).await;
    report.requests = requests(&store) - before;
    report
}

async fn convert_image(
    store: &Store,
    args: &ConvertArgs,
    text: &str,
    r: &ImageRef,
    progress: &Progress,
) -> ImageReport {
    let img = match input::load(store).await {
        Ok(Loaded::Index(img)) => img,
        Ok(Loaded::Manifest(raw, _)) => {
            let mut rep = failed(text, String::new());
            rep.error = None;
            rep.digest = Some(raw.digest);
            rep.status = "not-an-index";
            return rep;
        }
        Err(e) => return failed(text, e.to_string()),
    };
    let mut rep = failed(text, String::new());
    rep.error = None;
    rep.digest = Some(img.index.digest.clone());
    rep.skipped = img
        .entries
        .skipped
        .iter()
        .map(|s| Problem {
            digest: s.digest.clone(),
            message: s.reason.clone(),
        })
        .collect();
    let (convs, mut problems) = planning::conversions(&img);
    let (observed, obs_problems) = match input::observe(store, &convs).await {
        Ok(x) => x,
        Err(e) => {
            rep.error = Some(format!("reading the target state: {e}"));
            return rep;
        }
    };
    problems.extend(obs_problems);
    rep.problems = problems
        .iter()
        .map(|p| Problem {
            digest: p.digest.clone(),
            message: p.message.clone(),
        })
        .collect();
    let plan = match planning::plan(&img, &convs, &observed, args.index == IndexMode::Rewrite) {
        Ok(p) => p,
        Err(e) => {
            rep.error = Some(e.to_string());
            return rep;
        }
    };
    let tags: Vec<String> = match r {
        ImageRef::Registry(rr) => rr.tag.iter().cloned().collect(),
        ImageRef::Layout(_) => Vec::new(),
    };
    let (outcome, exec_error, verifications) = if args.dry_run {
        (planned_writes(&plan), None, None)
    } else {
        let (outcome, err) = execute::run(store, &plan, &tags, progress).await;
        let verifications = if err.is_none() && !args.no_verify {
            // Items that were listed before the run were just read fresh; verify what changed.
            let changed = |it: &ItemPlan| it.blocked.is_none() && !it.is_already_done();
            let live: Vec<Conversion> = convs
                .iter()
                .zip(&plan.items)
                .filter(|(_, it)| changed(it))
                .map(|(c, _)| c.clone())
                .collect();
            let v = execute::verify(store, &live, VERIFY_ATTEMPTS).await;
            let mut it = v.into_iter();
            Some(
                plan.items
                    .iter()
                    .map(|item| if changed(item) { it.next() } else { None })
                    .collect::<Vec<_>>(),
            )
        } else {
            None
        };
        (outcome, err.map(|e| e.to_string()), verifications)
    };
    rep.writes = Writes {
        blobs: outcome.blobs_pushed,
        manifests: outcome.manifests_pushed,
        referrers_tags: outcome
            .tags_written
            .iter()
            .map(|(t, c)| TagWrite {
                tag: t.clone(),
                created: *c,
            })
            .collect(),
        layout_index_entries: outcome.layout_entries_added,
    };
    for (i, (c, item)) in convs.iter().zip(&plan.items).enumerate() {
        let v = verifications.as_ref().and_then(|vs| vs[i].clone());
        rep.attestations.push(attestation_report(
            store,
            c,
            item,
            v,
            args.dry_run,
            exec_error.as_deref(),
        ));
    }
    if let Some((old, new)) = &plan.rewrite {
        rep.index_rewrite = Some(IndexRewrite {
            old: old.clone(),
            new: new.clone(),
            tags_moved: if args.dry_run {
                tags.clone()
            } else {
                outcome.tags_moved.clone()
            },
        });
    }
    rep.error = exec_error;
    let any_bad = rep.error.is_some()
        || !rep.problems.is_empty()
        || rep
            .attestations
            .iter()
            .any(|a| matches!(a.state, "blocked" | "failed"));
    rep.status = if any_bad {
        "failed"
    } else if plan.is_noop() {
        "unchanged"
    } else if args.dry_run {
        "planned"
    } else {
        "done"
    };
    rep
}

fn planned_writes(plan: &planning::ImagePlan) -> execute::Outcome {
    let mut o = execute::Outcome::default();
    for a in &plan.actions {
        match a {
            planning::Action::PutBlob { .. } => o.blobs_pushed += 1,
            planning::Action::PutManifest { .. } => o.manifests_pushed += 1,
            planning::Action::PutReferrersTag {
                tag, creates_tag, ..
            } => o.tags_written.push((tag.clone(), *creates_tag)),
            planning::Action::AddToLayoutIndex { descriptors } => {
                o.layout_entries_added += descriptors.len()
            }
            planning::Action::PutIndex { digest, .. } => o.index_pushed = Some(digest.clone()),
        }
    }
    o
}

fn attestation_report(
    store: &Store,
    c: &Conversion,
    item: &ItemPlan,
    v: Option<Verification>,
    dry_run: bool,
    exec_error: Option<&str>,
) -> AttestationReport {
    let (state, reason) = if let Some(b) = &item.blocked {
        ("blocked", Some(b.clone()))
    } else if item.is_already_done() {
        ("already-done", None)
    } else if dry_run {
        ("planned", None)
    } else if let Some(e) = exec_error {
        ("failed", Some(e.to_string()))
    } else {
        match &v {
            Some(v) if !v.found => (
                "failed",
                Some(match &v.error {
                    Some(e) => format!("verification failed: {e}"),
                    None => format!("not listed as a referrer after {} attempts", v.attempts),
                }),
            ),
            _ => ("done", None),
        }
    };
    AttestationReport {
        platform: c.platform.clone(),
        subject: c.subject.digest.clone(),
        source: c.source.clone(),
        artifact: c.artifact.digest.clone(),
        artifact_size: c.artifact.bytes.len(),
        created: c.created,
        predicate_types: c.predicate_types.clone(),
        state,
        via: if item.blocked.is_some() {
            Via::None
        } else {
            item.via
        },
        pushed: item.push_artifact,
        referrers_tag: (item.via == Via::Tag).then(|| fallback_tag(&c.subject.digest)),
        verified: v.map(|v| v.found),
        reason,
        confirm: store.confirm_command(&c.subject.digest, Some(&c.platform)),
    }
}
