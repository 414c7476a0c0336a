//! The registry API calls referrify makes, on top of the client's auth and retry handling in
//! `send.rs`: manifests, blobs, and the referrers listing with its detection rule.

use super::error::{OciErrorCode, RegistryError, Request};
use super::send::read_limited;
use super::{Client, MAX_MANIFEST_BYTES, MAX_REFERRERS_BYTES, MAX_REFERRERS_PAGES};
use crate::model::digest::Digest;
use crate::model::document::{Descriptor, Document};
use crate::model::media;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode, Url};

/// A fetched manifest: the exact bytes and what the registry said about them.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The body, byte for byte.
    pub bytes: Vec<u8>,
    /// sha256 of the body.
    pub digest: Digest,
    /// `Content-Type`, without parameters.
    pub content_type: Option<String>,
    /// `ETag`, for a conditional write of the same reference.
    pub etag: Option<String>,
}

/// What a manifest PUT returned.
#[derive(Debug, Clone, Default)]
pub struct Pushed {
    /// `OCI-Subject`: set by registries with the Referrers API for manifests with a subject.
    pub oci_subject: Option<String>,
}

/// The answer to a referrers query.
#[derive(Debug, Clone)]
pub enum Referrers {
    /// The registry has the Referrers API; all pages, unfiltered by us.
    Supported {
        /// Every descriptor listed.
        descriptors: Vec<Descriptor>,
        /// The registry said it applied the `artifactType` filter.
        filtered: bool,
    },
    /// The registry has no Referrers API (registries.md §3): use the tag schema.
    Unsupported {
        /// What it answered.
        reason: String,
        /// Its HTTP status (Quay answers 400 for a subject it does not have: the caller must
        /// tell that from a missing endpoint).
        status: u16,
    },
}

impl Client {
    /// GETs a manifest by tag or digest; `Ok(None)` when the registry says it does not exist.
    /// The bytes are checked against the digest asked for, or else `Docker-Content-Digest`.
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Fetched>, RegistryError> {
        self.reading(|| self.get_manifest_once(repo, reference))
            .await
    }

