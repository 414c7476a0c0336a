//! `referrify undo`: takes back exactly what referrify added to a registry. The artifacts are
//! recomputed from the legacy attestations (their bytes are deterministic), so undo needs no
//! record of the run: it removes those artifacts' entries from referrers tags (other entries
//! stay byte for byte), deletes a referrers tag only when referrify created it and it then holds
//! nothing, and deletes the artifact manifests where the registry allows deletion.

use super::Context;
use crate::cli::UndoArgs;
use crate::exit::Exit;
use crate::input::{self, Loaded};
use crate::model::digest::Digest;
use crate::model::reference::{parse_registry, ImageRef};
use crate::plan::image::{self as planning, Conversion, Listing};
use crate::plan::referrers::fallback_tag;
use crate::plan::undo::{unmerge, TagUndo};
use crate::report::{Problem, UndoImage, UndoReport, UndoSummary, SCHEMA_VERSION};
use crate::store::registry::RegistryStore;
use crate::store::Store;
use crate::walk::{self, Found};
use futures_util::StreamExt as _;
use std::io::Write;
use std::sync::Arc;

/// Runs `undo` over images or a whole registry.
pub async fn run(ctx: &Context, args: &UndoArgs, out: &mut dyn Write) -> Exit {
    let g = &ctx.global;
    let usage = |m: String| {
        eprintln!("referrify: {}", crate::report::sanitize::sanitize(&m));
        Exit::Usage
    };
    let mut images: Vec<UndoImage> = Vec::new();
    match args.refs.as_slice() {
        [one] if parse_registry(one).is_some() => {
            let registry = parse_registry(one).unwrap_or_default();
            let selection = match args.scope.selection(None) {
                Ok(s) => Arc::new(s),
                Err(e) => return usage(e),
            };
            let client = match ctx.registry_client(&registry) {
                Ok(c) => c,
                Err(e) => return usage(e.to_string()),
            };
            let (registry, selection) = (&registry, &selection);
            let steps = walk::repositories(client, selection.clone())
                .map(|f| async move {
                    match f {
                        Found::Repository(name) => match ctx.repository(registry, &name) {
                            Ok(store) => match walk::images(&store, selection).await {
                                Ok(Some((imgs, _))) => {
                                    let raws = imgs
                                        .into_iter()
                                        .map(|t| {
                                            (
                                                format!("{}:{}", store.reference, t.tags.join(",")),
                                                Some(t.raw),
                                            )
                                        })
                                        .collect();
                                    undo_repository(store, raws, args.dry_run).await
                                }
                                Ok(None) => {
                                    vec![failed(&name, format!("repository {name} not found"))]
                                }
                                Err(e) => vec![failed(&name, format!("listing tags: {e}"))],
                            },
                            Err(e) => vec![failed(&name, e.to_string())],
                        },
                        Found::Failed(e) => vec![failed("(catalog)", e)],
                    }
                })
                .buffer_unordered((g.jobs.max(1) * 2).max(4));
            let mut steps = std::pin::pin!(steps);
            while let Some(mut r) = steps.next().await {
                images.append(&mut r);
            }
        }
        [one] if args.restore_index.is_some() => {
            let d = args.restore_index.as_deref().unwrap_or_default();
            let old = match Digest::parse(d) {
                Ok(d) => d,
                Err(e) => return usage(format!("--restore-index: {e}")),
            };
            let r =
                match ImageRef::parse(one) {
                    Ok(ImageRef::Registry(r)) if r.tag.is_some() && r.digest.is_none() => r,
                    Ok(_) => return usage(
                        "--restore-index needs one registry image named by its tag (HOST/REPO:TAG)"
                            .into(),
                    ),
                    Err(e) => return usage(e.to_string()),
                };
            match ctx.open(&ImageRef::Registry(r.clone())) {
                Ok(Store::Registry(store)) => {
                    images.extend(restore_then_undo(store, one, &old, args.dry_run).await)
                }
                Ok(Store::Layout(_)) => {}
                Err(e) => images.push(failed(one, e.to_string())),
            }
        }
        refs if args.restore_index.is_some() && refs.len() != 1 => {
            return usage("--restore-index takes exactly one REF:TAG".into());
        }
        refs => {
            if refs.is_empty() {
                return usage("name images (HOST/REPO:TAG) or one registry (HOST[:PORT])".into());
            }
            for text in refs {
                let r = match ImageRef::parse(text) {
                    Ok(ImageRef::Registry(r)) => r,
                    Ok(ImageRef::Layout(_)) => {
                        images.push(failed(text, "undo works on registries; an OCI layout keeps referrify's writes in index.json, where they can be removed by hand".into()));
                        continue;
                    }
                    Err(e) => return usage(e.to_string()),
                };
                let store = match ctx.open(&ImageRef::Registry(r)) {
                    Ok(Store::Registry(s)) => s,
                    Ok(Store::Layout(_)) => continue,
                    Err(e) => {
                        images.push(failed(text, e.to_string()));
                        continue;
                    }
                };
                images
                    .extend(undo_repository(store, vec![(text.clone(), None)], args.dry_run).await);
            }
        }
    }
    images.sort_by(|a, b| a.reference.cmp(&b.reference));
    let mut summary = UndoSummary::default();
    for i in &images {
        summary.images += 1;
        summary.failed_images += usize::from(i.error.is_some());
        summary.removed_entries += i.removed_entries;
        summary.tags_rewritten += i.tags_rewritten.len();
        summary.tags_deleted += i.tags_deleted.len();
        summary.artifacts_deleted += i.artifacts_deleted.len();
        summary.artifacts_kept += i.artifacts_kept.len();
    }
    let report = UndoReport {
        schema_version: SCHEMA_VERSION,
        command: "undo",
        dry_run: args.dry_run,
        images,
        summary,
    };
    super::emit(out, g, &report, || crate::report::text::undo(&report));
    if report.summary.failed_images > 0 {
        Exit::Failure
    } else {
        Exit::Ok
    }
}

