//! `referrify watch`: for registries that cannot notify. Each cycle walks the registry (the one
//! walk), lists each repository's tags, and reads only the tags it has not seen and the tags
//! chosen for re-checking (moving tags such as `latest`); images behind new or moved tags go
//! through the one engine. What was seen is kept in a state file, so a restart is an idle cycle.

use crate::engine::load::{load_raw, Depth, Loaded};
use crate::engine::{self, Input, Options};
use crate::model::digest::Digest;
use crate::plan::scope::Selection;
use crate::report::progress::Silent;
use crate::report::{ImageReport, ImageStatus};
use crate::store::{Catalog, Store, Stores};
use crate::walk::{self, Walked};
use futures_util::StreamExt as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Tag → digest, per repository: what the last cycle saw.
pub type Seen = BTreeMap<String, BTreeMap<String, Digest>>;

/// How `watch` runs.
pub struct WatchConfig {
    /// The registry (`host[:port]`).
    pub registry: String,
    /// Which repositories and tags.
    pub selection: Arc<Selection>,
    /// Tags read again every cycle (they may move); others are read once.
    pub recheck: regex::Regex,
    /// The state file.
    pub state: PathBuf,
    /// Concurrent requests.
    pub jobs: usize,
    /// List referrers again after the writes.
    pub verify: bool,
}

/// What one cycle did.
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cycle {
    /// Repositories listed.
    pub repositories: usize,
    /// Tags read (new or re-checked).
    pub tags_read: usize,
    /// Images given to the engine (new or moved tags).
    pub images: usize,
    /// Of those, images where attestations were made discoverable.
    pub converted: usize,
    /// Images or repositories that failed (retried next cycle).
    pub failed: usize,
    /// Requests sent to the registry.
    pub requests: u64,
}

