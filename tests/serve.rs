//! `referrify serve` against real registries: distribution 2.8.2 sending its push notifications
//! to a running receiver (skopeo pushes, oras checks), the documented payloads of Harbor, zot and
//! the generic form through the same receiver, refused requests, a registry that is down while
//! events arrive, two replicas on one subject, and a 200-push burst with kill -9 mid-burst.

mod common;
mod serve_support;

use common::fixtures::{self, AMD64, ARM64};
use common::Registry;
use serve_support::{free_port, notifications, Serve, TOKEN};
use std::path::Path;
use std::time::Duration;

/// Hang guard for waits (never reached by a working receiver).
const LIMIT: Duration = Duration::from_secs(300);

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn discovered(reg_addr: &str, repo: &str, subject: &str) -> Vec<String> {
    common::oras_referrer_digests(&common::oras_discover(
        &format!("{reg_addr}/{repo}@{subject}"),
        &[],
    ))
}

fn fixture_payload(name: &str, registry: &str, repo: &str, digest: &str) -> Vec<u8> {
    std::fs::read_to_string(common::testdata(&format!("serve/{name}")))
        .unwrap()
        .replace("{{REGISTRY}}", registry)
        .replace("{{REPOSITORY}}", repo)
        .replace("{{DIGEST}}", digest)
        .into_bytes()
}

#[test]
fn distribution_notifications_make_pushes_discoverable() {
    let port = free_port();
    let reg = Registry::distribution_with_config(&notifications(port));
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::start(port, &[&reg.addr], &tmp.path().join("journal"), &[]);

    // A legacy multi-platform image, pushed through the proxy (events name the proxy's host).
    common::skopeo_copy_layout(
        &reg.addr,
        &fixtures::LEGACY_MULTI.dir(),
        None,
        "team/app:multi",
        None,
    );
    serve.wait("the legacy image converted", LIMIT, |s| {
        s.metric("conversions_total") >= 1.0
    });
    let want = common::cli::planned_artifacts(fixtures::LEGACY_MULTI);
    assert_eq!(
        discovered(&reg.addr, "team/app", AMD64),
        vec![want[0].clone()]
    );
    assert_eq!(
        discovered(&reg.addr, "team/app", ARM64),
        vec![want[1].clone()]
    );
    // Its own writes came back as events and were dropped without a request.
    serve.wait("own writes ignored", LIMIT, |s| {
        s.metric("events_ignored_total") >= 2.0
    });

    // BuildKit v0.32-style: an artifact pushed by digest with a subject, no tag, no index.
    let art = fixtures::OCIARTIFACT_V1.attestations[0].1;
    push_untagged(
        &reg,
        &fixtures::OCIARTIFACT_V1.dir(),
        "team/art",
        &[AMD64, art],
    );
    serve.wait("the artifact made discoverable", LIMIT, |s| {
        s.metric("conversions_total") >= 2.0
    });
    assert_eq!(
        discovered(&reg.addr, "team/art", AMD64),
        vec![art.to_string()],
        "{:#?}\n{}",
        serve.reports(),
        serve.log()
    );

    // The notifications of its own artifact pushes in team/app (delivered in order, before
    // team/art's) were dropped without reading those artifacts.
    let own: Vec<String> = reg
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && want.iter().any(|a| r.path().ends_with(a.as_str())))
        .map(|r| r.path().to_string())
        .collect();
    assert!(own.is_empty(), "own artifacts read back: {own:?}");

    // An unrelated push (a plain image manifest) gets no write at all.
    let before = serve.metric("processed_total");
    push_untagged(&reg, &fixtures::OCIARTIFACT_V1.dir(), "team/plain", &[]);
    reg.clear_requests();
    put_manifest_via_proxy(
        &reg,
        &fixtures::OCIARTIFACT_V1.dir(),
        "team/plain",
        AMD64,
        "v1",
    );
    serve.wait("the plain push processed", LIMIT, |s| {
        s.metric("processed_total") > before
    });
    let writes: Vec<String> = reg
        .write_requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(
        writes,
        vec!["/v2/team/plain/manifests/v1".to_string()],
        "only our own push"
    );
    assert_eq!(serve.metric("events_failed_total"), 0.0, "{}", serve.log());
}