fn failed(reference: &str, error: String) -> UndoImage {
    UndoImage {
        reference: reference.to_string(),
        digest: None,
        error: Some(error),
        ..UndoImage::default()
    }
}

/// Undoes referrify's writes for the images of one repository (`raw`: already read, or `None` to
/// resolve the store's reference).
async fn undo_repository(
    store: RegistryStore,
    images: Vec<(String, Option<planning::Raw>)>,
    dry_run: bool,
) -> Vec<UndoImage> {
    let store = Store::Registry(store);
    let mut out: Vec<UndoImage> = Vec::new();
    let mut convs: Vec<(usize, Conversion)> = Vec::new();
    for (text, raw) in images {
        let loaded = match raw {
            Some(raw) => input::load_raw(&store, raw).await,
            None => input::load(&store).await,
        };
        let mut rep = UndoImage {
            reference: text.clone(),
            ..UndoImage::default()
        };
        match loaded {
            Ok(Loaded::Index(img)) => {
                rep.digest = Some(img.index.digest.clone());
                let (cs, _) = planning::conversions(&img);
                for c in cs.into_iter().filter(|c| c.created) {
                    if !convs
                        .iter()
                        .any(|(_, x)| x.artifact.digest == c.artifact.digest)
                    {
                        convs.push((out.len(), c));
                    }
                }
            }
            Ok(Loaded::Manifest(raw, _)) => rep.digest = Some(raw.digest),
            Err(e) => rep.error = Some(e.to_string()),
        }
        out.push(rep);
    }
    // Referrers tags first (so no listing names a deleted manifest), then the artifacts.
    let mut subjects: Vec<&Digest> = Vec::new();
    for (_, c) in &convs {
        if !subjects.contains(&&c.subject.digest) {
            subjects.push(&c.subject.digest);
        }
    }
    let Store::Registry(rs) = &store else {
        return out;
    };
    for subject in subjects {
        let owner = convs
            .iter()
            .find(|(_, c)| &c.subject.digest == subject)
            .map(|(i, _)| *i)
            .unwrap_or(0);
        let ours: Vec<serde_json::Value> = convs
            .iter()
            .filter(|(_, c)| &c.subject.digest == subject)
            .map(|(_, c)| c.descriptor.clone())
            .collect();
        let tag = fallback_tag(subject);
        let listing = match store.referrers(subject).await {
            Ok(l) => l.listing,
            Err(e) => {
                out[owner].error = Some(format!("listing referrers of {subject}: {e}"));
                continue;
            }
        };
        let Listing::Tag {
            existing: Some(bytes),
            ..
        } = listing
        else {
            continue;
        };
        let result = match unmerge(&bytes, subject, &ours) {
            Ok(TagUndo::Nothing) => Ok(()),
            Ok(TagUndo::Rewrite { bytes, removed }) => {
                out[owner].removed_entries += removed.len();
                out[owner].tags_rewritten.push(tag.clone());
                if dry_run {
                    Ok(())
                } else {
                    rs.put_tag(&tag, crate::model::media::OCI_INDEX, &bytes)
                        .await
                }
            }
            Ok(TagUndo::Delete { removed }) => {
                out[owner].removed_entries += removed.len();
                out[owner].tags_deleted.push(tag.clone());
                if dry_run {
                    Ok(())
                } else {
                    rs.client
                        .delete_manifest(&rs.reference.repository, &Digest::sha256(&bytes))
                        .await
                        .map(|_| ())
                        .map_err(Into::into)
                }
            }
            Err(e) => Err(crate::store::StoreError::Conflict(e.to_string())),
        };
        if let Err(e) = result {
            out[owner].error = Some(format!("referrers tag {tag}: {e}"));
        }
    }
    for (owner, c) in &convs {
        if out[*owner].error.is_some() {
            continue;
        }
        let d = &c.artifact.digest;
        if dry_run {
            match store.manifest_exists(d).await {
                Ok(true) => out[*owner].artifacts_deleted.push(d.clone()),
                Ok(false) => {}
                Err(e) => out[*owner].error = Some(format!("{d}: {e}")),
            }
            continue;
        }
        match rs.client.delete_manifest(&rs.reference.repository, d).await {
            Ok(true) => out[*owner].artifacts_deleted.push(d.clone()),
            Ok(false) => {}
            Err(e) => out[*owner].artifacts_kept.push(Problem {
                digest: d.clone(),
                message: format!("the registry did not delete it: {e}"),
            }),
        }
    }
    for r in &mut out {
        r.status = if r.error.is_some() {
            "failed"
        } else if r.removed_entries + r.artifacts_deleted.len() + r.tags_deleted.len() == 0 {
            "unchanged"
        } else if dry_run {
            "planned"
        } else {
            "undone"
        };
    }
    out
}

