//! Quirk proxies: a SaaS registry's documented behaviour (registries.md §1, §2, §10) reproduced
//! in front of a REAL registry. Every request is forwarded to the registry's backend address,
//! except where the registry's quirk rule matches: then the answer is rewritten or replaced.
//! Each request is recorded with the status the client got, its `Authorization` header and, when
//! a rule acted, a note naming what it did.
//!
//! A second listener on 127.0.0.1 stands for another host (GHCR's github.com web pages): it
//! answers `429 Too Many Requests` to everything and records what it got.
//!
//! ```ignore
//! let reg = Registry::distribution();
//! let proxy = QuirkProxy::start(&reg, quirk_proxy::ghcr());
//! // run referrify against proxy.addr …
//! assert!(proxy.side_requests().is_empty());
//! ```

use super::{RecordedRequest, Registry};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{HeaderName, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A request as the client sent it.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    /// Origin-form target, e.g. `/v2/app/referrers/sha256:…?artifactType=…`.
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Exchange {
    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(p, _)| p)
    }

    /// `(repository, subject digest)` of `GET /v2/<name>/referrers/<digest>`.
    pub fn referrers(&self) -> Option<(String, String)> {
        split_endpoint(self.path(), "/referrers/")
    }

    /// `(repository, reference)` of `/v2/<name>/manifests/<reference>`.
    pub fn manifest(&self) -> Option<(String, String)> {
        split_endpoint(self.path(), "/manifests/")
    }

    /// The `subject.digest` of a manifest body, if it has one.
    pub fn subject(&self) -> Option<String> {
        subject_of(&self.body)
    }

    fn is(&self, method: &str) -> bool {
        self.method == method
    }
}

fn split_endpoint(path: &str, endpoint: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/v2/")?;
    let (repo, reference) = rest.rsplit_once(endpoint)?;
    Some((repo.to_string(), reference.to_string()))
}

/// The `subject.digest` of a manifest body.
pub fn subject_of(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("subject")?
        .get("digest")?
        .as_str()
        .map(str::to_string)
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
    )
}

/// What the client gets back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Set when a quirk rule made or changed this answer: what it did.
    pub note: Option<&'static str>,
}

impl Answer {
    /// An answer made by a quirk rule instead of the registry.
    pub fn quirk(note: &'static str, status: u16, headers: &[(&str, &str)], body: &[u8]) -> Self {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                HeaderValue::from_str(v).expect("header value"),
            );
        }
        Answer {
            status,
            headers: h,
            body: body.to_vec(),
            note: Some(note),
        }
    }

    /// An OCI error envelope `{"errors":[{"code","message"[,"detail"]}]}` as JSON.
    pub fn oci_error(
        note: &'static str,
        status: u16,
        code: &str,
        message: &str,
        detail: Option<&str>,
    ) -> Self {
        let mut e = serde_json::json!({"code": code, "message": message});
        if let Some(d) = detail {
            e["detail"] = Value::from(d);
        }
        let body = serde_json::to_vec(&serde_json::json!({ "errors": [e] })).unwrap();
        Answer::quirk(
            note,
            status,
            &[("content-type", "application/json; charset=utf-8")],
            &body,
        )
    }

    /// Marks a forwarded answer as changed by a rule.
    pub fn noted(mut self, note: &'static str) -> Self {
        self.note = Some(note);
        self
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The real registry behind the proxy, and the other host's address.
pub struct Upstream {
    /// The registry's backend `host:port`.
    pub addr: String,
    /// The other host's `host:port` (the listener that answers 429).
    pub side: String,
    /// Basic credentials of the registry, for the rules' own lookups.
    auth: Option<String>,
}

const HOP: [&str; 4] = [
    "connection",
    "transfer-encoding",
    "content-length",
    "keep-alive",
];

impl Upstream {
    /// Forwards the client's request unchanged (its own `Host` and `Authorization` included).
    pub fn forward(&self, ex: &Exchange) -> Answer {
        let pairs: Vec<(String, String)> = ex
            .headers
            .iter()
            .filter(|(k, _)| !HOP.contains(&k.as_str()))
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.to_string(), v.to_string())))
            .collect();
        self.send(&ex.method, &ex.path_and_query, &pairs, &ex.body)
    }

    /// A request of the rule's own, with the registry's credentials: what the registry holds.
    pub fn lookup(&self, method: &str, path: &str, accept: &str) -> Answer {
        let mut h = vec![("accept".to_string(), accept.to_string())];
        if let Some(a) = &self.auth {
            h.push(("authorization".to_string(), a.clone()));
        }
        self.send(method, path, &h, b"")
    }

    /// The manifest `reference` of `repo` as the registry holds it (`None`: not there).
    pub fn manifest(&self, repo: &str, reference: &str) -> Option<Answer> {
        let a = self.lookup(
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            super::MANIFEST_ACCEPT,
        );
        (a.status == 200).then_some(a)
    }

    fn send(&self, method: &str, pq: &str, headers: &[(String, String)], body: &[u8]) -> Answer {
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        match super::try_http_request(&self.addr, method, pq, &refs, body) {
            Ok((status, headers, body)) => Answer {
                status,
                headers,
                body,
                note: None,
            },
            Err(e) => Answer::quirk("backend unreachable", 502, &[], e.as_bytes()),
        }
    }
}

