//! A small registry client on reqwest: the calls referrify needs, with what oci-client lacks
//! (rust-crates.md §3): no redirects followed on API calls, response headers (`Content-Type`,
//! `OCI-Subject`, `OCI-Filters-Applied`, `Link`) surfaced, retries with backoff and `Retry-After`,
//! one token fetch per scope, typed errors, size limits, and digest checks on everything read.

mod api;
pub mod challenge;
pub mod credentials;
pub mod error;
pub mod listing;
pub mod retry;

pub use api::{next_link, Fetched, Pushed, Referrers};

use challenge::Challenge;
use credentials::Credential;
use error::{describe_body, RegistryError, Request};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, Url};
use retry::RetryPolicy;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Semaphore};

/// Manifests larger than this are refused (distribution-spec: clients SHOULD support 4 MB;
/// containerd's limit is 4 × 1048 × 1048).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// In-toto statement blobs larger than this are refused (BuildKit caps attestations at 40 MiB).
pub const MAX_STATEMENT_BYTES: usize = 48 * 1024 * 1024;
/// Referrers pages followed through `Link` before giving up.
pub const MAX_REFERRERS_PAGES: usize = 1000;

/// How to reach a registry.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Use plain HTTP even for a host that is not on loopback.
    pub plain_http: bool,
    /// Retry bounds.
    pub retry: RetryPolicy,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Extra CA certificate (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Requests in flight at once against this registry.
    pub max_concurrency: usize,
    /// Ask for push access in tokens (not needed for dry runs and checks).
    pub push: bool,
    /// Docker config file to read credentials from (`None`: the default location).
    pub docker_config: Option<PathBuf>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            plain_http: false,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            ca_file: None,
            max_concurrency: 8,
            push: false,
            docker_config: None,
        }
    }
}

/// Whether `host` (with optional port) is a loopback name or address.
pub fn is_loopback(host: &str) -> bool {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':')
            .map(|(h, p)| {
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            })
            .unwrap_or(host)
    };
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

struct Token {
    value: String,
    expires: Instant,
}

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    tokens: HashMap<String, Token>,
    /// One lock per scope, held while its token is fetched: requests for a scope wait for one
    /// token request (no stampede) while other scopes fetch theirs at the same time.
    fetching: HashMap<String, Arc<Mutex<()>>>,
}

struct Inner {
    http: reqwest::Client,
    host: String,
    /// `scheme://host/`, once settled.
    base: std::sync::OnceLock<Url>,
    https: Url,
    http_url: Url,
    settling: Mutex<()>,
    credential: Option<Credential>,
    auth: Mutex<AuthState>,
    retry: RetryPolicy,
    push: bool,
    permits: Semaphore,
    requests: AtomicU64,
}

/// A client for one registry host. Clones share the connection pool, tokens and counters.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

const USER_AGENT: &str = concat!("referrify/", env!("CARGO_PKG_VERSION"));

