//! Which index entries are BuildKit attestations, and which platform manifest each one describes.
//! Rules from BuildKit's `docs/attestations/attestation-storage.md` (formats.md §3, §8).

use super::digest::Digest;
use super::document::{Descriptor, IndexView, ManifestView};
use super::media;

/// A platform (image) manifest entry of an index.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformEntry {
    /// Position in `manifests`.
    pub position: usize,
    /// The entry.
    pub descriptor: Descriptor,
}

impl PlatformEntry {
    /// `os/arch[/variant]`, or `unknown` when the entry has no platform.
    pub fn platform(&self) -> String {
        self.descriptor
            .platform
            .as_ref()
            .map(|p| p.display())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// An `attestation-manifest` entry and the platform entry it describes.
#[derive(Debug, Clone, PartialEq)]
pub struct AttestationEntry {
    /// Position in `manifests`.
    pub position: usize,
    /// The entry (digest and size of the attestation manifest).
    pub descriptor: Descriptor,
    /// Position of the platform entry named by `vnd.docker.reference.digest`.
    pub subject_position: usize,
}

/// An entry we leave alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The entry's digest.
    pub digest: Digest,
    /// Why it is not converted.
    pub reason: String,
}

/// The entries of an index, sorted by role.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IndexEntries {
    /// Image manifests.
    pub platforms: Vec<PlatformEntry>,
    /// Attestation manifests whose subject is in the index.
    pub attestations: Vec<AttestationEntry>,
    /// Entries with another `vnd.docker.reference.type`: left alone, as BuildKit says.
    pub skipped: Vec<Skipped>,
    /// Attestation entries that cannot be used (no or unknown subject digest).
    pub broken: Vec<Skipped>,
}

/// Sorts the entries of `index` by role.
pub fn classify(index: &IndexView) -> IndexEntries {
    let mut out = IndexEntries::default();
    let mut refs = Vec::new();
    for (position, d) in index.manifests.iter().enumerate() {
        match d.annotations.get(media::REFERENCE_TYPE) {
            None => out.platforms.push(PlatformEntry {
                position,
                descriptor: d.clone(),
            }),
            Some(t) if t == media::ATTESTATION_MANIFEST => refs.push((position, d)),
            Some(t) => out.skipped.push(Skipped {
                digest: d.digest.clone(),
                reason: format!(
                    "{} is {t:?}, not {:?}",
                    media::REFERENCE_TYPE,
                    media::ATTESTATION_MANIFEST
                ),
            }),
        }
    }
    for (position, d) in refs {
        let named = d
            .annotations
            .get(media::REFERENCE_DIGEST)
            .or_else(|| d.annotations.get(media::REFERENCE_DIGEST_OLD));
        let broken = |reason: String| Skipped {
            digest: d.digest.clone(),
            reason,
        };
        let Some(named) = named else {
            out.broken.push(broken(format!(
                "attestation entry has no {} annotation",
                media::REFERENCE_DIGEST
            )));
            continue;
        };
        match out
            .platforms
            .iter()
            .find(|p| p.descriptor.digest.as_str() == named)
        {
            Some(p) => out.attestations.push(AttestationEntry {
                position,
                descriptor: d.clone(),
                subject_position: p.position,
            }),
            None => out.broken.push(broken(format!(
                "{} names {named}, which is not an image manifest in this index",
                media::REFERENCE_DIGEST
            ))),
        }
    }
    out
}

impl IndexEntries {
    /// The platform entry at index position `position`.
    pub fn platform_at(&self, position: usize) -> Option<&PlatformEntry> {
        self.platforms.iter().find(|p| p.position == position)
    }
}

/// Whether an attestation manifest already is an OCI 1.1 artifact (BuildKit `oci-artifact=true`):
/// it has both `artifactType` and `subject`.
pub fn is_artifact(m: &ManifestView) -> bool {
    m.artifact_type.as_deref().is_some_and(|t| !t.is_empty()) && m.subject.is_some()
}

/// Predicate types named by the in-toto layers' annotations, in layer order.
pub fn annotated_predicate_types(m: &ManifestView) -> Vec<Option<String>> {
    m.layers
        .iter()
        .map(|l| l.annotations.get(media::PREDICATE_TYPE).cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::document::Document;

    fn idx(entries: &str) -> IndexView {
        Document::parse_index(
            format!(r#"{{"schemaVersion":2,"manifests":[{entries}]}}"#).as_bytes(),
            None,
        )
        .unwrap()
    }

    const P: &str = "sha256:23678f31b3b3586c4fb318aecfe64a96a1f0916ba8faf9b2be2abee63fa9e827";
    const A: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    #[test]
    fn sorts_entries_by_role() {
        let platform = format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{P}","size":1}}"#
        );
        let att = |ty: &str, key: &str, target: &str| {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{A}","size":1,"annotations":{{"{key}":"{target}","vnd.docker.reference.type":"{ty}"}}}}"#
            )
        };
        let e = classify(&idx(&format!(
            "{platform},{}",
            att("attestation-manifest", media::REFERENCE_DIGEST, P)
        )));
        assert_eq!((e.platforms.len(), e.attestations.len()), (1, 1));
        assert_eq!(e.attestations[0].subject_position, 0);
        // The older annotation key buildx still reads.
        let e = classify(&idx(&format!(
            "{platform},{}",
            att("attestation-manifest", media::REFERENCE_DIGEST_OLD, P)
        )));
        assert_eq!(e.attestations.len(), 1);
        // Another reference type is left alone; BuildKit says to ignore such manifests.
        let e = classify(&idx(&format!(
            "{platform},{}",
            att("signature", media::REFERENCE_DIGEST, P)
        )));
        assert_eq!(
            (e.attestations.len(), e.skipped.len(), e.platforms.len()),
            (0, 1, 1)
        );
        // A subject that is not in the index is a broken entry, not a guess.
        let e = classify(&idx(&format!(
            "{platform},{}",
            att("attestation-manifest", media::REFERENCE_DIGEST, A)
        )));
        assert_eq!((e.attestations.len(), e.broken.len()), (0, 1));
        assert!(e.broken[0]
            .reason
            .contains("not an image manifest in this index"));
    }
}
