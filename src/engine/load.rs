//! Reads an image from a store: its top document and, for an index, its attestation manifests
//! (and the statements whose predicate type no annotation gives). Every command loads images here.

use crate::model::attestation;
use crate::model::digest::Digest;
use crate::model::document::{Document, ManifestView, ParseError};
use crate::model::image::{LoadedImage, LoadedManifest, Problem, Raw};
use crate::model::media;
use crate::model::statement::StatementError;
use crate::store::{Store, StoreError};
use futures_util::future::join_all;
use std::collections::BTreeMap;

/// What a reference resolved to.
pub enum Loaded {
    /// An image index, with its attestation manifests.
    Index(LoadedImage),
    /// A single image manifest (no index, so no in-index attestations).
    Manifest(Raw, ManifestView),
}

/// How much of an index to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The index and its attestation manifests (what converting needs).
    Attestations,
    /// The index alone, its entries classified (a registry-wide check reads attestation
    /// manifests only where it must).
    Index,
}

/// An image could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The image's top document is not something we understand.
    #[error("{digest}: {source}")]
    Unreadable {
        /// Its digest.
        digest: Digest,
        /// Why.
        #[source]
        source: ParseError,
    },
}

/// One attestation manifest could not be read (the image's other entries still are).
#[derive(Debug, thiserror::Error)]
pub enum AttestationError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The manifest does not parse.
    #[error("attestation manifest: {0}")]
    Manifest(#[source] ParseError),
    /// A statement blob could not be read.
    #[error("reading statement {digest}: {source}")]
    StatementRead {
        /// The layer.
        digest: Digest,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// A statement does not parse.
    #[error("statement {digest}: {source}")]
    Statement {
        /// The layer.
        digest: Digest,
        /// Why.
        #[source]
        source: StatementError,
    },
}

/// Reads the image the store's reference names and every attestation manifest its index lists.
pub async fn load(store: &Store) -> Result<Loaded, LoadError> {
    let raw = store.resolve().await?;
    load_raw(store, raw, Depth::Attestations).await
}

/// [`load`] for an image already read (a registry walk resolves tags itself). A failing
/// attestation manifest is recorded in `failures`; the others are still read.
pub async fn load_raw(store: &Store, raw: Raw, depth: Depth) -> Result<Loaded, LoadError> {
    let doc = match Document::parse(&raw.bytes, Some(&raw.media_type)) {
        Ok(d) => d,
        Err(source) => {
            return Err(LoadError::Unreadable {
                digest: raw.digest,
                source,
            })
        }
    };
    let view = match doc {
        Document::Manifest(m) => return Ok(Loaded::Manifest(raw, *m)),
        Document::Index(i) => *i,
    };
    let entries = attestation::classify(&view);
    let mut digests: Vec<&Digest> = Vec::new();
    if depth == Depth::Attestations {
        let mut seen = std::collections::BTreeSet::new();
        for a in &entries.attestations {
            if seen.insert(&a.descriptor.digest) {
                digests.push(&a.descriptor.digest);
            }
        }
    }
    let results = join_all(digests.iter().map(|d| load_attestation(store, d))).await;
    let mut manifests = BTreeMap::new();
    let mut failures = Vec::new();
    for (d, r) in digests.into_iter().zip(results) {
        match r {
            Ok(m) => {
                manifests.insert(d.clone(), m);
            }
            Err(e) => failures.push(Problem {
                digest: d.clone(),
                message: e.to_string(),
            }),
        }
    }
    Ok(Loaded::Index(LoadedImage {
        index: raw,
        view,
        entries,
        manifests,
        failures,
    }))
}

async fn load_attestation(store: &Store, d: &Digest) -> Result<LoadedManifest, AttestationError> {
    let bytes = store.manifest(d).await?;
    let view = Document::parse_manifest(&bytes, None).map_err(AttestationError::Manifest)?;
    // Docker media types carry no predicate-type annotation: read it from the statement.
    let mut statement_types = Vec::with_capacity(view.layers.len());
    for l in &view.layers {
        let needs =
            l.media_type == media::IN_TOTO && !l.annotations.contains_key(media::PREDICATE_TYPE);
        if !needs {
            statement_types.push(None);
            continue;
        }
        let st = store
            .statement(&l.digest)
            .await
            .map_err(|source| AttestationError::StatementRead {
                digest: l.digest.clone(),
                source,
            })?
            .map_err(|source| AttestationError::Statement {
                digest: l.digest.clone(),
                source,
            })?;
        statement_types.push(Some(st.predicate_type));
    }
    Ok(LoadedManifest {
        bytes,
        view,
        statement_types,
    })
}

/// The image manifests among `digests`, read concurrently; unreadable ones and indexes are left
/// out (callers treat a missing one as "could not be read").
pub async fn manifest_views(store: &Store, digests: Vec<Digest>) -> BTreeMap<Digest, ManifestView> {
    let fetched = join_all(digests.iter().map(|d| async move {
        let bytes = store.manifest(d).await.ok()?;
        match Document::parse(&bytes, None).ok()? {
            Document::Manifest(m) => Some(*m),
            Document::Index(_) => None,
        }
    }))
    .await;
    digests
        .into_iter()
        .zip(fetched)
        .filter_map(|(d, m)| m.map(|m| (d, m)))
        .collect()
}