/// A registry's behaviour: the answer to each request (call `up.forward(ex)` for the registry's
/// own). Runs on a blocking thread, so it may make requests of its own through `up`.
pub type Quirk = Arc<dyn Fn(&Exchange, &Upstream) -> Answer + Send + Sync>;

/// One request the proxy (or the other host) answered: method, target and the status the
/// client got (as the recording proxy records them; `Deref`s to that), plus what it carried.
#[derive(Debug, Clone)]
pub struct Seen {
    pub request: RecordedRequest,
    /// The `Authorization` header the client sent.
    pub authorization: Option<String>,
    /// What a quirk rule did, if one acted.
    pub note: Option<&'static str>,
}

impl std::ops::Deref for Seen {
    type Target = RecordedRequest;
    fn deref(&self) -> &RecordedRequest {
        &self.request
    }
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.request)?;
        if let Some(n) = self.note {
            write!(f, " [{n}]")?;
        }
        Ok(())
    }
}

fn seen(method: &str, pq: &str, status: u16, h: &HeaderMap, note: Option<&'static str>) -> Seen {
    Seen {
        request: RecordedRequest {
            method: method.to_string(),
            path_and_query: pq.to_string(),
            status,
        },
        authorization: authorization(h),
        note,
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

#[derive(Clone)]
struct St {
    quirk: Quirk,
    up: Arc<Upstream>,
    log: Log,
}

/// A quirk proxy in front of a real registry, plus the other host. Dropping it stops both.
pub struct QuirkProxy {
    /// `127.0.0.1:PORT`: give THIS to referrify.
    pub addr: String,
    /// `127.0.0.1:PORT` of the other host (answers 429).
    pub side_addr: String,
    log: Log,
    side_log: Log,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for QuirkProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn handle(State(st): State<St>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let ex = Exchange {
        method: parts.method.to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.to_string()),
        headers: parts.headers,
        body: body.to_vec(),
    };
    let (quirk, up) = (st.quirk.clone(), st.up.clone());
    let (ex, answer) = tokio::task::spawn_blocking(move || {
        let a = quirk(&ex, &up);
        (ex, a)
    })
    .await
    .expect("quirk rule panicked");
    st.log.lock().unwrap().push(seen(
        &ex.method,
        &ex.path_and_query,
        answer.status,
        &ex.headers,
        answer.note,
    ));
    respond(&ex, answer)
}

fn authorization(h: &HeaderMap) -> Option<String> {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn respond(ex: &Exchange, a: Answer) -> Response {
    let mut r = Response::new(Body::from(a.body.clone()));
    *r.status_mut() = StatusCode::from_u16(a.status).expect("status");
    for (k, v) in a.headers.iter() {
        if !HOP.contains(&k.as_str()) {
            r.headers_mut().append(k.clone(), v.clone());
        }
    }
    // A HEAD answer keeps the length of the body it stands for.
    let length = match a.headers.get("content-length") {
        Some(v) if ex.is("HEAD") && a.body.is_empty() => v.clone(),
        _ => HeaderValue::from(a.body.len()),
    };
    r.headers_mut().insert("content-length", length);
    r
}

impl QuirkProxy {
    /// Starts the proxy in front of `reg`'s real server with `quirk`, and the other host.
    pub fn start(reg: &Registry, quirk: Quirk) -> QuirkProxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("quirk-proxy")
            .enable_all()
            .build()
            .expect("building the quirk proxy runtime");
        let bind = || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
            l.set_nonblocking(true).expect("set_nonblocking");
            l
        };
        let (main, side) = (bind(), bind());
        let addr = main.local_addr().unwrap().to_string();
        let side_addr = side.local_addr().unwrap().to_string();
        let (log, side_log): (Log, Log) = Default::default();
        let st = St {
            quirk,
            up: Arc::new(Upstream {
                addr: reg.backend_addr.clone(),
                side: side_addr.clone(),
                auth: reg
                    .credentials
                    .as_ref()
                    .map(|(u, p)| super::basic_auth(u, p)),
            }),
            log: log.clone(),
        };
        rt.spawn(async move {
            let app = axum::Router::new().fallback(handle).with_state(st);
            let l = tokio::net::TcpListener::from_std(main).expect("tokio listener");
            axum::serve(l, app).await.expect("quirk proxy failed");
        });
        let sl = side_log.clone();
        rt.spawn(async move {
            let app = axum::Router::new().fallback(move |req: Request| {
                let sl = sl.clone();
                async move {
                    sl.lock().unwrap().push(seen(
                        req.method().as_str(),
                        &req.uri().to_string(),
                        429,
                        req.headers(),
                        Some("other host"),
                    ));
                    let mut r = Response::new(Body::from("Too Many Requests"));
                    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                    r
                }
            });
            let l = tokio::net::TcpListener::from_std(side).expect("tokio listener");
            axum::serve(l, app).await.expect("other host failed");
        });
        QuirkProxy {
            addr,
            side_addr,
            log,
            side_log,
            rt: Some(rt),
        }
    }

    /// `<proxy addr>/<rest>`, for referrify's arguments.
    pub fn reference(&self, rest: &str) -> String {
        format!("{}/{rest}", self.addr)
    }

    /// Every request the proxy answered so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    /// The POST / PUT / PATCH / DELETE requests.
    pub fn writes(&self) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.is_write())
            .collect()
    }

    /// Requests a rule answered with `note`.
    pub fn noted(&self, note: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.note == Some(note))
            .collect()
    }

    /// Requests the other host received.
    pub fn side_requests(&self) -> Vec<Seen> {
        self.side_log.lock().unwrap().clone()
    }

    /// Forgets the recorded requests (of both hosts).
    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
        self.side_log.lock().unwrap().clear();
    }

    /// The log as lines, for assertion messages.
    pub fn dump(&self) -> String {
        self.requests().iter().map(|s| format!("  {s}\n")).collect()
    }
}

