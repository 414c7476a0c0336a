//! A tiny, fully transparent HTTP/1.1 client (hyper's connection-level client: it adds no
//! `Accept`, `User-Agent` or compression headers and follows no redirects). Used by the
//! recording proxy to forward requests and by the synchronous `http_*` helpers.

use std::future::Future;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::{HeaderName, HeaderValue, HOST};
use axum::http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// Per-request limit, so a wedged server fails the test instead of hanging it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Send one request on a fresh connection to `addr` (`host:port`) and buffer the response.
/// `path_and_query` is sent as-is in origin form. A `Host` header is added only if missing.
pub async fn send(
    addr: &str,
    method: Method,
    path_and_query: &str,
    mut headers: HeaderMap,
    body: Bytes,
) -> Result<Response<Bytes>, String> {
    let fut = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake {addr}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        if !headers.contains_key(HOST) {
            headers.insert(
                HOST,
                HeaderValue::from_str(addr).map_err(|e| e.to_string())?,
            );
        }
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path_and_query)
            .body(Full::new(body))
            .map_err(|e| format!("bad request {method} {path_and_query}: {e}"))?;
        *req.headers_mut() = headers;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("{method} http://{addr}{path_and_query}: {e}"))?;
        let (parts, body) = resp.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| format!("{method} http://{addr}{path_and_query}: reading body: {e}"))?
            .to_bytes();
        Ok(Response::from_parts(parts, bytes))
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{method} http://{addr}{path_and_query}: timed out after {REQUEST_TIMEOUT:?}"
        )),
    }
}

/// Run a future to completion from synchronous code, whether or not the caller is itself
/// inside a tokio runtime (then a scoped helper thread is used).
pub fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    let run = move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("building a tokio runtime")
            .block_on(fut)
    };
    if tokio::runtime::Handle::try_current().is_err() {
        run()
    } else {
        std::thread::scope(|s| s.spawn(run).join().expect("http helper thread panicked"))
    }
}

/// Synchronous request: `(status, headers, body)`, or an error string (connection refused, …).
pub fn try_http_request(
    addr: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, HeaderMap, Vec<u8>), String> {
    let method = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header {k}: {e}"))?,
            HeaderValue::from_str(v).map_err(|e| format!("header {k}: {e}"))?,
        );
    }
    let body = Bytes::copy_from_slice(body);
    let resp = block_on(send(addr, method, path_and_query, map, body))?;
    let (parts, body) = resp.into_parts();
    Ok((parts.status.as_u16(), parts.headers, body.to_vec()))
}

/// Like [`try_http_request`] but panics on transport errors.
pub fn http_request(
    addr: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, HeaderMap, Vec<u8>) {
    try_http_request(addr, method, path_and_query, headers, body).unwrap_or_else(|e| panic!("{e}"))
}

/// `Authorization` header value for HTTP Basic auth.
pub fn basic_auth(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}
