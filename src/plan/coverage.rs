//! Coverage of one platform manifest: is there an attestation, can a client discover it, and do
//! its statements name this manifest? Pure: the caller gathers the facts.

use crate::model::digest::Digest;
use crate::model::referrers::Via;
use serde::Serialize;

/// Which form of attestation exists for a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Found {
    /// An OCI 1.1 artifact (discoverable or not).
    Artifact,
    /// Only BuildKit's legacy in-index form.
    Legacy,
    /// None at all.
    None,
}

/// A platform's coverage in one word: the key of totals, tables and filters. Covered states
/// sort last, so gaps come first in a sorted table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlatformState {
    /// Referrers could not be listed (or a referrer could not be read).
    ListingFailed,
    /// No attestation of any form.
    NoAttestation,
    /// Only BuildKit's legacy in-index attestation: `referrify convert` fixes it.
    LegacyOnly,
    /// An OCI 1.1 attestation artifact exists but no client can discover it.
    NotDiscoverable,
    /// Discoverable, but an in-toto statement does not name this manifest (or cannot be read).
    SubjectMismatch,
    /// Discoverable through the registry's Referrers API.
    DiscoverableApi,
    /// Discoverable through the referrers tag schema (`sha256-<hex>`).
    DiscoverableTag,
    /// Discoverable in an OCI layout's `index.json`.
    DiscoverableLayout,
}

impl PlatformState {
    /// Whether a client finds a good attestation for the platform.
    pub fn is_covered(self) -> bool {
        matches!(
            self,
            PlatformState::DiscoverableApi
                | PlatformState::DiscoverableTag
                | PlatformState::DiscoverableLayout
        )
    }

    /// The kebab-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PlatformState::ListingFailed => "listing-failed",
            PlatformState::NoAttestation => "no-attestation",
            PlatformState::LegacyOnly => "legacy-only",
            PlatformState::NotDiscoverable => "not-discoverable",
            PlatformState::SubjectMismatch => "subject-mismatch",
            PlatformState::DiscoverableApi => "discoverable-api",
            PlatformState::DiscoverableTag => "discoverable-tag",
            PlatformState::DiscoverableLayout => "discoverable-layout",
        }
    }
}

/// The check of one in-toto layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementCheck {
    /// The attestation manifest holding the layer.
    pub manifest: Digest,
    /// The layer.
    pub layer: Digest,
    /// Its predicate type, when readable.
    pub predicate_type: Option<String>,
    /// Whether every `subject[].digest.sha256` equals the platform manifest digest.
    pub subject_matches: bool,
    /// Why the layer could not be checked, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The facts about one platform manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Attestation manifests named in the index: `(digest, is_artifact)`.
    pub in_index: Vec<(Digest, bool)>,
    /// How referrers are listed (`None`: listing failed, see `listing_error`).
    pub via: Option<Via>,
    /// Attestation referrers listed.
    pub listed: Vec<Digest>,
    /// Why listing failed.
    pub listing_error: Option<String>,
    /// Per in-toto layer of the attestations checked.
    pub statements: Vec<StatementCheck>,
    /// Whether statements were read at all (registry-wide checks skip them unless asked).
    pub statements_read: bool,
}

/// The verdict for one platform manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Which attestation form exists.
    pub attestation: Found,
    /// How it is discoverable.
    pub discoverable: Via,
    /// Whether every statement's subjects name this manifest (`None`: no statement checked).
    pub subjects_match: Option<bool>,
    /// Covered = discoverable and every statement names this manifest.
    pub covered: bool,
    /// Why it is not covered (empty when covered).
    pub reasons: Vec<String>,
    /// The state in one word.
    pub state: PlatformState,
}

/// Judges one platform manifest.
pub fn judge(f: &Facts) -> Verdict {
    let attestation = found(f);
    let discoverable = match f.via {
        Some(v) if !f.listed.is_empty() => v,
        _ => Via::None,
    };
    let subjects_match = if f.statements.is_empty() {
        None
    } else {
        Some(
            f.statements
                .iter()
                .all(|s| s.subject_matches && s.error.is_none()),
        )
    };
    let reasons = reasons(f, attestation, discoverable);
    let statements_ok = if f.statements_read {
        subjects_match == Some(true)
    } else {
        true
    };
    let covered = discoverable != Via::None && statements_ok && reasons.is_empty();
    Verdict {
        attestation,
        discoverable,
        subjects_match,
        covered,
        reasons,
        state: state(f, attestation, discoverable, covered),
    }
}