    async fn get_manifest_once(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Fetched>, RegistryError> {
        let url = self.url(&format!("v2/{repo}/manifests/{reference}")).await;
        let request = Request::new("GET", &url);
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_static(media::MANIFEST_ACCEPT));
        let resp = self.send(Method::GET, url, repo, h, None).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.fail(resp, request).await);
        }
        let content_type = content_type(resp.headers());
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES, &request).await?;
        let asked = Digest::parse(reference).ok();
        if let Some(d) = asked.as_ref().filter(|d| !d.is_verifiable()) {
            return Err(unverifiable(request, d));
        }
        let expected = asked.or_else(|| header_digest.and_then(|h| Digest::parse(&h).ok()));
        if let Some(exp) = expected {
            if exp.verify(&bytes) == Some(false) {
                return Err(RegistryError::DigestMismatch {
                    request,
                    expected: exp.to_string(),
                    actual: Digest::sha256(&bytes).to_string(),
                });
            }
        }
        Ok(Some(Fetched {
            digest: Digest::sha256(&bytes),
            bytes,
            content_type,
            etag,
        }))
    }

    /// DELETEs a manifest by digest: `Ok(true)` deleted, `Ok(false)` not there, and an error
    /// (405, or `UNSUPPORTED`) where the registry does not allow deletion.
    pub async fn delete_manifest(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        self.delete_reference(repo, digest.as_str()).await
    }

    /// Deletes a manifest by digest or a tag (distribution-spec "Deleting tags"; not every
    /// registry allows it): `Ok(false)` when it was not there.
    pub async fn delete_reference(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<bool, RegistryError> {
        let url = self.url(&format!("v2/{repo}/manifests/{reference}")).await;
        let request = Request::new("DELETE", &url);
        let resp = self
            .send(Method::DELETE, url, repo, HeaderMap::new(), None)
            .await?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self.fail(resp, request).await),
        }
    }

    /// Whether a manifest exists (HEAD).
    pub async fn manifest_exists(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let url = self.url(&format!("v2/{repo}/manifests/{digest}")).await;
        let request = Request::new("HEAD", &url);
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_static(media::MANIFEST_ACCEPT));
        let resp = self.send(Method::HEAD, url, repo, h, None).await?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self.fail(resp, request).await),
        }
    }

    /// PUTs manifest bytes by tag or digest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Pushed, RegistryError> {
        self.put_manifest_if(repo, reference, media_type, bytes, None)
            .await
    }

    /// [`Client::put_manifest`] with a precondition header (`If-Match: <etag>`, or
    /// `If-None-Match: *` for a reference that did not exist); a registry that honours it answers
    /// 412 when the reference changed since it was read.
    pub async fn put_manifest_if(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        condition: Option<(&'static str, &str)>,
    ) -> Result<Pushed, RegistryError> {
        let url = self.url(&format!("v2/{repo}/manifests/{reference}")).await;
        let request = Request::new("PUT", &url);
        let mut h = HeaderMap::new();
        if let Some((name, value)) = condition {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        }
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(media_type).map_err(|_| RegistryError::Protocol {
                request: request.clone(),
                reason: format!("invalid media type {media_type:?}"),
            })?,
        );
        let resp = self
            .send(
                Method::PUT,
                url,
                repo,
                h,
                Some(bytes::Bytes::copy_from_slice(bytes)),
            )
            .await?;
        if !resp.status().is_success() {
            return Err(self.fail(resp, request).await);
        }
        Ok(Pushed {
            oci_subject: resp
                .headers()
                .get("oci-subject")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        })
    }

    /// Lists the referrers of `subject` (distribution-spec v1.1.1 "Listing Referrers"), following
    /// `Link` pages, and classifies a missing API by the rule of registries.md §3. The caller
    /// filters by `artifactType` in any case; `filtered` says whether the registry did.
    pub async fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, RegistryError> {
        self.reading(|| self.referrers_once(repo, subject, artifact_type))
            .await
    }

    async fn referrers_once(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, RegistryError> {
        let mut url = self.url(&format!("v2/{repo}/referrers/{subject}")).await;
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let mut descriptors = Vec::new();
        let mut filtered = true;
        let mut total = 0usize;
        for page in 0..MAX_REFERRERS_PAGES {
            let request = Request::new("GET", &url);
            let resp = self
                .send(Method::GET, url.clone(), repo, HeaderMap::new(), None)
                .await?;
            if !is_index(&resp) {
                return match page {
                    0 => self.without_api(resp, request).await,
                    _ => Err(self.bad_page(resp, request).await),
                };
            }
            filtered &= filters_applied(resp.headers()) && artifact_type.is_some();
            let next = next_link(resp.headers(), &url);
            let body = read_limited(resp, MAX_MANIFEST_BYTES, &request).await?;
            // Pages are bounded one by one; so is what they add up to.
            total += body.len();
            if total > MAX_REFERRERS_BYTES {
                return Err(RegistryError::Protocol {
                    request,
                    reason: format!(
                        "{} lists more than {MAX_REFERRERS_BYTES} bytes of referrers for {subject}; stopped there",
                        self.host()
                    ),
                });
            }
            let index = Document::parse_index(&body, Some(media::OCI_INDEX)).map_err(|e| {
                RegistryError::Protocol {
                    request: request.clone(),
                    reason: format!("referrers response is not a valid index: {e}"),
                }
            })?;
            descriptors.extend(index.manifests);
            match next {
                Some(n)
                    if n.host_str() == url.host_str()
                        && n.port_or_known_default() == url.port_or_known_default()
                        && n.scheme() == url.scheme() =>
                {
                    url = n
                }
                Some(_) => {
                    return Err(RegistryError::Protocol {
                        request,
                        reason: "Link points to another host".into(),
                    })
                }
                None => {
                    return Ok(Referrers::Supported {
                        descriptors,
                        filtered,
                    })
                }
            }
        }
        Err(RegistryError::Protocol {
            request: Request::new("GET", &url),
            reason: format!("more than {MAX_REFERRERS_PAGES} pages of referrers"),
        })
    }

    /// Classifies a first referrers answer that is not an index (registries.md §3): the
    /// registry has no Referrers API, or the request failed.
    async fn without_api(
        &self,
        resp: reqwest::Response,
        request: Request,
    ) -> Result<Referrers, RegistryError> {
        let status = resp.status().as_u16();
        let reason = match status {
            200 => format!(
                "referrers endpoint answered 200 with Content-Type {}",
                content_type(resp.headers()).as_deref().unwrap_or("(none)")
            ),
            404 => {
                // A missing repository is an error; a missing endpoint means no API.
                let e = self.fail(resp, request).await;
                if e.has_code(OciErrorCode::NameUnknown) {
                    return Err(e);
                }
                "referrers endpoint answered HTTP 404".into()
            }
            300..=399 | 400 | 405 | 406 => format!("referrers endpoint answered HTTP {status}"),
            _ => return Err(self.fail(resp, request).await),
        };
        Ok(Referrers::Unsupported { reason, status })
    }

    /// The error for a later referrers page that is not an index.
    async fn bad_page(&self, resp: reqwest::Response, request: Request) -> RegistryError {
        if resp.status() != StatusCode::OK {
            return self.fail(resp, request).await;
        }
        let ct = content_type(resp.headers());
        RegistryError::Protocol {
            request,
            reason: format!("referrers page with Content-Type {ct:?}"),
        }
    }
}

