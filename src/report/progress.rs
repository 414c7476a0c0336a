//! Progress on stderr for people: an indicatif bar, shown only when stderr is a terminal, the
//! output is text and `--quiet` is off.

use crate::execute::Observer;
use crate::plan::image::Action;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal as _;

/// A bar over the images of a run.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `total` images, or a silent one.
    pub fn new(total: usize, enabled: bool, verb: &str) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(total as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} images  {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(verb.to_string());
        Progress { bar: Some(bar) }
    }

    /// Shows which image is being worked on.
    pub fn start(&self, image: &str) {
        if let Some(b) = &self.bar {
            b.set_message(super::sanitize::sanitize(image));
        }
    }

    /// One image finished.
    pub fn finish_one(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    /// Removes the bar.
    pub fn done(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn action_done(&self, action: &Action) {
        if let Some(b) = &self.bar {
            let what = match action {
                Action::PutBlob { .. } => "blob pushed",
                Action::PutManifest { .. } => "artifact pushed",
                Action::PutReferrersTag { .. } => "referrers tag written",
                Action::AddToLayoutIndex { .. } => "index.json updated",
                Action::PutIndex { .. } => "index rewritten",
            };
            b.set_message(what);
        }
    }
}
