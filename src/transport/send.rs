//! The request loop: auth, retries with backoff, one re-authentication on 401, and reading
//! bodies within a limit. Every request sent is counted (integration tests count them).

use super::connect::{authority, flatten, is_certificate_error, is_loopback, is_refused};
use super::error::{RegistryError, Request};
use super::{retry, Client};
use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::{Method, Url};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// One request as the loop sends it, attempt after attempt.
struct Call {
    method: Method,
    url: Url,
    /// Space-separated token scopes; a 401's challenge can widen them.
    scope: String,
    headers: HeaderMap,
    body: Option<bytes::Bytes>,
    /// Credentials go only to the registry itself, never to a redirect target.
    same_host: bool,
    /// Whether sending it twice does what sending it once does (GET, HEAD, a plain PUT of
    /// content by digest or tag). Others (POST, DELETE, a conditional PUT) are sent again only
    /// when the first attempt surely did nothing: a refused connection, 429, 503.
    idempotent: bool,
    request: Request,
}

tokio::task_local! {
    /// Retries an operation may still make, shared by every retry layer of it (`reading`
    /// around `send`): without it, layers multiply their bounds.
    static BUDGET: std::cell::Cell<u32>;
}

/// Takes one retry from the operation's budget; outside an operation (one request on its own)
/// only the request's own bound applies.
fn take_attempt() -> bool {
    BUDGET
        .try_with(|b| match b.get() {
            0 => false,
            n => {
                b.set(n - 1);
                true
            }
        })
        .unwrap_or(true)
}

impl Client {
    /// Sends a request with auth, retries and backoff; returns the final response whatever its
    /// status, except 401 after one re-authentication, which is an error.
    pub(super) async fn send(
        &self,
        method: Method,
        url: Url,
        repo: &str,
        headers: HeaderMap,
        body: Option<bytes::Bytes>,
    ) -> Result<reqwest::Response, RegistryError> {
        let write = !matches!(method, Method::GET | Method::HEAD);
        let mut scope = self.scope(repo, write);
        // Token servers grant deleting as an action of its own (distribution: `delete`).
        if method == Method::DELETE {
            scope = format!("{scope} repository:{repo}:delete");
        }
        self.send_scoped(method, url, &scope, headers, body).await
    }

    /// [`Client::send`] with an explicit token scope (`registry:catalog:*` for the catalog).
    pub(super) async fn send_scoped(
        &self,
        method: Method,
        url: Url,
        scope: &str,
        headers: HeaderMap,
        body: Option<bytes::Bytes>,
    ) -> Result<reqwest::Response, RegistryError> {
        let base = self.base();
        let conditional = headers.contains_key("if-match") || headers.contains_key("if-none-match");
        let idempotent =
            matches!(method, Method::GET | Method::HEAD) || (method == Method::PUT && !conditional);
        let mut call = Call {
            idempotent,
            same_host: url.host_str() == base.host_str()
                && url.port_or_known_default() == base.port_or_known_default(),
            request: Request::new(method.as_str(), &url),
            method,
            url,
            scope: scope.to_string(),
            headers,
            body,
        };
        let mut attempt = 0u32;
        let mut reauthed = false;
        loop {
            attempt += 1;
            let resp = match self.attempt(&call).await? {
                Ok(r) => r,
                Err(e) if self.retries_failure(&e, attempt, &call) => {
                    tracing::debug!(request = %call.request, attempt, "retrying after: {}", flatten(&e));
                    tokio::time::sleep(self.inner.retry.backoff(attempt, None)).await;
                    continue;
                }
                Err(e) => return Err(gave_up(call.request, &call.url, e, attempt)),
            };
            let status = resp.status().as_u16();
            if status == 401 && call.same_host && !reauthed {
                reauthed = true;
                if let Some(wider) = self.learn_challenge(&resp, &call.scope).await {
                    call.scope = wider;
                    // The first 401 only tells us how to authenticate: not an attempt.
                    attempt -= 1;
                    continue;
                }
            }
            if let Some(wait) = self.status_backoff(&resp, attempt, call.idempotent) {
                tracing::debug!(request = %call.request, status, attempt, ?wait, "retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            if status == 401 || status == 403 {
                let hint = if self.inner.credential.is_none() {
                    " (no credentials found in the docker config for this registry)"
                } else {
                    ""
                };
                return Err(self.fail_with(resp, call.request, hint).await);
            }
            return Ok(resp);
        }
    }

    /// Sends one attempt of `call` within the concurrency bound. The outer error is auth failing
    /// (not retried); the inner one is the request failing.
    async fn attempt(
        &self,
        call: &Call,
    ) -> Result<Result<reqwest::Response, reqwest::Error>, RegistryError> {
        let auth = if call.same_host {
            self.authorization(&call.scope).await?
        } else {
            None
        };
        let mut req = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .headers(call.headers.clone());
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        if let Some(b) = &call.body {
            req = req.body(b.clone());
        }
        let _permit = self.inner.permits.acquire().await;
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        Ok(req.send().await)
    }

    /// Whether a request that failed is worth another attempt, within the operation's bound.
    fn retries_failure(&self, e: &reqwest::Error, attempt: u32, call: &Call) -> bool {
        // A certificate the server sends again will fail again: no retry. Nor will a loopback
        // port nothing listens on start listening in the next second (a typo, a stopped
        // registry): fail at once.
        let refused_here = is_refused(e) && is_loopback(&authority(&call.url));
        let worth = !is_certificate_error(e)
            && !refused_here
            && if call.idempotent {
                e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()
            } else {
                e.is_connect()
            };
        worth && attempt < self.inner.retry.max_attempts && take_attempt()
    }

    /// How long to wait before retrying a response, when its status is worth another attempt.
    fn status_backoff(
        &self,
        resp: &reqwest::Response,
        attempt: u32,
        idempotent: bool,
    ) -> Option<Duration> {
        let status = resp.status().as_u16();
        let worth = if idempotent {
            retry::retryable_status(status)
        } else {
            // The request was refused before it did anything.
            matches!(status, 429 | 503)
        };
        if !worth || attempt >= self.inner.retry.max_attempts || !take_attempt() {
            return None;
        }
        let ra = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, std::time::SystemTime::now()));
        Some(self.inner.retry.backoff(attempt, ra))
    }

    /// Runs an idempotent read again when its response body broke off (reset, truncated,
    /// stalled), with the same bounds and backoff as `send` uses for failed requests.
    pub async fn reading<T, F, Fut>(&self, read: F) -> Result<T, RegistryError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, RegistryError>>,
    {
        // One bound for the whole read: retries of its requests and of its body share it.
        let budget = std::cell::Cell::new(self.inner.retry.max_attempts.saturating_sub(1));
        BUDGET
            .scope(budget, async {
                let mut attempt = 1;
                loop {
                    match read().await {
                        Err(RegistryError::BodyRead {
                            request, message, ..
                        }) if attempt < self.inner.retry.max_attempts && take_attempt() => {
                            tracing::debug!(%request, attempt, "retrying after: {message}");
                            tokio::time::sleep(self.inner.retry.backoff(attempt, None)).await;
                            attempt += 1;
                        }
                        Err(RegistryError::BodyRead {
                            request,
                            message,
                            source,
                        }) => {
                            return Err(RegistryError::BodyRead {
                                request,
                                message: format!("{message} (after {attempt} attempts)"),
                                source,
                            })
                        }
                        r => return r,
                    }
                }
            })
            .await
    }

    /// The error for a response we cannot use: its status and what its body says.
    pub(super) async fn fail(&self, resp: reqwest::Response, request: Request) -> RegistryError {
        self.fail_with(resp, request, "").await
    }

    async fn fail_with(
        &self,
        resp: reqwest::Response,
        request: Request,
        hint: &str,
    ) -> RegistryError {
        let status = resp.status().as_u16();
        let body = read_limited(resp, 64 * 1024, &request)
            .await
            .unwrap_or_default();
        match RegistryError::from_body(request, status, &body, hint) {
            RegistryError::Status {
                request,
                status,
                detail,
                codes,
            } => RegistryError::Status {
                request,
                status,
                detail: self.redact(&detail),
                codes,
            },
            other => other,
        }
    }
}

