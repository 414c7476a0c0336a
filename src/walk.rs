//! Reads a registry for registry-wide commands: the repositories to take (catalog pages as they
//! arrive, or the `--repo` names where the registry has no catalog for us), and each
//! repository's images (its tags, resolved once, grouped by digest).

use crate::plan::image::Raw;
use crate::plan::scope::Selection;
use crate::store::registry::{body_media_type, RegistryStore};
use crate::store::StoreError;
use crate::transport::listing::Cursor;
use crate::transport::Client;
use futures_util::future::join_all;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What the repository walk sends.
#[derive(Debug)]
pub enum Found {
    /// A repository to take.
    Repository(String),
    /// The catalog could not be read (further): what was sent before stands.
    Failed(String),
}

/// Streams the repositories `selection` takes, in catalog order. Memory stays flat however large
/// the catalog: pages are read only as fast as the repositories are taken off the stream.
pub fn repositories(
    client: Client,
    selection: Arc<Selection>,
) -> impl futures_util::Stream<Item = Found> {
    let rx = catalog_channel(client, selection);
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) })
}

fn catalog_channel(client: Client, selection: Arc<Selection>) -> mpsc::Receiver<Found> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut cursor = Cursor::Start;
        let mut seen: HashSet<String> = HashSet::new();
        let mut pages = 0usize;
        let mut guessed = false;
        loop {
            let page = match client.catalog_page(&cursor).await {
                Ok(Some(p)) => p,
                Ok(None) if pages == 0 => {
                    let names = selection.named_repositories();
                    if names.is_empty() {
                        let _ = tx
                            .send(Found::Failed(format!(
                                "{} does not let us read its catalog: name the repositories with --repo",
                                client.host()
                            )))
                            .await;
                    }
                    tracing::info!(
                        "no catalog access; taking the {} repositories named with --repo",
                        names.len()
                    );
                    for n in names {
                        if tx.send(Found::Repository(n)).await.is_err() {
                            return;
                        }
                    }
                    return;
                }
                Ok(None) => {
                    let _ = tx
                        .send(Found::Failed(
                            "the catalog stopped answering after its first page".into(),
                        ))
                        .await;
                    return;
                }
                Err(e) => {
                    let _ = tx
                        .send(Found::Failed(format!("reading the catalog: {e}")))
                        .await;
                    return;
                }
            };
            pages += 1;
            if page.names.is_empty() {
                return;
            }
            let mut fresh = 0usize;
            for name in page.names {
                if !seen.insert(name.clone()) {
                    continue;
                }
                fresh += 1;
                if selection.takes_repository(&name)
                    && tx.send(Found::Repository(name)).await.is_err()
                {
                    return;
                }
            }
            match page.next {
                // A page we asked for by guessing `last` that holds nothing new: the end.
                _ if fresh == 0 && guessed => return,
                Cursor::Url(_) | Cursor::Guess(_) if fresh == 0 => {
                    let _ = tx
                        .send(Found::Failed(
                            "the catalog repeats a page (it pages in a loop); stopped there".into(),
                        ))
                        .await;
                    return;
                }
                Cursor::Url(_) | Cursor::Guess(_)
                    if pages < crate::transport::listing::MAX_PAGES =>
                {
                    guessed = matches!(page.next, Cursor::Guess(_));
                    cursor = page.next;
                }
                Cursor::Url(_) | Cursor::Guess(_) => {
                    let _ = tx
                        .send(Found::Failed(format!(
                            "the catalog has more than {} pages; stopped there",
                            crate::transport::listing::MAX_PAGES
                        )))
                        .await;
                    return;
                }
                _ => return,
            }
        }
    });
    rx
}

/// An image a repository's tags point to.
pub struct TaggedImage {
    /// What the tags resolved to.
    pub raw: Raw,
    /// The tags, in listing order.
    pub tags: Vec<String>,
}

/// A tag that could not be read.
pub struct TagProblem {
    /// The tag.
    pub tag: String,
    /// Why.
    pub message: String,
}

/// The images of a repository: every tag `selection` takes, read once; tags with the same
/// digest give one image. `Ok(None)`: the repository does not exist.
pub async fn images(
    store: &RegistryStore,
    selection: &Selection,
) -> Result<Option<(Vec<TaggedImage>, Vec<TagProblem>)>, StoreError> {
    let repo = &store.reference.repository;
    let Some(tags) = store.client.tags(repo).await? else {
        return Ok(None);
    };
    let tags: Vec<String> = tags
        .into_iter()
        .filter(|t| selection.takes_tag(t))
        .collect();
    let fetched = join_all(tags.iter().map(|t| store.client.get_manifest(repo, t))).await;
    let mut out: Vec<TaggedImage> = Vec::new();
    let mut problems = Vec::new();
    for (tag, f) in tags.into_iter().zip(fetched) {
        match f {
            Ok(Some(f)) => {
                if let Some(i) = out.iter_mut().find(|i| i.raw.digest == f.digest) {
                    i.tags.push(tag);
                    continue;
                }
                let media_type = body_media_type(&f.bytes)
                    .or(f.content_type)
                    .unwrap_or_default();
                out.push(TaggedImage {
                    raw: Raw {
                        bytes: f.bytes,
                        digest: f.digest,
                        media_type,
                    },
                    tags: vec![tag],
                });
            }
            // Deleted between the listing and the read: nothing to do.
            Ok(None) => {}
            Err(e) => problems.push(TagProblem {
                tag,
                message: e.to_string(),
            }),
        }
    }
    Ok(Some((out, problems)))
}
