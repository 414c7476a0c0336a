//! What `undo` takes back from a referrers tag: exactly the entries referrify added. A tag whose
//! bytes are what referrify writes for a new tag holding only those entries was created by
//! referrify and is deleted; any other tag keeps every other byte.

use crate::model::digest::Digest;
use crate::model::jsonspan;
use crate::model::referrers::{merge, read_tag_index, TagIndexError};
use serde_json::Value;

/// What to do with one subject's referrers tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagUndo {
    /// None of our entries is in it.
    Nothing,
    /// Write it back without our entries.
    Rewrite {
        /// The new bytes.
        bytes: Vec<u8>,
        /// Entries taken out.
        removed: Vec<Digest>,
    },
    /// referrify created it and it holds only our entries: delete it.
    Delete {
        /// Entries it held.
        removed: Vec<Digest>,
    },
}

/// Takes `ours` (the descriptors referrify lists for its artifacts) out of the tag index `bytes`.
pub fn unmerge(bytes: &[u8], subject: &Digest, ours: &[Value]) -> Result<TagUndo, TagIndexError> {
    let listed = read_tag_index(bytes, subject)?;
    let mine = |d: &Digest| {
        ours.iter()
            .any(|o| o.get("digest").and_then(Value::as_str) == Some(d.as_str()))
    };
    let removed: Vec<Digest> = listed
        .iter()
        .map(|d| d.digest.clone())
        .filter(|d| mine(d))
        .collect();
    if removed.is_empty() {
        return Ok(TagUndo::Nothing);
    }
    if removed.len() == listed.len() {
        // Created by referrify: byte for byte what it writes for a new tag with these entries.
        let in_order: Vec<Value> = removed
            .iter()
            .filter_map(|d| {
                ours.iter()
                    .find(|o| o.get("digest").and_then(Value::as_str) == Some(d.as_str()))
                    .cloned()
            })
            .collect();
        if merge(None, subject, &in_order)?.as_deref() == Some(bytes) {
            return Ok(TagUndo::Delete { removed });
        }
    }
    let out = jsonspan::remove_from_member(bytes, "manifests", |i| {
        listed.get(i).is_some_and(|d| mine(&d.digest))
    })
    .map_err(|e| TagIndexError::NotAnIndex {
        tag: crate::model::referrers::fallback_tag(subject),
        what: format!("unscannable JSON ({e})"),
    })?;
    Ok(TagUndo::Rewrite {
        bytes: out,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desc(n: u8) -> Value {
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": Digest::sha256(&[n]).to_string(),
            "size": 1,
            "artifactType": "application/vnd.docker.attestation.manifest.v1+json"
        })
    }

    #[test]
    fn created_tags_are_deleted_shared_tags_rewritten() {
        let s = Digest::sha256(b"subject");
        let ours = [desc(1), desc(2)];
        let created = merge(None, &s, &ours).unwrap().unwrap();
        assert!(
            matches!(unmerge(&created, &s, &ours).unwrap(), TagUndo::Delete { removed } if removed.len() == 2)
        );

        // A tag another tool made (pretty-printed, one foreign entry), grown by ours.
        let foreign = format!(
            "{{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n  \"manifests\": [\n    {}\n  ]\n}}",
            desc(9)
        );
        let grown = merge(Some(foreign.as_bytes()), &s, &ours).unwrap().unwrap();
        match unmerge(&grown, &s, &ours).unwrap() {
            TagUndo::Rewrite { bytes, removed } => {
                assert_eq!(
                    String::from_utf8(bytes).unwrap(),
                    foreign,
                    "the foreign bytes come back"
                );
                assert_eq!(removed.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            unmerge(foreign.as_bytes(), &s, &ours).unwrap(),
            TagUndo::Nothing
        );
        // Ours only, but not written by referrify (another layout): emptied, not deleted.
        let other = format!(
            "{{\"manifests\":[{}],\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"schemaVersion\":2}}",
            desc(1)
        );
        assert!(matches!(
            unmerge(other.as_bytes(), &s, &ours).unwrap(),
            TagUndo::Rewrite { .. }
        ));
    }
}
