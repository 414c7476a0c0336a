//! The one registry walk every registry-wide command takes: the repositories (catalog pages as
//! they arrive, or the `--repo` names where the registry has no catalog for us), a bounded number
//! of them worked on at once, and each repository's images (its tags, resolved once, grouped by
//! digest).

use crate::model::image::Raw;
use crate::model::reference::{is_valid_repository, is_valid_tag};
use crate::plan::scope::Selection;
use crate::store::registry::RegistryStore;
use crate::store::{Catalog, Cursor, Store, StoreError, Stores, MAX_CATALOG_PAGES};
use futures_util::future::join_all;
use futures_util::{Stream, StreamExt as _};
use std::collections::{HashMap, HashSet};
use std::future::Future;
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
    catalog: impl Into<Catalog>,
    selection: Arc<Selection>,
) -> impl Stream<Item = Found> {
    let rx = catalog_channel(catalog.into(), selection);
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) })
}

/// Repositories worked on at once: enough to keep every request slot (`jobs`) busy while each
/// waits on its own round trips, few enough that memory stays flat.
pub fn in_flight(jobs: usize) -> usize {
    (jobs.max(1) * 4).max(8)
}

/// What the walk yields: one result per repository, or why the catalog stopped.
pub enum Walked<T> {
    /// `work`'s result for one repository.
    Repository(T),
    /// The catalog could not be read (further): the results before it stand.
    CatalogFailed(String),
}

/// Runs `work` on every repository `selection` takes, [`in_flight`]`(jobs)` at a time, yielding
/// results as they finish.
pub fn each_repository<'a, T, F, Fut>(
    catalog: Catalog,
    selection: Arc<Selection>,
    jobs: usize,
    work: F,
) -> impl Stream<Item = Walked<T>> + 'a
where
    F: Fn(String) -> Fut + 'a,
    Fut: Future<Output = T> + 'a,
    T: 'a,
{
    let work = Arc::new(work);
    // After Ctrl-C or SIGTERM no new repository is taken; those in flight finish.
    repositories(catalog, selection)
        .take_while(|_| std::future::ready(!crate::stop::requested()))
        .map(move |found| {
            let work = work.clone();
            async move {
                match found {
                    Found::Repository(name) => Walked::Repository(work(name).await),
                    Found::Failed(e) => Walked::CatalogFailed(e),
                }
            }
        })
        .buffer_unordered(in_flight(jobs))
}

fn catalog_channel(catalog: Catalog, selection: Arc<Selection>) -> mpsc::Receiver<Found> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        if let Err(Stop::Failed(e)) = walk_catalog(&catalog, &selection, &tx).await {
            let _ = tx.send(Found::Failed(e)).await;
        }
    });
    rx
}

/// Why the catalog walk ended early.
enum Stop {
    /// The receiver is gone: nobody wants more.
    Closed,
    /// The catalog could not be read further.
    Failed(String),
}

/// Sends every repository of the catalog that `selection` takes, page by page.
async fn walk_catalog(
    catalog: &Catalog,
    selection: &Selection,
    tx: &mpsc::Sender<Found>,
) -> Result<(), Stop> {
    let mut cursor = Cursor::Start;
    // Memory stays bounded however long the catalog: names are checked against the page before
    // (registries that overlap pages) and pages against fingerprints of those already read
    // (a catalog that loops), never against every name seen.
    let mut last_page: HashSet<String> = HashSet::new();
    let mut page_prints: HashSet<u64> = HashSet::new();
    let mut pages = 0usize;
    let mut guessed = false;
    loop {
        let page = match catalog.page(&cursor).await {
            Ok(Some(p)) => p,
            Ok(None) if pages == 0 => return send_named(catalog, selection, tx).await,
            Ok(None) => {
                return Err(Stop::Failed(
                    "the catalog stopped answering after its first page".into(),
                ))
            }
            Err(e) => return Err(Stop::Failed(format!("reading the catalog: {e}"))),
        };
        pages += 1;
        if page.names.is_empty() {
            return Ok(());
        }
        let new_page = page_prints.insert(fingerprint(&page.names));
        let mut fresh = 0usize;
        let mut this_page = HashSet::with_capacity(page.names.len());
        for name in page.names {
            if !new_page || last_page.contains(&name) || !this_page.insert(name.clone()) {
                continue;
            }
            fresh += 1;
            if !is_valid_repository(&name) {
                tracing::warn!(
                    "skipping {:?} from the catalog of {}: not a valid repository name",
                    name,
                    catalog.host()
                );
                continue;
            }
            if selection.takes_repository(&name) {
                tx.send(Found::Repository(name))
                    .await
                    .map_err(|_| Stop::Closed)?;
            }
        }
        last_page = this_page;
        match page.next {
            // A page we asked for by guessing `last` that holds nothing new: the end.
            _ if fresh == 0 && guessed => return Ok(()),
            Cursor::Url(_) | Cursor::Guess(_) if fresh == 0 => {
                return Err(Stop::Failed(
                    "the catalog repeats a page (it pages in a loop); stopped there".into(),
                ))
            }
            Cursor::Url(_) | Cursor::Guess(_) if pages < MAX_CATALOG_PAGES => {
                guessed = matches!(page.next, Cursor::Guess(_));
                cursor = page.next;
            }
            Cursor::Url(_) | Cursor::Guess(_) => {
                return Err(Stop::Failed(format!(
                    "the catalog has more than {MAX_CATALOG_PAGES} pages; stopped there"
                )))
            }
            _ => return Ok(()),
        }
    }
}

