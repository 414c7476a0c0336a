//! What a supply-chain referrer is (formats.md §14): BuildKit attestations, Sigstore bundles,
//! cosign and Notation signatures, read from a referrers descriptor and, where the descriptor is
//! not enough, the referrer's manifest; and cosign's legacy tag scheme (`sha256-<hex>.sig`).
//! Pure: callers hand in what they read.

use super::digest::Digest;
use super::document::{Descriptor, ManifestView};
use super::media;
use serde::Serialize;
use std::collections::BTreeMap;

/// Sigstore bundle (cosign ≥ 3, GitHub artifact attestations).
pub const SIGSTORE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// cosign's OCI 1.1 signature artifact (`--registry-referrers-mode=oci-1-1`).
pub const COSIGN_SIGNATURE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// Notation signature (`artifactType`, or `config.mediaType` in older signatures).
pub const NOTATION_SIGNATURE: &str = "application/vnd.cncf.notary.signature";
/// Sigstore bundle annotation: `dsse-envelope` or `message-signature`.
pub const BUNDLE_CONTENT: &str = "dev.sigstore.bundle.content";
/// Sigstore bundle annotation: the DSSE statement's predicate type.
pub const BUNDLE_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";
/// The predicate type `cosign sign` gives its bundle signatures.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// The kind of a referrer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A BuildKit attestation manifest (its layers' predicate types).
    BuildkitAttestation,
    /// A Sigstore bundle holding a DSSE attestation.
    SigstoreAttestation,
    /// A Sigstore bundle holding a message signature (or `cosign sign`'s bundle).
    SigstoreSignature,
    /// A cosign OCI 1.1 signature.
    CosignSignature,
    /// A Notation signature.
    NotationSignature,
    /// cosign's legacy `.sig` tag.
    CosignTagSignature,
    /// cosign's legacy `.att` tag.
    CosignTagAttestation,
    /// cosign's legacy `.sbom` tag.
    CosignTagSbom,
    /// Anything else, by its `artifactType`.
    Other,
}

impl Kind {
    /// Whether it is a signature (of any producer).
    pub fn is_signature(&self) -> bool {
        matches!(
            self,
            Kind::SigstoreSignature
                | Kind::CosignSignature
                | Kind::NotationSignature
                | Kind::CosignTagSignature
        )
    }
}

/// A referrer as classified: its kind and the predicate types it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The kind.
    pub kind: Kind,
    /// The `artifactType` (else `config.mediaType`) it was classified by.
    pub artifact_type: Option<String>,
    /// Predicate types named (BuildKit layers, the Sigstore annotation).
    pub predicate_types: Vec<String>,
}

/// What classifies a referrer: the listed descriptor, or its manifest.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    /// `artifactType` (listed, else the manifest's).
    pub artifact_type: Option<&'a str>,
    /// `config.mediaType` (known only from the manifest).
    pub config_media_type: Option<&'a str>,
    /// The manifest's annotations (listed in the descriptor, or the manifest's own).
    pub annotations: &'a BTreeMap<String, String>,
    /// The layers' predicate-type annotations (known only from the manifest).
    pub layer_predicate_types: &'a [String],
}

impl<'a> Shape<'a> {
    /// The shape a referrers listing tells.
    pub fn of_descriptor(d: &'a Descriptor) -> Shape<'a> {
        Shape {
            artifact_type: d.artifact_type.as_deref().filter(|t| !t.is_empty()),
            config_media_type: None,
            annotations: &d.annotations,
            layer_predicate_types: &[],
        }
    }

    /// The shape the manifest itself tells (`types`: its layers' predicate types).
    pub fn of_manifest(m: &'a ManifestView, types: &'a [String]) -> Shape<'a> {
        Shape {
            artifact_type: m.artifact_type.as_deref().filter(|t| !t.is_empty()),
            config_media_type: Some(m.config.media_type.as_str()),
            annotations: &m.annotations,
            layer_predicate_types: types,
        }
    }
}

/// The layer annotation cosign's legacy `.att` manifests carry (`cosign attest`).
pub const COSIGN_PREDICATE_TYPE: &str = "predicateType";

