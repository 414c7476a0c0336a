//! The HTTP side (axum): `POST /events` (bearer token, body limit, 400 on a malformed body,
//! 503 + `Retry-After` on a full queue), `GET /healthz`, `GET /metrics`; and the run that serves
//! them next to the workers until SIGTERM/SIGINT.

use super::{events, worker, AcceptError, Shared};
use crate::report::sanitize::sanitize;
use crate::store::Stores;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq as _;
use tower_http::limit::RequestBodyLimitLayer;

/// Seconds a sender is asked to wait when the queue is full.
const RETRY_AFTER_SECS: u64 = 5;

/// The routes, over `shared`; bodies larger than `max_body` bytes get 413.
pub fn router(shared: Arc<Shared>, max_body: usize) -> Router {
    let events = Router::new()
        .route("/events", post(receive))
        .route_layer(middleware::from_fn_with_state(shared.clone(), authorize))
        .layer(RequestBodyLimitLayer::new(max_body));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .merge(events)
        .with_state(shared)
}

/// Requires `Authorization: Bearer <token>`, compared in constant time.
async fn authorize(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let ok: bool = given.as_bytes().ct_eq(s.config.token.as_bytes()).into();
    if ok && !given.is_empty() {
        return next.run(req).await;
    }
    let mut r = (
        StatusCode::UNAUTHORIZED,
        "a valid bearer token is required\n",
    )
        .into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    s.metrics.queue_depth.set(s.queue.depth() as i64);
    let mut r = s.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

async fn receive(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let ce_type = headers.get("ce-type").and_then(|v| v.to_str().ok());
    let parsed = match ce_type {
        Some(t) => events::parse_binary(t, &body),
        None => events::parse(&body),
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            s.metrics.malformed.inc();
            let msg = sanitize(&e.to_string());
            tracing::warn!("refused a notification: {msg}");
            return (StatusCode::BAD_REQUEST, format!("{msg}\n")).into_response();
        }
    };
    s.metrics.ignored.inc_by(parsed.other as u64);
    let ignored_other = parsed.other;
    let shared = s.clone();
    // The journal is synced to disk before we answer: off the async threads.
    let accepted =
        tokio::task::spawn_blocking(move || shared.accept(parsed.events, super::now_ms())).await;
    match accepted {
        Ok(Ok(a)) => {
            let status = if a.refused > 0 && a.queued == 0 && a.ignored == 0 {
                tracing::warn!("refused {} events naming a registry not served", a.refused);
                StatusCode::FORBIDDEN
            } else {
                StatusCode::ACCEPTED
            };
            let body = serde_json::json!({
                "queued": a.queued,
                "ignored": a.ignored + ignored_other,
                "refused": a.refused,
            });
            (status, format!("{body}\n")).into_response()
        }
        Ok(Err(AcceptError::Full)) => {
            let mut r = (StatusCode::SERVICE_UNAVAILABLE, "the queue is full\n").into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            r
        }
        Ok(Err(e)) => {
            tracing::error!("{e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "the journal failed\n").into_response()
        }
        Err(e) => {
            tracing::error!("receiver task failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves `listener` and runs `workers` workers until a stop is asked for: the listener then
/// stops taking requests, and each worker finishes the image it holds (what is still queued stays
/// in the journal for the next start).
pub async fn run(
    shared: Arc<Shared>,
    stores: &Stores,
    listener: tokio::net::TcpListener,
    max_body: usize,
) -> std::io::Result<()> {
    let app = router(shared.clone(), max_body);
    let server = axum::serve(listener, app).with_graceful_shutdown(stopped());
    let workers = futures_util::future::join_all(
        (0..shared.config.workers.max(1)).map(|_| worker::run(&shared, stores)),
    );
    let waker = async {
        stopped().await;
        shared.queue.wake_all();
    };
    let (served, _, _) = tokio::join!(std::future::IntoFuture::into_future(server), workers, waker);
    served
}

/// Resolves once SIGTERM/SIGINT asked for a stop (`crate::stop` records it).
async fn stopped() {
    while !crate::stop::requested() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
