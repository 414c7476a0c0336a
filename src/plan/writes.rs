//! The writes for a batch of conversions: which artifacts to push, which referrers to add, and
//! (with `--index rewrite`) the new index. Inputs are what the store returned; output is data.

use super::image::Conversion;
use crate::model::digest::Digest;
use crate::model::image::LoadedImage;
use crate::model::media;
use crate::model::referrers::{self, Listing, ReferrersUpdate, Via};
use crate::model::rewrite::{self, EntryUpdate};
use std::collections::{BTreeMap, BTreeSet};

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
    /// Add referrers to a subject, on top of its listing (a referrers tag or `index.json`).
    AddReferrers(ReferrersUpdate),
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
/// subject, so a subject shared by two images gets one referrers write.
pub fn plan(
    convs: &[Conversion],
    observed: &Observed,
    rewrite: Option<&LoadedImage>,
) -> Result<ImagePlan, rewrite::RewriteError> {
    let mut by_subject: BTreeMap<&Digest, Vec<usize>> = BTreeMap::new();
    for (i, c) in convs.iter().enumerate() {
        by_subject.entry(&c.subject.digest).or_default().push(i);
    }
    let mut items: Vec<Option<ItemPlan>> = vec![None; convs.len()];
    let mut manifests = Vec::new();
    let mut updates = Vec::new();
    for (subject, idxs) in by_subject {
        let s = plan_subject(convs, observed, subject, &idxs);
        for (i, item) in idxs.iter().zip(s.items) {
            items[*i] = Some(item);
        }
        manifests.extend(s.manifests);
        updates.extend(s.update.map(Action::AddReferrers));
    }
    let mut out = ImagePlan {
        items: items
            .into_iter()
            .map(|i| i.expect("every conversion planned"))
            .collect(),
        ..ImagePlan::default()
    };
    let need_empty_blob = convs
        .iter()
        .zip(&out.items)
        .any(|(c, it)| it.push_artifact && c.created);
    if need_empty_blob && !observed.empty_blob {
        out.actions.push(Action::PutBlob {
            digest: Digest::parse(media::EMPTY_JSON_DIGEST).expect("constant digest"),
            bytes: media::EMPTY_JSON.to_vec(),
        });
    }
    out.actions.extend(manifests);
    out.actions.extend(updates);
    if let Some(img) = rewrite {
        plan_rewrite(&mut out, convs, img)?;
    }
    Ok(out)
}

/// The writes for one subject's conversions.
struct SubjectPlan {
    items: Vec<ItemPlan>,
    manifests: Vec<Action>,
    update: Option<ReferrersUpdate>,
}

fn plan_subject(
    convs: &[Conversion],
    observed: &Observed,
    subject: &Digest,
    idxs: &[usize],
) -> SubjectPlan {
    let listing = observed.listings.get(subject);
    let mut out = SubjectPlan {
        items: Vec::with_capacity(idxs.len()),
        manifests: Vec::new(),
        update: None,
    };
    let mut additions = Vec::new();
    for c in idxs.iter().map(|&i| &convs[i]) {
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
                let present = observed.present.contains(&c.artifact.digest);
                item.push_artifact = !present || (matches!(l, Listing::Api { .. }) && !listed);
                if item.push_artifact {
                    out.manifests.push(Action::PutManifest {
                        digest: c.artifact.digest.clone(),
                        bytes: c.artifact.bytes.clone(),
                        subject: subject.clone(),
                    });
                }
                if !listed && matches!(l, Listing::Tag { .. } | Listing::Layout { .. }) {
                    additions.push(c.descriptor.clone());
                }
            }
        }
        out.items.push(item);
    }
    if additions.is_empty() {
        return out;
    }
    let Some(listing) = listing else {
        return out;
    };
    if let Listing::Tag { existing, .. } = listing {
        // Cannot fail for a listing the store accepted; block rather than guess.
        if let Err(e) = referrers::merge(existing.as_deref(), subject, &additions) {
            for it in &mut out.items {
                it.blocked = Some(e.to_string());
                it.push_artifact = false;
            }
            out.manifests.clear();
            return out;
        }
    }
    out.update = Some(ReferrersUpdate {
        subject: subject.clone(),
        listing: listing.clone(),
        additions,
    });
    out
}

/// Adds the rewritten index (`--index rewrite`) of `img` to the plan, when it changes.
fn plan_rewrite(
    out: &mut ImagePlan,
    convs: &[Conversion],
    img: &LoadedImage,
) -> Result<(), rewrite::RewriteError> {
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
    Ok(())
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
