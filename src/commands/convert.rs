//! `referrify convert`: read → plan → write → verify → report, one image at a time.

use super::{emit, Context};
use crate::cli::{ConvertArgs, IndexMode};
use crate::execute::{self, Verification};
use crate::exit::Exit;
use crate::input::{self, Loaded};
use crate::model::digest::Digest;
use crate::model::reference::ImageRef;
use crate::plan::image::LoadedImage;
use crate::plan::image::{self as planning, Conversion, ItemPlan, Via};
use crate::plan::referrers::fallback_tag;
use crate::report::progress::Progress;
use crate::report::{
    text, AttestationReport, ConvertReport, ConvertSummary, ImageReport, IndexRewrite, Problem,
    TagWrite, Writes, SCHEMA_VERSION,
};
use crate::store::Store;
use std::collections::BTreeSet;
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

/// The report of an image that could not be worked on.
pub fn failed(text: &str, error: String) -> ImageReport {
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
        requests: Some(0),
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
    report.requests = Some(requests(&store) - before);
    report
}

/// How `convert` and `migrate` convert.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Plan only.
    pub dry_run: bool,
    /// List referrers again after the writes.
    pub verify: bool,
    /// Rewrite the index (`--index rewrite`; one image at a time only).
    pub rewrite: bool,
}

/// One image to convert: how it is named, what was read, and the tags that point to it.
pub struct Input {
    /// The reference as given (or `repo:tag` in a registry walk).
    pub text: String,
    /// The image as read.
    pub image: LoadedImage,
    /// Tags to move with `--index rewrite`.
    pub tags: Vec<String>,
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
        Ok(Loaded::Manifest(raw, _)) => return not_an_index(text, raw.digest),
        Err(e) => return failed(text, e.to_string()),
    };
    let tags: Vec<String> = match r {
        ImageRef::Registry(rr) => rr.tag.iter().cloned().collect(),
        ImageRef::Layout(_) => Vec::new(),
    };
    let opts = Options {
        dry_run: args.dry_run,
        verify: !args.no_verify,
        rewrite: args.index == IndexMode::Rewrite,
    };
    let input = Input {
        text: text.to_string(),
        image: img,
        tags,
    };
    convert_images(store, std::slice::from_ref(&input), opts, progress)
        .await
        .pop()
        .unwrap_or_else(|| failed(text, "internal: no report".into()))
}

/// How many times a lost update of a referrers tag is repaired before the attestation is
/// reported as failed.
const REMERGE_ROUNDS: u32 = 5;

/// Verifies, and where another writer's concurrent write of a referrers tag dropped our entries,
/// merges them in again and verifies again (with jittered backoff, so two writers that keep
/// colliding drift apart).
async fn verify_and_remerge(store: &Store, live: &[Conversion]) -> Vec<execute::Verification> {
    let mut results = execute::verify(store, live, VERIFY_ATTEMPTS).await;
    for round in 1..=REMERGE_ROUNDS {
        let lost: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.found && v.via == Via::Tag && v.error.is_none())
            .map(|(i, _)| i)
            .collect();
        if lost.is_empty() {
            break;
        }
        let convs: Vec<Conversion> = lost.iter().map(|&i| live[i].clone()).collect();
        tracing::warn!(
            "{}: {} referrers tag entr{} lost to a concurrent write; merging again (round {round})",
            store.name(),
            convs.len(),
            if convs.len() == 1 { "y" } else { "ies" }
        );
        let pause = 20 + fastrand::u64(0..(40u64 << round.min(5)));
        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        if let Err(e) = execute::remerge(store, &convs).await {
            for &i in &lost {
                results[i].error = Some(format!("merging the referrers tag again: {e}"));
            }
            break;
        }
        let again = execute::verify(store, &convs, 1).await;
        for (&i, v) in lost.iter().zip(again) {
            results[i] = v;
        }
    }
    results
}

/// The report for a reference that names a single manifest: nothing to convert.
pub fn not_an_index(text: &str, digest: Digest) -> ImageReport {
    let mut rep = failed(text, String::new());
    rep.error = None;
    rep.digest = Some(digest);
    rep.status = "not-an-index";
    rep
}