/// Reads the state file (`{}` when there is none).
pub fn load_state(path: &Path) -> Result<Seen, String> {
    match std::fs::read(path) {
        Ok(b) => {
            serde_json::from_slice(&b).map_err(|e| format!("state file {}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Seen::new()),
        Err(e) => Err(format!("state file {}: {e}", path.display())),
    }
}

/// Writes the state file atomically (a new file renamed over the old).
pub fn save_state(path: &Path, seen: &Seen) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec(seen).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("state file {}: {e}", path.display()))
}

/// One cycle over the registry; `seen` is brought up to date (failed images stay out of it, so
/// the next cycle tries them again). Each image worked on is passed to `report`.
pub async fn cycle(
    stores: &Stores,
    catalog: &Catalog,
    cfg: &WatchConfig,
    seen: &mut Seen,
    report: &(dyn Fn(&ImageReport) + Sync),
) -> Cycle {
    let before = catalog.requests();
    let old = Arc::new(std::mem::take(seen));
    let steps = walk::each_repository(catalog.clone(), cfg.selection.clone(), cfg.jobs, |name| {
        let old = old.clone();
        async move {
            let prev = old.get(&name).cloned().unwrap_or_default();
            let r = repository(stores, cfg, &name, prev, report).await;
            (name, r)
        }
    });
    let mut steps = std::pin::pin!(steps);
    let mut out = Cycle::default();
    while let Some(step) = steps.next().await {
        match step {
            Walked::Repository((name, Ok((tags, c)))) => {
                out.repositories += 1;
                out.tags_read += c.tags_read;
                out.images += c.images;
                out.converted += c.converted;
                out.failed += c.failed;
                if !tags.is_empty() {
                    seen.insert(name, tags);
                }
            }
            Walked::Repository((name, Err(e))) => {
                tracing::error!("{name}: {}", crate::report::sanitize::sanitize(&e));
                out.failed += 1;
                if let Some(prev) = old.get(&name) {
                    seen.insert(name, prev.clone());
                }
            }
            Walked::CatalogFailed(e) => {
                tracing::error!("{}", crate::report::sanitize::sanitize(&e));
                out.failed += 1;
                // Repositories the catalog did not reach this time keep what was seen.
                for (k, v) in old.iter() {
                    seen.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }
    out.requests = catalog.requests() - before;
    out
}

/// One repository: list its tags (one page for most), read the new and re-checked tags, and
/// convert the images behind tags that are new or moved.
async fn repository(
    stores: &Stores,
    cfg: &WatchConfig,
    name: &str,
    prev: BTreeMap<String, Digest>,
    report: &(dyn Fn(&ImageReport) + Sync),
) -> Result<(BTreeMap<String, Digest>, Cycle), String> {
    let reg = stores
        .repository(&cfg.registry, name)
        .map_err(|e| e.to_string())?;
    let Some(tags) = reg.tags().await.map_err(|e| format!("listing tags: {e}"))? else {
        return Ok((BTreeMap::new(), Cycle::default()));
    };
    let store: Store = reg.into();
    let mut now: BTreeMap<String, Digest> = BTreeMap::new();
    let mut read: Vec<String> = Vec::new();
    for t in tags {
        if super::is_referrers_tag(&t) || !cfg.selection.takes_tag(&t) {
            continue;
        }
        match prev.get(&t) {
            Some(d) if !cfg.recheck.is_match(&t) => {
                now.insert(t, d.clone());
            }
            _ => read.push(t),
        }
    }
    let mut c = Cycle {
        tags_read: read.len(),
        ..Cycle::default()
    };
    let fetched = futures_util::future::join_all(read.iter().map(|t| store.read(t))).await;
    // Images behind new or moved tags, each once, with its tags.
    let mut changed: Vec<(crate::model::image::Raw, Vec<String>)> = Vec::new();
    for (t, f) in read.into_iter().zip(fetched) {
        match f {
            Ok(Some(raw)) if prev.get(&t) == Some(&raw.digest) => {
                now.insert(t, raw.digest);
            }
            Ok(Some(raw)) => match changed.iter_mut().find(|(r, _)| r.digest == raw.digest) {
                Some((_, ts)) => ts.push(t),
                None => changed.push((raw, vec![t])),
            },
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(
                    "{name}:{t}: {}",
                    crate::report::sanitize::sanitize(&e.to_string())
                );
                c.failed += 1;
            }
        }
    }
    c.images = changed.len();
    convert(&store, cfg, name, changed, &mut now, &mut c, report).await;
    Ok((now, c))
}

/// Runs the engine on the changed images of one repository (one batch); records the tags of
/// every image that is settled.
async fn convert(
    store: &Store,
    cfg: &WatchConfig,
    name: &str,
    changed: Vec<(crate::model::image::Raw, Vec<String>)>,
    now: &mut BTreeMap<String, Digest>,
    c: &mut Cycle,
    report: &(dyn Fn(&ImageReport) + Sync),
) {
    let mut inputs = Vec::new();
    for (raw, tags) in changed {
        let digest = raw.digest.clone();
        match load_raw(store, raw, Depth::Attestations).await {
            Ok(Loaded::Index(image)) => inputs.push(Input {
                text: format!("{}/{name}:{}", cfg.registry, tags[0]),
                image,
                tags,
            }),
            // A single manifest: no in-index attestations, nothing to do.
            Ok(Loaded::Manifest(..)) => now.extend(tags.into_iter().map(|t| (t, digest.clone()))),
            Err(e) => {
                tracing::warn!(
                    "{name}@{digest}: {}",
                    crate::report::sanitize::sanitize(&e.to_string())
                );
                c.failed += 1;
            }
        }
    }
    if inputs.is_empty() {
        return;
    }
    let opts = Options {
        dry_run: false,
        verify: cfg.verify,
        rewrite: false,
    };
    let reports = engine::convert(store, &inputs, opts, &Silent).await;
    for (input, r) in inputs.iter().zip(&reports) {
        report(r);
        if r.status == ImageStatus::Failed {
            c.failed += 1;
            continue;
        }
        c.converted += usize::from(r.status == ImageStatus::Done);
        for t in &input.tags {
            now.insert(t.clone(), input.image.index.digest.clone());
        }
    }
}