/// Which form of attestation exists: a listed referrer or an artifact in the index counts as
/// an artifact, even when the index also holds the legacy form.
fn found(f: &Facts) -> Found {
    if !f.listed.is_empty() || f.in_index.iter().any(|(_, art)| *art) {
        Found::Artifact
    } else if !f.in_index.is_empty() {
        Found::Legacy
    } else {
        Found::None
    }
}

/// Every reason the platform is not covered: the listing, the attestation's form, then each
/// statement.
fn reasons(f: &Facts, attestation: Found, discoverable: Via) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Some(e) = &f.listing_error {
        reasons.push(format!("referrers could not be listed: {e}"));
    }
    match (attestation, discoverable) {
        (Found::None, _) => reasons.push("no attestation".into()),
        (Found::Legacy, Via::None) => reasons.push(
            "legacy attestation only: not discoverable as a referrer (run referrify convert)"
                .into(),
        ),
        (Found::Artifact, Via::None) if f.listing_error.is_none() => reasons.push(
            "attestation artifact exists but is not listed as a referrer (run referrify convert)"
                .into(),
        ),
        _ => {}
    }
    reasons.extend(f.statements.iter().filter_map(statement_reason));
    if f.statements_read
        && attestation != Found::None
        && f.statements.is_empty()
        && f.listing_error.is_none()
    {
        reasons.push("no in-toto statement found in the attestation".into());
    }
    reasons
}

/// Why one in-toto layer fails the check, if it does.
fn statement_reason(s: &StatementCheck) -> Option<String> {
    if let Some(e) = &s.error {
        Some(format!(
            "layer {} of {}: {e}",
            s.layer.short(),
            s.manifest.short()
        ))
    } else if !s.subject_matches {
        Some(format!(
            "layer {} of {} ({}): in-toto subject does not name this manifest",
            s.layer.short(),
            s.manifest.short(),
            s.predicate_type.as_deref().unwrap_or("unknown predicate")
        ))
    } else {
        None
    }
}

/// The state in one word; a failed listing outranks the rest.
fn state(f: &Facts, attestation: Found, discoverable: Via, covered: bool) -> PlatformState {
    if f.listing_error.is_some() {
        PlatformState::ListingFailed
    } else if covered {
        match discoverable {
            Via::Api => PlatformState::DiscoverableApi,
            Via::Tag => PlatformState::DiscoverableTag,
            _ => PlatformState::DiscoverableLayout,
        }
    } else if discoverable != Via::None {
        PlatformState::SubjectMismatch
    } else {
        match attestation {
            Found::None => PlatformState::NoAttestation,
            Found::Legacy => PlatformState::LegacyOnly,
            Found::Artifact => PlatformState::NotDiscoverable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest::sha256(&[n])
    }

    fn st(ok: bool) -> StatementCheck {
        StatementCheck {
            manifest: d(1),
            layer: d(2),
            predicate_type: Some("p".into()),
            subject_matches: ok,
            error: None,
        }
    }

    #[test]
    fn verdicts() {
        let legacy = Facts {
            in_index: vec![(d(1), false)],
            via: Some(Via::Tag),
            listed: vec![],
            listing_error: None,
            statements: vec![st(true)],
            statements_read: true,
        };
        let v = judge(&legacy);
        assert_eq!(
            (v.attestation, v.discoverable, v.covered),
            (Found::Legacy, Via::None, false)
        );

        let done = Facts {
            listed: vec![d(3)],
            ..legacy.clone()
        };
        let v = judge(&done);
        assert_eq!(
            (v.attestation, v.discoverable, v.covered),
            (Found::Artifact, Via::Tag, true)
        );
        assert!(v.reasons.is_empty());

        let mismatch = Facts {
            statements: vec![st(true), st(false)],
            ..done.clone()
        };
        let v = judge(&mismatch);
        assert!(!v.covered);
        assert_eq!(v.subjects_match, Some(false));

        let none = Facts {
            in_index: vec![],
            via: Some(Via::Api),
            listed: vec![],
            listing_error: None,
            statements: vec![],
            statements_read: true,
        };
        let v = judge(&none);
        assert_eq!((v.attestation, v.covered), (Found::None, false));
        assert_eq!(v.reasons, ["no attestation"]);

        let failed = Facts {
            via: None,
            listing_error: Some("HTTP 500".into()),
            ..legacy
        };
        assert!(!judge(&failed).covered);
    }
}
