//! Supply-chain columns for people: one line per platform (SBOM, provenance, signature: where
//! each was found), unmet requirements, the verify commands, and the totals line
//! ("N of M platforms have a discoverable SBOM, provenance, a signature").

use super::sanitize::sanitize;
use super::{CheckImage, PlatformReport};
use crate::plan::supply::{Discovery, Item, On, Supply};
use serde::Serialize;
use std::fmt::Write as _;

/// Platforms with each fact, for the totals line and the HTML page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SupplyTotals {
    /// Platforms checked.
    pub platforms: usize,
    /// With an SBOM.
    pub sbom: usize,
    /// With provenance.
    pub provenance: usize,
    /// With a signature.
    pub signature: usize,
    /// With an unmet `--require` requirement.
    pub unmet: usize,
}

impl SupplyTotals {
    /// The totals over `images`.
    pub fn of<'a>(images: impl IntoIterator<Item = &'a CheckImage>) -> SupplyTotals {
        let mut t = SupplyTotals::default();
        for p in images.into_iter().flat_map(|i| &i.platforms) {
            t.add(&p.supply);
        }
        t
    }

    /// The sum of two totals.
    pub fn plus(self, o: SupplyTotals) -> SupplyTotals {
        SupplyTotals {
            platforms: self.platforms + o.platforms,
            sbom: self.sbom + o.sbom,
            provenance: self.provenance + o.provenance,
            signature: self.signature + o.signature,
            unmet: self.unmet + o.unmet,
        }
    }

    fn add(&mut self, s: &Supply) {
        self.platforms += 1;
        self.sbom += usize::from(s.sbom.is_some());
        self.provenance += usize::from(s.provenance.is_some());
        self.signature += usize::from(s.signature.is_some());
        self.unmet += usize::from(!s.unmet.is_empty());
    }

    /// The totals line.
    pub fn line(&self) -> String {
        let m = self.platforms;
        format!(
            "supply chain: {} of {m} platforms have a discoverable SBOM, {} of {m} provenance, {} of {m} a signature",
            self.sbom, self.provenance, self.signature
        )
    }
}

/// Where an item was found, in a few words: `platform/referrer sigstore-attestation`.
pub fn where_found(i: &Item) -> String {
    let on = match i.on {
        On::Platform => "platform",
        On::Index => "index",
    };
    let how = match i.discoverable {
        Discovery::Referrers => "referrer",
        Discovery::CosignTag => "cosign tag",
    };
    let kind = serde_json::to_value(&i.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    format!("{on} {how} ({kind})")
}

/// A fact's cell: where it was found, or `none`.
pub fn cell(i: Option<&Item>) -> String {
    i.map(where_found).unwrap_or_else(|| "none".into())
}

/// The lines under one platform's row: the supply facts, each unmet requirement and (verbose)
/// the verify commands.
pub fn lines(o: &mut String, p: &PlatformReport, verbose: bool) {
    let s = &p.supply;
    let _ = writeln!(
        o,
        "  {:<14} sbom: {}; provenance: {}; signature: {}",
        "",
        sanitize(&cell(s.sbom.as_ref())),
        sanitize(&cell(s.provenance.as_ref())),
        sanitize(&cell(s.signature.as_ref())),
    );
    for u in &s.unmet {
        let _ = writeln!(o, "  {:<14} unmet: {}", "", sanitize(u));
    }
    if verbose {
        for c in &s.verify {
            let _ = writeln!(o, "  {:<14} verify: {}", "", sanitize(c));
        }
    }
}