/// `--restore-index`: proves the tag points to referrify's rewrite of `old` (rewriting `old` the
/// way `convert --index rewrite` does gives exactly the tag's bytes), moves the tag back to
/// `old`, then takes back the artifacts as for any image.
async fn restore_then_undo(
    store: RegistryStore,
    text: &str,
    old: &Digest,
    dry_run: bool,
) -> Vec<UndoImage> {
    let tag = store.reference.tag.clone().unwrap_or_default();
    let repo = store.reference.repository.clone();
    let fail = |m: String| vec![failed(text, m)];
    let current = match store.client.get_manifest(&repo, &tag).await {
        Ok(Some(f)) => f,
        Ok(None) => return fail(format!("tag {tag} not found")),
        Err(e) => return fail(e.to_string()),
    };
    let original = match store.client.get_manifest(&repo, old.as_str()).await {
        Ok(Some(f)) => f,
        Ok(None) => return fail(format!("the original index {old} is not in {repo}")),
        Err(e) => return fail(e.to_string()),
    };
    let media_type = crate::store::registry::body_media_type(&original.bytes)
        .or(original.content_type.clone())
        .unwrap_or_default();
    let raw = planning::Raw {
        bytes: original.bytes.clone(),
        digest: original.digest.clone(),
        media_type: media_type.clone(),
    };
    let wrapped = Store::Registry(store);
    let img = match input::load_raw(&wrapped, raw.clone()).await {
        Ok(Loaded::Index(img)) => img,
        Ok(Loaded::Manifest(..)) => return fail(format!("{old} is not an image index")),
        Err(e) => return fail(e.to_string()),
    };
    let (convs, _) = planning::conversions(&img);
    let refs: Vec<&Conversion> = convs.iter().collect();
    let proven = match planning::rewritten_index(&img, &refs) {
        Ok(Some(bytes)) => Digest::sha256(&bytes) == current.digest,
        _ => false,
    };
    if !proven {
        return fail(format!(
            "tag {tag} points to {}, which is not referrify's rewrite of {old}; nothing restored",
            current.digest
        ));
    }
    let Store::Registry(store) = wrapped else {
        return Vec::new();
    };
    let mut out = if dry_run {
        Vec::new()
    } else {
        match store.put_tag(&tag, &media_type, &original.bytes).await {
            Ok(()) => Vec::new(),
            Err(e) => return fail(format!("moving tag {tag} back to {old}: {e}")),
        }
    };
    out.extend(undo_repository(store, vec![(text.to_string(), Some(raw))], dry_run).await);
    for r in &mut out {
        r.index_restored = Some(old.clone());
        if r.error.is_none() {
            r.status = if dry_run { "planned" } else { "undone" };
        }
    }
    out
}