/// A page's names, hashed: the same page read again is a loop.
fn fingerprint(names: &[String]) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    names.hash(&mut h);
    h.finish()
}

/// Where the registry has no catalog for us: the repositories named with `--repo`.
async fn send_named(
    catalog: &Catalog,
    selection: &Selection,
    tx: &mpsc::Sender<Found>,
) -> Result<(), Stop> {
    let names = selection.named_repositories();
    if names.is_empty() {
        return Err(Stop::Failed(format!(
            "{} does not let us read its catalog: name the repositories with --repo",
            catalog.host()
        )));
    }
    tracing::info!(
        "no catalog access; taking the {} repositories named with --repo",
        names.len()
    );
    for n in names {
        tx.send(Found::Repository(n))
            .await
            .map_err(|_| Stop::Closed)?;
    }
    Ok(())
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

/// A repository's images, and the tags that could not be read.
pub struct RepositoryImages {
    /// One per distinct digest.
    pub images: Vec<TaggedImage>,
    /// Tags that could not be read.
    pub problems: Vec<TagProblem>,
    /// Every tag listed, those not taken for images included (cosign's `.sig`/`.att`/`.sbom`
    /// tags tell `check` about signatures without another request).
    pub listed: Vec<String>,
}

/// Opens one repository of `registry` and reads its images (see [`images`]); the error says why
/// the repository could not be read at all.
pub async fn repository(
    stores: &Stores,
    registry: &str,
    name: &str,
    selection: &Selection,
) -> Result<(Store, RepositoryImages), String> {
    let store = stores
        .repository(registry, name)
        .map_err(|e| e.to_string())?;
    match images(&store, selection).await {
        Ok(Some((images, problems, listed))) => Ok((
            store.into(),
            RepositoryImages {
                images,
                problems,
                listed,
            },
        )),
        Ok(None) => Err(format!("repository {name} not found")),
        Err(e) => Err(format!("listing tags: {e}")),
    }
}

/// The images of a repository: every tag `selection` takes, read once; tags with the same
/// digest give one image; with every tag listed. `Ok(None)`: the repository does not exist.
pub async fn images(
    store: &RegistryStore,
    selection: &Selection,
) -> Result<Option<ImagesAndTags>, StoreError> {
    let Some(listed) = store.tags().await? else {
        return Ok(None);
    };
    let tags: Vec<String> = listed
        .iter()
        .filter(|t| {
            let valid = is_valid_tag(t);
            if !valid {
                tracing::warn!("skipping tag {t:?} of {}: not a valid tag", store.name());
            }
            valid && selection.takes_tag(t)
        })
        .cloned()
        .collect();
    let fetched = join_all(tags.iter().map(|t| store.read(t))).await;
    let mut out: Vec<TaggedImage> = Vec::new();
    let mut by_digest = HashMap::new();
    let mut problems = Vec::new();
    for (tag, f) in tags.into_iter().zip(fetched) {
        match f {
            Ok(Some(raw)) => match by_digest.get(&raw.digest) {
                Some(&i) => {
                    let image: &mut TaggedImage = &mut out[i];
                    image.tags.push(tag);
                }
                None => {
                    by_digest.insert(raw.digest.clone(), out.len());
                    out.push(TaggedImage {
                        raw,
                        tags: vec![tag],
                    });
                }
            },
            // Deleted between the listing and the read: nothing to do.
            Ok(None) => {}
            Err(e) => problems.push(TagProblem {
                tag,
                message: e.to_string(),
            }),
        }
    }
    Ok(Some((out, problems, listed)))
}

/// A repository's images, the tags that could not be read, and every tag listed.
pub type ImagesAndTags = (Vec<TaggedImage>, Vec<TagProblem>, Vec<String>);
