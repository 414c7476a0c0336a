//! The one pipeline every command runs on a batch of images of one store: load → observe → plan
//! → execute → verify → repair, returning a typed outcome per image. It decides nothing itself
//! (`plan` does) and prints nothing (`report` renders the outcomes).

pub mod attach;
pub mod check;
pub mod execute;
pub mod load;
pub mod observe;
mod outcome;
pub mod repair;
pub mod supply;
pub mod undo;
pub mod verify;

pub use outcome::{failed, not_an_index};

use outcome::Head;

use crate::model::digest::Digest;
use crate::model::image::{LoadedImage, Problem};
use crate::plan::image::{conversions, Conversion};
use crate::plan::writes::{self, ImagePlan, ItemPlan};
use crate::report::progress::Observer;
use crate::report::ImageReport;
use crate::store::Store;
use execute::Outcome;
use std::collections::BTreeMap;
use std::time::Duration;
use verify::Verification;

/// How a batch is converted.
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

/// The conversions of a batch, each once however many images hold it (two indexes can hold the
/// same attestation of the same subject), and which of them each image holds.
struct Batch {
    convs: Vec<Conversion>,
    of_image: Vec<Vec<usize>>,
    problems: Vec<Vec<Problem>>,
}

impl Batch {
    fn of(inputs: &[Input]) -> Batch {
        let mut b = Batch {
            convs: Vec::new(),
            of_image: Vec::with_capacity(inputs.len()),
            problems: Vec::with_capacity(inputs.len()),
        };
        let mut index: BTreeMap<(Digest, Digest), usize> = BTreeMap::new();
        for input in inputs {
            let (cs, problems) = conversions(&input.image);
            let mut idx = Vec::with_capacity(cs.len());
            for c in cs {
                let key = (c.artifact.digest.clone(), c.subject.digest.clone());
                let next = b.convs.len();
                let k = *index.entry(key).or_insert(next);
                if k == next {
                    b.convs.push(c);
                }
                idx.push(k);
            }
            b.of_image.push(idx);
            b.problems.push(problems);
        }
        b
    }

    /// Adds the subjects' listing problems to the images that hold those subjects.
    fn add_problems(&mut self, found: &[Problem]) {
        for (idx, problems) in self.of_image.iter().zip(&mut self.problems) {
            for p in found {
                if idx
                    .iter()
                    .any(|&k| self.convs[k].subject.digest == p.digest)
                {
                    problems.push(p.clone());
                }
            }
        }
    }
}

/// What running a plan gave: the writes, the failure that stopped it, and per conversion the
/// verification of the ones that changed.
struct Run {
    outcome: Outcome,
    error: Option<String>,
    verifications: Option<Vec<Option<Verification>>>,
}

/// Converts the images of one store together: one listing per subject, one `{}` blob check
/// and one referrers write per subject however many of the images share it. Returns one
/// outcome per input, in order.
pub async fn convert(
    store: &Store,
    inputs: &[Input],
    opts: Options,
    observer: &dyn Observer,
) -> Vec<ImageReport> {
    let mut batch = Batch::of(inputs);
    let heads: Vec<Head> = inputs.iter().map(Head::of).collect();
    let rewrite = match inputs {
        [one] if opts.rewrite => Some(&one.image),
        _ => None,
    };
    let tags: &[String] = match inputs {
        [one] => &one.tags,
        _ => &[],
    };
    match run_batch(store, &mut batch, rewrite, tags, opts, observer).await {
        Ok((plan, run)) => outcome::reports(store, &heads, &batch, &plan, &run, opts),
        Err(e) => outcome::all_failed(&heads, e),
    }
}

/// Observes, plans, executes and verifies a batch's conversions. `Err`: nothing could be
/// planned (the target state could not be read, or the plan failed).
async fn run_batch(
    store: &Store,
    batch: &mut Batch,
    rewrite: Option<&LoadedImage>,
    tags: &[String],
    opts: Options,
    observer: &dyn Observer,
) -> Result<(ImagePlan, Run), String> {
    let observed = observe::observe(store, &batch.convs)
        .await
        .map_err(|e| format!("reading the target state: {e}"))?;
    batch.add_problems(&observed.problems);
    let plan = writes::plan(&batch.convs, &observed.state, rewrite).map_err(|e| e.to_string())?;
    let run = if opts.dry_run {
        drop(observed.gate);
        Run {
            outcome: Outcome::planned(&plan, tags),
            error: None,
            verifications: None,
        }
    } else {
        let (outcome, err) = execute::run(store, &plan, tags, observed.gate, observer).await;
        let verifications = if err.is_none() && opts.verify {
            Some(verify_changed(store, &batch.convs, &plan, &outcome).await)
        } else {
            None
        };
        Run {
            outcome,
            error: err.map(|e| e.to_string()),
            verifications,
        }
    };
    Ok((plan, run))
}

/// Verifies the conversions the plan changed (the others were just read fresh), after waiting
/// out the window in which another writer's concurrent write of a referrers tag can land.
async fn verify_changed(
    store: &Store,
    convs: &[Conversion],
    plan: &ImagePlan,
    outcome: &Outcome,
) -> Vec<Option<Verification>> {
    if !outcome.tags_written.is_empty() || !outcome.tags_changed.is_empty() {
        // Every writer reads a referrers tag again right before writing it. One that read it
        // before our write landed lands its own within about the time our read-again-and-write
        // took; read back after twice that (plus a margin for scheduling), so its write, if it
        // dropped our entries, is seen and repaired. Measured from the tag's own read, not
        // from the batch's first read: that one includes waiting for request slots, which grows
        // with latency and load and would make every batch sleep for seconds.
        let window = outcome.tag_window * 2 + Duration::from_millis(50);
        tokio::time::sleep(window.min(Duration::from_secs(3))).await;
    }
    let changed = |it: &ItemPlan| it.blocked.is_none() && !it.is_already_done();
    let live: Vec<Conversion> = convs
        .iter()
        .zip(&plan.items)
        .filter(|(_, it)| changed(it))
        .map(|(c, _)| c.clone())
        .collect();
    let verified = verify::verify_and_repair(store, &live).await;
    let ours = convs.iter().map(|c| c.artifact.digest.clone()).collect();
    verify::restore_foreign(store, &outcome.tag_entries, &verified.listed, &ours).await;
    let mut v = verified.results.into_iter();
    plan.items
        .iter()
        .map(|item| if changed(item) { v.next() } else { None })
        .collect()
}
