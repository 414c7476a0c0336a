//! Blob calls: existence, reads (whole, or a chunk at a time for statements), and uploads with
//! cross-repository mounts and their fallback when a registry refuses them.

use super::api::location;
use super::error::{OciErrorCode, RegistryError, Request};
use super::send::read_limited;
use super::Client;
use crate::model::digest::Digest;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, Url};

/// A blob's body as the registry sends it.
pub struct BlobBody {
    resp: reqwest::Response,
    request: Request,
}

impl BlobBody {
    /// The next piece of the body (`None`: the end).
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, RegistryError> {
        self.resp
            .chunk()
            .await
            .map_err(|e| RegistryError::BodyRead {
                request: self.request.clone(),
                message: format!(
                    "reading the response failed: {}",
                    super::connect::flatten(&e)
                ),
                source: e.without_url(),
            })
    }

    /// What was asked for, for messages.
    pub fn request(&self) -> &Request {
        &self.request
    }
}

/// How a blob got into a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPut {
    /// Mounted from another repository: no bytes sent.
    Mounted,
    /// Uploaded.
    Uploaded,
    /// Uploaded because the registry refused the mount (for lack of access to the source).
    UploadedAfterRefusedMount,
}

/// Whether a mount failed for lack of access (then a plain upload may still be allowed).
fn is_refusal(e: &RegistryError) -> bool {
    matches!(e.status(), Some(401 | 403))
        || e.has_code(OciErrorCode::Denied)
        || e.has_code(OciErrorCode::Unauthorized)
}

impl Client {
    /// Whether a blob exists (HEAD; a redirect to storage counts as present).
    pub async fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.url(&format!("v2/{repo}/blobs/{digest}")).await;
        let request = Request::new("HEAD", &url);
        let resp = self
            .send(Method::HEAD, url, repo, HeaderMap::new(), None)
            .await?;
        match resp.status().as_u16() {
            200..=399 => Ok(true),
            404 => Ok(false),
            _ => Err(self.fail(resp, request).await),
        }
    }

    /// GETs a blob (following redirects to storage without our credentials) and checks its digest.
    pub async fn get_blob(
        &self,
        repo: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        self.reading(|| self.get_blob_once(repo, digest, limit))
            .await
    }

    async fn get_blob_once(
        &self,
        repo: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let body = self.open_blob(repo, digest).await?;
        let bytes = read_limited(body.resp, limit, &body.request).await?;
        if digest.verify(&bytes) == Some(false) {
            return Err(RegistryError::DigestMismatch {
                request: body.request,
                expected: digest.to_string(),
                actual: Digest::sha256(&bytes).to_string(),
            });
        }
        Ok(bytes)
    }

    /// GETs a blob, following redirects to storage without our credentials, and returns its
    /// body unread: the caller reads it a chunk at a time ([`BlobBody::chunk`]) and checks the
    /// digest itself.
    pub async fn open_blob(&self, repo: &str, digest: &Digest) -> Result<BlobBody, RegistryError> {
        let mut url = self.url(&format!("v2/{repo}/blobs/{digest}")).await;
        if !digest.is_verifiable() {
            return Err(super::api::unverifiable(Request::new("GET", &url), digest));
        }
        for _ in 0..5 {
            let request = Request::new("GET", &url);
            let resp = self
                .send(Method::GET, url.clone(), repo, HeaderMap::new(), None)
                .await?;
            let status = resp.status().as_u16();
            if (300..400).contains(&status) {
                url = location(&resp, &url).ok_or_else(|| RegistryError::Protocol {
                    request,
                    reason: format!("HTTP {status} without a usable Location"),
                })?;
                continue;
            }
            if !resp.status().is_success() {
                return Err(self.fail(resp, request).await);
            }
            return Ok(BlobBody { resp, request });
        }
        Err(RegistryError::Protocol {
            request: Request::new("GET", &url),
            reason: "too many redirects".into(),
        })
    }

    /// Uploads a blob, or mounts it from `mount_from` (another repository of this registry
    /// that has it). A mount needs pull on the source and push on the target in one token; a
    /// registry that still refuses it (401, 403, `DENIED`) gets the bytes uploaded instead,
    /// monolithically where it takes that (one `POST ?digest=`), else `POST` then `PUT`.
    pub async fn put_blob(
        &self,
        repo: &str,
        digest: &Digest,
        bytes: &[u8],
        mount_from: Option<&str>,
    ) -> Result<BlobPut, RegistryError> {
        let Some(from) = mount_from else {
            self.upload_blob(repo, digest, bytes, false).await?;
            return Ok(BlobPut::Uploaded);
        };
        let mut url = self.url(&format!("v2/{repo}/blobs/uploads/")).await;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from);
        let request = Request::new("POST", &url);
        let scope = format!("{} repository:{from}:pull", self.scope(repo, true));
        let resp = self
            .send_scoped(
                Method::POST,
                url.clone(),
                &scope,
                HeaderMap::new(),
                Some(bytes::Bytes::new()),
            )
            .await;
        let refused = match resp {
            Ok(r) if r.status().as_u16() == 201 => return Ok(BlobPut::Mounted),
            // Not mounted (the source is unknown to it, say): an upload session was opened.
            Ok(r) if r.status().as_u16() == 202 => {
                self.finish_upload(&r, &url, repo, digest, bytes).await?;
                return Ok(BlobPut::Uploaded);
            }
            Ok(r) => self.fail(r, request).await,
            Err(e) => e,
        };
        if !is_refusal(&refused) {
            return Err(refused);
        }
        tracing::debug!(
            repo,
            from,
            "mount refused ({refused}); uploading the blob instead"
        );
        self.upload_blob(repo, digest, bytes, true).await?;
        Ok(BlobPut::UploadedAfterRefusedMount)
    }

    /// A plain upload: `POST` (with the bytes and `?digest=` when `monolithic`: a registry
    /// that takes it answers 201 and is done) then, where it opened a session, `PUT`.
    async fn upload_blob(
        &self,
        repo: &str,
        digest: &Digest,
        bytes: &[u8],
        monolithic: bool,
    ) -> Result<(), RegistryError> {
        let mut url = self.url(&format!("v2/{repo}/blobs/uploads/")).await;
        let (mut h, body) = (HeaderMap::new(), bytes::Bytes::copy_from_slice(bytes));
        let body = if monolithic {
            url.query_pairs_mut().append_pair("digest", digest.as_str());
            h.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            body
        } else {
            bytes::Bytes::new()
        };
        let request = Request::new("POST", &url);
        let resp = self
            .send(Method::POST, url.clone(), repo, h, Some(body))
            .await?;
        match resp.status().as_u16() {
            201 if monolithic => Ok(()),
            202 => self.finish_upload(&resp, &url, repo, digest, bytes).await,
            _ => Err(self.fail(resp, request).await),
        }
    }

    /// Completes an upload session the registry opened: one `PUT` of the whole blob.
    async fn finish_upload(
        &self,
        resp: &reqwest::Response,
        url: &Url,
        repo: &str,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let mut put = location(resp, url).ok_or_else(|| RegistryError::Protocol {
            request: Request::new("POST", url),
            reason: "upload started without a Location".into(),
        })?;
        put.query_pairs_mut().append_pair("digest", digest.as_str());
        let request = Request::new("PUT", &put);
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let resp = self
            .send(
                Method::PUT,
                put,
                repo,
                h,
                Some(bytes::Bytes::copy_from_slice(bytes)),
            )
            .await?;
        if !resp.status().is_success() {
            return Err(self.fail(resp, request).await);
        }
        Ok(())
    }
}
