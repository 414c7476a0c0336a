//! Turns a batch's plan, writes and verifications into one typed outcome per image. Writes are
//! shared by the images of a batch: each is credited once, to the first image that needs it.

use super::check::mislabel_warning;
use super::{Batch, Input, Options, Run};
use crate::model::digest::Digest;
use crate::model::referrers::{fallback_tag, Via};
use crate::plan::image::Conversion;
use crate::plan::writes::{ImagePlan, ItemPlan};
use crate::report::commands;
use crate::report::{
    AttestationReport, AttestationState, ImageReport, ImageStatus, IndexRewrite, Problem, TagWrite,
    Writes,
};
use crate::store::Store;
use std::collections::BTreeSet;

/// The outcome of an image that could not be worked on.
pub fn failed(text: &str, error: String) -> ImageReport {
    ImageReport {
        reference: text.to_string(),
        digest: None,
        status: ImageStatus::Failed,
        error: Some(error),
        attestations: Vec::new(),
        skipped: Vec::new(),
        problems: Vec::new(),
        index_rewrite: None,
        writes: Writes::default(),
        requests: Some(0),
        repaired_entries: Vec::new(),
    }
}

/// The outcome for a reference that names a single manifest: nothing to convert.
pub fn not_an_index(text: &str, digest: Digest) -> ImageReport {
    ImageReport {
        digest: Some(digest),
        status: ImageStatus::NotAnIndex,
        error: None,
        ..failed(text, String::new())
    }
}

/// What a report says of the image before its conversions: how it was named, its digest, and the
/// index entries it skipped. Images and single artifacts (serve's artifact pushes) both have one.
pub(super) struct Head<'a> {
    pub(super) text: &'a str,
    pub(super) digest: &'a Digest,
    pub(super) skipped: Vec<Problem>,
}

