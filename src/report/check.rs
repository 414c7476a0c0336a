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

/// `referrify check REGISTRY` as text and HTML show it: the totals, every repository's roll-up,
/// and the images with gaps up to [`GAP_PLATFORMS_SHOWN`] platform manifests (memory and page
/// size stay bounded however large the registry; `--format json` streams every image instead).
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
    /// One per repository, sorted by name.
    pub repositories: Vec<RepositoryCoverage>,
    /// Totals.
    pub summary: CoverageSummary,
    /// Platform manifests with a gap that are counted but not shown (over the cap).
    pub gaps_not_shown: usize,
    /// A registry walk (the page rolls up repositories), not a check of images named.
    pub walked: bool,
}

/// Platform manifests with a gap kept for the text and HTML reports of a registry; the rest are
/// counted, and `--format json` lists them all.
pub const GAP_PLATFORMS_SHOWN: usize = 2000;

/// [`GAP_PLATFORMS_SHOWN`], or `REFERRIFY_GAPS_SHOWN` (lower only: for tests of the cap).
pub fn gap_platforms_shown() -> usize {
    std::env::var("REFERRIFY_GAPS_SHOWN")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(GAP_PLATFORMS_SHOWN, |n| n.min(GAP_PLATFORMS_SHOWN))
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
    /// The images kept for the report (in a registry walk: those with a gap, up to the cap).
    pub images: Vec<CheckImage>,
    /// Every image's counts (`repositories` and `requests` unused).
    #[serde(skip)]
    pub totals: CoverageSummary,
}

impl RepositoryCoverage {
    /// A repository whose images are all kept.
    pub fn of_images(repository: String, images: Vec<CheckImage>) -> RepositoryCoverage {
        let mut totals = CoverageSummary::default();
        images.iter().for_each(|i| totals.add_image(i));
        RepositoryCoverage {
            repository,
            error: None,
            images,
            totals,
        }
    }
}

/// One line of `check REGISTRY --format json` (schema
/// [`STREAM_SCHEMA_VERSION`](super::STREAM_SCHEMA_VERSION)): an image as it is checked.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckImageLine<'a> {
    /// `image`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The repository.
    pub repository: &'a str,
    /// As in `check REF`, plus its tags.
    #[serde(flatten)]
    pub image: &'a CheckImage,
}

/// One line of `check REGISTRY --format json`: a repository's counts when it is done.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryLine<'a> {
    /// `repository`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The repository.
    pub repository: &'a str,
    /// Why it could not be read (fully).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
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
    pub states: &'a BTreeMap<PlatformState, usize>,
}

impl<'a> RepositoryLine<'a> {
    /// The line of a finished repository.
    pub fn of(r: &'a RepositoryCoverage) -> RepositoryLine<'a> {
        let t = &r.totals;
        RepositoryLine {
            kind: "repository",
            repository: &r.repository,
            error: r.error.as_deref(),
            images: t.images,
            failed_images: t.failed_images,
            platforms: t.platforms,
            covered: t.covered,
            uncovered: t.uncovered,
            states: &t.states,
        }
    }
}

/// The last line of `check REGISTRY --format json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrySummaryLine<'a> {
    /// `summary`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`STREAM_SCHEMA_VERSION`](super::STREAM_SCHEMA_VERSION).
    pub schema_version: u32,
    /// `check`.
    pub command: &'static str,
    /// The registry host as given.
    pub registry: &'a str,
    /// Whether in-toto statements were read (`--statements`).
    pub statements_checked: bool,
    /// Totals.
    #[serde(flatten)]
    pub summary: &'a CoverageSummary,
    /// Why the catalog walk stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog_error: Option<&'a str>,
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
    /// Adds one repository's totals.
    pub fn add(&mut self, repo: &RepositoryCoverage) {
        self.repositories += 1;
        self.failed_repositories += usize::from(repo.error.is_some());
        let t = &repo.totals;
        self.images += t.images;
        self.failed_images += t.failed_images;
        self.platforms += t.platforms;
        self.covered += t.covered;
        self.uncovered += t.uncovered;
        for (state, n) in &t.states {
            *self.states.entry(*state).or_default() += n;
        }
        self.supply = self.supply.plus(t.supply);
    }

    /// Adds one image; a check of images ([`CheckSummary`]) counts the same way.
    pub fn add_image(&mut self, i: &CheckImage) {
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
        self.supply = self.supply.plus(SupplyTotals::of(std::iter::once(i)));
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
        gaps_not_shown: usize,
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
            gaps_not_shown,
            walked: true,
        }
    }
}