// ------------------------------------------------------------------------------------------------
// the registries

fn quirk(f: impl Fn(&Exchange, &Upstream) -> Answer + Send + Sync + 'static) -> Quirk {
    Arc::new(f)
}

/// Drops `OCI-Subject` from manifest PUT answers (registries that never send it).
fn without_oci_subject(mut a: Answer) -> Answer {
    if a.headers.remove("oci-subject").is_some() {
        a.note = Some("OCI-Subject dropped");
    }
    a
}

/// GHCR (registries.md §2, §10; artifacthub/hub#4785): `/referrers/` answers `303 See Other` to
/// a rate-limited page on another host (the side listener, which answers 429); no `OCI-Subject`.
pub fn ghcr() -> Quirk {
    quirk(|ex, up| {
        if let Some((repo, digest)) = ex.referrers() {
            let to = format!(
                "http://{}/login?return_to=%2Fv2%2F{}%2Freferrers%2F{digest}",
                up.side,
                repo.replace('/', "%2F")
            );
            return Answer::quirk(
                "303 to the other host",
                303,
                &[
                    ("location", to.as_str()),
                    ("content-type", "text/html; charset=utf-8"),
                ],
                b"<a href=\"/login\">See Other</a>.",
            );
        }
        without_oci_subject(up.forward(ex))
    })
}