impl<'a> Head<'a> {
    pub(super) fn of(input: &'a Input) -> Head<'a> {
        let img = &input.image;
        Head {
            text: &input.text,
            digest: &img.index.digest,
            skipped: img
                .entries
                .skipped
                .iter()
                .map(|s| Problem {
                    digest: s.digest.clone(),
                    message: s.reason.clone(),
                })
                .collect(),
        }
    }
}

/// The outcome of an image whose batch failed before anything was written.
fn started(head: &Head) -> ImageReport {
    ImageReport {
        digest: Some(head.digest.clone()),
        error: None,
        skipped: head.skipped.clone(),
        ..failed(head.text, String::new())
    }
}

pub(super) fn all_failed(heads: &[Head], error: String) -> Vec<ImageReport> {
    heads
        .iter()
        .map(|h| ImageReport {
            status: ImageStatus::Failed,
            error: Some(error.clone()),
            ..started(h)
        })
        .collect()
}

/// Which shared writes have been credited to an image already.
#[derive(Default)]
struct Credited {
    manifests: BTreeSet<usize>,
    tags: BTreeSet<String>,
    blob: bool,
}

pub(super) fn reports(
    store: &Store,
    heads: &[Head],
    batch: &Batch,
    plan: &ImagePlan,
    run: &Run,
    opts: Options,
) -> Vec<ImageReport> {
    let pushed: BTreeSet<&Digest> = run.outcome.pushed.iter().collect();
    let mut credited = Credited::default();
    let mut out = Vec::with_capacity(heads.len());
    for (i, head) in heads.iter().enumerate() {
        let idx = &batch.of_image[i];
        let mut rep = started(head);
        for &k in idx {
            let v = run.verifications.as_ref().and_then(|vs| vs[k].clone());
            rep.attestations.push(attestation(
                store,
                &batch.convs[k],
                &plan.items[k],
                v,
                opts.dry_run,
                run.error.as_deref(),
            ));
        }
        rep.writes = writes(batch, idx, plan, run, &pushed, opts, &mut credited);
        if i == 0 {
            rep.writes.layout_index_entries = run.outcome.layout_entries_added;
        }
        rep.problems = batch.problems[i].clone();
        if let Some((old, new)) = plan.rewrite.as_ref().filter(|_| opts.rewrite) {
            rep.index_rewrite = Some(IndexRewrite {
                old: old.clone(),
                new: new.clone(),
                tags_moved: run.outcome.tags_moved.clone(),
            });
        }
        rep.error = run.error.clone();
        rep.status = status(&rep, opts.dry_run);
        out.push(rep);
    }
    out
}

/// The writes credited to the image holding conversions `idx`.
fn writes(
    batch: &Batch,
    idx: &[usize],
    plan: &ImagePlan,
    run: &Run,
    pushed: &BTreeSet<&Digest>,
    opts: Options,
    credited: &mut Credited,
) -> Writes {
    let mut w = Writes::default();
    for &k in idx {
        if plan.items[k].push_artifact
            && credited.manifests.insert(k)
            && (opts.dry_run || pushed.contains(&batch.convs[k].artifact.digest))
        {
            w.manifests += 1;
        }
    }
    let tags: BTreeSet<String> = idx
        .iter()
        .map(|&k| fallback_tag(&batch.convs[k].subject.digest))
        .collect();
    for (t, created) in &run.outcome.tags_written {
        if tags.contains(t) && credited.tags.insert(t.clone()) {
            w.referrers_tags.push(TagWrite {
                tag: t.clone(),
                created: *created,
            });
        }
    }
    let pushes_created = idx
        .iter()
        .any(|&k| plan.items[k].push_artifact && batch.convs[k].created);
    if !credited.blob && run.outcome.blobs_pushed > 0 && pushes_created {
        credited.blob = true;
        w.blobs = run.outcome.blobs_pushed;
        w.mounts_refused = run.outcome.mounts_refused;
    }
    w
}

fn status(rep: &ImageReport, dry_run: bool) -> ImageStatus {
    let any_bad = rep.error.is_some()
        || !rep.problems.is_empty()
        || rep.attestations.iter().any(|a| a.state.is_failure());
    let noop = rep
        .attestations
        .iter()
        .all(|a| a.state == AttestationState::AlreadyDone)
        && rep.index_rewrite.is_none();
    if any_bad {
        ImageStatus::Failed
    } else if noop {
        ImageStatus::Unchanged
    } else if dry_run {
        ImageStatus::Planned
    } else {
        ImageStatus::Done
    }
}

fn state(
    item: &ItemPlan,
    v: Option<&super::Verification>,
    dry_run: bool,
    exec_error: Option<&str>,
) -> (AttestationState, Option<String>) {
    if let Some(b) = &item.blocked {
        return (AttestationState::Blocked, Some(b.clone()));
    }
    if item.is_already_done() {
        return (AttestationState::AlreadyDone, None);
    }
    if dry_run {
        return (AttestationState::Planned, None);
    }
    if let Some(e) = exec_error {
        return (AttestationState::Failed, Some(e.to_string()));
    }
    match v {
        Some(v) if !v.found => (
            AttestationState::Failed,
            Some(match &v.error {
                Some(e) => format!("verification failed: {e}"),
                None => format!("not listed as a referrer after {} attempts", v.attempts),
            }),
        ),
        _ => (AttestationState::Done, None),
    }
}

fn attestation(
    store: &Store,
    c: &Conversion,
    item: &ItemPlan,
    v: Option<super::Verification>,
    dry_run: bool,
    exec_error: Option<&str>,
) -> AttestationReport {
    let (state, reason) = state(item, v.as_ref(), dry_run, exec_error);
    let own = c.artifact_type();
    let warnings: Vec<String> = v
        .as_ref()
        .and_then(|v| {
            v.listed_type
                .as_deref()
                .filter(|t| Some(*t) != own.as_deref())
        })
        .map(|listed| {
            mislabel_warning(
                &c.artifact.digest,
                Some(listed),
                own.as_deref().unwrap_or(""),
            )
        })
        .into_iter()
        .collect();
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
        confirm: commands::confirm_filtered(
            &store.locator(),
            &c.subject.digest,
            Some(&c.platform),
            warnings.is_empty(),
        ),
        warnings,
    }
}
