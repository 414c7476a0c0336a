//! A counting reverse proxy with an artificial delay, for benchmarks (`scripts/bench.sh`).
//!
//! ```text
//! cargo run --release --example latency_proxy -- --listen 127.0.0.1:PORT --backend 127.0.0.1:PORT \
//!     [--delay-ms 30] [--count-file FILE]
//! ```
//!
//! * Every request waits `--delay-ms` before it is forwarded. Requests are delayed independently
//!   (each in its own task), so a client with 16 requests in flight sees ~1 delay, not 16.
//! * Forwarding works like `tests/common/proxy.rs`: method, origin-form target, headers and body
//!   as received (hop-by-hop headers dropped, bodies buffered), response returned unchanged. The
//!   client's `Host` header is kept, so distribution's absolute upload `Location`s point back at
//!   the proxy; a `Location` naming the backend is rewritten to the proxy as a safety net.
//!   Connections to the backend are kept alive and reused. An unreachable backend gives `502`.
//! * Requests are counted by method, by kind (`catalog`, `tags`, `manifests_get`,
//!   `manifests_head`, `manifests_put`, `manifests_delete`, `blobs`, `uploads`, `referrers`,
//!   `other`; the `/v2/` ping is `other`), by status, and by `METHOD kind` (`detail`, where the
//!   ping is `ping`).
//! * `GET /__stats` returns the counts as JSON; `POST /__reset` zeroes them. Neither is forwarded
//!   nor counted.
//! * `--count-file FILE`: the same JSON is also written to FILE (temp file + rename) at most
//!   every 250 ms while the counts change.
//!
//! Listens on loopback only. Prints `latency_proxy: listening on ADDR …` on stdout once bound
//! (with `--listen 127.0.0.1:0` the chosen port is in that line).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{HeaderValue, CONTENT_TYPE, HOST, LOCATION};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// Counting reverse proxy with a per-request delay.
#[derive(Debug, Parser)]
#[command(name = "latency_proxy")]
struct Args {
    /// Address to listen on (loopback only), e.g. 127.0.0.1:5555 or 127.0.0.1:0.
    #[arg(long)]
    listen: String,
    /// Backend registry, HOST:PORT (plain HTTP).
    #[arg(long)]
    backend: String,
    /// Delay before forwarding each request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Also write the counts (JSON) to this file while they change.
    #[arg(long)]
    count_file: Option<PathBuf>,
}

const KINDS: [&str; 10] = [
    "catalog",
    "tags",
    "manifests_get",
    "manifests_head",
    "manifests_put",
    "manifests_delete",
    "blobs",
    "uploads",
    "referrers",
    "other",
];

#[derive(Default)]
struct Stats {
    total: u64,
    by_method: BTreeMap<String, u64>,
    by_kind: BTreeMap<&'static str, u64>,
    by_status: BTreeMap<u16, u64>,
    detail: BTreeMap<String, u64>,
}

impl Stats {
    fn to_json(&self, st: &ProxyState) -> serde_json::Value {
        let mut kinds = serde_json::Map::new();
        for k in KINDS {
            kinds.insert(k.into(), self.by_kind.get(k).copied().unwrap_or(0).into());
        }
        serde_json::json!({
            "total": self.total,
            "by_method": self.by_method,
            "by_kind": kinds,
            "by_status": self.by_status.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "detail": self.detail,
            "errors": self.by_status.get(&502).copied().unwrap_or(0),
            "delay_ms": st.delay.as_millis() as u64,
            "backend": st.backend,
            "listen": st.addr,
        })
    }
}

struct ProxyState {
    backend: String,
    addr: String,
    delay: Duration,
    pool: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    stats: Mutex<Stats>,
    changed: AtomicBool,
}