/// GitLab (registries.md §1, §2, §10; moby/buildkit#7007, oras-go#1396): no OCI referrers
/// endpoint (the registry's own 404); a manifest whose `subject` the repository does not hold
/// is refused with `MANIFEST_BLOB_UNKNOWN` ("blob unknown to registry", the subject's digest);
/// `manifests/sha256-<hex>` resolves to the manifest `sha256:<hex>` itself, byte for byte.
pub fn gitlab() -> Quirk {
    quirk(|ex, up| {
        let Some((repo, reference)) = ex.manifest() else {
            return up.forward(ex);
        };
        if ex.is("PUT") {
            if let Some(subject) = ex.subject() {
                if up.manifest(&repo, &subject).is_none() {
                    return Answer::oci_error(
                        "subject unknown",
                        400,
                        "MANIFEST_BLOB_UNKNOWN",
                        &format!("blob unknown to registry - {subject}"),
                        Some(&subject),
                    );
                }
            }
            return without_oci_subject(up.forward(ex));
        }
        if ex.is("GET") || ex.is("HEAD") {
            if let Some(hex) = reference.strip_prefix("sha256-") {
                if let Some(mut subject) = up.manifest(&repo, &format!("sha256:{hex}")) {
                    if ex.is("HEAD") {
                        subject.body.clear();
                    }
                    return subject.noted("sha256- tag resolves to the subject");
                }
            }
        }
        up.forward(ex)
    })
}

/// Quay ≥ 3.12 (registries.md §2, §10): referrers of a digest the repository does not hold →
/// `400 MANIFEST_INVALID`; a new referrer is left out of the first `late` listings of its
/// subject after its push (cached results); the descriptors of an existing `sha256-<hex>`
/// fallback tag are merged into the API's answer (quay#6385); no `OCI-Subject`.
pub fn quay(late: usize) -> Quirk {
    // (subject, artifact) → listings of the subject that still leave the artifact out
    let hidden: Arc<Mutex<HashMap<(String, String), usize>>> = Arc::default();
    quirk(move |ex, up| {
        if let Some((repo, subject)) = ex.referrers() {
            if up.manifest(&repo, &subject).is_none() {
                return Answer::oci_error(
                    "400 for an unknown subject",
                    400,
                    "MANIFEST_INVALID",
                    "manifest invalid",
                    None,
                );
            }
            let mut a = up.forward(ex);
            if a.status != 200 {
                return a;
            }
            let Ok(mut index) = serde_json::from_slice::<Value>(&a.body) else {
                return a;
            };
            let mut late_now = false;
            {
                let mut hidden = hidden.lock().unwrap();
                if let Some(list) = index["manifests"].as_array_mut() {
                    list.retain(|d| {
                        let key = (subject.clone(), d["digest"].as_str().unwrap_or("").into());
                        match hidden.get_mut(&key) {
                            Some(n) if *n > 0 => {
                                *n -= 1;
                                late_now = true;
                                false
                            }
                            _ => true,
                        }
                    });
                }
            }
            let tag = format!("sha256-{}", subject.trim_start_matches("sha256:"));
            let mut merged = false;
            if let Some(t) = up.manifest(&repo, &tag) {
                let from_tag: Value = serde_json::from_slice(&t.body).unwrap_or_default();
                let list = index["manifests"].as_array_mut();
                if let (Some(list), Some(add)) = (list, from_tag["manifests"].as_array()) {
                    for d in add {
                        if !list.iter().any(|e| e["digest"] == d["digest"]) {
                            list.push(d.clone());
                            merged = true;
                        }
                    }
                }
            }
            a.body = serde_json::to_vec(&index).unwrap();
            a.note = match (late_now, merged) {
                (true, _) => Some("late listing"),
                (false, true) => Some("fallback tag merged"),
                _ => None,
            };
            return a;
        }
        if ex.is("PUT") && ex.manifest().is_some() {
            let a = without_oci_subject(up.forward(ex));
            if let (true, Some(subject)) = (a.is_success(), ex.subject()) {
                hidden
                    .lock()
                    .unwrap()
                    .insert((subject, sha256(&ex.body)), late);
            }
            return a;
        }
        up.forward(ex)
    })
}

