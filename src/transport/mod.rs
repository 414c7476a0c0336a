//! A small registry client on reqwest: the calls referrify needs, with what oci-client lacks
//! (rust-crates.md §3): no redirects followed on API calls, response headers (`Content-Type`,
//! `OCI-Subject`, `OCI-Filters-Applied`, `Link`) surfaced, retries with backoff and `Retry-After`,
//! one token fetch per scope, typed errors, size limits, and digest checks on everything read.

mod api;
mod auth;
mod blobs;
pub mod challenge;
mod connect;
pub mod credentials;
pub mod error;
pub mod listing;
pub mod retry;
mod send;

pub use api::{next_link, Fetched, Pushed, Referrers};
pub use blobs::{BlobBody, BlobPut};
pub use connect::is_loopback;

use auth::AuthState;
use credentials::Credential;
use error::RegistryError;
use reqwest::Url;
use retry::RetryPolicy;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore};

/// Manifests larger than this are refused (distribution-spec: clients SHOULD support 4 MB;
/// containerd's limit is 4 × 1048 × 1048).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// In-toto statement blobs larger than this are refused. BuildKit v0.33 allows attestations of
/// up to 80 MiB (formats.md §14); statements are read streaming, so the limit costs no memory.
pub const MAX_STATEMENT_BYTES: usize = 128 * 1024 * 1024;
/// Bytes of referrers listing pages one subject may add up to (about 60,000 descriptors).
pub const MAX_REFERRERS_BYTES: usize = 16 * 1024 * 1024;
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
                source: Some(e.into()),
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
        let http = connect::http_client(host, opts)?;
        let credential = match opts.docker_config.clone().or_else(credentials::config_path) {
            Some(path) => credentials::lookup(&path, auth_registry).map_err(|reason| {
                RegistryError::Credentials {
                    registry: auth_registry.into(),
                    reason,
                    source: None,
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
}
