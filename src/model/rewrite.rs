//! `--index rewrite`: the image index with each legacy attestation entry's digest and size
//! replaced by its artifact's. Only those two values change, so for an index BuildKit wrote the
//! result is byte-identical to BuildKit v0.32's own index for the same build (formats.md §5(d)).

use crate::model::digest::Digest;
use crate::model::{gojson, jsonspan};

/// One entry to repoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryUpdate {
    /// Position of the entry in `manifests`.
    pub position: usize,
    /// The new digest.
    pub digest: Digest,
    /// The new size.
    pub size: u64,
    /// The new media type, when it changes (a Docker schema 2 entry becoming an OCI artifact).
    pub media_type: Option<String>,
}

/// The index could not be edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot rewrite index entry {position}: {reason}")]
pub struct RewriteError {
    /// The entry.
    pub position: usize,
    /// Why.
    pub reason: String,
}

/// Returns `index` with the digest and size of each updated entry replaced in place.
pub fn rewrite_index(index: &[u8], updates: &[EntryUpdate]) -> Result<Vec<u8>, RewriteError> {
    let fail = |position: usize, reason: String| RewriteError { position, reason };
    let arr = jsonspan::top_member(index, "manifests")
        .map_err(|e| fail(0, e.to_string()))?
        .ok_or_else(|| fail(0, "the index has no manifests".into()))?;
    let elems = jsonspan::elements(index, arr).map_err(|e| fail(0, e.to_string()))?;
    let mut edits = Vec::new();
    for u in updates {
        let el = elems
            .get(u.position)
            .ok_or_else(|| fail(u.position, "no such entry".into()))?;
        let members =
            jsonspan::members(index, el.clone()).map_err(|e| fail(u.position, e.to_string()))?;
        let find = |key: &str| {
            jsonspan::unique_member(&members, key)
                .map_err(|e| fail(u.position, e.to_string()))?
                .ok_or_else(|| fail(u.position, format!("entry has no {key}")))
        };
        let mut digest = Vec::new();
        gojson::write_string(&mut digest, u.digest.as_str().as_bytes());
        edits.push((find("digest")?, digest));
        edits.push((find("size")?, u.size.to_string().into_bytes()));
        if let Some(mt) = &u.media_type {
            let mut v = Vec::new();
            gojson::write_string(&mut v, mt.as_bytes());
            edits.push((find("mediaType")?, v));
        }
    }
    Ok(jsonspan::splice(index, edits))
}