/// The error for a request that failed on its last attempt.
fn gave_up(request: Request, url: &Url, e: reqwest::Error, attempt: u32) -> RegistryError {
    let after = format!(
        " (after {attempt} attempt{})",
        if attempt == 1 { "" } else { "s" }
    );
    let message = if is_refused(&e) {
        // The short form: the rest of reqwest's chain says the same thing three times.
        let after = if attempt == 1 { "" } else { after.as_str() };
        format!(
            "connection refused: no registry listens on {}{after}",
            authority(url)
        )
    } else {
        format!("{}{after}", flatten(&e))
    };
    RegistryError::Transport {
        request,
        message,
        source: e.without_url(),
    }
}

/// Reads a response body, refusing it past `limit` bytes (by `Content-Length` or as it comes).
pub(super) async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
    request: &Request,
) -> Result<Vec<u8>, RegistryError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(RegistryError::TooLarge {
            request: request.clone(),
            limit,
        });
    }
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() + c.len() > limit {
                    return Err(RegistryError::TooLarge {
                        request: request.clone(),
                        limit,
                    });
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(out),
            Err(e) => {
                return Err(RegistryError::BodyRead {
                    request: request.clone(),
                    message: format!("reading the response failed: {}", flatten(&e)),
                    source: e.without_url(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::digest::Digest;
    use crate::transport::retry::RetryPolicy;
    use crate::transport::{Client, ClientOptions};

    #[tokio::test]
    async fn a_failed_request_keeps_its_cause_without_the_url() {
        // Nothing listens on a port just released: the connection is refused.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let opts = ClientOptions {
            plain_http: true,
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            docker_config: Some("/nonexistent/config.json".into()),
            ..ClientOptions::default()
        };
        let client = Client::new(&addr, &addr, &opts).unwrap();
        let digest = Digest::sha256(b"x");
        let e = client
            .put_blob("a/b", &digest, b"x", Some("c/d"))
            .await
            .unwrap_err();
        let text = e.to_string();
        let want = format!(
            "POST http://{addr}/v2/a/b/blobs/uploads/: connection refused: no registry listens on {addr}"
        );
        assert_eq!(text, want);
        let cause = std::error::Error::source(&e).expect("the cause is kept");
        assert!(cause.downcast_ref::<reqwest::Error>().is_some());
        assert!(!format!("{e:?}").contains("mount="), "{e:?}");
    }
}