/// The predicate types of a cosign `.att` manifest, from its layers' `predicateType`.
pub fn cosign_att_predicate_types(m: &ManifestView) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in &m.layers {
        if let Some(p) = l.annotations.get(COSIGN_PREDICATE_TYPE) {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
    }
    out
}

/// The predicate types a manifest's layers name (BuildKit's `in-toto.io/predicate-type`).
pub fn layer_predicate_types(m: &ManifestView) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in &m.layers {
        if let Some(p) = l.annotations.get(media::PREDICATE_TYPE) {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
    }
    out
}

/// Classifies a referrer. `None`: the shape does not say, and the manifest must be read (an
/// entry without `artifactType`, a Sigstore bundle without its annotations, a BuildKit
/// attestation whose predicate types are in its layers).
pub fn classify(s: Shape<'_>) -> Option<Classified> {
    let manifest_read = s.config_media_type.is_some();
    let at = s
        .artifact_type
        .or(s.config_media_type)
        .filter(|t| !t.is_empty() && !media::is_doubtful_artifact_type(Some(t)));
    let done = |kind, types: Vec<String>| {
        Some(Classified {
            kind,
            artifact_type: at.map(str::to_string),
            predicate_types: types,
        })
    };
    match at {
        Some(media::ATTESTATION_ARTIFACT_TYPE) if manifest_read => {
            done(Kind::BuildkitAttestation, s.layer_predicate_types.to_vec())
        }
        Some(media::ATTESTATION_ARTIFACT_TYPE) => None,
        Some(SIGSTORE_BUNDLE) => {
            let pt = s.annotations.get(BUNDLE_PREDICATE_TYPE);
            match (s.annotations.get(BUNDLE_CONTENT).map(String::as_str), pt) {
                (Some("message-signature"), _) => done(Kind::SigstoreSignature, Vec::new()),
                (_, Some(p)) if p == COSIGN_SIGN_PREDICATE => {
                    done(Kind::SigstoreSignature, vec![p.clone()])
                }
                (Some("dsse-envelope"), Some(p)) => {
                    done(Kind::SigstoreAttestation, vec![p.clone()])
                }
                _ if manifest_read => done(Kind::SigstoreAttestation, Vec::new()),
                _ => None,
            }
        }
        Some(COSIGN_SIGNATURE) => done(Kind::CosignSignature, Vec::new()),
        Some(NOTATION_SIGNATURE) => done(Kind::NotationSignature, Vec::new()),
        Some(_) => done(Kind::Other, Vec::new()),
        None if manifest_read => done(Kind::Other, Vec::new()),
        None => None,
    }
}

/// A cosign legacy tag-scheme tag: the digest it names and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignTag {
    /// The tag.
    pub tag: String,
    /// The digest the tag is about.
    pub subject: Digest,
    /// `.sig`, `.att` or `.sbom`.
    pub kind: Kind,
}

/// Parses `sha256-<64 hex>.sig|.att|.sbom`; anything else is `None`.
pub fn cosign_tag(tag: &str) -> Option<CosignTag> {
    let (stem, ext) = tag.rsplit_once('.')?;
    let kind = match ext {
        "sig" => Kind::CosignTagSignature,
        "att" => Kind::CosignTagAttestation,
        "sbom" => Kind::CosignTagSbom,
        _ => return None,
    };
    let hex = stem.strip_prefix("sha256-")?;
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let subject = Digest::parse(&format!("sha256:{hex}")).ok()?;
    Some(CosignTag {
        tag: tag.to_string(),
        subject,
        kind,
    })
}

/// What a predicate type is evidence of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// An SBOM (SPDX or CycloneDX).
    Sbom,
    /// SLSA provenance (v0.2 or v1).
    Provenance,
}

