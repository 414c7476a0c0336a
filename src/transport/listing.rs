//! Walking a registry: the catalog (`/v2/_catalog`, token scope `registry:catalog:*`) and a
//! repository's tags, both paged by `n`/`last` and `Link`. Registries that omit `Link` are paged
//! by `last` while pages come back full; a page that does not advance is an error, not a loop.

use super::error::{RegistryError, Request};
use super::send::read_limited;
use super::Client;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use std::collections::HashSet;

/// Entries asked for per page (`REFERRIFY_PAGE_SIZE` overrides it, for tests of paging).
pub const PAGE_SIZE: usize = 1000;

fn page_size() -> usize {
    std::env::var("REFERRIFY_PAGE_SIZE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map(|n| n.clamp(1, PAGE_SIZE))
        .unwrap_or(PAGE_SIZE)
}
/// Pages read at most for one listing (a bound against registries that page forever).
pub const MAX_PAGES: usize = 10_000;
/// Largest listing page accepted.
const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;
/// Bytes of tag listing pages one repository may add up to (over a million tags).
pub const MAX_TAG_LISTING_BYTES: usize = 64 * 1024 * 1024;

/// Where the next page of a listing starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The first page.
    Start,
    /// A `Link` target.
    Url(Url),
    /// An `n`/`last` URL we made up because a full page came without `Link`: a registry that
    /// ignores `last` answers it with a page already read, which ends the listing.
    Guess(Url),
    /// No more pages.
    End,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page {
    /// Names on this page, as the registry sent them.
    pub names: Vec<String>,
    /// Where the next page starts.
    pub next: Cursor,
}

impl Client {
    /// One page of the catalog. `Ok(None)`: the registry has no catalog, or refuses it to us.
    pub async fn catalog_page(&self, cursor: &Cursor) -> Result<Option<Page>, RegistryError> {
        let first = self.url(&format!("v2/_catalog?n={}", page_size())).await;
        let url = match cursor {
            Cursor::Start => first,
            Cursor::Url(u) | Cursor::Guess(u) => u.clone(),
            Cursor::End => {
                return Ok(Some(Page {
                    names: Vec::new(),
                    next: Cursor::End,
                }))
            }
        };
        let resp = self
            .send_scoped(
                Method::GET,
                url.clone(),
                "registry:catalog:*",
                HeaderMap::new(),
                None,
            )
            .await;
        let resp = match resp {
            Err(RegistryError::Status {
                status: 401 | 403, ..
            }) => return Ok(None),
            r => r?,
        };
        if matches!(
            resp.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ) {
            return Ok(None);
        }
        self.page(resp, url, "repositories").await.map(Some)
    }

    /// Every tag of `repo` (all pages, at most [`MAX_TAG_LISTING_BYTES`]). `Ok(None)`: the
    /// repository does not exist. A registry walk reads [`Client::tag_pages`] instead, a page at
    /// a time.
    pub async fn tags(&self, repo: &str) -> Result<Option<Vec<String>>, RegistryError> {
        let mut pages = self.tag_pages(repo);
        let mut out: Vec<String> = Vec::new();
        let mut total = 0usize;
        loop {
            match pages.next().await? {
                TagPage::NotFound => return Ok(None),
                TagPage::End => return Ok(Some(out)),
                TagPage::Names(names) => {
                    total += names.iter().map(|n| n.len() + 3).sum::<usize>();
                    if total > MAX_TAG_LISTING_BYTES {
                        return Err(RegistryError::Protocol {
                            request: pages.request(),
                            reason: format!(
                                "{} lists more than {MAX_TAG_LISTING_BYTES} bytes of tags for {repo}; stopped there",
                                self.host()
                            ),
                        });
                    }
                    out.extend(names);
                }
            }
        }
    }

    /// The tags of `repo`, read one page at a time: memory stays flat however many tags the
    /// repository holds.
    pub fn tag_pages(&self, repo: &str) -> TagPages {
        TagPages {
            client: self.clone(),
            repo: repo.to_string(),
            url: None,
            next: Cursor::Start,
            pages: 0,
            last_page: HashSet::new(),
            prints: HashSet::new(),
            sent: false,
        }
    }

    /// Reads one listing page: `{"<field>": [...]}` plus where the next page starts.
    async fn page(
        &self,
        resp: reqwest::Response,
        url: Url,
        field: &str,
    ) -> Result<Page, RegistryError> {
        let request = Request::new("GET", &url);
        if !resp.status().is_success() {
            return Err(self.fail(resp, request).await);
        }
        let link = super::api::next_link(resp.headers(), &url);
        let body = read_limited(resp, MAX_PAGE_BYTES, &request).await?;
        let names = parse_names(&body, field).map_err(|reason| RegistryError::Protocol {
            request: request.clone(),
            reason,
        })?;
        let next = match link {
            Some(n) if n.host_str() != url.host_str() || n.port() != url.port() => {
                return Err(RegistryError::Protocol {
                    request,
                    reason: "Link points to another host".into(),
                })
            }
            Some(n) if n == url => {
                return Err(RegistryError::Protocol {
                    request,
                    reason: "Link points to the same page (the registry pages in a loop)".into(),
                })
            }
            Some(n) => Cursor::Url(n),
            // No Link: a page of exactly `n` may have a successor (registries that omit Link);
            // a longer one means the registry ignores `n` and sent everything.
            None if names.len() == page_size() => {
                let mut n = url.clone();
                let last = names.last().cloned().unwrap_or_default();
                let kept: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| k != "last" && k != "n")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                n.query_pairs_mut()
                    .clear()
                    .extend_pairs(kept)
                    .append_pair("n", &page_size().to_string())
                    .append_pair("last", &last);
                if n == url {
                    Cursor::End
                } else {
                    Cursor::Guess(n)
                }
            }
            None => Cursor::End,
        };
        Ok(Page { names, next })
    }
}

