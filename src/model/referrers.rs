//! The referrers tag schema (distribution-spec v1.1.1 "Referrers Tag Schema"): tag names,
//! referrer descriptors and the read → merge → write of the `sha256-<hex>` index.

use super::digest::Digest;
use super::document::{Descriptor, Document, ManifestView};
use super::{gojson, jsonspan, media};
use serde_json::{json, Map, Value};

/// How a subject's referrers can be listed, and what is listed now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// The registry's Referrers API; the digests listed.
    Api {
        /// Listed referrer digests (any artifact type).
        listed: Vec<Digest>,
    },
    /// The referrers tag schema: the tag's current content (`None`: no such tag).
    Tag {
        /// The tag index bytes.
        existing: Option<Vec<u8>>,
        /// Digests it lists.
        listed: Vec<Digest>,
        /// The `ETag` the registry sent with `existing`: a write over it is conditional on it.
        etag: Option<String>,
    },
    /// An OCI layout: manifests reachable from `index.json` whose subject is this one.
    Layout {
        /// Their digests.
        listed: Vec<Digest>,
    },
    /// The referrers cannot be maintained (the tag holds something that is not an index).
    Unusable {
        /// Why.
        reason: String,
    },
}

impl Listing {
    /// The digests listed now.
    pub fn listed(&self) -> &[Digest] {
        match self {
            Listing::Api { listed } | Listing::Tag { listed, .. } | Listing::Layout { listed } => {
                listed
            }
            Listing::Unusable { .. } => &[],
        }
    }

    /// `api`, `tag` or `layout`.
    pub fn via(&self) -> Via {
        match self {
            Listing::Api { .. } => Via::Api,
            Listing::Tag { .. } => Via::Tag,
            Listing::Layout { .. } => Via::Layout,
            Listing::Unusable { .. } => Via::None,
        }
    }
}

/// How a referrer is (or will be) discoverable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The registry's Referrers API.
    Api,
    /// The referrers tag schema.
    Tag,
    /// An OCI layout's `index.json`.
    Layout,
    /// Not discoverable.
    None,
}

/// Referrers to add to one subject, on top of the listing they were planned from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrersUpdate {
    /// The subject.
    pub subject: Digest,
    /// Its referrers as read: a write is made only over exactly this state.
    pub listing: Listing,
    /// Descriptor values to add (from [`referrer_descriptor`]).
    pub additions: Vec<Value>,
}

impl ReferrersUpdate {
    /// The referrers tag this update writes, and whether it creates it (`None`: no tag).
    pub fn tag_write(&self) -> Option<(String, bool)> {
        match &self.listing {
            Listing::Tag { existing, .. } => {
                Some((fallback_tag(&self.subject), existing.is_none()))
            }
            _ => None,
        }
    }
}

/// The tag that holds the referrers of `subject`: the algorithm truncated to 32 characters, `-`,
/// the encoded part truncated to 64, anything outside `[a-zA-Z0-9._-]` replaced with `-`
/// (distribution-spec HEAD e839150a; the same as regclient `FallbackTag`).
pub fn fallback_tag(subject: &Digest) -> String {
    let clean = |s: &str, n: usize| -> String {
        s.chars()
            .take(n)
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!(
        "{}-{}",
        clean(subject.algorithm(), 32),
        clean(subject.encoded(), 64)
    )
}

/// The descriptor a referrers list carries for manifest `m` (bytes `bytes`): `mediaType`,
/// `digest`, `size`, the manifest's `annotations`, and `artifactType` (the manifest's, else its
/// config media type), in Go field order (formats.md §5(e)).
pub fn referrer_descriptor(bytes: &[u8], m: &ManifestView) -> Value {
    let mut d = Map::new();
    let mt = if m.media_type.is_empty() {
        media::OCI_MANIFEST
    } else {
        &m.media_type
    };
    d.insert("mediaType".into(), json!(mt));
    d.insert("digest".into(), json!(Digest::sha256(bytes).as_str()));
    d.insert("size".into(), json!(bytes.len()));
    if !m.annotations.is_empty() {
        d.insert("annotations".into(), json!(m.annotations));
    }
    let at = m
        .artifact_type
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| m.config.media_type.clone());
    d.insert("artifactType".into(), json!(at));
    Value::Object(d)
}

/// Why an existing `sha256-<hex>` tag cannot be used as a referrers index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagIndexError {
    /// The tag holds something that is not an OCI image index; it is never overwritten.
    #[error("tag {tag} holds {what}, not an OCI image index; refusing to overwrite it")]
    NotAnIndex {
        /// The tag.
        tag: String,
        /// What it holds.
        what: String,
    },
    /// The tag resolves to the subject itself (GitLab serves the subject for `sha256-<hex>`).
    #[error("tag {tag} resolves to the subject {subject} itself, not to a referrers index (GitLab does this): neither the Referrers API nor the referrers tag schema can work on this registry, so referrers cannot be made discoverable here; nothing was written")]
    IsSubject {
        /// The tag.
        tag: String,
        /// The subject.
        subject: Digest,
    },
}

