//! The plan for one image: which artifacts to create, which writes make them discoverable, and
//! (with `--index rewrite`) the new index. Inputs are what the store returned; output is data.

use super::artifact::{self, Artifact};
use super::referrers::{self, fallback_tag};
use super::rewrite::{self, EntryUpdate};
use crate::model::attestation::{self, IndexEntries};
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, IndexView, ManifestView};
use crate::model::media;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Bytes we read, with their digest and media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// Their sha256.
    pub digest: Digest,
    /// Media type (from the body, else the registry's `Content-Type`).
    pub media_type: String,
}

/// An attestation manifest as read.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedManifest {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// The view.
    pub view: ManifestView,
    /// Per layer, the predicate type read from the statement where the layer has no annotation.
    pub statement_types: Vec<Option<String>>,
}

/// Something about one entry that stops it from being converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The entry's digest.
    pub digest: Digest,
    /// What is wrong.
    pub message: String,
}

/// An image index and its attestation manifests, as read from a store.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedImage {
    /// The index bytes.
    pub index: Raw,
    /// The index view.
    pub view: IndexView,
    /// Its entries by role.
    pub entries: IndexEntries,
    /// Attestation manifests by digest.
    pub manifests: BTreeMap<Digest, LoadedManifest>,
    /// Attestation manifests that could not be read.
    pub failures: Vec<Problem>,
}

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

impl LoadedImage {
    /// Attestation entries that cannot be used: broken annotations, or manifests that could not be read.
    pub fn problems(&self) -> Vec<Problem> {
        let broken = self.entries.broken.iter().map(|s| Problem {
            digest: s.digest.clone(),
            message: s.reason.clone(),
        });
        broken.chain(self.failures.iter().cloned()).collect()
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

/// The state of the target store for an image's conversions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// Whether the `{}` blob is there.
    pub empty_blob: bool,
    /// Artifact manifests that exist.
    pub present: BTreeSet<Digest>,
    /// Per subject digest, how its referrers are listed.
    pub listings: BTreeMap<Digest, Listing>,
}

/// One write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Upload a blob (the `{}` config).
    PutBlob {
        /// Digest.
        digest: Digest,
        /// Content.
        bytes: Vec<u8>,
    },
    /// Push an artifact manifest by digest.
    PutManifest {
        /// Digest.
        digest: Digest,
        /// Content.
        bytes: Vec<u8>,
        /// Its subject.
        subject: Digest,
    },
    /// Write the referrers tag index of a subject.
    PutReferrersTag {
        /// The subject.
        subject: Digest,
        /// The tag (`sha256-<hex>`).
        tag: String,
        /// The new index.
        bytes: Vec<u8>,
        /// Referrers it adds.
        added: Vec<Digest>,
        /// Whether the tag is new.
        creates_tag: bool,
    },
    /// Add descriptors to an OCI layout's `index.json`.
    AddToLayoutIndex {
        /// Descriptor values (with `artifactType`).
        descriptors: Vec<Value>,
    },
    /// Push a rewritten image index and point the image's tags at it.
    PutIndex {
        /// The old index digest.
        old: Digest,
        /// The new digest.
        digest: Digest,
        /// The new index.
        bytes: Vec<u8>,
        /// Its media type.
        media_type: String,
    },
}

/// What happens to one conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPlan {
    /// Whether the artifact manifest gets pushed.
    pub push_artifact: bool,
    /// Whether it is discoverable already (nothing to do for it).
    pub already_listed: bool,
    /// How it will be discoverable.
    pub via: Via,
    /// Why it cannot be made discoverable, when it cannot.
    pub blocked: Option<String>,
}

impl ItemPlan {
    /// Discoverable before the run and nothing to push: no write concerns it.
    pub fn is_already_done(&self) -> bool {
        self.blocked.is_none() && self.already_listed && !self.push_artifact
    }
}

/// The plan for one image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImagePlan {
    /// Writes, in order: blobs, manifests, referrers tags / layout index, rewritten index.
    pub actions: Vec<Action>,
    /// One per conversion, same order.
    pub items: Vec<ItemPlan>,
    /// `(old, new)` index digests when the index is rewritten.
    pub rewrite: Option<(Digest, Digest)>,
}

