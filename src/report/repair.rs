//! What `convert --repair-tag-entries` filled in, entry by entry, and what `undo` restored.

use super::sanitize::sanitize;
use crate::model::digest::Digest;
use serde::Serialize;
use std::fmt::Write as _;

/// One referrers tag entry filled in (or, in a dry run, that would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairedEntry {
    /// The referrers tag (`sha256-<hex>`).
    pub tag: String,
    /// The entry's manifest.
    pub digest: Digest,
    /// The `artifactType` added, when the entry lacked one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The annotation keys added, when the entry lacked annotations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<String>,
}

/// One line per entry: `repaired sha256-… entry sha256:…: artifactType X, annotations a, b`.
pub fn lines(o: &mut String, entries: &[RepairedEntry], dry_run: bool) {
    let verb = if dry_run {
        "would fill in"
    } else {
        "filled in"
    };
    for e in entries {
        let mut what = Vec::new();
        if let Some(t) = &e.artifact_type {
            what.push(format!("artifactType {t}"));
        }
        if !e.annotations.is_empty() {
            what.push(format!("annotations {}", e.annotations.join(", ")));
        }
        let _ = writeln!(
            o,
            "  tag {}…  entry {}: {verb} {}",
            sanitize(&e.tag.chars().take(19).collect::<String>()),
            e.digest.short(),
            sanitize(&what.join("; "))
        );
    }
}
