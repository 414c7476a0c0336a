//! Recording reverse proxy: an in-process HTTP server on 127.0.0.1 that forwards every request
//! unchanged to a backend registry and logs `method path?query -> status`.
//!
//! * request: method, path + query, headers and body are forwarded as received (hop-by-hop
//!   headers such as `Connection`/`Transfer-Encoding` are dropped because bodies are buffered).
//!   The client's `Host` header is kept, so a registry that builds absolute URLs (distribution's
//!   upload `Location`) points the client back at the proxy; it is only filled in when missing.
//! * response: status, headers and body are returned unchanged, including 3xx and 4xx/5xx. As a
//!   safety net, a `Location` that names the backend address is rewritten to the proxy address.
//! * A backend that cannot be reached gives `502` (recorded too).

use std::net::TcpListener as StdTcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{HeaderValue, HOST, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;

/// One request that went through the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordedRequest {
    /// `GET`, `HEAD`, `PUT`, …
    pub method: String,
    /// Origin-form target, e.g. `/v2/repo/manifests/sha256:…?foo=bar`.
    pub path_and_query: String,
    /// Status the backend answered (502 if it could not be reached).
    pub status: u16,
}

impl RecordedRequest {
    /// True for requests that can change registry state (POST, PUT, PATCH, DELETE).
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(p, _)| p)
    }
}

impl std::fmt::Display for RecordedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} -> {}",
            self.method, self.path_and_query, self.status
        )
    }
}

pub type RequestLog = Arc<Mutex<Vec<RecordedRequest>>>;

struct ProxyState {
    backend: String,
    addr: String,
    log: RequestLog,
    delay_ms: Arc<AtomicU64>,
}

/// Milliseconds the proxy waits before forwarding each request (0: none); settable while it runs.
pub type Delay = Arc<AtomicU64>;

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
    // Headers named in `Connection` are hop-by-hop too.
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

async fn forward(State(st): State<Arc<ProxyState>>, req: Request) -> Response {
    let delay = st.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());

    let response = match axum::body::to_bytes(body, usize::MAX).await {
        Err(e) => error_response(
            StatusCode::BAD_REQUEST,
            format!("proxy: reading request body: {e}"),
        ),
        Ok(body) => {
            let mut headers = parts.headers;
            strip_hop_by_hop(&mut headers);
            if !headers.contains_key(HOST) {
                // HTTP/2 clients send :authority instead of Host.
                let host = parts
                    .uri
                    .authority()
                    .map_or_else(|| st.addr.clone(), |a| a.as_str().to_owned());
                if let Ok(v) = HeaderValue::from_str(&host) {
                    headers.insert(HOST, v);
                }
            }
            match super::http::send(&st.backend, method.clone(), &path_and_query, headers, body)
                .await
            {
                Err(e) => error_response(StatusCode::BAD_GATEWAY, format!("proxy: {e}")),
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

    st.log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(RecordedRequest {
            method: method.to_string(),
            path_and_query,
            status: response.status().as_u16(),
        });
    response
}

fn rewrite_location(headers: &mut HeaderMap, backend: &str, proxy: &str) {
    let Some(loc) = headers.get(LOCATION).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let from = format!("http://{backend}/");
    if let Some(rest) = loc.strip_prefix(&from) {
        if let Ok(v) = HeaderValue::from_str(&format!("http://{proxy}/{rest}")) {
            headers.insert(LOCATION, v);
        }
    }
}

fn error_response(status: StatusCode, msg: String) -> Response {
    let mut r = Response::new(Body::from(msg));
    *r.status_mut() = status;
    r
}

/// Start the proxy on a fresh `127.0.0.1` port inside `rt`; returns its `host:port`.
pub fn start(
    rt: &tokio::runtime::Runtime,
    backend: String,
    log: RequestLog,
    delay_ms: Delay,
) -> String {
    let listener = StdTcpListener::bind("127.0.0.1:0").expect("binding the proxy to 127.0.0.1:0");
    listener.set_nonblocking(true).expect("set_nonblocking");
    let addr = listener.local_addr().expect("local_addr").to_string();
    let state = Arc::new(ProxyState {
        backend,
        addr: addr.clone(),
        log,
        delay_ms,
    });
    let app = Router::new().fallback(forward).with_state(state);
    rt.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        axum::serve(listener, app)
            .await
            .expect("proxy server failed");
    });
    addr
}