impl Client {
    /// A client for `host` (the API host, e.g. `registry-1.docker.io` or `127.0.0.1:5000`);
    /// `auth_registry` is the name credentials are stored under.
    pub fn new(
        host: &str,
        auth_registry: &str,
        opts: &ClientOptions,
    ) -> Result<Client, RegistryError> {
        let parse = |scheme: &str| {
            Url::parse(&format!("{scheme}://{host}/")).map_err(|e| RegistryError::Credentials {
                registry: host.into(),
                reason: format!("not a valid registry host: {e}"),
            })
        };
        let https = parse("https")?;
        let http_url = parse("http")?;
        // Non-loopback registries get HTTPS (or plain HTTP when asked). Loopback registries get
        // HTTPS when they speak it (with verification), else plain HTTP, as docker does for
        // localhost; that is settled by the first request (`settle`).
        let base = std::sync::OnceLock::new();
        if opts.plain_http {
            let _ = base.set(http_url.clone());
        } else if !is_loopback(host) {
            let _ = base.set(https.clone());
        }
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(15))
            .timeout(opts.timeout)
            .pool_max_idle_per_host(opts.max_concurrency.max(1));
        if let Some(ca) = &opts.ca_file {
            let pem = std::fs::read(ca).map_err(|e| RegistryError::Credentials {
                registry: host.into(),
                reason: format!("cannot read CA file {}: {e}", ca.display()),
            })?;
            let cert =
                reqwest::Certificate::from_pem(&pem).map_err(|e| RegistryError::Credentials {
                    registry: host.into(),
                    reason: format!("CA file {} is not a PEM certificate: {e}", ca.display()),
                })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| RegistryError::Credentials {
            registry: host.into(),
            reason: format!("cannot set up HTTP: {e}"),
        })?;
        let credential = match opts.docker_config.clone().or_else(credentials::config_path) {
            Some(path) => credentials::lookup(&path, auth_registry).map_err(|reason| {
                RegistryError::Credentials {
                    registry: auth_registry.into(),
                    reason,
                }
            })?,
            None => None,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                host: host.to_string(),
                base,
                https,
                http_url,
                settling: Mutex::new(()),
                credential,
                auth: Mutex::new(AuthState::default()),
                retry: opts.retry,
                push: opts.push,
                permits: Semaphore::new(opts.max_concurrency.max(1)),
                requests: AtomicU64::new(0),
            }),
        })
    }

    /// HTTP requests sent so far (token requests and retries included).
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The registry host.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// Whether requests go over plain HTTP (as settled so far).
    pub fn is_plain_http(&self) -> bool {
        self.base().scheme() == "http"
    }

    fn base(&self) -> &Url {
        self.inner.base.get().unwrap_or(&self.inner.https)
    }

    /// Settles HTTPS or plain HTTP for a loopback registry: a TLS handshake that succeeds, or
    /// fails on the certificate, means HTTPS (so a bad certificate is refused, never bypassed);
    /// a server that does not speak TLS at all means plain HTTP.
    async fn settle(&self) {
        if self.inner.base.get().is_some() {
            return;
        }
        let _one = self.inner.settling.lock().await;
        if self.inner.base.get().is_some() {
            return;
        }
        let probe = self
            .inner
            .https
            .join("v2/")
            .unwrap_or_else(|_| self.inner.https.clone());
        let chosen = match self.inner.http.get(probe).send().await {
            Ok(_) => {
                self.inner.requests.fetch_add(1, Ordering::Relaxed);
                &self.inner.https
            }
            Err(e) if is_certificate_error(&e) => &self.inner.https,
            Err(e) => {
                tracing::debug!(host = %self.inner.host, "no TLS on this loopback registry ({}); using plain HTTP", flatten(&e));
                &self.inner.http_url
            }
        };
        let _ = self.inner.base.set(chosen.clone());
    }

    async fn url(&self, path: &str) -> Url {
        self.settle().await;
        // Paths are built from validated repository names and digests or tags only.
        let base = self.base();
        base.join(path.trim_start_matches('/'))
            .unwrap_or_else(|_| base.clone())
    }

    fn scope(&self, repo: &str, write: bool) -> String {
        if write || self.inner.push {
            format!("repository:{repo}:pull,push")
        } else {
            format!("repository:{repo}:pull")
        }
    }

    /// The `Authorization` value for a request in `scope`, fetching a token when the registry
    /// asked for bearer auth before.
    async fn authorization(&self, scope: &str) -> Result<Option<String>, RegistryError> {
        let valid = |st: &AuthState| {
            st.tokens
                .get(scope)
                .filter(|t| t.expires > Instant::now())
                .map(|t| format!("Bearer {}", t.value))
        };
        let (ch, gate) = {
            let mut st = self.inner.auth.lock().await;
            let Some(ch) = st.challenge.clone() else {
                return Ok(None);
            };
            if ch.scheme != "bearer" {
                (ch, None)
            } else if let Some(h) = valid(&st) {
                return Ok(Some(h));
            } else {
                let gate = st.fetching.entry(scope.to_string()).or_default().clone();
                (ch, Some(gate))
            }
        };
        match ch.scheme.as_str() {
            "basic" => Ok(self.basic_header()),
            "bearer" => {
                let gate = gate.unwrap_or_default();
                let _one = gate.lock().await;
                // Another request may have fetched it while this one waited.
                if let Some(h) = valid(&*self.inner.auth.lock().await) {
                    return Ok(Some(h));
                }
                let token = self.fetch_token(&ch, scope).await?;
                let header = format!("Bearer {}", token.value);
                self.inner
                    .auth
                    .lock()
                    .await
                    .tokens
                    .insert(scope.to_string(), token);
                Ok(Some(header))
            }
            other => Err(RegistryError::Auth {
                registry: self.inner.host.clone(),
                reason: format!("unsupported authentication scheme {other:?}"),
            }),
        }
    }

    fn basic_header(&self) -> Option<String> {
        use base64::Engine as _;
        match &self.inner.credential {
            Some(Credential::Basic { username, password }) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            _ => None,
        }
    }

    async fn fetch_token(&self, ch: &Challenge, scope: &str) -> Result<Token, RegistryError> {
        let fail = |reason: String| RegistryError::Auth {
            registry: self.inner.host.clone(),
            reason,
        };
        let realm = ch
            .params
            .get("realm")
            .ok_or_else(|| fail("bearer challenge without realm".into()))?;
        let mut url = Url::parse(realm).map_err(|_| fail("bearer realm is not a URL".into()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(fail("bearer realm is not an http(s) URL".into()));
        }
        let service = ch.params.get("service").cloned().unwrap_or_default();
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let resp = match &self.inner.credential {
            Some(Credential::IdentityToken(refresh)) => {
                let form = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                    ("service", service.as_str()),
                    ("scope", scope),
                    ("client_id", "referrify"),
                    ("access_type", "offline"),
                ];
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish();
                self.inner
                    .http
                    .post(url.clone())
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
            }
            cred => {
                {
                    let mut q = url.query_pairs_mut();
                    if !service.is_empty() {
                        q.append_pair("service", &service);
                    }
                    q.append_pair("scope", scope);
                }
                let mut req = self.inner.http.get(url.clone());
                if let Some(Credential::Basic { username, password }) = cred {
                    req = req.basic_auth(username, Some(password));
                }
                req.send().await
            }
        };
        let resp = resp.map_err(|e| {
            fail(format!(
                "token request to {} failed: {}",
                Request::new("GET", &url).url,
                flatten(&e)
            ))
        })?;
        let status = resp.status();
        let body = read_limited(resp, 1 << 20, &Request::new("GET", &url)).await?;
        if !status.is_success() {
            return Err(fail(format!(
                "token endpoint answered HTTP {}: {}",
                status.as_u16(),
                describe_body(&body)
            )));
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| fail("token endpoint answered something that is not a token".into()))?;
        let value = t
            .token
            .or(t.access_token)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| fail("token endpoint answered without a token".into()))?;
        let life = Duration::from_secs(t.expires_in.unwrap_or(60).max(60));
        Ok(Token {
            value,
            expires: Instant::now() + life - Duration::from_secs(10),
        })
    }

    /// Sends a request with auth, retries and backoff; returns the final response whatever its
    /// status, except 401 after one re-authentication, which is an error.
    async fn send(
        &self,
        method: Method,
        url: Url,
        repo: &str,
        headers: HeaderMap,
        body: Option<bytes::Bytes>,
    ) -> Result<reqwest::Response, RegistryError> {
        let write = !matches!(method, Method::GET | Method::HEAD);
        let scope = self.scope(repo, write);
        self.send_scoped(method, url, &scope, headers, body).await
    }

    /// [`Client::send`] with an explicit token scope (`registry:catalog:*` for the catalog).
    async fn send_scoped(
        &self,
        method: Method,
        url: Url,
        scope: &str,
        headers: HeaderMap,
        body: Option<bytes::Bytes>,
    ) -> Result<reqwest::Response, RegistryError> {
        let base = self.base();
        let same_host = url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default();
        let request = Request::new(method.as_str(), &url);
        let mut attempt = 0u32;
        let mut reauthed = false;
        loop {
            attempt += 1;
            let auth = if same_host {
                self.authorization(scope).await?
            } else {
                None
            };
            let mut req = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(a) = auth {
                req = req.header(AUTHORIZATION, a);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            let result = {
                let _permit = self.inner.permits.acquire().await;
                self.inner.requests.fetch_add(1, Ordering::Relaxed);
                req.send().await
            };
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    // A certificate the server sends again will fail again: no retry.
                    if attempt < self.inner.retry.max_attempts
                        && !is_certificate_error(&e)
                        && (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body())
                    {
                        tracing::debug!(%request, attempt, "retrying after: {}", flatten(&e));
                        tokio::time::sleep(self.inner.retry.backoff(attempt, None)).await;
                        continue;
                    }
                    return Err(RegistryError::Transport {
                        request,
                        message: format!(
                            "{} (after {attempt} attempt{})",
                            flatten(&e),
                            if attempt == 1 { "" } else { "s" }
                        ),
                    });
                }
            };
            let status = resp.status().as_u16();
            if status == 401 && same_host && !reauthed {
                reauthed = true;
                let ch = resp
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(challenge::parse);
                if let Some(ch) = ch {
                    let usable = match ch.scheme.as_str() {
                        "basic" => self.basic_header().is_some(),
                        _ => true,
                    };
                    if usable {
                        let mut st = self.inner.auth.lock().await;
                        st.tokens.remove(scope);
                        st.challenge = Some(ch);
                        drop(st);
                        attempt -= 1;
                        continue;
                    }
                }
            }
            if retry::retryable_status(status) && attempt < self.inner.retry.max_attempts {
                let ra = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry::parse_retry_after(v, std::time::SystemTime::now()));
                let wait = self.inner.retry.backoff(attempt, ra);
                tracing::debug!(%request, status, attempt, ?wait, "retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            if status == 401 || status == 403 {
                let body = read_limited(resp, 64 * 1024, &request)
                    .await
                    .unwrap_or_default();
                let hint = if self.inner.credential.is_none() {
                    " (no credentials found in the docker config for this registry)"
                } else {
                    ""
                };
                return Err(RegistryError::Status {
                    request,
                    status,
                    detail: format!("{}{hint}", describe_body(&body)),
                });
            }
            return Ok(resp);
        }
    }

    /// Runs an idempotent read again when its response body broke off (reset, truncated,
    /// stalled), with the same bounds and backoff as `send` uses for failed requests.
    async fn reading<T, F, Fut>(&self, read: F) -> Result<T, RegistryError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, RegistryError>>,
    {
        let mut attempt = 1;
        loop {
            match read().await {
                Err(RegistryError::BodyRead { request, message })
                    if attempt < self.inner.retry.max_attempts =>
                {
                    tracing::debug!(%request, attempt, "retrying after: {message}");
                    tokio::time::sleep(self.inner.retry.backoff(attempt, None)).await;
                    attempt += 1;
                }
                Err(RegistryError::BodyRead { request, message }) => {
                    return Err(RegistryError::BodyRead {
                        request,
                        message: format!("{message} (after {attempt} attempts)"),
                    })
                }
                r => return r,
            }
        }
    }

    async fn fail(&self, resp: reqwest::Response, request: Request) -> RegistryError {
        let status = resp.status().as_u16();
        let body = read_limited(resp, 64 * 1024, &request)
            .await
            .unwrap_or_default();
        RegistryError::Status {
            request,
            status,
            detail: describe_body(&body),
        }
    }
}

async fn read_limited(
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
                })
            }
        }
    }
}

/// Whether a request failed on the server's TLS certificate (as opposed to the server not
/// speaking TLS at all): rustls's error sits in the source chain, sometimes inside an io::Error.
fn is_certificate_error(e: &reqwest::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = src {
        // io::Error hides what it wraps from `source()`; unwrap it by hand (it nests).
        let mut cur: &(dyn std::error::Error + 'static) = err;
        while let Some(inner) = cur
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            cur = inner;
        }
        if let Some(t) = cur.downcast_ref::<rustls::Error>() {
            return matches!(
                t,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
        }
        src = err.source();
    }
    false
}

/// reqwest's error with its sources, on one line.
fn flatten(e: &reqwest::Error) -> String {
    // reqwest's own message embeds the URL (with its query); describe the kind instead.
    let mut s = String::from(if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the body failed"
    } else {
        "request failed"
    });
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.8.9.1:1",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:1",
            "ghcr.io",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