/// What the next page of a tag listing gave.
#[derive(Debug, PartialEq, Eq)]
pub enum TagPage {
    /// The repository does not exist (only ever the first answer).
    NotFound,
    /// Tags not on the page before (a page may be empty when all it held was seen).
    Names(Vec<String>),
    /// No more tags.
    End,
}

/// A tag listing in progress. A tag is checked only against the page before it (registries that
/// overlap pages) and a page against fingerprints of the pages read (one that loops), never
/// against every tag seen: memory does not grow with the listing.
pub struct TagPages {
    client: Client,
    repo: String,
    url: Option<Url>,
    next: Cursor,
    pages: usize,
    /// Keys of the names on the page before (16 bytes each, however long the names).
    last_page: HashSet<u128>,
    prints: HashSet<u64>,
    sent: bool,
}

impl TagPages {
    /// The request of the page read last (for error messages).
    pub fn request(&self) -> Request {
        match &self.url {
            Some(u) => Request::new("GET", u),
            None => Request {
                method: "GET".into(),
                url: format!("/v2/{}/tags/list", self.repo),
            },
        }
    }

    /// Reads the next page.
    pub async fn next(&mut self) -> Result<TagPage, RegistryError> {
        let (url, guessed) = match std::mem::replace(&mut self.next, Cursor::End) {
            Cursor::End => return Ok(TagPage::End),
            Cursor::Start => {
                let path = format!("v2/{}/tags/list?n={}", self.repo, page_size());
                (self.client.url(&path).await, false)
            }
            Cursor::Url(u) => (u, false),
            Cursor::Guess(u) => (u, true),
        };
        if self.pages >= MAX_PAGES {
            return Err(RegistryError::Protocol {
                request: Request::new("GET", &url),
                reason: format!("more than {MAX_PAGES} pages of tags"),
            });
        }
        self.url = Some(url.clone());
        let resp = self
            .client
            .send(Method::GET, url.clone(), &self.repo, HeaderMap::new(), None)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND && !self.sent {
            return Ok(TagPage::NotFound);
        }
        let page = self.client.page(resp, url.clone(), "tags").await?;
        self.pages += 1;
        if page.names.is_empty() {
            return Ok(TagPage::End);
        }
        let new_page = self.prints.insert(fingerprint(&page.names));
        let mut this_page = HashSet::with_capacity(page.names.len());
        let fresh: Vec<String> = page
            .names
            .into_iter()
            .filter(|n| {
                let k = crate::model::digest::key(n);
                new_page && !self.last_page.contains(&k) && this_page.insert(k)
            })
            .collect();
        self.last_page = this_page;
        if fresh.is_empty() && self.sent {
            if guessed {
                return Ok(TagPage::End);
            }
            return Err(RegistryError::Protocol {
                request: Request::new("GET", &url),
                reason: "tag listing repeats a page (the registry pages in a loop)".into(),
            });
        }
        self.sent = true;
        self.next = page.next;
        Ok(TagPage::Names(fresh))
    }
}

/// A page's names, hashed: the same page read again is a loop (catalog and tags alike).
pub fn fingerprint(names: &[String]) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    names.hash(&mut h);
    h.finish()
}

/// The string array `field` of a listing body (`null` counts as empty, as distribution sends it).
pub fn parse_names(body: &[u8], field: &str) -> Result<Vec<String>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("listing is not JSON: {e}"))?;
    match v.get(field) {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{field} holds a non-string entry"))
            })
            .collect(),
        Some(_) => Err(format!("{field} is not an array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            parse_names(br#"{"name":"a","tags":["1","2"]}"#, "tags").unwrap(),
            ["1", "2"]
        );
        assert!(parse_names(br#"{"name":"a","tags":null}"#, "tags")
            .unwrap()
            .is_empty());
        assert!(parse_names(br#"{"repositories":[1]}"#, "repositories").is_err());
        assert!(parse_names(b"<html>", "tags").is_err());
    }
}
