//! Progress on stderr for people: an indicatif bar, shown only when stderr is a terminal, the
//! output is text and `--quiet` is off.

use crate::plan::writes::Action;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal as _;

/// Something execution reports to as it goes (progress bars listen).
pub trait Observer: Send + Sync {
    /// An action finished.
    fn action_done(&self, _action: &Action) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

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
                Action::AddReferrers(_) => "referrers added",
                Action::PutIndex { .. } => "index rewritten",
            };
            b.set_message(what);
        }
    }
}

/// Bars for a registry walk: repositories, images and attestations, each with rate and ETA.
/// Totals grow as the catalog and the tags are read.
pub struct WalkProgress {
    bars: Option<(indicatif::MultiProgress, [ProgressBar; 3])>,
}

impl WalkProgress {
    /// Bars on a terminal, else nothing; `items` names what the third bar counts.
    pub fn new(enabled: bool, verb: &str, items: &str) -> WalkProgress {
        if !enabled || !std::io::stderr().is_terminal() {
            return WalkProgress { bars: None };
        }
        let multi = indicatif::MultiProgress::new();
        let mk = |unit: &str| {
            let b = multi.add(ProgressBar::new(0));
            if let Ok(style) = ProgressStyle::with_template(&format!(
                "{{prefix:>10}} [{{bar:30}}] {{pos:>6}}/{{len:<6}} {unit:<12} {{per_sec:>10}}  ETA {{eta}}  {{msg}}"
            )) {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_prefix(verb.to_string());
            b
        };
        let bars = [mk("repositories"), mk("images"), mk(items)];
        WalkProgress {
            bars: Some((multi, bars)),
        }
    }

    fn bar(&self, i: usize) -> Option<&ProgressBar> {
        self.bars.as_ref().map(|(_, b)| &b[i])
    }

    /// More repositories were found.
    pub fn found_repositories(&self, n: u64) {
        if let Some(b) = self.bar(0) {
            b.inc_length(n);
        }
    }

    /// A repository finished.
    pub fn repository_done(&self, name: &str) {
        if let Some(b) = self.bar(0) {
            b.inc(1);
            b.set_message(super::sanitize::sanitize(name));
        }
    }

    /// Images were found (`n`) in a repository.
    pub fn found_images(&self, n: u64) {
        if let Some(b) = self.bar(1) {
            b.inc_length(n);
        }
    }

    /// Images finished.
    pub fn images_done(&self, n: u64) {
        if let Some(b) = self.bar(1) {
            b.inc(n);
        }
    }

    /// Items of the third bar found and finished (they finish with their repository).
    pub fn items(&self, found: u64, done: u64) {
        if let Some(b) = self.bar(2) {
            b.inc_length(found);
            b.inc(done);
        }
    }

    /// Removes the bars.
    pub fn done(&self) {
        if let Some((m, bars)) = &self.bars {
            for b in bars {
                b.finish_and_clear();
            }
            let _ = m.clear();
        }
    }
}