/// Content asked for under a digest algorithm nobody here can check: refused.
pub(super) fn unverifiable(request: Request, d: &Digest) -> RegistryError {
    RegistryError::Protocol {
        request,
        reason: format!(
            "digest algorithm {:?} cannot be verified; refusing its content",
            d.algorithm()
        ),
    }
}

/// Whether a response is a referrers page: 200 with the OCI index media type.
fn is_index(resp: &reqwest::Response) -> bool {
    resp.status() == StatusCode::OK
        && content_type(resp.headers()).as_deref() == Some(media::OCI_INDEX)
}

/// Whether the registry says it applied the `artifactType` filter (`OCI-Filters-Applied`).
fn filters_applied(h: &HeaderMap) -> bool {
    h.get("oci-filters-applied")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|f| f.trim() == "artifactType"))
}

fn content_type(h: &HeaderMap) -> Option<String> {
    h.get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
}

pub(super) fn location(resp: &reqwest::Response, base: &Url) -> Option<Url> {
    let l = resp.headers().get(LOCATION)?.to_str().ok()?;
    base.join(l)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
}

/// The `rel="next"` target of a `Link` header (RFC 8288), resolved against `base`.
pub fn next_link(h: &HeaderMap, base: &Url) -> Option<Url> {
    for v in h.get_all("link").iter().filter_map(|v| v.to_str().ok()) {
        for part in v.split(',') {
            let part = part.trim();
            let Some(end) = part.find('>') else { continue };
            if !part.starts_with('<') {
                continue;
            }
            let target = &part[1..end];
            let params = &part[end + 1..];
            let is_next = params.split(';').any(|p| {
                let p = p.trim().to_ascii_lowercase();
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                return base.join(target).ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        let base = Url::parse("http://r.example/v2/a/referrers/x").unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static(r#"</v2/a/referrers/x?n=2&last=b>; rel="next""#),
        );
        assert_eq!(
            next_link(&h, &base).unwrap().as_str(),
            "http://r.example/v2/a/referrers/x?n=2&last=b"
        );
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static(r#"<http://other/x>; rel="prev""#),
        );
        assert!(next_link(&h, &base).is_none());
        let mut h = HeaderMap::new();
        h.insert("link", HeaderValue::from_static("garbage"));
        assert!(next_link(&h, &base).is_none());
    }
}