/// Whether a predicate type is an SBOM or provenance.
pub fn evidence(predicate_type: &str) -> Option<Evidence> {
    let p = predicate_type.to_ascii_lowercase();
    if p.starts_with("https://spdx.dev/document")
        || p.starts_with("https://cyclonedx.org/bom")
        || p == "https://cosign.sigstore.dev/attestation/spdx/v1"
    {
        Some(Evidence::Sbom)
    } else if p.starts_with("https://slsa.dev/provenance/") {
        Some(Evidence::Provenance)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape<'a>(at: Option<&'a str>, ann: &'a BTreeMap<String, String>) -> Shape<'a> {
        Shape {
            artifact_type: at,
            config_media_type: None,
            annotations: ann,
            layer_predicate_types: &[],
        }
    }

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kinds_from_descriptors() {
        let a = ann(&[
            (BUNDLE_CONTENT, "dsse-envelope"),
            (BUNDLE_PREDICATE_TYPE, "https://slsa.dev/provenance/v1"),
        ]);
        let c = classify(shape(Some(SIGSTORE_BUNDLE), &a)).unwrap();
        assert_eq!(c.kind, Kind::SigstoreAttestation);
        assert_eq!(c.predicate_types, ["https://slsa.dev/provenance/v1"]);
        let s = ann(&[(BUNDLE_CONTENT, "message-signature")]);
        assert_eq!(
            classify(shape(Some(SIGSTORE_BUNDLE), &s)).unwrap().kind,
            Kind::SigstoreSignature
        );
        let sign = ann(&[
            (BUNDLE_CONTENT, "dsse-envelope"),
            (BUNDLE_PREDICATE_TYPE, COSIGN_SIGN_PREDICATE),
        ]);
        assert_eq!(
            classify(shape(Some(SIGSTORE_BUNDLE), &sign)).unwrap().kind,
            Kind::SigstoreSignature
        );
        let none = BTreeMap::new();
        assert_eq!(classify(shape(Some(SIGSTORE_BUNDLE), &none)), None);
        assert_eq!(
            classify(shape(Some(COSIGN_SIGNATURE), &none)).unwrap().kind,
            Kind::CosignSignature
        );
        assert_eq!(
            classify(shape(Some(NOTATION_SIGNATURE), &none))
                .unwrap()
                .kind,
            Kind::NotationSignature
        );
        assert_eq!(
            classify(shape(Some("application/x.y"), &none))
                .unwrap()
                .kind,
            Kind::Other
        );
        assert_eq!(classify(shape(None, &none)), None);
        assert_eq!(
            classify(shape(Some(media::ATTESTATION_ARTIFACT_TYPE), &none)),
            None
        );
        // Notation's older form: no artifactType, the type as config.mediaType.
        let old = Shape {
            config_media_type: Some(NOTATION_SIGNATURE),
            ..shape(None, &none)
        };
        assert_eq!(classify(old).unwrap().kind, Kind::NotationSignature);
    }

    #[test]
    fn cosign_tags_parse() {
        let hex = "a".repeat(64);
        let t = cosign_tag(&format!("sha256-{hex}.att")).unwrap();
        assert_eq!(t.kind, Kind::CosignTagAttestation);
        assert_eq!(t.subject.encoded(), hex);
        assert!(cosign_tag(&format!("sha256-{hex}")).is_none());
        assert!(cosign_tag(&format!("sha256-{}.sig", "A".repeat(64))).is_none());
        assert!(cosign_tag("sha256-ab.sig").is_none());
        assert!(cosign_tag("v1.sig").is_none());
        assert!(cosign_tag(&format!("sha256-{hex}.sigs")).is_none());
    }

    #[test]
    fn evidence_of_predicates() {
        assert_eq!(evidence("https://spdx.dev/Document"), Some(Evidence::Sbom));
        assert_eq!(
            evidence("https://cyclonedx.org/bom/v1.5"),
            Some(Evidence::Sbom)
        );
        assert_eq!(
            evidence("https://slsa.dev/provenance/v0.2"),
            Some(Evidence::Provenance)
        );
        assert_eq!(evidence("https://example.com/x"), None);
    }

    proptest::proptest! {
        #[test]
        fn tag_parser_never_panics(t in "\\PC{0,80}") {
            if let Some(c) = cosign_tag(&t) {
                proptest::prop_assert_eq!(c.tag, t);
            }
        }
    }
}
