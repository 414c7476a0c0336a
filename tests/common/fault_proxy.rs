//! A fault-injecting proxy in front of a real registry: answers, breaks, delays, holds or
//! follows up the requests its rules match, forwards everything else, and logs what it saw.
//! For what a real registry does not do on demand (tests/faults.rs, race.rs, kill.rs).

use super::Registry;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to a request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` when given) instead of forwarding.
    Status(u16, Option<&'static str>),
    /// Forward, then send half the body and reset the connection.
    Reset,
    /// Forward, then send half the body under the full `Content-Length`.
    Truncate,
    /// Wait this long before forwarding.
    Stall(Duration),
    /// Redirect to the same path on the other host (`FaultProxy::other`).
    Redirect,
    /// Forward, then change one byte of the body (headers, `Docker-Content-Digest` included,
    /// stay as the registry sent them).
    Tamper,
    /// Forward, then, as another writer, PUT this manifest (media type, bytes) at this path of
    /// the real registry: a write that lands right after ours read the state.
    ThenPut(String, &'static str, Vec<u8>),
    /// Hold the request until the proxy has seen this many requests matching the pattern (at
    /// most 30 s), then forward it: forces an interleaving, say both writers' reads before
    /// either's write.
    WaitFor(String, usize),
    /// Hold the request until the test calls [`FaultProxy::release`]: the client is then
    /// certainly in the middle of its work ([`FaultProxy::held`] says how many are waiting).
    Hold,
}

/// A fault for the first `times` requests whose `METHOD path` contains `matches`; written
/// `METHOD *text`, the method must match and the path contain `text`. The first rule that
/// applies to a request wins; one that is used up lets the next one for the same requests apply.
#[derive(Clone, Debug)]
pub struct Rule {
    /// `METHOD *text` or a substring of `METHOD path`.
    pub matches: String,
    /// How many matching requests get the fault.
    pub times: usize,
    /// What is done to them.
    pub fault: Fault,
    /// Matching requests let through before the fault applies.
    after: usize,
}

impl Rule {
    /// The same rule, applied only after `n` matching requests went through untouched.
    pub fn after(mut self, n: usize) -> Rule {
        self.after = n;
        self
    }
}

#[derive(Default)]
struct Seen {
    /// `METHOD path` of every request, in order, with `*` when a fault was applied.
    log: Vec<String>,
    /// Hits per rule.
    hits: BTreeMap<usize, usize>,
}

#[derive(Clone)]
struct St {
    backend: String,
    rules: Arc<Vec<Rule>>,
    seen: Arc<Mutex<Seen>>,
    other: String,
    /// Added to every request.
    delay: Duration,
    /// Requests held by [`Fault::Hold`], and the gate that lets them go.
    held: Arc<std::sync::atomic::AtomicUsize>,
    release: Arc<tokio::sync::watch::Sender<bool>>,
    /// Honour `If-Match` / `If-None-Match: *` on manifest PUTs, as distribution 2.8 and ferro do
    /// not: a registry with conditional writes, in front of a real one. Checked and written
    /// under one lock, so two conditional writes cannot both pass.
    conditional: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// What the other host received: path and `Authorization` header.
type OtherLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

pub struct FaultProxy {
    /// `127.0.0.1:PORT` to give the code under test.
    pub addr: String,
    seen: Arc<Mutex<Seen>>,
    /// Requests the other host received, with the `Authorization` header they carried.
    other_seen: OtherLog,
    held: Arc<std::sync::atomic::AtomicUsize>,
    release: Arc<tokio::sync::watch::Sender<bool>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

pub fn forward_blocking(
    backend: &str,
    method: &str,
    pq: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (u16, HeaderMap, Vec<u8>) {
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "connection" | "transfer-encoding" | "content-length"
            )
        })
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.to_string(), v.to_string())))
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    super::try_http_request(backend, method, pq, &refs, body)
        .unwrap_or_else(|e| (502, HeaderMap::new(), e.into_bytes()))
}

pub fn hits(pattern: &str, key: &str) -> bool {
    match pattern.split_once(" *") {
        Some((method, text)) => key.starts_with(&format!("{method} ")) && key.contains(text),
        None => key.contains(pattern),
    }
}

fn respond(status: u16, headers: HeaderMap, body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    for (k, v) in headers.iter() {
        if !matches!(
            k.as_str(),
            "connection" | "transfer-encoding" | "content-length"
        ) {
            r.headers_mut().append(k.clone(), v.clone());
        }
    }
    r
}

async fn handle(State(st): State<St>, req: Request) -> Response {
    let method = req.method().to_string();
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let key = format!("{method} {}", pq.split('?').next().unwrap_or(""));
    let fault = {
        let mut seen = st.seen.lock().unwrap();
        let mut chosen = None;
        for (i, r) in st.rules.iter().enumerate() {
            if hits(&r.matches, &key) {
                // A rule used up (or not yet due) lets a later rule for the same requests apply.
                let n = seen.hits.entry(i).or_default();
                *n += 1;
                if *n > r.after && *n <= r.after + r.times {
                    chosen = Some(r.fault.clone());
                    break;
                }
            }
        }
        seen.log
            .push(format!("{key}{}", if chosen.is_some() { " *" } else { "" }));
        chosen
    };
    if let Some(Fault::Stall(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    if let Some(Fault::WaitFor(pattern, n)) = &fault {
        for _ in 0..6000 {
            let seen = st
                .seen
                .lock()
                .unwrap()
                .log
                .iter()
                .filter(|l| hits(pattern, l))
                .count();
            if seen >= *n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    if let Some(Fault::Hold) = &fault {
        let mut gate = st.release.subscribe();
        st.held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _ = gate.wait_for(|r| *r).await;
    }
    if !st.delay.is_zero() {
        tokio::time::sleep(st.delay).await;
    }
    let _serial = match &st.conditional {
        Some(lock) if method == "PUT" && pq.contains("/manifests/") => Some(lock.lock().await),
        _ => None,
    };
    if _serial.is_some() {
        let if_match = headers
            .get("if-match")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let if_none = headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some("*");
        if if_match.is_some() || if_none {
            let backend = st.backend.clone();
            let path = pq.clone();
            let (cur, ch, _) = tokio::task::spawn_blocking(move || {
                let mut h = HeaderMap::new();
                h.insert("accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json".parse().unwrap());
                forward_blocking(&backend, "HEAD", &path, &h, b"")
            })
            .await
            .unwrap();
            let now = ch
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(|d| format!("\"{d}\""));
            let refused = match (&if_match, if_none) {
                (Some(want), _) => cur != 200 || now.as_deref() != Some(want.as_str()),
                (None, true) => cur == 200,
                _ => false,
            };
            if refused {
                st.seen.lock().unwrap().log.push(format!("{key} 412"));
                return respond(412, HeaderMap::new(), Body::from("precondition failed"));
            }
        }
    }
    match fault {
        Some(Fault::Status(code, retry_after)) => {
            let mut h = HeaderMap::new();
            if let Some(ra) = retry_after {
                h.insert("retry-after", ra.parse().unwrap());
            }
            return respond(
                code,
                h,
                Body::from(format!(
                    r#"{{"errors":[{{"code":"INJECTED","message":"injected {code}"}}]}}"#
                )),
            );
        }
        Some(Fault::Redirect) => {
            let mut h = HeaderMap::new();
            h.insert(
                "location",
                format!("http://{}{pq}", st.other).parse().unwrap(),
            );
            return respond(307, h, Body::empty());
        }
        _ => {}
    }
    let backend = st.backend.clone();
    let (m, p, b) = (method.clone(), pq.clone(), body.to_vec());
    let (status, h, bytes) =
        tokio::task::spawn_blocking(move || forward_blocking(&backend, &m, &p, &headers, &b))
            .await
            .unwrap();
    if let Some(Fault::ThenPut(path, media_type, body)) = &fault {
        let backend = st.backend.clone();
        let (path, body) = (path.clone(), body.clone());
        let mut h = HeaderMap::new();
        h.insert("content-type", media_type.parse().unwrap());
        let (put, _, _) = tokio::task::spawn_blocking(move || {
            forward_blocking(&backend, "PUT", &path, &h, &body)
        })
        .await
        .unwrap();
        assert_eq!(put, 201, "the other writer's PUT");
    }
    match fault {
        Some(Fault::Tamper) if !bytes.is_empty() => {
            let mut b = bytes.clone();
            let i = b.len() / 2;
            b[i] = if b[i] == b' ' { b'\t' } else { b' ' };
            let mut r = respond(status, h, Body::from(b));
            r.headers_mut()
                .insert("content-length", bytes.len().to_string().parse().unwrap());
            r
        }
        Some(Fault::Reset) | Some(Fault::Truncate) if bytes.len() > 1 => {
            let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
            let reset = matches!(fault, Some(Fault::Reset));
            let stream = futures_util::stream::iter(vec![
                Ok::<Bytes, std::io::Error>(half),
                if reset {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "injected reset",
                    ))
                } else {
                    Ok(Bytes::new())
                },
            ]);
            let mut r = respond(status, h, Body::from_stream(stream));
            r.headers_mut()
                .insert("content-length", bytes.len().to_string().parse().unwrap());
            r
        }
        _ => {
            let mut r = respond(status, h, Body::from(bytes.clone()));
            r.headers_mut()
                .insert("content-length", bytes.len().to_string().parse().unwrap());
            r
        }
    }
}

impl FaultProxy {
    /// A proxy in front of `reg`'s real server, with `rules`; the "other host" serves what the
    /// registry serves (with `reg`'s credentials, never the client's) and records what it got.
    pub fn start(reg: &Registry, rules: Vec<Rule>) -> FaultProxy {
        Self::start_with(reg, rules, Duration::ZERO, false)
    }

    /// [`FaultProxy::start`] with a delay on every request and, with `conditional`, conditional
    /// manifest writes.
    pub fn start_with(
        reg: &Registry,
        rules: Vec<Rule>,
        delay: Duration,
        conditional: bool,
    ) -> FaultProxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        let bind = || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.set_nonblocking(true).unwrap();
            l
        };
        let (main, other) = (bind(), bind());
        let addr = main.local_addr().unwrap().to_string();
        let other_addr = other.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let other_seen: OtherLog = Arc::default();
        let held: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let release = Arc::new(tokio::sync::watch::channel(false).0);
        let st = St {
            held: held.clone(),
            release: release.clone(),
            backend: reg.backend_addr.clone(),
            rules: Arc::new(rules),
            seen: seen.clone(),
            other: other_addr,
            delay,
            conditional: conditional.then(Arc::default),
        };
        rt.spawn(async move {
            let app = axum::Router::new().fallback(handle).with_state(st);
            axum::serve(tokio::net::TcpListener::from_std(main).unwrap(), app)
                .await
                .unwrap();
        });
        let backend = reg.backend_addr.clone();
        let auth = reg
            .credentials
            .as_ref()
            .map(|(u, p)| super::basic_auth(u, p));
        let os = other_seen.clone();
        rt.spawn(async move {
            let app = axum::Router::new().fallback(move |req: Request| {
                let (backend, auth, os) = (backend.clone(), auth.clone(), os.clone());
                async move {
                    let pq = req
                        .uri()
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    let got = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    os.lock().unwrap().push((pq.clone(), got));
                    let mut h = HeaderMap::new();
                    if let Some(a) = auth {
                        h.insert("authorization", a.parse().unwrap());
                    }
                    let (status, hh, bytes) = tokio::task::spawn_blocking(move || {
                        forward_blocking(&backend, "GET", &pq, &h, b"")
                    })
                    .await
                    .unwrap();
                    respond(status, hh, Body::from(bytes))
                }
            });
            axum::serve(tokio::net::TcpListener::from_std(other).unwrap(), app)
                .await
                .unwrap();
        });
        FaultProxy {
            addr,
            seen,
            other_seen,
            held,
            release,
            rt: Some(rt),
        }
    }

    /// Waits (at most 60 s) until a request is held or `child` has exited; the number held.
    pub fn wait_held(&self, child: &mut std::process::Child) -> usize {
        for _ in 0..6000 {
            if self.held() > 0 || child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.held()
    }

    /// Requests waiting at a [`Fault::Hold`].
    pub fn held(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Lets every held request (and every later one) go on.
    pub fn release(&self) {
        let _ = self.release.send(true);
    }

    /// The requests the other host received, with the `Authorization` header they carried.
    pub fn other_seen(&self) -> Vec<(String, Option<String>)> {
        self.other_seen.lock().unwrap().clone()
    }

    pub fn log(&self) -> Vec<String> {
        self.seen.lock().unwrap().log.clone()
    }

    pub fn count(&self, pattern: &str) -> usize {
        self.log().iter().filter(|l| hits(pattern, l)).count()
    }

    /// Distinct paths a pattern met.
    pub fn paths(&self, pattern: &str) -> usize {
        let mut p: Vec<String> = self
            .log()
            .into_iter()
            .filter(|l| hits(pattern, l))
            .map(|l| l.trim_end_matches(" *").to_string())
            .collect();
        p.sort();
        p.dedup();
        p.len()
    }
}

pub fn rule(matches: &str, times: usize, fault: Fault) -> Rule {
    Rule {
        matches: matches.to_string(),
        times,
        fault,
        after: 0,
    }
}
