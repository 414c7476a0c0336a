//! `convert --repair-tag-entries`: entries of a referrers tag index written by go-containerregistry
//! before v0.22.1 (so by cosign before late 2026) lack `artifactType` and annotations
//! (go-containerregistry#2441, cosign#5098), so clients filtering by type never find them. The
//! repair is a byte-level edit of the tag: into each such entry, right after its `{`, the
//! members it lacks are inserted (`"artifactType":…,` then `"annotations":{…},`, compact Go JSON,
//! values from the entry's own manifest); every other byte stays. No tool writes `artifactType`
//! first (Go and JavaScript clients write `mediaType` first), so `undo` recognises an inserted
//! prefix by recomputing it from the same manifest and takes exactly it out again.

use super::digest::Digest;
use super::document::{Descriptor, ManifestView};
use super::jsonspan::{self, SpanError};
use super::referrers::{fallback_tag, read_tag_index, TagIndexError};
use super::{gojson, media};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::ops::Range;

/// One entry filled in (or, for undo, restored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRepair {
    /// The entry's manifest.
    pub digest: Digest,
    /// The `artifactType` added, if it was.
    pub artifact_type: Option<String>,
    /// The annotation keys added, if annotations were.
    pub annotations: Vec<String>,
}

/// The tag's new bytes and what changed, entry by entry.
pub type Edited<T> = (Vec<u8>, Vec<T>);

/// What fills in one entry: the members it lacks, in the order they are inserted.
fn insertion(entry: &Map<String, Value>, m: &ManifestView, at: bool, ann: bool) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    if at && !entry.contains_key("artifactType") {
        let t = m
            .artifact_type
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| m.config.media_type.clone());
        if t.is_empty() {
            return None;
        }
        out.extend_from_slice(b"\"artifactType\":");
        out.extend(gojson::to_compact(&json!(t)));
        out.push(b',');
    } else if at {
        return None;
    }
    if ann && !entry.contains_key("annotations") && !m.annotations.is_empty() {
        out.extend_from_slice(b"\"annotations\":");
        out.extend(gojson::to_compact(&json!(m.annotations)));
        out.push(b',');
    } else if ann {
        return None;
    }
    (!out.is_empty()).then_some(out)
}

/// The entries that lack `artifactType` or annotations: their manifests must be read.
pub fn entries_to_repair(bytes: &[u8], subject: &Digest) -> Result<Vec<Digest>, TagIndexError> {
    Ok(read_tag_index(bytes, subject)?
        .into_iter()
        .filter(|d| !d.raw.contains_key("artifactType") || !d.raw.contains_key("annotations"))
        .filter(|d| media::is_manifest(&d.media_type) || d.media_type.is_empty())
        .map(|d| d.digest)
        .collect())
}

/// The element spans of the tag index's `manifests`, with their parsed entries.
fn spans(bytes: &[u8], subject: &Digest) -> Result<Vec<(Range<usize>, Descriptor)>, TagIndexError> {
    let listed = read_tag_index(bytes, subject)?;
    let bad = |e: SpanError| TagIndexError::NotAnIndex {
        tag: fallback_tag(subject),
        what: format!("unscannable JSON ({e})"),
    };
    let arr = jsonspan::top_member(bytes, "manifests")
        .map_err(bad)?
        .unwrap_or(0..0);
    let elems = jsonspan::elements(bytes, arr).map_err(bad)?;
    Ok(elems.into_iter().zip(listed).collect())
}

/// Fills in every entry lacking `artifactType` or annotations from its manifest (`manifests`,
/// by digest; an entry whose manifest is not there is left alone). `Ok(None)`: nothing to do.
pub fn repair(
    bytes: &[u8],
    subject: &Digest,
    manifests: &BTreeMap<Digest, ManifestView>,
) -> Result<Option<Edited<EntryRepair>>, TagIndexError> {
    let mut edits = Vec::new();
    let mut done = Vec::new();
    for (span, d) in spans(bytes, subject)? {
        let Some(m) = manifests.get(&d.digest) else {
            continue;
        };
        let at = !d.raw.contains_key("artifactType");
        let ann = !d.raw.contains_key("annotations") && !m.annotations.is_empty();
        let Some(ins) = insertion(&d.raw, m, at, ann) else {
            continue;
        };
        edits.push((span.start + 1..span.start + 1, ins));
        done.push(EntryRepair {
            digest: d.digest.clone(),
            artifact_type: at.then(|| {
                m.artifact_type
                    .clone()
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| m.config.media_type.clone())
            }),
            annotations: if ann {
                m.annotations.keys().cloned().collect()
            } else {
                Vec::new()
            },
        });
    }
    if edits.is_empty() {
        return Ok(None);
    }
    Ok(Some((jsonspan::splice(bytes, edits), done)))
}

