//! Registry behaviours that no local real server has, reproduced by small in-process fakes named
//! after the registry they copy (registries.md §2–3): the Referrers-API detection rule, paging,
//! retries, digest checks and the bearer-token flow.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use referrify::model::digest::Digest;
use referrify::transport::error::RegistryError;
use referrify::transport::retry::RetryPolicy;
use referrify::transport::{Client, ClientOptions, Referrers};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Handler = dyn Fn(&str, &str, &HeaderMap, usize) -> (u16, Vec<(&'static str, String)>, Vec<u8>)
    + Send
    + Sync;

struct Fake {
    addr: String,
    seen: Arc<Mutex<Vec<String>>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for Fake {
    /// Stops the server without blocking, so a fake may be dropped inside async code.
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[derive(Clone)]
struct St {
    handler: Arc<Handler>,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn handle(State(st): State<St>, req: Request) -> Response {
    let method = req.method().to_string();
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let n = {
        let mut seen = st.seen.lock().unwrap();
        seen.push(format!("{method} {pq}"));
        seen.len()
    };
    let (status, headers, body) = (st.handler)(&method, &pq, req.headers(), n);
    let mut r = Response::builder().status(StatusCode::from_u16(status).unwrap());
    for (k, v) in headers {
        r = r.header(k, v);
    }
    r.body(Body::from(body)).unwrap()
}

impl Fake {
    /// A server on 127.0.0.1 answering every request with `handler(method, path_and_query, headers, n)`
    /// (`n` = 1-based count of requests so far).
    fn start(
        handler: impl Fn(&str, &str, &HeaderMap, usize) -> (u16, Vec<(&'static str, String)>, Vec<u8>)
            + Send
            + Sync
            + 'static,
    ) -> Fake {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(8)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let st = St {
            handler: Arc::new(handler),
            seen: seen.clone(),
        };
        rt.spawn(async move {
            let app = axum::Router::new().fallback(handle).with_state(st);
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
        Fake {
            addr,
            seen,
            rt: Some(rt),
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// `401` with a bearer challenge whose realm is `/token` on the same fake.
fn bearer_challenge(h: &HeaderMap) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
    let host = h.get("host").unwrap().to_str().unwrap();
    let challenge = format!(r#"Bearer realm="http://{host}/token",service="fake""#);
    (
        401,
        vec![("www-authenticate", challenge)],
        br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_vec(),
    )
}

fn client(addr: &str, attempts: u32) -> Client {
    let cfg = tempfile::tempdir().unwrap();
    let opts = ClientOptions {
        retry: RetryPolicy {
            max_attempts: attempts,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(2),
        },
        docker_config: Some(cfg.path().join("config.json")),
        timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    };
    Client::new(addr, addr, &opts).unwrap()
}

fn subject() -> Digest {
    Digest::sha256(b"subject")
}

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn referrers(addr: &str) -> Result<Referrers, RegistryError> {
    run(client(addr, 3).referrers(
        "app",
        &subject(),
        Some("application/vnd.docker.attestation.manifest.v1+json"),
    ))
}

#[test]
fn ghcr_303_redirect_means_no_api_and_is_not_followed() {
    let f = Fake::start(|_, _, _, _| {
        (
            303,
            vec![("location", "http://127.0.0.1:9/login".into())],
            vec![],
        )
    });
    match referrers(&f.addr).unwrap() {
        Referrers::Unsupported { reason, status } => {
            assert_eq!(status, 303);
            assert!(reason.contains("303"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.seen().len(), 1, "redirect not followed: {:?}", f.seen());
}

#[test]
fn router_404_406_400_and_wrong_content_type_mean_no_api() {
    for (status, ct, body) in [
        (404, "text/plain", "404 page not found"), // distribution 2.8
        (406, "application/json", "{}"),           // Artifactory < 7.90.1
        (
            400,
            "application/json",
            r#"{"errors":[{"code":"MANIFEST_INVALID"}]}"#,
        ), // Quay, unknown subject
        (405, "text/plain", ""),
        (200, "text/html", "<html>login</html>"), // a login page
    ] {
        let f = Fake::start(move |_, _, _, _| {
            (
                status,
                vec![("content-type", ct.to_string())],
                body.as_bytes().to_vec(),
            )
        });
        assert!(
            matches!(referrers(&f.addr).unwrap(), Referrers::Unsupported { .. }),
            "{status} {ct}"
        );
    }
}

#[test]
fn name_unknown_401_403_and_5xx_are_errors_never_no_referrers() {
    for (status, body) in [
        (
            404,
            r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#,
        ),
        (401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#),
        (
            403,
            r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
        ),
        (500, "boom"),
    ] {
        let f = Fake::start(move |_, _, _, _| {
            (
                status,
                vec![("content-type", "application/json".into())],
                body.as_bytes().to_vec(),
            )
        });
        let e = referrers(&f.addr).unwrap_err();
        assert_eq!(e.status(), Some(status), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("HTTP {status}")) && msg.contains("/v2/app/referrers/"),
            "{msg}"
        );
    }
}

#[test]
fn link_pages_are_followed_and_the_filter_flag_is_reported() {
    let d = |n: u8, t: &str| {
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"artifactType":"{t}"}}"#,
            Digest::sha256(&[n])
        )
    };
    let page1 = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{}]}}"#,
        d(1, "application/vnd.docker.attestation.manifest.v1+json")
    );
    let page2 = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{},{}]}}"#,
        d(2, "application/vnd.dev.cosign.artifact.sig.v1+json"),
        d(3, "application/vnd.docker.attestation.manifest.v1+json")
    );
    let f = Fake::start(move |_, pq, _, _| {
        if pq.contains("page=2") {
            (
                200,
                vec![("content-type", INDEX.into())],
                page2.clone().into_bytes(),
            )
        } else {
            assert!(
                pq.contains("artifactType=application%2Fvnd.docker.attestation.manifest.v1%2Bjson"),
                "{pq}"
            );
            (
                200,
                vec![
                    ("content-type", INDEX.into()),
                    ("link", format!("<{}&page=2>; rel=\"next\"", pq)),
                ],
                page1.clone().into_bytes(),
            )
        }
    });
    match referrers(&f.addr).unwrap() {
        Referrers::Supported {
            descriptors,
            filtered,
        } => {
            assert_eq!(descriptors.len(), 3);
            assert!(
                !filtered,
                "no OCI-Filters-Applied header: the caller must filter"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.seen().len(), 2);
}

#[test]
fn endless_link_chains_are_bounded() {
    let f = Fake::start(|_, pq, _, n| {
        let body = format!(r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[]}}"#);
        let path = pq.split('?').next().unwrap().to_string();
        (
            200,
            vec![
                ("content-type", INDEX.into()),
                ("link", format!("<{path}?n={n}>; rel=\"next\"")),
            ],
            body.into_bytes(),
        )
    });
    let e = referrers(&f.addr).unwrap_err();
    assert!(e.to_string().contains("pages of referrers"), "{e}");
    assert_eq!(f.seen().len(), referrify::transport::MAX_REFERRERS_PAGES);
}

#[test]
fn retry_after_on_429_is_honoured_then_success() {
    let f = Fake::start(|_, _, _, n| {
        if n == 1 {
            (
                429,
                vec![("retry-after", "1".into())],
                b"slow down".to_vec(),
            )
        } else {
            (
                200,
                vec![("content-type", INDEX.into())],
                format!(r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[]}}"#)
                    .into_bytes(),
            )
        }
    });
    let t = Instant::now();
    assert!(matches!(
        referrers(&f.addr).unwrap(),
        Referrers::Supported { .. }
    ));
    // It waited as told (a lower bound: how much longer it took is the machine's business).
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    assert_eq!(f.seen().len(), 2);
}

#[test]
fn persistent_503_gives_up_after_the_bound() {
    let f = Fake::start(|_, _, _, _| (503, vec![], b"unavailable".to_vec()));
    let e = referrers(&f.addr).unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(f.seen().len(), 3, "exactly max_attempts requests");
}

#[test]
fn a_body_that_does_not_hash_to_its_digest_is_refused() {
    let f = Fake::start(|_, _, _, _| {
        (
            200,
            vec![(
                "content-type",
                "application/vnd.oci.image.manifest.v1+json".into(),
            )],
            b"{\"schemaVersion\":2}".to_vec(),
        )
    });
    let d = Digest::sha256(b"something else");
    let e = run(client(&f.addr, 1).get_manifest("app", d.as_str())).unwrap_err();
    assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e}");
    let e = run(client(&f.addr, 1).get_blob("app", &d, 1024)).unwrap_err();
    assert!(e.to_string().contains("does not match digest"), "{e}");
    // A tag read whose Docker-Content-Digest disagrees with the body.
    let g = Fake::start(move |_, _, _, _| {
        (
            200,
            vec![("docker-content-digest", Digest::sha256(b"x").to_string())],
            b"{}".to_vec(),
        )
    });
    assert!(matches!(
        run(client(&g.addr, 1).get_manifest("app", "latest")),
        Err(RegistryError::DigestMismatch { .. })
    ));
}

#[test]
fn oversized_manifests_are_refused() {
    let f = Fake::start(|_, _, _, _| {
        (
            200,
            vec![],
            vec![b' '; referrify::transport::MAX_MANIFEST_BYTES + 1],
        )
    });
    let e = run(client(&f.addr, 1).get_manifest("app", "latest")).unwrap_err();
    assert!(matches!(e, RegistryError::TooLarge { .. }), "{e}");
}

#[test]
fn bearer_token_fetched_once_per_scope() {
    let token = "tok-SECRET-123";
    let f = Fake::start(move |_, pq, h, _| {
        if pq.starts_with("/token") {
            assert!(pq.contains("scope=repository%3Aapp%3Apull"), "{pq}");
            return (
                200,
                vec![("content-type", "application/json".into())],
                format!(r#"{{"token":"{token}","expires_in":300}}"#).into_bytes(),
            );
        }
        let authed = h.get("authorization").and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {token}"));
        if !authed {
            return bearer_challenge(h);
        }
        (404, vec![], b"".to_vec())
    });
    let c = client(&f.addr, 1);
    run(async {
        for _ in 0..3 {
            assert!(!c.manifest_exists("app", &subject()).await.unwrap());
        }
    });
    let seen = f.seen();
    assert_eq!(
        seen.iter().filter(|s| s.contains("/token")).count(),
        1,
        "{seen:?}"
    );
    assert_eq!(
        seen.len(),
        5,
        "401, token, retry, then two direct requests: {seen:?}"
    );
    assert_eq!(c.request_count(), 5);
}

#[test]
fn refused_token_is_a_clear_auth_error() {
    let f = Fake::start(|_, pq, h, _| {
        if pq.starts_with("/token") {
            return (
                401,
                vec![],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#.to_vec(),
            );
        }
        bearer_challenge(h)
    });
    let e = run(client(&f.addr, 1).manifest_exists("app", &subject())).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, RegistryError::Auth { .. })
            && msg.contains("HTTP 401")
            && msg.contains("bad credentials"),
        "{msg}"
    );
}

#[test]
fn identity_token_is_exchanged_with_a_refresh_token_grant() {
    let f = Fake::start(|method, pq, h, _| {
        if pq.starts_with("/token") {
            // The docker CLI's OAuth2 flow: POST with grant_type=refresh_token (body not visible here).
            assert_eq!(method, "POST");
            assert_eq!(
                h.get("content-type").unwrap(),
                "application/x-www-form-urlencoded"
            );
            return (
                200,
                vec![],
                br#"{"access_token":"from-refresh","expires_in":60}"#.to_vec(),
            );
        }
        if h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer from-refresh") {
            return (404, vec![], vec![]);
        }
        bearer_challenge(h)
    });
    let cfg = tempfile::tempdir().unwrap();
    let path = cfg.path().join("config.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"refresh-SECRET"}}}}}}"#,
            f.addr
        ),
    )
    .unwrap();
    let opts = ClientOptions {
        docker_config: Some(path),
        ..ClientOptions::default()
    };
    let c = Client::new(&f.addr, &f.addr, &opts).unwrap();
    assert!(!run(c.manifest_exists("app", &subject())).unwrap());
    assert_eq!(
        f.seen()
            .iter()
            .filter(|s| s.starts_with("POST /token"))
            .count(),
        1
    );
}