impl ImagePlan {
    /// Whether nothing needs writing.
    pub fn is_noop(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Decides the writes for `convs` given the target's state. `rewrite`: the image whose index
/// gets its attestation entries repointed (`--index rewrite`); `None` leaves every index alone.
/// The conversions may come from several images of one repository: writes are grouped by
/// subject, so a subject shared by two images gets one referrers tag write.
pub fn plan(
    convs: &[Conversion],
    observed: &Observed,
    rewrite: Option<&LoadedImage>,
) -> Result<ImagePlan, rewrite::RewriteError> {
    let mut out = ImagePlan::default();
    let mut manifests = Vec::new();
    let mut tag_actions = Vec::new();
    let mut layout_descs = Vec::new();
    let mut need_empty_blob = false;
    // Group by subject: one tag write per subject even with several attestations.
    let mut by_subject: BTreeMap<&Digest, Vec<usize>> = BTreeMap::new();
    for (i, c) in convs.iter().enumerate() {
        by_subject.entry(&c.subject.digest).or_default().push(i);
    }
    let mut items: Vec<Option<ItemPlan>> = vec![None; convs.len()];
    for (subject, idxs) in by_subject {
        let listing = observed.listings.get(subject);
        let mut tag_adds = Vec::new();
        for &i in &idxs {
            let c = &convs[i];
            let present = observed.present.contains(&c.artifact.digest);
            let listed = listing.is_some_and(|l| l.listed().contains(&c.artifact.digest));
            let mut item = ItemPlan {
                push_artifact: false,
                already_listed: listed,
                via: listing.map(Listing::via).unwrap_or(Via::None),
                blocked: None,
            };
            match listing {
                None => item.blocked = Some("referrers could not be listed".into()),
                Some(Listing::Unusable { reason }) => item.blocked = Some(reason.clone()),
                Some(l) => {
                    // With the Referrers API, a manifest that exists but is not listed is pushed
                    // again: that is what makes the registry index it.
                    let push = !present || (matches!(l, Listing::Api { .. }) && !listed);
                    item.push_artifact = push;
                    if push {
                        if c.created {
                            need_empty_blob = true;
                        }
                        manifests.push(Action::PutManifest {
                            digest: c.artifact.digest.clone(),
                            bytes: c.artifact.bytes.clone(),
                            subject: subject.clone(),
                        });
                    }
                    if !listed {
                        match l {
                            Listing::Tag { .. } => tag_adds.push(c.descriptor.clone()),
                            Listing::Layout { .. } => layout_descs.push(c.descriptor.clone()),
                            _ => {}
                        }
                    }
                }
            }
            items[i] = Some(item);
        }
        if let Some(Listing::Tag { existing, .. }) = listing {
            match referrers::merge(existing.as_deref(), subject, &tag_adds) {
                Ok(Some(bytes)) => tag_actions.push(Action::PutReferrersTag {
                    subject: subject.clone(),
                    tag: fallback_tag(subject),
                    bytes,
                    added: tag_adds
                        .iter()
                        .filter_map(|d| d.get("digest").and_then(Value::as_str))
                        .filter_map(|d| Digest::parse(d).ok())
                        .collect(),
                    creates_tag: existing.is_none(),
                }),
                Ok(None) => {}
                Err(e) => {
                    // Cannot happen for a listing the store accepted; block rather than guess.
                    for &i in &idxs {
                        if let Some(it) = items[i].as_mut() {
                            it.blocked = Some(e.to_string());
                            it.push_artifact = false;
                        }
                    }
                    manifests.retain(
                        |a| !matches!(a, Action::PutManifest { subject: s, .. } if s == subject),
                    );
                }
            }
        }
    }
    if need_empty_blob && !observed.empty_blob {
        out.actions.push(Action::PutBlob {
            digest: Digest::parse(media::EMPTY_JSON_DIGEST).expect("constant digest"),
            bytes: media::EMPTY_JSON.to_vec(),
        });
    }
    out.actions.extend(manifests);
    out.actions.extend(tag_actions);
    if !layout_descs.is_empty() {
        out.actions.push(Action::AddToLayoutIndex {
            descriptors: layout_descs,
        });
    }
    out.items = items
        .into_iter()
        .map(|i| i.expect("every conversion planned"))
        .collect();
    if let Some(img) = rewrite {
        let usable: Vec<&Conversion> = convs
            .iter()
            .zip(&out.items)
            .filter(|(_, it)| it.blocked.is_none())
            .map(|(c, _)| c)
            .collect();
        if let Some(bytes) = rewritten_index(img, &usable)? {
            let digest = Digest::sha256(&bytes);
            out.rewrite = Some((img.index.digest.clone(), digest.clone()));
            out.actions.push(Action::PutIndex {
                old: img.index.digest.clone(),
                digest,
                bytes,
                media_type: img.index.media_type.clone(),
            });
        }
    }
    Ok(out)
}

/// The index `--index rewrite` makes of `img`: the entries of the created conversions repointed
/// to their artifacts, every other byte kept. `None` when nothing changes. Also what `undo
/// --restore-index` checks a tag against, to prove it points to referrify's rewrite.
pub fn rewritten_index(
    img: &LoadedImage,
    convs: &[&Conversion],
) -> Result<Option<Vec<u8>>, rewrite::RewriteError> {
    let updates: Vec<EntryUpdate> = convs
        .iter()
        .filter(|c| c.created)
        .map(|c| EntryUpdate {
            position: c.source_position,
            digest: c.artifact.digest.clone(),
            size: c.artifact.bytes.len() as u64,
            media_type: img
                .view
                .manifests
                .get(c.source_position)
                .filter(|d| d.media_type != media::OCI_MANIFEST)
                .map(|_| media::OCI_MANIFEST.to_string()),
        })
        .collect();
    if updates.is_empty() {
        return Ok(None);
    }
    let bytes = rewrite::rewrite_index(&img.index.bytes, &updates)?;
    Ok((Digest::sha256(&bytes) != img.index.digest).then_some(bytes))
}