/// Entries whose leading members are exactly what [`repair`] inserts for their manifest: their
/// digests. Undo reads these manifests, then calls [`unrepair`].
pub fn repaired_candidates(bytes: &[u8], subject: &Digest) -> Result<Vec<Digest>, TagIndexError> {
    Ok(spans(bytes, subject)?
        .into_iter()
        .filter(|(span, _)| {
            let first = jsonspan::skip_ws(bytes, span.start + 1);
            bytes[first..].starts_with(b"\"artifactType\":")
                || bytes[first..].starts_with(b"\"annotations\":")
        })
        .map(|(_, d)| d.digest)
        .collect())
}

/// Takes out what [`repair`] inserted, byte for byte. An entry counts as repaired only when it
/// starts, right after `{`, with the exact bytes repair computes from its manifest and the rest
/// of it lacks those members. `Ok(None)`: no repaired entry.
pub fn unrepair(
    bytes: &[u8],
    subject: &Digest,
    manifests: &BTreeMap<Digest, ManifestView>,
) -> Result<Option<Edited<Digest>>, TagIndexError> {
    let mut edits = Vec::new();
    let mut restored = Vec::new();
    for (span, d) in spans(bytes, subject)? {
        let Some(m) = manifests.get(&d.digest) else {
            continue;
        };
        let body = &bytes[span.start + 1..span.end];
        for (at, ann) in [(true, true), (true, false), (false, true)] {
            let Some(rest) = strip(body, &d.raw, m, at, ann) else {
                continue;
            };
            edits.push((
                span.start + 1..span.start + 1 + (body.len() - rest),
                Vec::new(),
            ));
            restored.push(d.digest.clone());
            break;
        }
    }
    if edits.is_empty() {
        return Ok(None);
    }
    Ok(Some((jsonspan::splice(bytes, edits), restored)))
}