/// Converts images of one store together: read → plan → write → verify, with one listing per
/// subject, one `{}` blob check and one referrers-tag write per subject however many of the
/// images share it. Returns one report per input, in order.
pub async fn convert_images(
    store: &Store,
    inputs: &[Input],
    opts: Options,
    observer: &dyn execute::Observer,
) -> Vec<ImageReport> {
    let mut reports: Vec<ImageReport> = Vec::with_capacity(inputs.len());
    // Every conversion once (two indexes can hold the same attestation of the same subject).
    let mut convs: Vec<Conversion> = Vec::new();
    let mut of_image: Vec<Vec<usize>> = Vec::with_capacity(inputs.len());
    let mut image_problems: Vec<Vec<Problem>> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let img = &input.image;
        let mut rep = failed(&input.text, String::new());
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
        reports.push(rep);
        let (cs, problems) = planning::conversions(img);
        let mut idx = Vec::with_capacity(cs.len());
        for c in cs {
            let same = |x: &Conversion| {
                x.artifact.digest == c.artifact.digest && x.subject.digest == c.subject.digest
            };
            match convs.iter().position(same) {
                Some(i) => idx.push(i),
                None => {
                    idx.push(convs.len());
                    convs.push(c);
                }
            }
        }
        of_image.push(idx);
        image_problems.push(
            problems
                .into_iter()
                .map(|p| Problem {
                    digest: p.digest,
                    message: p.message,
                })
                .collect(),
        );
    }
    let read_at = std::time::Instant::now();
    let (observed, obs_problems) = match input::observe(store, &convs, opts.dry_run).await {
        Ok(x) => x,
        Err(e) => {
            for r in &mut reports {
                r.status = "failed";
                r.error = Some(format!("reading the target state: {e}"));
            }
            return reports;
        }
    };
    for (i, idx) in of_image.iter().enumerate() {
        for p in &obs_problems {
            if idx.iter().any(|&k| convs[k].subject.digest == p.digest) {
                image_problems[i].push(Problem {
                    digest: p.digest.clone(),
                    message: p.message.clone(),
                });
            }
        }
    }
    let rewrite = match inputs {
        [one] if opts.rewrite => Some(&one.image),
        _ => None,
    };
    let plan = match planning::plan(&convs, &observed, rewrite) {
        Ok(p) => p,
        Err(e) => {
            for r in &mut reports {
                r.status = "failed";
                r.error = Some(e.to_string());
            }
            return reports;
        }
    };
    let tags: &[String] = match inputs {
        [one] => &one.tags,
        _ => &[],
    };
    let (outcome, exec_error, verifications) = if opts.dry_run {
        (planned_writes(&plan), None, None)
    } else {
        let (outcome, err) = execute::run(store, &plan, tags, observer).await;
        if err.is_none()
            && opts.verify
            && (!outcome.tags_written.is_empty() || !outcome.tags_changed.is_empty())
        {
            // Another writer that read a referrers tag before our write lands its own write
            // within about the time ours took from read to write; read back after that, so its
            // write, if it dropped our entries, is seen and repaired.
            let window = read_at.elapsed().mul_f64(1.5);
            tokio::time::sleep(window.min(std::time::Duration::from_secs(3))).await;
        }
        let verifications = if err.is_none() && opts.verify {
            // Items that were listed before the run were just read fresh; verify what changed.
            let changed = |it: &ItemPlan| it.blocked.is_none() && !it.is_already_done();
            let live: Vec<Conversion> = convs
                .iter()
                .zip(&plan.items)
                .filter(|(_, it)| changed(it))
                .map(|(c, _)| c.clone())
                .collect();
            let v = verify_and_remerge(store, &live).await;
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
    let exec_error = exec_error.as_deref();
    // Writes are shared by the images of a batch: each is reported once, by the first image
    // that needs it.
    let mut claimed_manifests: BTreeSet<usize> = BTreeSet::new();
    let mut claimed_tags: BTreeSet<String> = BTreeSet::new();
    let mut blob_claimed = false;
    for (i, (rep, idx)) in reports.iter_mut().zip(&of_image).enumerate() {
        let mut writes = Writes::default();
        for &k in idx {
            let item = &plan.items[k];
            if item.push_artifact
                && claimed_manifests.insert(k)
                && (opts.dry_run || outcome.pushed.contains(&convs[k].artifact.digest))
            {
                writes.manifests += 1;
            }
            let v = verifications.as_ref().and_then(|vs| vs[k].clone());
            rep.attestations.push(attestation_report(
                store,
                &convs[k],
                item,
                v,
                opts.dry_run,
                exec_error,
            ));
        }
        for (t, created) in &outcome.tags_written {
            let ours = idx
                .iter()
                .any(|&k| &fallback_tag(&convs[k].subject.digest) == t);
            if ours && claimed_tags.insert(t.clone()) {
                writes.referrers_tags.push(TagWrite {
                    tag: t.clone(),
                    created: *created,
                });
            }
        }
        if !blob_claimed
            && outcome.blobs_pushed > 0
            && idx
                .iter()
                .any(|&k| plan.items[k].push_artifact && convs[k].created)
        {
            blob_claimed = true;
            writes.blobs = outcome.blobs_pushed;
        }
        if i == 0 {
            writes.layout_index_entries = outcome.layout_entries_added;
        }
        rep.writes = writes;
        rep.problems = std::mem::take(&mut image_problems[i]);
        if let Some((old, new)) = plan.rewrite.as_ref().filter(|_| rewrite.is_some()) {
            rep.index_rewrite = Some(IndexRewrite {
                old: old.clone(),
                new: new.clone(),
                tags_moved: if opts.dry_run {
                    tags.to_vec()
                } else {
                    outcome.tags_moved.clone()
                },
            });
        }
        rep.error = exec_error.map(str::to_string);
        let any_bad = rep.error.is_some()
            || !rep.problems.is_empty()
            || rep
                .attestations
                .iter()
                .any(|a| matches!(a.state, "blocked" | "failed"));
        let noop = rep.attestations.iter().all(|a| a.state == "already-done")
            && rep.index_rewrite.is_none();
        rep.status = if any_bad {
            "failed"
        } else if noop {
            "unchanged"
        } else if opts.dry_run {
            "planned"
        } else {
            "done"
        };
    }
    reports
}

fn planned_writes(plan: &planning::ImagePlan) -> execute::Outcome {
    let mut o = execute::Outcome::default();
    for a in &plan.actions {
        match a {
            planning::Action::PutBlob { .. } => o.blobs_pushed += 1,
            planning::Action::PutManifest { digest, .. } => {
                o.manifests_pushed += 1;
                o.pushed.push(digest.clone());
            }
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