/// Pushes every blob of a layout into `repo` (backend, no events for manifests) and then the
/// manifests `digests`, in order, by digest, through the proxy (each one a push event).
fn push_untagged(reg: &Registry, layout: &Path, repo: &str, digests: &[&str]) {
    for e in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let d = format!("sha256:{}", p.file_name().unwrap().to_str().unwrap());
        let (st, h, _) =
            common::registry_request(reg, "POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"");
        assert_eq!(st, 202, "upload of {d}");
        common::finish_upload(reg, &h, &d, &bytes);
    }
    for d in digests {
        put_manifest_via_proxy(reg, layout, repo, d, d);
    }
}

fn put_manifest_via_proxy(
    reg: &Registry,
    layout: &Path,
    repo: &str,
    digest: &str,
    reference: &str,
) {
    let bytes = common::layout_blob(layout, digest);
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mt = v["mediaType"].as_str().unwrap();
    let (st, _, b) = common::http_request(
        &reg.addr,
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("content-type", mt)],
        &bytes,
    );
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&b));
}

#[test]
fn refuses_what_it_must_and_takes_every_payload_shape() {
    let reg = Registry::distribution();
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::start(
        free_port(),
        &[&reg.addr],
        &tmp.path().join("journal"),
        &["--max-body", "4096"],
    );
    let generic = br#"{"repository":"app","tag":"1"}"#;
    assert_eq!(serve.post(generic, None).0, 401, "no token");
    let (st, h, _) = serve.post(generic, Some("wrong-token-0123456789"));
    assert_eq!(st, 401, "wrong token");
    assert_eq!(h.get("www-authenticate").unwrap(), "Bearer");
    assert_eq!(
        serve.post(&vec![b' '; 5000], Some(TOKEN)).0,
        413,
        "oversize"
    );
    for bad in [
        &b"{"[..],
        b"[1,2]",
        b"{\"repository\":\"UPPER\",\"tag\":\"x\"}",
        b"\xff\xfe",
    ] {
        assert_eq!(
            serve.post(bad, Some(TOKEN)).0,
            400,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let evil = br#"{"registry":"evil.example:443","repository":"app","tag":"1"}"#;
    let (st, _, body) = serve.post(evil, Some(TOKEN));
    assert_eq!(st, 403, "{body}");
    assert_eq!(serve.metric("events_refused_total"), 1.0);
    assert_eq!(serve.metric("requests_malformed_total"), 4.0);
    // Nothing refused reached any registry.
    assert!(reg.requests().is_empty(), "{:?}", reg.requests());

    // Every documented payload shape, naming real images, through the same receiver.
    let cases = [
        ("harbor-push-artifact.json", fixtures::LEGACY_V1),
        ("harbor-cloudevent.json", fixtures::LEGACY_V02),
        ("zot-image-updated.json", fixtures::LEGACY_MULTI),
        ("generic-tag.json", fixtures::LEGACY_V1),
        ("distribution-v2-events.json", fixtures::LEGACY_V02),
    ];
    for (i, (file, f)) in cases.iter().enumerate() {
        let repo = format!("shapes/r{i}");
        common::load_layout(&reg, &f.dir(), &format!("{repo}:1"));
        let body = fixture_payload(file, &reg.addr, &repo, f.index);
        let (st, _, b) = serve.post(&body, Some(TOKEN));
        assert_eq!(st, 202, "{file}: {b}");
        assert!(b.contains("\"queued\":1"), "{file}: {b}");
    }
    serve.wait("every payload worked on", LIMIT, |s| {
        s.metric("processed_total") >= 5.0
    });
    for (i, (file, f)) in cases.iter().enumerate() {
        let want = common::cli::planned_artifacts(*f);
        let got = discovered(&reg.addr, &format!("shapes/r{i}"), AMD64);
        assert_eq!(got, vec![want[0].clone()], "{file}");
    }
    assert!(reg
        .write_requests()
        .iter()
        .all(|r| r.path().contains("/shapes/")));
    // Malformed bodies never stopped it.
    assert_eq!(
        common::http_request(&serve.addr, "GET", "/healthz", &[], b"").0,
        200
    );
}

#[test]
fn registry_down_while_events_arrive() {
    let reg = Registry::distribution();
    let repos: Vec<String> = (0..5).map(|i| format!("down/r{i}")).collect();
    common::seed_many(&reg, fixtures::LEGACY_V1, &repos, "1");
    // The receiver is configured for a port where nothing listens yet.
    let down = free_port();
    let host = format!("127.0.0.1:{down}");
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::start(
        free_port(),
        &[&host],
        &tmp.path().join("journal"),
        &["--retries", "1"],
    );
    for r in &repos {
        let body = format!(
            r#"{{"repository":"{r}","digest":"{}"}}"#,
            fixtures::LEGACY_V1.index
        );
        assert_eq!(serve.post(body.as_bytes(), Some(TOKEN)).0, 202);
    }
    serve.wait("a failed attempt", LIMIT, |s| {
        s.metric("retries_total") >= 1.0
    });
    assert_eq!(serve.metric("conversions_total"), 0.0);
    // The registry comes up on that port (a forwarder to the real one).
    let _fwd = forward(down, &reg.backend_addr);
    serve.wait("every image converted", LIMIT, |s| {
        s.metric("conversions_total") >= 5.0
    });
    let want = common::cli::planned_artifacts(fixtures::LEGACY_V1);
    for r in &repos {
        assert_eq!(discovered(&reg.addr, r, AMD64), want, "{r}");
    }
}

/// A TCP forwarder on 127.0.0.1:`port` to `to`, on its own runtime (stopped on drop).
fn forward(port: u16, to: &str) -> tokio::runtime::Runtime {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .expect("binding the forwarder");
    let to = to.to_string();
    rt.spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let to = to.clone();
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(&to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    rt
}

/// Two replicas behind one Service: events for two images of one subject go to different
/// processes; a proxy holds both referrers-tag writes until both replicas have read the tag
/// (twice each), so without the engine's read-back one entry would be lost every time.
#[test]
fn two_replicas_never_lose_each_others_entries() {
    use common::fault_proxy::{rule, Fault, FaultProxy};
    let reg = Registry::distribution();
    let repo = "replicas/app";
    common::push_layout_raw(&reg, &fixtures::LEGACY_V1.dir(), repo, "v1");
    common::push_layout_raw(&reg, &fixtures::LEGACY_V02.dir(), repo, "v02");
    let tag = format!("sha256-{}", &AMD64[7..]);
    let both_read = Fault::WaitFor(format!("GET *manifests/{tag}"), 4);
    let proxy = FaultProxy::start(
        &reg,
        vec![rule(&format!("PUT *manifests/{tag}"), 2, both_read)],
    );
    let tmp = tempfile::tempdir().unwrap();
    let a = Serve::start(free_port(), &[&proxy.addr], &tmp.path().join("a"), &[]);
    let b = Serve::start(free_port(), &[&proxy.addr], &tmp.path().join("b"), &[]);
    let ev = |t: &str| format!(r#"{{"repository":"{repo}","tag":"{t}"}}"#);
    assert_eq!(a.post(ev("v1").as_bytes(), Some(TOKEN)).0, 202);
    assert_eq!(b.post(ev("v02").as_bytes(), Some(TOKEN)).0, 202);
    for s in [&a, &b] {
        s.wait("the replica's image done", LIMIT, |s| {
            s.metric("processed_total") >= 1.0
        });
    }
    let mut want = common::cli::planned_artifacts(fixtures::LEGACY_V1);
    want.extend(common::cli::planned_artifacts(fixtures::LEGACY_V02));
    want.sort();
    let mut got = discovered(&reg.addr, repo, AMD64);
    got.sort();
    assert_eq!(got, want, "A:\n{}\nB:\n{}", a.log(), b.log());
    let remerged = [&a, &b]
        .iter()
        .filter(|s| s.log().contains("merging again"))
        .count();
    assert_eq!(
        remerged, 1,
        "exactly the replica whose write was overwritten merged again"
    );
}

/// 200 image pushes notified by distribution; serve is killed (-9) mid-burst and started again
/// on the same journal and port (distribution redelivers what it could not deliver). Every image
/// ends discoverable, none is converted twice, and the registry's tags and digests equal those
/// of one `migrate` run over the same images on a second registry.
#[test]
fn burst_of_200_with_kill9_ends_like_one_migrate() {
    const N: usize = 200;
    let port = free_port();
    let reg = Registry::distribution_with_config(&notifications(port));
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("journal");
    let mut serve = Serve::start(port, &[&reg.backend_addr], &journal, &[]);
    let repos: Vec<String> = (0..N).map(|i| format!("burst/r{i:03}")).collect();
    let first = std::thread::scope(|s| {
        s.spawn(|| common::seed_many(&reg, fixtures::LEGACY_V1, &repos, "1"));
        serve.wait("a first part converted", LIMIT, |s| {
            s.metric("conversions_total") >= 20.0
        });
        serve.kill9();
        let reports = serve.reports();
        serve = Serve::start(port, &[&reg.backend_addr], &journal, &[]);
        reports
    });
    let tag = format!("sha256-{}", &AMD64[7..]);
    let deadline = std::time::Instant::now() + LIMIT;
    for r in &repos {
        while common::http_get(&reg, &format!("/v2/{r}/manifests/{tag}"), OCI_INDEX).0 != 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "{r} never converted:\n{}",
                serve.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    serve.wait("the queue drained", LIMIT, |s| {
        s.metric("queue_depth") == 0.0
    });
    // None converted twice: across both processes, at most one `done` report per image.
    let mut done: std::collections::BTreeMap<String, usize> = Default::default();
    for r in first.iter().chain(serve.reports().iter()) {
        if r["status"] == "done" && r["reference"].as_str().unwrap().contains("burst/") {
            *done
                .entry(r["reference"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    assert!(done.values().all(|&n| n == 1), "{done:?}");
    assert!(
        !first.is_empty() && first.len() < N,
        "the kill came mid-burst: {}",
        first.len()
    );
    // The same images, migrated once on a second registry: the same tags and digests.
    let reg2 = Registry::distribution();
    common::seed_many(&reg2, fixtures::LEGACY_V1, &repos, "1");
    let out = common::cli::referrify(&["migrate", &reg2.addr, "--repo", "burst/"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::cli::explain(&out));
    assert_eq!(
        common::snapshot(&reg, "burst/"),
        common::snapshot(&reg2, "burst/")
    );
}

/// A full queue answers 503 with `Retry-After` (nothing journaled); SIGTERM stops the receiver
/// with the unfinished work kept in the journal, and the next start replays it.
#[test]
fn full_queue_answers_503_and_sigterm_keeps_the_journal() {
    let down = format!("127.0.0.1:{}", free_port());
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("journal");
    let args = [
        "--queue",
        "1",
        "--workers",
        "1",
        "--retries",
        "1",
        "--attempts",
        "100",
    ];
    let mut serve = Serve::start(free_port(), &[&down], &journal, &args);
    let d = fixtures::LEGACY_V1.index;
    let ev = |r: &str| format!(r#"{{"repository":"{r}","digest":"{d}"}}"#);
    assert_eq!(serve.post(ev("a").as_bytes(), Some(TOKEN)).0, 202);
    // The queue holds one image (waiting or in work): another one is refused, not journaled.
    let (st, h, _) = serve.post(ev("b").as_bytes(), Some(TOKEN));
    assert_eq!(st, 503);
    assert_eq!(h.get("retry-after").unwrap(), "5");
    // A duplicate of the queued image coalesces: it takes no room.
    assert_eq!(serve.post(ev("a").as_bytes(), Some(TOKEN)).0, 202);
    serve.terminate();
    assert!(
        serve.log().contains("left in the journal"),
        "{}",
        serve.log()
    );
    let again = Serve::start(free_port(), &[&down], &journal, &args);
    again.wait("replayed events queued", LIMIT, |s| {
        s.metric("queue_depth") >= 1.0
    });
    assert!(
        again.log().contains("replaying 2 unfinished events"),
        "{}",
        again.log()
    );
}