/// Amazon ECR (registries.md §2; sigstore-js#1183, aws/containers-roadmap#2783): `OCI-Subject`
/// on every manifest PUT with a subject although there is no Referrers API (the registry's own
/// 404); `405` for the referrers of an index; a manifest PUT comes back without `Location`.
pub fn ecr() -> Quirk {
    quirk(|ex, up| {
        if let Some((repo, subject)) = ex.referrers() {
            let is_index = up.manifest(&repo, &subject).is_some_and(|m| {
                let v: Value = serde_json::from_slice(&m.body).unwrap_or_default();
                v.get("manifests").is_some()
            });
            if is_index {
                return Answer::oci_error(
                    "405 for an index subject",
                    405,
                    "UNSUPPORTED",
                    "The operation is unsupported.",
                    None,
                );
            }
            return up.forward(ex);
        }
        if ex.is("PUT") && ex.manifest().is_some() {
            let mut a = up.forward(ex);
            if a.is_success() {
                a.headers.remove("location");
                if let Some(subject) = ex.subject() {
                    a.headers
                        .insert("oci-subject", HeaderValue::from_str(&subject).unwrap());
                    a.note = Some("OCI-Subject sent");
                }
            }
            return a;
        }
        up.forward(ex)
    })
}

/// Harbor (registries.md §10; goharbor/harbor#20092): deleting an artifact that refers to a
/// subject (an accessory) is refused, as Harbor's artifact controller does: `412` with
/// `VIOLATE_FOREIGN_KEY_CONSTRAINT`, "the deleting artifact is referenced by others".
pub fn harbor() -> Quirk {
    quirk(|ex, up| {
        if let (true, Some((repo, reference))) = (ex.is("DELETE"), ex.manifest()) {
            let refers = up
                .manifest(&repo, &reference)
                .is_some_and(|m| subject_of(&m.body).is_some());
            if refers {
                return Answer::oci_error(
                    "delete refused",
                    412,
                    "VIOLATE_FOREIGN_KEY_CONSTRAINT",
                    "the deleting artifact is referenced by others",
                    None,
                );
            }
        }
        up.forward(ex)
    })
}

/// JFrog Artifactory before 7.90.1 (registries.md §1, §2; ggcr#1962): the referrers endpoint
/// answers `406 Not Acceptable`.
pub fn artifactory_old() -> Quirk {
    quirk(|ex, up| {
        if ex.referrers().is_some() {
            return Answer::quirk(
                "406",
                406,
                &[("content-type", "application/json")],
                br#"{"errors":[{"status":406,"message":"Not Acceptable"}]}"#,
            );
        }
        up.forward(ex)
    })
}

