//! Supply-chain coverage of one platform manifest: is there a discoverable SBOM, provenance and
//! signature (on the manifest or on its image index), where each was found, and which of the
//! requirements a pipeline asks for (`check --require`) are unmet, and why. Pure: the engine
//! classifies what it listed (model::supply) and hands it in.

use crate::model::digest::Digest;
use crate::model::supply::{self, Classified, CosignTag, Evidence, Kind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::str::FromStr;

/// What a referrer is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum On {
    /// The platform manifest.
    Platform,
    /// The image index that holds it.
    Index,
}

/// How a client finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Discovery {
    /// Any referrers client (Referrers API, referrers tag schema, OCI layout).
    Referrers,
    /// Only cosign, through its legacy `sha256-<hex>.sig|.att|.sbom` tags.
    CosignTag,
}

/// One supply-chain item found for a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// What it is.
    pub kind: Kind,
    /// Its manifest digest (referrers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Its tag (cosign's tag scheme).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// What it is attached to.
    pub on: On,
    /// How a client finds it.
    pub discoverable: Discovery,
    /// Its `artifactType` (referrers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Predicate types it names.
    pub predicate_types: Vec<String>,
}

/// The facts about one platform manifest's supply chain.
#[derive(Debug, Clone, Default)]
pub struct SupplyFacts {
    /// Referrers of the platform manifest, classified.
    pub platform: Vec<(Digest, Classified)>,
    /// Referrers of its image index, classified.
    pub index: Vec<(Digest, Classified)>,
    /// cosign tag-scheme tags naming the platform manifest.
    pub platform_tags: Vec<CosignTag>,
    /// cosign tag-scheme tags naming the index.
    pub index_tags: Vec<CosignTag>,
    /// Predicate types of BuildKit's legacy in-index attestation (not discoverable).
    pub legacy_predicate_types: Vec<String>,
    /// Whether cosign's tags were looked at (they are where the tag list was read).
    pub tags_read: bool,
    /// Predicate types of cosign `.att` tags read, by tag.
    pub att_types: BTreeMap<String, Vec<String>>,
}

/// A requirement of `check --require`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// A discoverable SPDX or CycloneDX SBOM.
    Sbom,
    /// Discoverable SLSA provenance.
    Provenance,
    /// A signature on the platform manifest or its index.
    Signature,
}

impl FromStr for Requirement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "sbom" => Ok(Requirement::Sbom),
            "provenance" => Ok(Requirement::Provenance),
            "signature" => Ok(Requirement::Signature),
            other => Err(format!(
                "unknown requirement {other:?}: expected sbom, provenance or signature"
            )),
        }
    }
}

impl Requirement {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Requirement::Sbom => "sbom",
            Requirement::Provenance => "provenance",
            Requirement::Signature => "signature",
        }
    }
}

/// The supply-chain coverage of one platform manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Supply {
    /// Everything found, platform first, then its index.
    pub items: Vec<Item>,
    /// The SBOM found (a referrer preferred over a cosign tag), if any.
    pub sbom: Option<Item>,
    /// The provenance found, if any.
    pub provenance: Option<Item>,
    /// The signature found, if any.
    pub signature: Option<Item>,
    /// Commands that verify each item independently (filled in by the caller).
    pub verify: Vec<String>,
    /// Requirements of `--require` not met, each with why (empty without `--require`).
    pub unmet: Vec<String>,
}

/// Gathers the items and picks the SBOM, provenance and signature.
pub fn assess(f: &SupplyFacts) -> Supply {
    let mut items = Vec::new();
    for (on, refs) in [(On::Platform, &f.platform), (On::Index, &f.index)] {
        items.extend(refs.iter().map(|(d, c)| Item {
            kind: c.kind.clone(),
            digest: Some(d.clone()),
            tag: None,
            on,
            discoverable: Discovery::Referrers,
            artifact_type: c.artifact_type.clone(),
            predicate_types: c.predicate_types.clone(),
        }));
    }
    for (on, tags) in [(On::Platform, &f.platform_tags), (On::Index, &f.index_tags)] {
        items.extend(tags.iter().map(|t| Item {
            kind: t.kind.clone(),
            digest: None,
            tag: Some(t.tag.clone()),
            on,
            discoverable: Discovery::CosignTag,
            artifact_type: None,
            predicate_types: f.att_types.get(&t.tag).cloned().unwrap_or_default(),
        }));
    }
    // Items are in preference order: referrers before cosign tags, platform before index.
    let pick = |want: &dyn Fn(&Item) -> bool| items.iter().find(|i| want(i)).cloned();
    let of = |e: Evidence| {
        move |i: &Item| {
            i.predicate_types
                .iter()
                .any(|p| supply::evidence(p) == Some(e))
                || (e == Evidence::Sbom && i.kind == Kind::CosignTagSbom)
        }
    };
    Supply {
        sbom: pick(&of(Evidence::Sbom)),
        provenance: pick(&of(Evidence::Provenance)),
        signature: pick(&|i: &Item| i.kind.is_signature()),
        items,
        verify: Vec::new(),
        unmet: Vec::new(),
    }
}

