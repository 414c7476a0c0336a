//! The JSON schema of `check`: coverage per platform manifest, per image and, for a registry,
//! per repository, with the totals.

use super::supply::SupplyTotals;
use super::{Problem, SCHEMA_VERSION};
use crate::model::digest::Digest;
use crate::model::referrers::Via;
use crate::plan::coverage::{Found, PlatformState, StatementCheck};
use crate::plan::supply::Supply;
use serde::Serialize;
use std::collections::BTreeMap;

/// `referrify check` output.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `check`.
    pub command: &'static str,
    /// One per image reference.
    pub images: Vec<CheckImage>,
    /// Totals.
    pub summary: CheckSummary,
}

/// Totals of a check run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckSummary {
    /// Images checked.
    pub images: usize,
    /// Images that could not be read.
    pub failed_images: usize,
    /// Platform manifests seen.
    pub platforms: usize,
    /// Covered platform manifests.
    pub covered: usize,
    /// Platform manifests with a gap.
    pub uncovered: usize,
    /// Platforms with an SBOM, provenance, a signature, an unmet `--require`.
    pub supply: SupplyTotals,
}

/// Coverage of one image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckImage {
    /// The reference as given.
    pub reference: String,
    /// The index (or manifest) digest read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Tags that point to this image (registry-wide checks; empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Why the image could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// One per platform manifest.
    pub platforms: Vec<PlatformReport>,
    /// Index entries that are broken.
    pub problems: Vec<Problem>,
}

/// Coverage of one platform manifest.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformReport {
    /// `os/arch[/variant]`.
    pub platform: String,
    /// The platform manifest.
    pub digest: Digest,
    /// `artifact`, `legacy` or `none`.
    pub attestation: Found,
    /// `api`, `tag`, `layout` or `none`.
    pub discoverable: Via,
    /// Attestation referrers listed.
    pub referrers: Vec<Digest>,
    /// Predicate types found.
    pub predicate_types: Vec<String>,
    /// Whether every statement's subject names this manifest (`null`: none checked).
    pub subjects_match: Option<bool>,
    /// The checked statements.
    pub statements: Vec<StatementCheck>,
    /// Covered: discoverable and every statement names this manifest.
    pub covered: bool,
    /// The state in one word (`discoverable-api`, `legacy-only`, ...).
    pub state: PlatformState,
    /// Why not covered.
    pub reasons: Vec<String>,
    /// A command an independent client can run to confirm.
    pub confirm: String,
    /// The command that closes the gap, when referrify can.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// What a person should know about the listing: a referrer listed under another
    /// `artifactType` than its own, say (left out when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// SBOM, provenance and signatures found for it or its index (docs/supply-chain.md).
    pub supply: Supply,
}

/// `referrify check REGISTRY`: coverage across repositories.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCheckReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `check`.
    pub command: &'static str,
    /// The registry host as given.
    pub registry: String,
    /// Whether in-toto statements were read (`--statements`).
    pub statements_checked: bool,
    /// One per repository, in catalog order.
    pub repositories: Vec<RepositoryCoverage>,
    /// Totals.
    pub summary: CoverageSummary,
}

/// Coverage of one repository.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryCoverage {
    /// The repository name.
    pub repository: String,
    /// Why it could not be read (its tags could not be listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// One per distinct image (index or manifest digest) its tags point to.
    pub images: Vec<CheckImage>,
}

/// Totals of a registry-wide check.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoverageSummary {
    /// Repositories checked.
    pub repositories: usize,
    /// Repositories that could not be read.
    pub failed_repositories: usize,
    /// Distinct images checked.
    pub images: usize,
    /// Images that could not be read.
    pub failed_images: usize,
    /// Platform manifests checked.
    pub platforms: usize,
    /// Covered platform manifests.
    pub covered: usize,
    /// Platform manifests with a gap.
    pub uncovered: usize,
    /// Platform manifests per state.
    pub states: BTreeMap<PlatformState, usize>,
    /// HTTP requests sent (tokens and retries included).
    pub requests: u64,
    /// Platforms with an SBOM, provenance, a signature, an unmet `--require`.
    pub supply: SupplyTotals,
}

impl CoverageSummary {
    /// Adds one repository's images to the totals.
    pub fn add(&mut self, repo: &RepositoryCoverage) {
        self.repositories += 1;
        self.failed_repositories += usize::from(repo.error.is_some());
        for i in &repo.images {
            self.add_image(i);
        }
        self.supply = self.supply.plus(SupplyTotals::of(&repo.images));
    }

    /// Adds one image; a check of images ([`CheckSummary`]) counts the same way.
    fn add_image(&mut self, i: &CheckImage) {
        self.images += 1;
        self.failed_images += usize::from(i.error.is_some());
        for p in &i.platforms {
            self.platforms += 1;
            if p.covered {
                self.covered += 1;
            } else {
                self.uncovered += 1;
            }
            *self.states.entry(p.state).or_default() += 1;
        }
    }
}

impl CheckSummary {
    /// The totals of a check of images.
    pub fn of(images: &[CheckImage]) -> CheckSummary {
        let mut s = CoverageSummary::default();
        for i in images {
            s.add_image(i);
        }
        CheckSummary {
            images: s.images,
            failed_images: s.failed_images,
            platforms: s.platforms,
            covered: s.covered,
            uncovered: s.uncovered,
            supply: SupplyTotals::of(images),
        }
    }
}

impl RegistryCheckReport {
    /// The report of a registry-wide check, repositories sorted by name.
    pub fn of(
        registry: String,
        statements: bool,
        mut repositories: Vec<RepositoryCoverage>,
        requests: u64,
    ) -> RegistryCheckReport {
        repositories.sort_by(|a, b| a.repository.cmp(&b.repository));
        let mut summary = CoverageSummary::default();
        for r in &repositories {
            summary.add(r);
        }
        summary.requests = requests;
        RegistryCheckReport {
            schema_version: SCHEMA_VERSION,
            command: "check",
            registry,
            statements_checked: statements,
            repositories,
            summary,
        }
    }
}