/// Docker Hub's token auth (registries.md §2; rust-oci-client#235), in front of a registry
/// without auth: every `/v2/` request needs a bearer token from `/token` on the proxy (the
/// challenge names it) whose scopes cover it: `pull` to read a repository, `push` to write it,
/// and for a cross-repository mount (`POST …/blobs/uploads/?mount=…&from=S`) also `pull` on `S`.
/// A mount without it is refused with 401 `UNAUTHORIZED` and a challenge that names only the
/// target repository, as Hub does. Tokens grant what is asked; push needs the Basic
/// credentials. The catalog is refused (401 `UNAUTHORIZED`).
pub fn docker_hub() -> Quirk {
    let tokens: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    quirk(move |ex, up| {
        let query: Vec<(String, String)> = ex
            .path_and_query
            .split_once('?')
            .map(|(_, q)| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let host = ex
            .headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if ex.path() == "/token" {
            let scopes: Vec<String> = query
                .iter()
                .filter(|(k, _)| k == "scope")
                .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
                .collect();
            let basic = authorization(&ex.headers).is_some_and(|a| a.starts_with("Basic "));
            if scopes.iter().any(|s| s.contains("push")) && !basic {
                return Answer::oci_error("token refused", 401, "UNAUTHORIZED", "login", None);
            }
            let mut t = tokens.lock().unwrap();
            let token = format!("hub-token-{}", t.len());
            t.insert(token.clone(), scopes);
            let body =
                serde_json::json!({"token": token, "access_token": token, "expires_in": 300});
            return Answer::quirk(
                "token",
                200,
                &[("content-type", "application/json")],
                &serde_json::to_vec(&body).unwrap(),
            );
        }
        let challenge = |scope: Option<&str>| {
            let mut c =
                format!(r#"Bearer realm="http://{host}/token",service="registry.docker.io""#);
            if let Some(s) = scope {
                c.push_str(&format!(r#",scope="{s}""#));
            }
            c
        };
        let granted: Vec<String> = authorization(&ex.headers)
            .and_then(|a| a.strip_prefix("Bearer ").map(str::to_string))
            .and_then(|t| tokens.lock().unwrap().get(&t).cloned())
            .unwrap_or_default();
        let may = |repo: &str, action: &str| {
            granted.iter().any(|s| {
                let mut parts = s.splitn(2, ':');
                let (kind, rest) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let Some((name, actions)) = rest.rsplit_once(':') else {
                    return false;
                };
                kind == "repository"
                    && name == repo
                    && actions.split(',').any(|a| a == action || a == "*")
            })
        };
        let unauthorized = |note, scope: Option<String>| {
            let mut a =
                Answer::oci_error(note, 401, "UNAUTHORIZED", "authentication required", None);
            let c = challenge(scope.as_deref());
            a.headers
                .insert("www-authenticate", HeaderValue::from_str(&c).unwrap());
            a
        };
        if ex.path() == "/v2/_catalog" {
            return Answer::oci_error(
                "catalog refused",
                401,
                "UNAUTHORIZED",
                "authentication required",
                None,
            );
        }
        if ex.path() == "/v2/" || ex.path() == "/v2" {
            if granted.is_empty() && authorization(&ex.headers).is_none() {
                return unauthorized("challenge", None);
            }
            return up.forward(&without_authorization(ex));
        }
        let Some(repo) = repository_of(ex.path()) else {
            return up.forward(&without_authorization(ex));
        };
        let write = !(ex.is("GET") || ex.is("HEAD"));
        let actions = if write { "pull,push" } else { "pull" };
        let scope = format!("repository:{repo}:{actions}");
        if !may(&repo, "pull") || (write && !may(&repo, "push")) {
            return unauthorized("challenge", Some(scope));
        }
        if ex.is("POST") {
            let mount = query.iter().any(|(k, _)| k == "mount");
            let from = query
                .iter()
                .find(|(k, _)| k == "from")
                .map(|(_, v)| v.clone());
            if let (true, Some(from)) = (mount, from) {
                if !may(&from, "pull") {
                    return unauthorized("mount refused: no pull on the source", Some(scope));
                }
                return up
                    .forward(&without_authorization(ex))
                    .noted("mount allowed");
            }
        }
        up.forward(&without_authorization(ex))
    })
}

fn without_authorization(ex: &Exchange) -> Exchange {
    let mut e = ex.clone();
    e.headers.remove("authorization");
    e
}

/// The repository of a `/v2/<name>/{manifests,blobs,tags,referrers}/…` path.
fn repository_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/", "/tags/", "/referrers/"]
        .iter()
        .filter_map(|e| rest.rsplit_once(e).map(|(r, _)| r.to_string()))
        .next()
}