/// Why each of `required` is not met by `s` (empty: all met).
pub fn unmet(s: &Supply, f: &SupplyFacts, required: &[Requirement]) -> Vec<String> {
    required
        .iter()
        .filter_map(|r| {
            let found = match r {
                Requirement::Sbom => &s.sbom,
                Requirement::Provenance => &s.provenance,
                Requirement::Signature => &s.signature,
            };
            found.is_none().then(|| why(*r, s, f))
        })
        .collect()
}

fn why(r: Requirement, s: &Supply, f: &SupplyFacts) -> String {
    let what = match r {
        Requirement::Sbom => "no discoverable SPDX or CycloneDX SBOM",
        Requirement::Provenance => "no discoverable SLSA provenance",
        Requirement::Signature => "no signature",
    };
    let legacy = |e: Evidence| {
        f.legacy_predicate_types
            .iter()
            .any(|p| supply::evidence(p) == Some(e))
    };
    let hint = match r {
        Requirement::Sbom if legacy(Evidence::Sbom) => {
            " (BuildKit's legacy in-index attestation has one: run referrify convert)"
        }
        Requirement::Provenance if legacy(Evidence::Provenance) => {
            " (BuildKit's legacy in-index attestation has it: run referrify convert)"
        }
        Requirement::Sbom | Requirement::Provenance
            if s.items.iter().any(|i| i.kind == Kind::CosignTagAttestation) =>
        {
            " (a cosign .att tag exists but names no such predicate type)"
        }
        Requirement::Signature if !f.tags_read => {
            " on the platform manifest or its index as a referrer (cosign's .sig tags are looked for only by a registry-wide check, which lists tags)"
        }
        Requirement::Signature => " on the platform manifest or its index",
        _ => "",
    };
    format!("{}: {what}{hint}", r.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(kind: Kind, types: &[&str]) -> Classified {
        Classified {
            kind,
            artifact_type: Some("t".into()),
            predicate_types: types.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn picks_and_requirements() {
        let d = |n: u8| Digest::sha256(&[n]);
        let f = SupplyFacts {
            platform: vec![(
                d(1),
                c(Kind::BuildkitAttestation, &["https://spdx.dev/Document"]),
            )],
            index: vec![(d(2), c(Kind::NotationSignature, &[]))],
            tags_read: true,
            ..Default::default()
        };
        let s = assess(&f);
        assert_eq!(s.sbom.as_ref().unwrap().on, On::Platform);
        assert_eq!(s.signature.as_ref().unwrap().on, On::Index);
        assert!(s.provenance.is_none());
        let all = [
            Requirement::Sbom,
            Requirement::Provenance,
            Requirement::Signature,
        ];
        let u = unmet(&s, &f, &all);
        assert_eq!(u.len(), 1, "{u:?}");
        assert!(u[0].starts_with("provenance: "), "{u:?}");

        let legacy = SupplyFacts {
            legacy_predicate_types: vec!["https://slsa.dev/provenance/v0.2".into()],
            ..Default::default()
        };
        let u = unmet(&assess(&legacy), &legacy, &all);
        assert_eq!(u.len(), 3);
        assert!(u[1].contains("referrify convert"), "{u:?}");
        assert!(u[2].contains("registry-wide"), "{u:?}");
        assert_eq!("sbom".parse::<Requirement>(), Ok(Requirement::Sbom));
        assert!("x".parse::<Requirement>().is_err());
    }
}