/// The length of `body` after the prefix repair would insert (`at`, `ann`: which members), if
/// `body` starts with exactly it and what follows lacks those members.
fn strip(
    body: &[u8],
    entry: &Map<String, Value>,
    m: &ManifestView,
    at: bool,
    ann: bool,
) -> Option<usize> {
    let mut original = entry.clone();
    if at {
        original.remove("artifactType")?;
    }
    if ann {
        original.remove("annotations")?;
    }
    let ins = insertion(&original, m, at, ann)?;
    let rest = body.strip_prefix(ins.as_slice())?;
    // What follows must be the original entry: the members it had, none of ours again.
    let parsed: Map<String, Value> =
        serde_json::from_slice(&[b"{".as_slice(), rest].concat()).ok()?;
    (parsed == original).then_some(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::document::Document;

    fn manifest(annotations: bool) -> (Vec<u8>, ManifestView) {
        let ann = if annotations {
            r#","annotations":{"dev.sigstore.bundle.content":"message-signature","b<":"x"}"#
        } else {
            ""
        };
        let b = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{}","size":2}},"layers":[]{ann}}}"#,
            media::EMPTY_JSON_DIGEST
        );
        let Document::Manifest(m) = Document::parse(b.as_bytes(), None).unwrap() else {
            panic!()
        };
        (b.into_bytes(), *m)
    }

    #[test]
    fn repair_then_unrepair_is_the_identity() {
        let (b1, m1) = manifest(true);
        let (b2, m2) = manifest(false);
        let (d1, d2) = (Digest::sha256(&b1), Digest::sha256(&b2));
        let typed = Digest::sha256(b"typed");
        let tag = format!(
            "{{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n  \"manifests\": [\n    {{ \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"size\": {}, \"digest\": \"{d1}\" }},\n    {{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":{},\"digest\":\"{d2}\"}},\n    {{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":1,\"digest\":\"{typed}\",\"artifactType\":\"x\"}}\n  ]\n}}",
            b1.len(),
            b2.len()
        );
        let subject = Digest::sha256(b"subject");
        let mut ms = BTreeMap::new();
        ms.insert(d1.clone(), m1);
        ms.insert(d2.clone(), m2);
        assert_eq!(
            entries_to_repair(tag.as_bytes(), &subject).unwrap(),
            [d1.clone(), d2.clone(), typed]
        );
        let (fixed, done) = repair(tag.as_bytes(), &subject, &ms).unwrap().unwrap();
        assert_eq!(done.len(), 2);
        assert_eq!(done[1].annotations.len(), 0);
        let after = read_tag_index(&fixed, &subject).unwrap();
        assert_eq!(
            after[0].artifact_type.as_deref(),
            Some("application/vnd.dev.sigstore.bundle.v0.3+json")
        );
        assert_eq!(after[0].annotations.len(), 2);
        assert!(String::from_utf8_lossy(&fixed).contains(r#""b\u003c":"x""#));
        // Nothing else moved: taking the inserted bytes out gives the original.
        assert_eq!(repair(&fixed, &subject, &ms).unwrap(), None);
        assert_eq!(
            repaired_candidates(&fixed, &subject).unwrap(),
            [d1.clone(), d2.clone()]
        );
        let (back, restored) = unrepair(&fixed, &subject, &ms).unwrap().unwrap();
        assert_eq!(back, tag.as_bytes());
        assert_eq!(restored, [d1, d2]);
        // An entry another tool wrote with artifactType first is not taken for ours.
        assert_eq!(unrepair(tag.as_bytes(), &subject, &ms).unwrap(), None);
    }

    fn view(at: Option<&str>, ann: &BTreeMap<String, String>) -> (Digest, ManifestView) {
        let mut m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.cncf.notary.signature", "digest": media::EMPTY_JSON_DIGEST, "size": 2},
            "layers": []
        });
        if let Some(t) = at {
            m["artifactType"] = json!(t);
        }
        if !ann.is_empty() {
            m["annotations"] = json!(ann);
        }
        let b = serde_json::to_vec(&m).unwrap();
        let Document::Manifest(v) = Document::parse(&b, None).unwrap() else {
            panic!()
        };
        (Digest::sha256(&b), *v)
    }

    proptest::proptest! {
        #[test]
        fn hostile_bytes_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let s = Digest::sha256(b"s");
            let ms = BTreeMap::new();
            let _ = entries_to_repair(&b, &s);
            let _ = repaired_candidates(&b, &s);
            let _ = repair(&b, &s, &ms);
            let _ = unrepair(&b, &s, &ms);
        }

        #[test]
        fn repair_is_undone_byte_for_byte(
            entries in proptest::collection::vec((
                proptest::option::of("[a-z/.+ <>\u{e9}\\\"]{1,12}"),
                proptest::collection::btree_map("[a-z.<>\u{2028}]{1,8}", "[ -~\u{e9}]{0,8}", 0..3),
                0..3u8,
                proptest::bool::ANY,
            ), 1..5),
            pretty in proptest::bool::ANY,
        ) {
            let subject = Digest::sha256(b"subject");
            let mut ms = BTreeMap::new();
            let mut items = Vec::new();
            for (n, (at, ann, form, has_ann)) in entries.iter().enumerate() {
                let mut ann = ann.clone();
                ann.insert(format!("n{n}"), String::new());
                let (d, v) = view(at.as_deref(), &ann);
                ms.insert(d.clone(), v);
                let sep = if pretty { ", " } else { "," };
                let mut e = format!("{{\"mediaType\":\"{}\"{sep}\"size\":1{sep}\"digest\":\"{d}\"", media::OCI_MANIFEST);
                if *form == 1 {
                    e.push_str(&format!("{sep}\"artifactType\":\"x\""));
                }
                if *has_ann {
                    e.push_str(&format!("{sep}\"annotations\":{{\"k\":\"v\"}}"));
                }
                e.push('}');
                items.push(if pretty { format!("\n    {e}") } else { e });
            }
            let tag = format!("{{\"schemaVersion\":2,\"manifests\":[{}]}}", items.join(","));
            let Some((fixed, done)) = repair(tag.as_bytes(), &subject, &ms).unwrap() else {
                // Only when every entry already has both members.
                proptest::prop_assert!(entries.iter().all(|(_, _, f, a)| *f == 1 && *a));
                return Ok(());
            };
            for d in read_tag_index(&fixed, &subject).unwrap() {
                proptest::prop_assert!(d.artifact_type.is_some());
                proptest::prop_assert!(!d.annotations.is_empty());
            }
            let (back, restored) = unrepair(&fixed, &subject, &ms).unwrap().unwrap();
            proptest::prop_assert_eq!(restored.len(), done.len());
            proptest::prop_assert_eq!(back, tag.as_bytes().to_vec());
        }
    }
}