/// (kind for `by_kind`, name for `detail`).
fn classify(method: &Method, path: &str) -> (&'static str, &'static str) {
    if path == "/v2/" || path == "/v2" {
        return ("other", "ping");
    }
    if path == "/v2/_catalog" {
        return ("catalog", "catalog");
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return ("other", "other");
    };
    if rest.ends_with("/tags/list") {
        return ("tags", "tags");
    }
    if rest.contains("/blobs/uploads") {
        return ("uploads", "uploads");
    }
    // The last marker wins: repository names may contain "manifests" or "blobs" components.
    let markers = [
        ("/manifests/", "manifests"),
        ("/blobs/", "blobs"),
        ("/referrers/", "referrers"),
    ];
    let found = markers
        .iter()
        .filter_map(|(m, name)| rest.rfind(m).map(|at| (at, *name)))
        .max_by_key(|(at, _)| *at);
    match found.map(|(_, n)| n) {
        Some("manifests") => match *method {
            Method::GET => ("manifests_get", "manifests"),
            Method::HEAD => ("manifests_head", "manifests"),
            Method::PUT => ("manifests_put", "manifests"),
            Method::DELETE => ("manifests_delete", "manifests"),
            _ => ("other", "manifests"),
        },
        Some("blobs") => ("blobs", "blobs"),
        Some("referrers") => ("referrers", "referrers"),
        _ => ("other", "other"),
    }
}

const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for h in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(h);
    }
}

fn plain(status: StatusCode, content_type: &str, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
    r
}