/// A token endpoint without OAuth2 (404 for the POST, as GCR answers) gets docker's GET with the
/// identity token as the password, and the token it answers is used.
#[test]
fn identity_token_falls_back_to_get_where_the_endpoint_has_no_oauth2() {
    let f = Fake::start(|method, pq, h, _| {
        if pq.starts_with("/token") {
            if method == "POST" {
                return (404, vec![], b"not found".to_vec());
            }
            let basic = h
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert!(basic.starts_with("Basic "), "{basic}");
            return (200, vec![], br#"{"token":"from-get"}"#.to_vec());
        }
        if h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer from-get") {
            return (404, vec![], vec![]);
        }
        bearer_challenge(h)
    });
    let cfg = tempfile::tempdir().unwrap();
    let path = cfg.path().join("config.json");
    let config = format!(
        r#"{{"auths":{{"{}":{{"identitytoken":"refresh-SECRET"}}}}}}"#,
        f.addr
    );
    std::fs::write(&path, config).unwrap();
    let opts = ClientOptions {
        docker_config: Some(path),
        ..ClientOptions::default()
    };
    let c = Client::new(&f.addr, &f.addr, &opts).unwrap();
    assert!(!run(c.manifest_exists("app", &subject())).unwrap());
    let seen = f.seen();
    let tokens: Vec<&String> = seen.iter().filter(|s| s.contains("/token")).collect();
    assert_eq!(tokens.len(), 2, "{seen:#?}");
    assert!(
        tokens[0].starts_with("POST") && tokens[1].starts_with("GET"),
        "{seen:#?}"
    );
}

