//! Makes an artifact that was pushed with a `subject` discoverable (BuildKit v0.32 pushes its
//! attestations so, but never writes the referrers tag; `oras attach` on a registry it thinks has
//! the API): the one pipeline (observe → plan → execute → verify) on that one conversion.

use super::outcome::{self, Head};
use super::{run_batch, Batch, Options};
use crate::model::document::ManifestView;
use crate::model::image::Raw;
use crate::plan::image::existing_artifact;
use crate::report::progress::Observer;
use crate::report::ImageReport;
use crate::store::Store;

/// Lists the artifact `raw` (parsed as `view`) under its subject, as `convert` lists the
/// artifacts it builds. `None`: the manifest has no subject (nothing to make discoverable).
pub async fn make_discoverable(
    store: &Store,
    text: &str,
    raw: &Raw,
    view: &ManifestView,
    opts: Options,
    observer: &dyn Observer,
) -> Option<ImageReport> {
    let conv = existing_artifact(&raw.bytes, view)?;
    let mut batch = Batch {
        convs: vec![conv],
        of_image: vec![vec![0]],
        problems: vec![Vec::new()],
    };
    let heads = [Head {
        text,
        digest: &raw.digest,
        skipped: Vec::new(),
    }];
    let mut reports = match run_batch(store, &mut batch, None, &[], opts, observer).await {
        Ok((plan, run)) => outcome::reports(store, &heads, &batch, &plan, &run, opts),
        Err(e) => outcome::all_failed(&heads, e),
    };
    reports.pop()
}
