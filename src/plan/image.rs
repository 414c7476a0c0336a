//! An image's conversions: for each usable attestation entry, the OCI 1.1 artifact it becomes.

use super::artifact::{self, Artifact};
use crate::model::attestation;
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, ManifestView};
use crate::model::image::{LoadedImage, Problem};
use crate::model::media;
use crate::model::referrers;
use serde_json::Value;

/// One attestation and its OCI 1.1 artifact form.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    /// The platform manifest's index entry.
    pub subject: Descriptor,
    /// `os/arch[/variant]` of the subject.
    pub platform: String,
    /// The attestation entry's digest in the index.
    pub source: Digest,
    /// The attestation entry's position in the index.
    pub source_position: usize,
    /// The artifact manifest (new bytes, or the existing ones when already an artifact).
    pub artifact: Artifact,
    /// Whether we created the artifact (false: the index entry already was one).
    pub created: bool,
    /// Predicate types, in layer order.
    pub predicate_types: Vec<String>,
    /// The descriptor a referrers list carries for the artifact.
    pub descriptor: Value,
}

impl Conversion {
    /// The artifact's own `artifactType`, as its referrers descriptor carries it.
    pub fn artifact_type(&self) -> Option<String> {
        self.descriptor
            .get("artifactType")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

/// Derives the conversions of an image: one per usable attestation entry.
pub fn conversions(img: &LoadedImage) -> (Vec<Conversion>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut problems = img.problems();
    for a in &img.entries.attestations {
        let Some(m) = img.manifests.get(&a.descriptor.digest) else {
            continue;
        };
        let Some(p) = img.entries.platform_at(a.subject_position) else {
            continue;
        };
        let subject = &p.descriptor;
        let types: Vec<Option<String>> = attestation::annotated_predicate_types(&m.view)
            .into_iter()
            .zip(m.statement_types.iter().chain(std::iter::repeat(&None)))
            .map(|(ann, st)| ann.or_else(|| st.clone()))
            .collect();
        let (art, created) = if attestation::is_artifact(&m.view) {
            let sd = m.view.subject.as_ref().map(|s| &s.digest);
            if sd != Some(&subject.digest) {
                problems.push(Problem {
                    digest: a.descriptor.digest.clone(),
                    message: format!(
                        "already an artifact, but its subject {} differs from {} {}",
                        sd.map(|d| d.to_string()).unwrap_or_default(),
                        media::REFERENCE_DIGEST,
                        subject.digest
                    ),
                });
                continue;
            }
            (Artifact::from_bytes(m.bytes.clone()), false)
        } else {
            match artifact::build(&m.view, subject, &types) {
                Ok(art) => (art, true),
                Err(e) => {
                    problems.push(Problem {
                        digest: a.descriptor.digest.clone(),
                        message: e.to_string(),
                    });
                    continue;
                }
            }
        };
        let view = if created {
            match crate::model::document::Document::parse_manifest(&art.bytes, None) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(Problem {
                        digest: a.descriptor.digest.clone(),
                        message: format!("internal: generated artifact does not parse: {e}"),
                    });
                    continue;
                }
            }
        } else {
            m.view.clone()
        };
        out.push(Conversion {
            subject: subject.clone(),
            platform: p.platform(),
            source: a.descriptor.digest.clone(),
            source_position: a.position,
            descriptor: referrers::referrer_descriptor(&art.bytes, &view),
            artifact: art,
            created,
            predicate_types: types
                .into_iter()
                .map(|t| t.unwrap_or_else(|| "unknown".into()))
                .collect(),
        });
    }
    (out, problems)
}

/// The conversion of an artifact manifest already pushed with a `subject` (BuildKit v0.32's
/// artifacts, `oras attach`): nothing to build, only to list under its subject. `None`: the
/// manifest has no subject. `raw_bytes` are the manifest's bytes as stored.
pub fn existing_artifact(raw_bytes: &[u8], view: &ManifestView) -> Option<Conversion> {
    let subject = view.subject.clone()?;
    let art = Artifact::from_bytes(raw_bytes.to_vec());
    let predicate_types = attestation::annotated_predicate_types(view)
        .into_iter()
        .map(|t| t.unwrap_or_else(|| "unknown".into()))
        .collect();
    Some(Conversion {
        platform: subject
            .platform
            .as_ref()
            .map(|p| p.display())
            .unwrap_or_else(|| "unknown".into()),
        subject,
        source: art.digest.clone(),
        source_position: 0,
        descriptor: referrers::referrer_descriptor(raw_bytes, view),
        artifact: art,
        created: false,
        predicate_types,
    })
}