async fn connect(backend: &str) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(backend)
        .await
        .map_err(|e| format!("connect {backend}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake {backend}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

impl ProxyState {
    /// A pooled connection that is still open, or a new one; `true` when it was pooled.
    async fn checkout(&self) -> Result<(SendRequest<Full<Bytes>>, bool), String> {
        loop {
            let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match pooled {
                Some(mut s) => {
                    if s.is_closed() {
                        continue;
                    }
                    if s.ready().await.is_ok() {
                        return Ok((s, true));
                    }
                }
                None => return Ok((connect(&self.backend).await?, false)),
            }
        }
    }

    fn checkin(&self, s: SendRequest<Full<Bytes>>) {
        if !s.is_closed() {
            let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < 256 {
                pool.push(s);
            }
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<axum::http::Response<Bytes>, (String, bool)> {
        let (mut sender, pooled) = self.checkout().await.map_err(|e| (e, false))?;
        let mut req = axum::http::Request::builder()
            .method(method.clone())
            .uri(path_and_query)
            .body(Full::new(body.clone()))
            .map_err(|e| (format!("bad request {method} {path_and_query}: {e}"), false))?;
        *req.headers_mut() = headers.clone();
        let resp = sender.send_request(req).await.map_err(|e| {
            (
                format!("{method} http://{}{path_and_query}: {e}", self.backend),
                pooled,
            )
        })?;
        let (parts, body) = resp.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| {
                (
                    format!(
                        "{method} http://{}{path_and_query}: body: {e}",
                        self.backend
                    ),
                    false,
                )
            })?
            .to_bytes();
        self.checkin(sender);
        Ok(axum::http::Response::from_parts(parts, bytes))
    }

    /// Forward one request; a request that failed on a reused connection (closed by the backend
    /// while idle) is sent once more on a new one.
    async fn send(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<axum::http::Response<Bytes>, String> {
        let fut = async {
            match self.send_once(method, path_and_query, headers, body).await {
                Ok(r) => Ok(r),
                Err((_, true)) => self
                    .send_once(method, path_and_query, headers, body)
                    .await
                    .map_err(|(e, _)| e),
                Err((e, false)) => Err(e),
            }
        };
        match tokio::time::timeout(Duration::from_secs(300), fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("{method} {path_and_query}: timed out")),
        }
    }

    fn stats_json(&self) -> String {
        let stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.to_json(self).to_string()
    }
}

async fn handle(State(st): State<Arc<ProxyState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if path == "/__stats" || path == "/__reset" {
        return match (parts.method.as_str(), path.as_str()) {
            ("GET", "/__stats") => plain(StatusCode::OK, "application/json", st.stats_json()),
            ("POST", "/__reset") => {
                *st.stats.lock().unwrap_or_else(|e| e.into_inner()) = Stats::default();
                st.changed.store(true, Ordering::Relaxed);
                plain(StatusCode::OK, "application/json", st.stats_json())
            }
            _ => plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "GET /__stats, POST /__reset\n".into(),
            ),
        };
    }
    let method = parts.method.clone();
    let (kind, detail) = classify(&method, &path);
    {
        let mut s = st.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.total += 1;
        *s.by_method.entry(method.to_string()).or_default() += 1;
        *s.by_kind.entry(kind).or_default() += 1;
        *s.detail.entry(format!("{method} {detail}")).or_default() += 1;
    }
    st.changed.store(true, Ordering::Relaxed);

    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
    let body = axum::body::to_bytes(body, usize::MAX).await;
    if !st.delay.is_zero() {
        tokio::time::sleep(st.delay).await;
    }
    let response = match body {
        Err(e) => plain(
            StatusCode::BAD_REQUEST,
            "text/plain",
            format!("latency_proxy: reading request body: {e}"),
        ),
        Ok(body) => {
            let mut headers = parts.headers;
            strip_hop_by_hop(&mut headers);
            if !headers.contains_key(HOST) {
                let host = parts
                    .uri
                    .authority()
                    .map_or_else(|| st.addr.clone(), |a| a.as_str().to_owned());
                if let Ok(v) = HeaderValue::from_str(&host) {
                    headers.insert(HOST, v);
                }
            }
            match st.send(&method, &path_and_query, &headers, &body).await {
                Err(e) => plain(
                    StatusCode::BAD_GATEWAY,
                    "text/plain",
                    format!("latency_proxy: {e}"),
                ),
                Ok(resp) => {
                    let (p, bytes) = resp.into_parts();
                    let mut headers = p.headers;
                    strip_hop_by_hop(&mut headers);
                    rewrite_location(&mut headers, &st.backend, &st.addr);
                    let mut out = Response::new(Body::from(bytes));
                    *out.status_mut() = p.status;
                    *out.headers_mut() = headers;
                    out
                }
            }
        }
    };
    {
        let mut s = st.stats.lock().unwrap_or_else(|e| e.into_inner());
        *s.by_status.entry(response.status().as_u16()).or_default() += 1;
    }
    st.changed.store(true, Ordering::Relaxed);
    response
}

fn rewrite_location(headers: &mut HeaderMap, backend: &str, proxy: &str) {
    let Some(loc) = headers.get(LOCATION).and_then(|v| v.to_str().ok()) else {
        return;
    };
    if let Some(rest) = loc.strip_prefix(&format!("http://{backend}/")) {
        if let Ok(v) = HeaderValue::from_str(&format!("http://{proxy}/{rest}")) {
            headers.insert(LOCATION, v);
        }
    }
}

async fn write_counts(st: Arc<ProxyState>, file: PathBuf) {
    let tmp = file.with_extension("tmp");
    loop {
        if st.changed.swap(false, Ordering::Relaxed) {
            let json = st.stats_json();
            if std::fs::write(&tmp, json).is_ok() {
                let _ = std::fs::rename(&tmp, &file);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("latency_proxy: error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let listen: std::net::SocketAddr = args
        .listen
        .parse()
        .map_err(|e| format!("--listen {}: {e}", args.listen))?;
    if !listen.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {listen}: loopback addresses only"
        ));
    }
    let backend = args
        .backend
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("binding {listen}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let st = Arc::new(ProxyState {
        backend: backend.clone(),
        addr: addr.clone(),
        delay: Duration::from_millis(args.delay_ms),
        pool: Mutex::new(Vec::new()),
        stats: Mutex::new(Stats::default()),
        changed: AtomicBool::new(true),
    });
    if let Some(file) = args.count_file {
        tokio::spawn(write_counts(st.clone(), file));
    }
    let app = Router::new().fallback(handle).with_state(st);
    println!(
        "latency_proxy: listening on {addr} -> {backend}, delay {} ms",
        args.delay_ms
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("serving: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let g = Method::GET;
        assert_eq!(classify(&g, "/v2/").0, "other");
        assert_eq!(classify(&g, "/v2/_catalog").0, "catalog");
        assert_eq!(classify(&g, "/v2/a/b/tags/list").0, "tags");
        assert_eq!(classify(&g, "/v2/a/manifests/t1").0, "manifests_get");
        assert_eq!(
            classify(&Method::HEAD, "/v2/a/manifests/t1").0,
            "manifests_head"
        );
        assert_eq!(
            classify(&Method::PUT, "/v2/a/manifests/t1").0,
            "manifests_put"
        );
        assert_eq!(classify(&g, "/v2/manifests/x/blobs/sha256:1").0, "blobs");
        assert_eq!(classify(&Method::POST, "/v2/a/blobs/uploads/").0, "uploads");
        assert_eq!(
            classify(&Method::PUT, "/v2/a/blobs/uploads/u-1").0,
            "uploads"
        );
        assert_eq!(classify(&g, "/v2/a/referrers/sha256:1").0, "referrers");
        assert_eq!(classify(&g, "/healthz").0, "other");
    }
}
