//! The one registry walk every registry-wide command takes: the repositories (catalog pages as
//! they arrive, or the `--repo` names where the registry has no catalog for us), a bounded number
//! of them worked on at once, and each repository's images in bounded batches (its tag pages read
//! as they are needed, each tag resolved once, images grouped by digest), so memory stays flat
//! however many repositories and tags the registry holds.

use crate::model::digest::{key, Digest};
use crate::model::image::Raw;
use crate::model::reference::{is_valid_repository, is_valid_tag};
use crate::model::supply::{cosign_tag, CosignTag};
use crate::plan::scope::Selection;
use crate::store::{
    fingerprint, Catalog, Cursor, Store, Stores, TagPage, TagPages, MAX_CATALOG_PAGES,
};
use futures_util::future::join_all;
use futures_util::{Stream, StreamExt as _};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
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
    /// The tags of this batch that point to it, in listing order.
    pub tags: Vec<String>,
}

/// A tag that could not be read.
pub struct TagProblem {
    /// The tag.
    pub tag: String,
    /// Why.
    pub message: String,
}

/// Images of one repository, from up to [`batch_size`] of its tags.
#[derive(Default)]
pub struct Batch {
    /// One per digest not seen in an earlier batch of the repository.
    pub images: Vec<TaggedImage>,
    /// Tags that could not be read.
    pub problems: Vec<TagProblem>,
    /// Why the tag listing stopped early (the batches before stand).
    pub listing_error: Option<String>,
    /// cosign's `sha256-<hex>.sig|.att|.sbom` tags listed so far, by the digest they name (never
    /// taken for images): `check` learns of signatures from them without another request.
    /// Shared by the batches, not copied into each.
    pub cosign_tags: Arc<CosignTags>,
}

/// cosign tag-scheme tags by the digest they name.
pub type CosignTags = BTreeMap<Digest, Vec<CosignTag>>;

/// Tags resolved per batch: with two batches in flight, enough to keep every request slot busy
/// through a batch's phases; few enough that a repository of 300 tags already works at the same
/// peak as one of 100,000 (measured by scripts/bench-scale.sh).
pub fn batch_size(jobs: usize) -> usize {
    (jobs.max(1) * 4).clamp(32, 256)
}

/// Batches of one repository worked on at once after the first (which goes alone: it probes
/// the Referrers API and settles the `{}` blob for the rest).
pub const BATCHES_IN_FLIGHT: usize = 2;

/// A repository's tags, read a page at a time and resolved a batch at a time. Digests already
/// given are kept (a hash set: O(1) per tag) so an image tagged in two batches is worked on once.
pub struct Batches {
    name: String,
    pages: TagPages,
    pending: VecDeque<String>,
    listed: bool,
    /// [`key`]s of the digests given (16 bytes each).
    seen: HashSet<u128>,
    size: usize,
    selection: Arc<Selection>,
    listing_error: Option<String>,
    cosign_tags: Arc<CosignTags>,
}

/// Opens one repository of `registry` and reads its first tag page; the error says why the
/// repository could not be read at all.
pub async fn repository(
    stores: &Stores,
    registry: &str,
    name: &str,
    selection: Arc<Selection>,
    jobs: usize,
) -> Result<(Store, Batches), String> {
    let store = stores
        .repository(registry, name)
        .map_err(|e| e.to_string())?;
    let mut batches = Batches {
        name: name.to_string(),
        pages: store.tag_pages(),
        pending: VecDeque::new(),
        listed: false,
        seen: HashSet::new(),
        size: batch_size(jobs),
        selection,
        listing_error: None,
        cosign_tags: Arc::default(),
    };
    match batches.pages.next().await {
        Ok(TagPage::NotFound) => return Err(format!("repository {name} not found")),
        Ok(page) => batches.take_page(page),
        Err(e) => return Err(format!("listing tags: {e}")),
    }
    Ok((store.into(), batches))
}

impl Batches {
    fn take_page(&mut self, page: TagPage) {
        match page {
            TagPage::Names(names) => {
                for t in names {
                    if let Some(c) = cosign_tag(&t) {
                        // Copied only while a batch in flight still holds the map.
                        let tags = Arc::make_mut(&mut self.cosign_tags);
                        tags.entry(c.subject.clone()).or_default().push(c);
                    }
                    let valid = is_valid_tag(&t);
                    if !valid {
                        tracing::warn!("skipping tag {t:?} of {}: not a valid tag", self.name);
                    }
                    if valid && self.selection.takes_tag(&t) {
                        self.pending.push_back(t);
                    }
                }
            }
            TagPage::NotFound | TagPage::End => self.listed = true,
        }
    }

    /// Whether every tag was given out.
    fn exhausted(&self) -> bool {
        self.listed && self.pending.is_empty() && self.listing_error.is_none()
    }

    /// The next batch (`None`: every tag was given).
    pub async fn next(&mut self, store: &Store) -> Option<Batch> {
        while self.pending.len() < self.size && !self.listed {
            match self.pages.next().await {
                Ok(page) => self.take_page(page),
                Err(e) => {
                    self.listed = true;
                    self.listing_error = Some(format!("listing tags: {e}"));
                }
            }
        }
        if self.pending.is_empty() {
            return self.listing_error.take().map(|e| Batch {
                listing_error: Some(e),
                ..Batch::default()
            });
        }
        let n = self.size.min(self.pending.len());
        let tags: Vec<String> = self.pending.drain(..n).collect();
        let fetched = join_all(tags.iter().map(|t| store.read(t))).await;
        let mut batch = Batch {
            cosign_tags: self.cosign_tags.clone(),
            ..Batch::default()
        };
        let mut here: HashMap<Digest, usize> = HashMap::new();
        for (tag, f) in tags.into_iter().zip(fetched) {
            match f {
                Ok(Some(raw)) => {
                    if let Some(&i) = here.get(&raw.digest) {
                        let image: &mut TaggedImage = &mut batch.images[i];
                        image.tags.push(tag);
                    } else if self.seen.insert(key(raw.digest.as_str())) {
                        here.insert(raw.digest.clone(), batch.images.len());
                        batch.images.push(TaggedImage {
                            raw,
                            tags: vec![tag],
                        });
                    }
                }
                // Deleted between the listing and the read: nothing to do.
                Ok(None) => {}
                Err(e) => batch.problems.push(TagProblem {
                    tag,
                    message: e.to_string(),
                }),
            }
        }
        Some(batch)
    }
}

/// Runs `work` on every batch of a repository, the first alone, then [`BATCHES_IN_FLIGHT`] at
/// a time, handing each result to `done` in batch order as it finishes (so a state file records
/// a batch as soon as it is written: a kill redoes at most the batches in flight). After Ctrl-C
/// or SIGTERM no new batch is started. Returns whether every batch was worked on.
pub async fn each_batch<T, F, Fut>(
    store: &Store,
    mut batches: Batches,
    work: F,
    mut done: impl FnMut(T),
) -> bool
where
    F: Fn(Batch) -> Fut,
    Fut: Future<Output = T>,
{
    let Some(first) = batches.next(store).await else {
        return true;
    };
    done(work(first).await);
    let cut = std::cell::Cell::new(false);
    let rest = futures_util::stream::unfold(batches, |mut b| {
        let cut = &cut;
        async move {
            if crate::stop::requested() {
                cut.set(!b.exhausted());
                return None;
            }
            b.next(store).await.map(|x| (x, b))
        }
    });
    let mut rest = std::pin::pin!(rest.map(work).buffered(BATCHES_IN_FLIGHT));
    while let Some(r) = rest.next().await {
        done(r);
    }
    !cut.get()
}