/// Reads an existing tag-schema index: `Ok(entries)` when it is a usable referrers index for
/// `subject`.
pub fn read_tag_index(bytes: &[u8], subject: &Digest) -> Result<Vec<Descriptor>, TagIndexError> {
    let tag = fallback_tag(subject);
    if Digest::sha256(bytes) == *subject {
        return Err(TagIndexError::IsSubject {
            tag,
            subject: subject.clone(),
        });
    }
    let what = |s: String| TagIndexError::NotAnIndex {
        tag: tag.clone(),
        what: s,
    };
    match Document::parse(bytes, None) {
        Ok(Document::Index(i)) if i.media_type == media::OCI_INDEX || i.media_type.is_empty() => {
            match jsonspan::top_member(bytes, "manifests") {
                Ok(Some(_)) => Ok(i.manifests),
                Ok(None) => Err(what("an index without a manifests array".into())),
                Err(e) => Err(what(format!("an index referrify cannot edit safely ({e})"))),
            }
        }
        Ok(Document::Index(i)) => Err(what(format!("an index of type {}", i.media_type))),
        Ok(Document::Manifest(m)) => Err(what(format!("an image manifest ({})", m.media_type))),
        Err(e) => Err(what(format!("unreadable content ({e})"))),
    }
}

/// Merges `additions` (descriptor values from [`referrer_descriptor`]) into the tag index `existing`
/// (`None` = the tag does not exist). Existing entries are kept byte for byte; additions already
/// present (same digest) are skipped. `Ok(None)` means nothing changes and nothing is written.
pub fn merge(
    existing: Option<&[u8]>,
    subject: &Digest,
    additions: &[Value],
) -> Result<Option<Vec<u8>>, TagIndexError> {
    let present: Vec<String> = match existing {
        Some(bytes) => read_tag_index(bytes, subject)?
            .into_iter()
            .map(|d| d.digest.to_string())
            .collect(),
        None => Vec::new(),
    };
    let mut seen = present.clone();
    let mut new_items = Vec::new();
    for add in additions {
        let digest = add
            .get("digest")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !seen.contains(&digest) {
            seen.push(digest);
            new_items.push(add);
        }
    }
    if new_items.is_empty() {
        return Ok(None);
    }
    let Some(bytes) = existing else {
        let mut m = Map::new();
        m.insert("schemaVersion".into(), json!(2));
        m.insert("mediaType".into(), json!(media::OCI_INDEX));
        m.insert(
            "manifests".into(),
            Value::Array(new_items.into_iter().cloned().collect()),
        );
        return Ok(Some(gojson::to_compact(&Value::Object(m))));
    };
    // read_tag_index checked that the manifests array exists, so this fails only on bad JSON.
    jsonspan::append_to_member(bytes, "manifests", &new_items)
        .map(Some)
        .map_err(|e| TagIndexError::NotAnIndex {
            tag: fallback_tag(subject),
            what: format!("unscannable JSON ({e})"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::parse(s).unwrap()
    }

    #[test]
    fn tag_names() {
        let s = d("sha256:23678f31b3b3586c4fb318aecfe64a96a1f0916ba8faf9b2be2abee63fa9e827");
        assert_eq!(
            fallback_tag(&s),
            "sha256-23678f31b3b3586c4fb318aecfe64a96a1f0916ba8faf9b2be2abee63fa9e827"
        );
        let long = d(&format!("sha512:{}", "a".repeat(128)));
        assert_eq!(fallback_tag(&long), format!("sha512-{}", "a".repeat(64)));
        let odd = d(&format!("{}+b64:ab=c_d-e", "x".repeat(40)));
        assert_eq!(fallback_tag(&odd), format!("{}-ab-c_d-e", "x".repeat(32)));
    }

    #[test]
    fn refuses_non_index_and_subject() {
        let s = d("sha256:23678f31b3b3586c4fb318aecfe64a96a1f0916ba8faf9b2be2abee63fa9e827");
        let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        assert!(matches!(
            merge(Some(manifest), &s, &[json!({"digest":"x"})]),
            Err(TagIndexError::NotAnIndex { .. })
        ));
        let list = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#;
        assert!(matches!(
            merge(Some(list), &s, &[]),
            Err(TagIndexError::NotAnIndex { .. })
        ));
        assert!(matches!(
            merge(Some(b"hello"), &s, &[]),
            Err(TagIndexError::NotAnIndex { .. })
        ));
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#.to_vec();
        let sd = Digest::sha256(&idx);
        assert!(matches!(
            merge(Some(&idx), &sd, &[]),
            Err(TagIndexError::IsSubject { .. })
        ));
    }
}
