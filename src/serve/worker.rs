//! The workers: take an image off the queue, read it from its (configured) registry, and run the
//! one engine on it: `engine::convert` for an index, `engine::attach` for an artifact pushed
//! with a subject. What they write is remembered so its push events are ignored.

use super::events::Target;
use super::queue::{Key, Work};
use super::Shared;
use crate::engine::load::{load_raw, Depth, Loaded};
use crate::engine::{self, attach, Input, Options};
use crate::plan::image::conversions;
use crate::report::progress::Silent;
use crate::report::{ImageReport, ImageStatus};
use crate::store::{Store, Stores};
use std::io::Write as _;
use std::time::Duration;

/// What one attempt at an image came to.
enum Attempt {
    /// Finished: the engine's report (`None`: nothing to do, e.g. a plain image manifest or an
    /// image deleted since its push).
    Done(Option<Box<ImageReport>>),
    /// Failed in a way a later attempt can get past (the registry is down, a write failed).
    Failed(String),
}

/// Works on the queue until a stop is asked for; the work in flight is finished first.
pub async fn run(shared: &Shared, stores: &Stores) {
    while let Some((key, work)) = shared.queue.take(crate::stop::requested).await {
        shared.metrics.queue_depth.set(shared.queue.depth() as i64);
        let attempt = one(shared, stores, &work).await;
        settle(shared, key, work, attempt);
    }
}

/// Finishes, retries or gives up the work of `key` after an attempt.
fn settle(shared: &Shared, key: Key, work: Work, attempt: Attempt) {
    let m = &shared.metrics;
    match attempt {
        Attempt::Failed(e) if work.attempts + 1 < shared.config.attempts => {
            let delay = shared
                .config
                .backoff
                .saturating_mul(1 << work.attempts.min(6))
                .min(Duration::from_secs(60));
            tracing::warn!(
                "{}/{}: {} (attempt {}; again in {:?})",
                key.0,
                key.1,
                crate::report::sanitize::sanitize(&e),
                work.attempts + 1,
                delay
            );
            m.retries.inc();
            shared.queue.retry(key, work, delay);
        }
        attempt => {
            if let Attempt::Failed(e) = &attempt {
                tracing::error!(
                    "{}/{}: giving up: {}",
                    key.0,
                    key.1,
                    crate::report::sanitize::sanitize(e)
                );
                m.failed.inc();
            }
            if let Attempt::Done(r) = &attempt {
                if matches!(key.2, Target::Digest(_)) {
                    shared.settled.insert(key.clone());
                }
                if let Some(r) = r {
                    record(shared, r);
                    print(r);
                }
            }
            let entries = shared.queue.finish(&key, work);
            // Push→discoverable: only for images that hold attestations (a plain manifest's
            // event needs nothing to become discoverable).
            if matches!(&attempt, Attempt::Done(Some(r)) if !r.attestations.is_empty()) {
                let now = super::now_ms();
                for e in &entries {
                    m.latency.observe(now.saturating_sub(e.at) as f64 / 1000.0);
                }
            }
            m.processed.inc();
            shared.finished(&entries);
        }
    }
}

/// Remembers what the engine wrote, and counts a conversion.
fn record(shared: &Shared, r: &ImageReport) {
    for a in &r.attestations {
        if a.pushed {
            shared.recent.insert(a.artifact.clone());
        }
    }
    if r.status == ImageStatus::Done {
        shared.metrics.conversions.inc();
    }
}

/// One JSON line per image worked on, on stdout (the `convert` report shape).
fn print(r: &ImageReport) {
    if let Ok(line) = serde_json::to_string(r) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Reads the image an event names and runs the engine on it.
async fn one(shared: &Shared, stores: &Stores, work: &Work) -> Attempt {
    let e = &work.event;
    let store: Store = match stores.repository(&work.host, &e.repository) {
        Ok(s) => s.into(),
        Err(err) => return Attempt::Failed(err.to_string()),
    };
    let (reference, text) = match &e.target {
        Target::Digest(d) => (d.to_string(), format!("{}/{}@{d}", work.host, e.repository)),
        Target::Tag(t) => (t.clone(), format!("{}/{}:{t}", work.host, e.repository)),
    };
    let raw = match store.read(&reference).await {
        Ok(Some(raw)) => raw,
        Ok(None) => return Attempt::Done(None),
        Err(err) => return Attempt::Failed(format!("reading {text}: {err}")),
    };
    let opts = Options {
        dry_run: false,
        verify: shared.config.verify,
        rewrite: false,
    };
    let report = match load_raw(&store, raw, Depth::Attestations).await {
        Ok(Loaded::Index(image)) => {
            // The registry notifies the artifacts we are about to push before the engine
            // returns: remember them first, so those events are known as our own.
            for c in conversions(&image).0 {
                shared.recent.insert(c.artifact.digest);
            }
            let input = Input {
                text,
                image,
                tags: Vec::new(),
            };
            engine::convert(&store, std::slice::from_ref(&input), opts, &Silent)
                .await
                .pop()
        }
        Ok(Loaded::Manifest(raw, view)) => {
            if view.subject.is_some() {
                shared.recent.insert(raw.digest.clone());
            }
            attach::make_discoverable(&store, &text, &raw, &view, opts, &Silent).await
        }
        // Not a manifest or index we can read: no later attempt reads it better.
        Err(err @ crate::engine::load::LoadError::Unreadable { .. }) => {
            tracing::warn!("{}: {}", crate::report::sanitize::sanitize(&text), err);
            return Attempt::Done(None);
        }
        Err(err) => return Attempt::Failed(format!("reading {text}: {err}")),
    };
    match report {
        Some(r) if r.status == ImageStatus::Failed => Attempt::Failed(
            r.error
                .clone()
                .or_else(|| r.problems.first().map(|p| p.message.clone()))
                .unwrap_or_else(|| "failed".into()),
        ),
        r => Attempt::Done(r.map(Box::new)),
    }
}