/// Docker Hub and distribution with token auth grant the catalog only to a token for
/// `registry:catalog:*`; pages come with `Link`.
#[test]
fn catalog_asks_for_the_catalog_scope_and_follows_link() {
    run(async {
        use referrify::transport::listing::Cursor;
        let fake = Fake::start(|method, pq, h, _| {
            if pq.starts_with("/token") {
                let ok = pq.contains("scope=registry%3Acatalog%3A*")
                    || pq.contains("scope=registry%3Acatalog%3A%2A");
                let token = if ok { "catalog-token" } else { "other" };
                return (
                    200,
                    vec![],
                    format!(r#"{{"token":"{token}"}}"#).into_bytes(),
                );
            }
            let auth = h
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string());
            if auth.as_deref() != Some("Bearer catalog-token") {
                return bearer_challenge(h);
            }
            assert_eq!(method, "GET");
            if pq.contains("last=b") {
                (200, vec![], br#"{"repositories":["c"]}"#.to_vec())
            } else {
                (
                    200,
                    vec![(
                        "link",
                        r#"</v2/_catalog?last=b&n=2>; rel="next""#.to_string(),
                    )],
                    br#"{"repositories":["a","b"]}"#.to_vec(),
                )
            }
        });
        let c = client(&fake.addr, 2);
        let p1 = c.catalog_page(&Cursor::Start).await.unwrap().unwrap();
        assert_eq!(p1.names, ["a", "b"]);
        let Cursor::Url(next) = &p1.next else {
            panic!("{:?}", p1.next)
        };
        assert!(next.as_str().ends_with("/v2/_catalog?last=b&n=2"));
        let p2 = c.catalog_page(&p1.next).await.unwrap().unwrap();
        assert_eq!(p2.names, ["c"]);
        assert_eq!(p2.next, Cursor::End);
        let tokens: Vec<String> = fake
            .seen()
            .into_iter()
            .filter(|s| s.contains("/token"))
            .collect();
        assert_eq!(
            tokens.len(),
            1,
            "one token for the catalog scope: {tokens:?}"
        );
    });
}

/// A registry that refuses the catalog: the walk takes the repositories named with `--repo`;
/// a catalog whose `Link` returns to a page already read is reported, not followed forever.
#[test]
fn catalog_refused_or_looping() {
    run(async {
        use futures_util::StreamExt as _;
        use referrify::plan::scope::Selection;
        use referrify::walk::{repositories, Found};
        let refused = Fake::start(|_, _, _, _| {
            (
                401,
                vec![],
                br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_vec(),
            )
        });
        let sel = Arc::new(Selection {
            prefixes: vec!["team/a".into(), "team/b/".into()],
            ..Selection::default()
        });
        let got: Vec<String> = repositories(client(&refused.addr, 1), sel)
            .map(|f| match f {
                Found::Repository(r) => r,
                Found::Failed(e) => panic!("{e}"),
            })
            .collect()
            .await;
        assert_eq!(got, ["team/a", "team/b"]);

        let nothing = Arc::new(Selection::default());
        let got: Vec<Found> = repositories(client(&refused.addr, 1), nothing)
            .collect()
            .await;
        assert!(
            matches!(&got[..], [Found::Failed(e)] if e.contains("--repo")),
            "{got:?}"
        );

        let looping = Fake::start(|_, _, _, _| {
            (
                200,
                vec![(
                    "link",
                    r#"</v2/_catalog?last=a&n=1000>; rel="next""#.to_string(),
                )],
                br#"{"repositories":["a"]}"#.to_vec(),
            )
        });
        let got: Vec<Found> =
            repositories(client(&looping.addr, 1), Arc::new(Selection::default()))
                .collect()
                .await;
        assert!(
            matches!(&got[0], Found::Repository(r) if r == "a"),
            "{got:?}"
        );
        assert!(
            matches!(&got[1..], [Found::Failed(e)] if e.contains("loop")),
            "{got:?}"
        );
        assert!(looping.seen().len() <= 3, "{:?}", looping.seen());
    });
}

/// Tag listings: distribution 2.8 ignores `n` (everything in one page, no `Link`); a registry
/// that sends a full page without `Link` is paged by `last` until a page brings nothing new.
#[test]
fn tag_listings_without_link() {
    run(async {
        let all_at_once = Fake::start(|_, _, _, _| {
            let tags: Vec<String> = (0..1500).map(|i| format!("t{i}")).collect();
            (
                200,
                vec![],
                serde_json::json!({"name": "r", "tags": tags})
                    .to_string()
                    .into_bytes(),
            )
        });
        let c = client(&all_at_once.addr, 1);
        assert_eq!(c.tags("r").await.unwrap().unwrap().len(), 1500);
        assert_eq!(all_at_once.seen().len(), 1);

        let full_pages = Fake::start(|_, pq, _, _| {
            // Pages of exactly n=1000 without Link; `last` honoured.
            let start = if pq.contains("last=t0999") {
                1000
            } else if pq.contains("last=t1999") {
                2000
            } else {
                0
            };
            let tags: Vec<String> = (start..(start + 1000).min(2000))
                .map(|i| format!("t{i:04}"))
                .collect();
            (
                200,
                vec![],
                serde_json::json!({"name": "r", "tags": tags})
                    .to_string()
                    .into_bytes(),
            )
        });
        let c = client(&full_pages.addr, 1);
        assert_eq!(c.tags("r").await.unwrap().unwrap().len(), 2000);

        let ignores_last = Fake::start(|_, _, _, _| {
            let tags: Vec<String> = (0..1000).map(|i| format!("t{i}")).collect();
            (
                200,
                vec![],
                serde_json::json!({"name": "r", "tags": tags})
                    .to_string()
                    .into_bytes(),
            )
        });
        let c = client(&ignores_last.addr, 1);
        assert_eq!(c.tags("r").await.unwrap().unwrap().len(), 1000);
        assert_eq!(ignores_last.seen().len(), 2, "one guess, then stop");

        let link_loop = Fake::start(|_, _, _, _| {
            (
                200,
                vec![(
                    "link",
                    r#"</v2/r/tags/list?last=a&n=1>; rel="next""#.to_string(),
                )],
                br#"{"name":"r","tags":["a"]}"#.to_vec(),
            )
        });
        let e = client(&link_loop.addr, 1).tags("r").await.unwrap_err();
        assert!(e.to_string().contains("loop"), "{e}");
    });
}

/// Many concurrent requests in one scope fetch one token (no stampede); different scopes fetch
/// theirs at the same time, not one after another.
#[test]
fn concurrent_requests_share_one_token_per_scope() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (fl, mo) = (in_flight.clone(), most.clone());
    let asked = Arc::new(AtomicUsize::new(0));
    let f = Fake::start(move |_, pq, h, _| {
        // The first token request (settling the challenge) is alone by design.
        if pq.starts_with("/token") && asked.fetch_add(1, Ordering::SeqCst) == 0 {
            return (200, vec![], br#"{"token":"t-r0"}"#.to_vec());
        }
        if pq.starts_with("/token") {
            // Each token request waits for a second one to arrive: fetches of different scopes
            // that run at the same time meet here, however slow the machine; one after another,
            // none ever does (the wait then gives up after 50 s and the test fails on `most`).
            let now = fl.fetch_add(1, Ordering::SeqCst) + 1;
            mo.fetch_max(now, Ordering::SeqCst);
            for _ in 0..10_000 {
                if mo.load(Ordering::SeqCst) >= 2 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            fl.fetch_sub(1, Ordering::SeqCst);
            let repo = pq
                .split("repository%3A")
                .nth(1)
                .and_then(|r| r.split("%3A").next())
                .unwrap_or("none")
                .to_string();
            return (
                200,
                vec![],
                format!(r#"{{"token":"t-{repo}"}}"#).into_bytes(),
            );
        }
        let repo = pq
            .trim_start_matches("/v2/")
            .split('/')
            .next()
            .unwrap_or("");
        let want = format!("Bearer t-{repo}");
        if h.get("authorization").and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
            return bearer_challenge(h);
        }
        (404, vec![], b"".to_vec())
    });
    // A timeout above the meeting point's bound, so a slow machine cannot fail the test.
    let opts = ClientOptions {
        timeout: Duration::from_secs(60),
        docker_config: Some(std::path::PathBuf::from("/nonexistent/config.json")),
        ..ClientOptions::default()
    };
    let c = Client::new(&f.addr, &f.addr, &opts).unwrap();
    run(async {
        // Settle the challenge first (one 401), then go wide.
        assert!(!c.manifest_exists("r0", &subject()).await.unwrap());
        let calls = (0..8).flat_map(|r| (0..5).map(move |_| r)).map(|r| {
            let c = c.clone();
            async move { c.manifest_exists(&format!("r{r}"), &subject()).await }
        });
        for r in futures_util::future::join_all(calls).await {
            assert!(!r.unwrap());
        }
    });
    let seen = f.seen();
    let tokens = seen.iter().filter(|s| s.contains("/token")).count();
    assert_eq!(tokens, 8, "one token per repository scope: {seen:#?}");
    assert!(
        most.load(Ordering::SeqCst) >= 2,
        "token fetches for different scopes ran one after another"
    );
}

/// A statement blob over the cap is refused while it streams (memory stays bounded), with an
/// error that names the limit; a chunked body without Content-Length is cut off the same way.
#[test]
fn oversized_statement_blobs_are_refused() {
    use referrify::transport::MAX_STATEMENT_BYTES;
    let big = MAX_STATEMENT_BYTES + 1024;
    let f = Fake::start(move |_, _, _, _| (200, vec![], vec![b' '; big]));
    let d = Digest::sha256(b"statement");
    let e = run(client(&f.addr, 1).get_blob("app", &d, MAX_STATEMENT_BYTES)).unwrap_err();
    assert!(matches!(e, RegistryError::TooLarge { .. }), "{e}");
    assert!(
        e.to_string().contains(&MAX_STATEMENT_BYTES.to_string()) || e.to_string().contains("MiB"),
        "{e}"
    );
}

/// The one registry walk holds at most `in_flight(jobs)` repositories at once, whatever the
/// catalog's size: every command's memory and connection use rests on that bound.
#[test]
fn the_walk_works_on_a_bounded_number_of_repositories_at_once() {
    run(async {
        use futures_util::StreamExt as _;
        use referrify::plan::scope::Selection;
        use referrify::walk::{each_repository, in_flight, Walked};
        use std::sync::atomic::{AtomicUsize, Ordering};
        let names: Vec<String> = (0..30).map(|i| format!("r{i:02}")).collect();
        let body = serde_json::to_vec(&serde_json::json!({ "repositories": names })).unwrap();
        let fake = Fake::start(move |_, _, _, _| (200, vec![], body.clone()));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        let bound = in_flight(1);
        let walk = each_repository(
            client(&fake.addr, 1).into(),
            Arc::new(Selection::default()),
            1,
            |name| {
                let (running, most, mut released) =
                    (running.clone(), most.clone(), released.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let _ = released.wait_for(|r| *r).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    name
                }
            },
        );
        let control = async {
            // Every started repository waits for the release, so the walk fills its slots.
            for _ in 0..10_000 {
                if running.load(Ordering::SeqCst) >= bound {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let _ = release.send(true);
        };
        let (done, ()) = tokio::join!(walk.collect::<Vec<_>>(), control);
        let mut got: Vec<String> = done
            .into_iter()
            .map(|w| match w {
                Walked::Repository(n) => n,
                Walked::CatalogFailed(e) => panic!("{e}"),
            })
            .collect();
        got.sort();
        assert_eq!(got, names, "every repository walked once");
        assert_eq!(
            most.load(Ordering::SeqCst),
            bound,
            "never more than {bound} at once"
        );
    });
}

/// Text from a registry reaches a person only with its control, bidi and zero-width characters
/// shown as escapes: in log lines on stderr as in the report on stdout.
#[test]
fn control_and_bidi_characters_from_a_registry_are_neutralised() {
    let f = Fake::start(|_, path, _, _| {
        if path == "/v2/" {
            return (200, vec![], b"{}".to_vec());
        }
        (
            500,
            vec![("content-type", "text/plain".to_string())],
            "evil\r\u{202e}gnp.exe\u{200b} \x1b[31mred"
                .as_bytes()
                .to_vec(),
        )
    });
    let cfg = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_referrify"))
        .args(["convert", "--retries", "1", &format!("{}/app:1", f.addr)])
        .env("DOCKER_CONFIG", cfg.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    for (name, text) in [("stderr", &out.stderr), ("stdout", &out.stdout)] {
        let text = String::from_utf8_lossy(text);
        assert!(text.contains("gnp.exe"), "{name} names the error: {text}");
        for c in ['\r', '\u{202e}', '\u{200b}', '\x1b'] {
            assert!(!text.contains(c), "{name} carries {c:?} raw: {text:?}");
        }
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("\\u{202e}"));
}

/// Pages are bounded one by one, and so is their sum: a registry sending 4 MB referrers pages
/// that link on and on is stopped at the listing's byte limit (before, memory grew without
/// bound), with an error that names the registry and the limit.
#[test]
fn listings_are_bounded_in_total_not_only_per_page() {
    let entry = |i: usize| {
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{i:064x}","size":2,"artifactType":"x"}}"#
        )
    };
    let page: String = (0..22_000).map(entry).collect::<Vec<_>>().join(",");
    let body = format!(r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{page}]}}"#);
    assert!(body.len() > 3 << 20 && body.len() < referrify::transport::MAX_MANIFEST_BYTES);
    let f = Fake::start(move |_, pq, _, n| {
        let path = pq.split('?').next().unwrap().to_string();
        (
            200,
            vec![
                ("content-type", INDEX.into()),
                ("link", format!("<{path}?n={n}>; rel=\"next\"")),
            ],
            body.clone().into_bytes(),
        )
    });
    let e = referrers(&f.addr).unwrap_err().to_string();
    let limit = referrify::transport::MAX_REFERRERS_BYTES;
    assert!(
        e.contains(&limit.to_string()) && e.contains("127.0.0.1"),
        "{e}"
    );
    let pages = f.seen().len();
    assert!(
        pages <= limit / (3 << 20) + 1,
        "stopped after {pages} pages"
    );

    // Tags: pages of long names, every page new, linking on.
    let f = Fake::start(|_, pq, _, n| {
        let names: Vec<String> = (0..1000)
            .map(|i| format!("t{n:06}-{i:04}-{}", "x".repeat(100)))
            .collect();
        let path = pq.split('?').next().unwrap().to_string();
        (
            200,
            vec![("link", format!("<{path}?n=1000&last=p{n}>; rel=\"next\""))],
            serde_json::to_vec(&serde_json::json!({"name": "app", "tags": names})).unwrap(),
        )
    });
    let e = run(client(&f.addr, 1).tags("app")).unwrap_err().to_string();
    let limit = referrify::transport::listing::MAX_TAG_LISTING_BYTES;
    assert!(e.contains(&limit.to_string()), "{e}");
    assert!(f.seen().len() < referrify::transport::listing::MAX_PAGES);
}

/// Names from a catalog go into URLs and printed commands: one that is not a repository name by
/// distribution-spec's grammar (a command substitution, say) is skipped, never walked.
#[test]
fn invalid_repository_names_from_a_catalog_are_skipped() {
    run(async {
        use futures_util::StreamExt as _;
        use referrify::plan::scope::Selection;
        use referrify::walk::{repositories, Found};
        let f = Fake::start(|_, _, _, _| {
            (
                200,
                vec![],
                br#"{"repositories":["ok/app","bad$(touch x)","UPPER/case","a/`id`","ok/two"]}"#
                    .to_vec(),
            )
        });
        let got: Vec<String> = repositories(client(&f.addr, 1), Arc::new(Selection::default()))
            .map(|f| match f {
                Found::Repository(r) => r,
                Found::Failed(e) => panic!("{e}"),
            })
            .collect()
            .await;
        assert_eq!(got, ["ok/app", "ok/two"]);
    });
}
