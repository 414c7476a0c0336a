//! Faults a real registry does not produce on demand, injected by a proxy in front of a real one
//! (docker-registry 2.8.2): 429 with and without `Retry-After`, 500/502/503, a connection reset
//! in the middle of a body, a truncated body, a stall longer than the timeout, and a redirect to
//! another host. Each run either converts correctly or reports the image as failed with a clear
//! message; the registry ends as a clean run leaves it, or a strict subset; retries stay within
//! `--retries` and waits within their bounds; no credential reaches the other host.

mod common;

use common::cli::{code, explain, json};
use common::fault_proxy::{hits, rule, Fault, FaultProxy, Rule};
use common::fixtures::{AMD64, ARM64, LEGACY_MULTI, LEGACY_V02, LEGACY_V1};
use common::Registry;
use std::time::{Duration, Instant};

/// The referrers tags of the two subjects, as the real registry holds them (`None`: no tag).
fn tags(reg: &Registry, repo: &str) -> [Option<String>; 2] {
    [AMD64, ARM64].map(|d| {
        let (st, _, body) = common::http_get(
            reg,
            &format!("/v2/{repo}/manifests/sha256-{}", &d[7..]),
            "application/vnd.oci.image.index.v1+json",
        );
        (st == 200).then(|| String::from_utf8(body).unwrap())
    })
}

/// The tags a clean conversion of the fixture leaves (computed once on a fault-free repository).
fn clean_tags(reg: &Registry) -> [Option<String>; 2] {
    let repo = common::unique_repo("clean");
    common::push_layout_raw(reg, &LEGACY_MULTI.dir(), &repo, "multi");
    let out = common::cli::referrify(&["convert", &reg.reference(&format!("{repo}:multi"))]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    tags(reg, &repo)
}

/// Converts the fixture through a fault proxy with `rules`; returns (output, proxy, repo, seconds).
fn run_with(
    reg: &Registry,
    rules: Vec<Rule>,
    extra: &[&str],
) -> (std::process::Output, FaultProxy, String, f64) {
    let repo = common::unique_repo("fault");
    common::push_layout_raw(reg, &LEGACY_MULTI.dir(), &repo, "multi");
    let proxy = FaultProxy::start(reg, rules);
    let image = format!("{}/{repo}:multi", proxy.addr);
    let mut args = vec!["convert", "--format", "json", "--timeout", "2"];
    if !extra.contains(&"--retries") {
        args.extend_from_slice(&["--retries", "3"]);
    }
    args.extend_from_slice(extra);
    args.push(&image);
    let started = Instant::now();
    let out = common::cli::referrify(&args);
    (out, proxy, repo, started.elapsed().as_secs_f64())
}

#[test]
fn transient_faults_are_retried_within_bounds_and_the_result_is_a_clean_run() {
    let reg = Registry::distribution();
    let clean = clean_tags(&reg);
    assert!(clean.iter().all(Option::is_some));
    // (name, rules, at least this many seconds of waiting)
    let cases: Vec<(&str, Vec<Rule>, f64)> = vec![
        (
            "429 with Retry-After: 1 on the index",
            vec![rule(
                "GET *manifests/multi",
                2,
                Fault::Status(429, Some("1")),
            )],
            2.0,
        ),
        (
            "429 without Retry-After on a tag write",
            vec![rule("PUT *manifests/sha256-", 1, Fault::Status(429, None))],
            0.0,
        ),
        (
            "500, 502, 503 on the legacy manifests",
            vec![
                rule("GET *manifests/sha256:a5", 1, Fault::Status(500, None)),
                rule("GET *manifests/sha256:33", 2, Fault::Status(502, None)),
                rule("referrers/", 1, Fault::Status(503, None)),
            ],
            0.0,
        ),
        (
            "a reset in the middle of a manifest body",
            vec![rule("GET *manifests/sha256:a5", 2, Fault::Reset)],
            0.0,
        ),
        (
            "a truncated manifest body",
            vec![rule("GET *manifests/multi", 1, Fault::Truncate)],
            0.0,
        ),
        (
            "a stall longer than the timeout",
            vec![rule(
                "manifests/sha256:33",
                1,
                Fault::Stall(Duration::from_secs(4)),
            )],
            2.0,
        ),
    ];
    for (name, rules, min_wait) in cases {
        let (out, proxy, repo, secs) = run_with(&reg, rules.clone(), &[]);
        assert_eq!(
            code(&out),
            0,
            "{name}: {}\n{:#?}",
            explain(&out),
            proxy.log()
        );
        assert_eq!(
            tags(&reg, &repo),
            clean,
            "{name}: the registry ends as a clean run leaves it"
        );
        let v = json(&out);
        assert_eq!(v["summary"]["converted"], 2, "{name}");
        for r in &rules {
            let faulted = proxy
                .log()
                .iter()
                .filter(|l| hits(&r.matches, l) && l.ends_with(" *"))
                .count();
            assert_eq!(
                faulted,
                r.times,
                "{name}: every injected fault was met: {:#?}",
                proxy.log()
            );
            // Each fault costs exactly one more attempt (none is given up on, none retried twice);
            // verification reads of the same paths come on top.
            let all = proxy.count(&r.matches);
            let paths = proxy.paths(&r.matches);
            assert!(
                all <= r.times + 2 * paths,
                "{name}: {all} requests for {} over {paths} paths: {:#?}",
                r.matches,
                proxy.log()
            );
        }
        assert!(
            secs >= min_wait,
            "{name}: waited {secs:.2}s, expected at least {min_wait}s"
        );
    }
}

#[test]
fn persistent_faults_fail_the_image_clearly_and_leave_a_subset_of_a_clean_run() {
    let reg = Registry::distribution();
    let clean = clean_tags(&reg);
    // Every write of the referrers tags answers 503: three attempts each, then the image fails.
    let (out, proxy, repo, _) = run_with(
        &reg,
        vec![rule(
            "PUT *manifests/sha256-",
            100,
            Fault::Status(503, None),
        )],
        &[],
    );
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let v = json(&out);
    let err = v["images"][0]["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("503") && err.contains("sha256-"),
        "a clear message: {err}"
    );
    let puts = proxy.count("PUT *manifests/sha256-");
    assert!(
        (3..=2 * 3).contains(&puts),
        "--retries 3 attempts per tag, no more: {:#?}",
        proxy.log()
    );
    // Nothing written that a clean run would not write; the tags are simply missing.
    let now = tags(&reg, &repo);
    for (n, c) in now.iter().zip(&clean) {
        assert!(n.is_none() || n == c, "{n:?} vs {c:?}");
    }
    // Endless 429s: exactly --retries attempts, then a clear failure. (How long a Retry-After
    // is waited for, and its cap, is the retry policy's unit test.)
    let (out, proxy, _repo, _) = run_with(
        &reg,
        vec![rule(
            "GET *manifests/multi",
            100,
            Fault::Status(429, Some("1")),
        )],
        &["--retries", "2"],
    );
    assert_eq!(code(&out), 1, "{}", explain(&out));
    assert_eq!(proxy.count("GET *manifests/multi"), 2, "{:#?}", proxy.log());
    let err = json(&out)["images"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(err.contains("429"), "{err}");
}

/// A blob redirected to another host (as registries do to their storage) is fetched from there
/// without the registry's credentials.
#[test]
fn a_redirect_to_another_host_gets_no_credentials() {
    let (user, pass) = ("ci-user", "s3cret-PASSWORD-42");
    let reg = Registry::distribution_with_htpasswd(user, pass);
    let repo = common::unique_repo("redir");
    common::load_layout_with_auth(
        &reg,
        &LEGACY_MULTI.dir(),
        &format!("{repo}:multi"),
        user,
        pass,
    );
    let proxy = FaultProxy::start(&reg, vec![rule("/blobs/sha256:", 100, Fault::Redirect)]);
    let cfg = tempfile::tempdir().unwrap();
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    std::fs::write(
        cfg.path().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, proxy.addr),
    )
    .unwrap();
    let image = format!("{}/{repo}:multi", proxy.addr);
    let out = common::cli::referrify_with(Some(cfg.path()), &["check", "--format", "json", &image]);
    // check reads every statement blob: each is redirected.
    assert_eq!(code(&out), 3, "{}", explain(&out));
    let other = proxy.other_seen();
    assert!(
        !other.is_empty(),
        "the blobs went through the other host: {:#?}",
        proxy.log()
    );
    assert!(
        other.iter().all(|(_, a)| a.is_none()),
        "credentials sent to the other host: {other:#?}"
    );
    let v = json(&out);
    assert_eq!(
        v["images"][0]["platforms"][0]["subjectsMatch"], true,
        "{v:#}"
    );
    // Nothing printed carries the password.
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(pass) && !all.contains(&auth));
}

/// A registry that serves bytes which do not hash to the digest asked for: the attestation is
/// reported with the digest and never converted or pushed onward; the other one converts.
#[test]
fn a_body_with_the_wrong_digest_is_reported_and_never_pushed() {
    let reg = Registry::distribution();
    let (out, proxy, repo, _) = run_with(
        &reg,
        vec![rule("GET *manifests/sha256:a5", 100, Fault::Tamper)],
        &[],
    );
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let v = json(&out);
    let problems = v["images"][0]["problems"].to_string();
    assert!(
        problems.contains("sha256:a54948f3") && problems.contains("digest"),
        "{problems}"
    );
    // Only the arm64 attestation was converted: one artifact PUT, one referrers tag.
    assert_eq!(
        proxy.count("PUT *manifests/sha256:"),
        1,
        "{:#?}",
        proxy.log()
    );
    let [amd64, arm64] = tags(&reg, &repo);
    assert!(
        amd64.is_none(),
        "nothing written for the tampered attestation"
    );
    assert!(arm64.is_some());
    // Retried like any broken read, then given up: --retries 3 attempts at most.
    let reads = proxy.count("GET *manifests/sha256:a5");
    assert!((1..=3).contains(&reads), "{reads}");
}

/// On a registry that honours conditional writes (this proxy in front of distribution), two
/// concurrent writers of one referrers tag: the loser's `If-Match` write is refused (412) instead
/// of overwriting the winner's entry, and it merges again; both entries end up in the tag.
#[test]
fn conditional_writes_refuse_a_lost_update_and_the_loser_merges_again() {
    let reg = Registry::distribution();
    let proxy = FaultProxy::start_with(&reg, Vec::new(), Duration::from_millis(25), true);
    let mut refused = 0;
    for round in 0..3 {
        let repo = common::unique_repo("cond");
        common::push_layout_raw(&reg, &common::fixtures::LEGACY_V1.dir(), &repo, "v1");
        common::push_layout_raw(&reg, &common::fixtures::LEGACY_V02.dir(), &repo, "v02");
        let spawn = |tag: &str| {
            std::process::Command::new(env!("CARGO_BIN_EXE_referrify"))
                .args(["convert", &format!("{}/{repo}:{tag}", proxy.addr)])
                .env("DOCKER_CONFIG", "/nonexistent")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn("v1"), spawn("v02"));
        for o in [a, b].map(|c| c.wait_with_output().unwrap()) {
            assert_eq!(o.status.code(), Some(0), "round {round}: {}", explain(&o));
        }
        let v = common::http_get_json(
            &reg,
            &format!("/v2/{repo}/manifests/sha256-{}", &AMD64[7..]),
            "application/vnd.oci.image.index.v1+json",
        );
        assert_eq!(
            v["manifests"].as_array().unwrap().len(),
            2,
            "round {round}: {v}"
        );
    }
    refused += proxy.log().iter().filter(|l| l.ends_with(" 412")).count();
    assert!(
        refused > 0,
        "the race never reached the conditional write: {:#?}",
        proxy.log()
    );
    eprintln!("3 rounds: {refused} conditional write(s) refused with 412, no entry lost");
}

/// Once a repository's Referrers API is found, one odd 404 for another subject does not switch
/// it to the tag schema (which wrote `sha256-<hex>` tags into a registry that lists referrers
/// itself): that subject fails with the reason, nothing tag-shaped is read or written, and a
/// rerun converts what is left.
#[test]
fn one_odd_answer_does_not_switch_a_registry_with_the_api_to_the_tag_schema() {
    let reg = Registry::ferro();
    // The probe passes; the second subject's listing gets a router 404.
    let rules = vec![rule("GET *referrers", 1, Fault::Status(404, None)).after(1)];
    let (out, proxy, repo, _) = run_with(&reg, rules, &[]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    assert_eq!(
        proxy.count("PUT *manifests/sha256-") + proxy.count("GET *manifests/sha256-"),
        0,
        "no referrers tag read or written on a registry with the API: {:#?}",
        proxy.log()
    );
    let v = json(&out);
    let image = v["images"][0].to_string();
    assert!(image.contains("not switching to the tag schema"), "{image}");
    let out = common::cli::referrify(&["convert", &reg.reference(&format!("{repo}:multi"))]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
}

/// `convert --index rewrite` moves a tag only from the index it read. Another writer moves the
/// tag right after our read of it; on a registry that honours `If-Match` (this proxy in front
/// of distribution) our write is refused, the other writer's tag stays, and convert says so.
#[test]
fn an_index_rewrite_never_moves_a_tag_another_writer_just_moved() {
    let reg = Registry::distribution();
    let repo = common::unique_repo("move");
    common::push_layout_raw(&reg, &LEGACY_MULTI.dir(), &repo, "1");
    let (_, _, amd64) = common::http_get(
        &reg,
        &format!("/v2/{repo}/manifests/{AMD64}"),
        "application/vnd.oci.image.manifest.v1+json",
    );
    // The first GET of tag 1 resolves the image; the second is the move's read.
    let other = Fault::ThenPut(
        format!("/v2/{repo}/manifests/1"),
        "application/vnd.oci.image.manifest.v1+json",
        amd64,
    );
    let proxy = FaultProxy::start_with(
        &reg,
        vec![rule("GET *manifests/1", 1, other).after(1)],
        Duration::ZERO,
        true,
    );
    let image = format!("{}/{repo}:1", proxy.addr);
    let out =
        common::cli::referrify(&["convert", "--index", "rewrite", "--format", "json", &image]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    assert!(
        explain(&out).contains("changed while it was being moved"),
        "{}",
        explain(&out)
    );
    let (_, h, _) = common::http_get(
        &reg,
        &format!("/v2/{repo}/manifests/1"),
        "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
    );
    assert_eq!(
        h.get("docker-content-digest").unwrap().to_str().unwrap(),
        AMD64,
        "the other writer's tag stays"
    );
}

/// Retries are per operation and know what is safe to send twice: layers of retries share one
/// bound (a read whose requests fail and whose body then breaks makes `--retries` attempts in
/// all, not `--retries` squared), and an upload session (POST) is not sent again after a 502,
/// which may have opened one, only after a 429 or 503, which did nothing.
#[test]
fn retries_are_bounded_per_operation_and_aware_of_idempotency() {
    let reg = Registry::distribution();
    let rules = vec![
        rule("GET *manifests/sha256:a5", 2, Fault::Status(500, None)),
        rule("GET *manifests/sha256:a5", 100, Fault::Truncate),
    ];
    let (out, proxy, _, _) = run_with(&reg, rules, &["--retries", "3"]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    assert_eq!(
        proxy.count("GET *manifests/sha256:a5"),
        3,
        "500, 500, a broken body: three attempts in all: {:#?}",
        proxy.log()
    );

    let (out, proxy, _, _) = run_with(
        &reg,
        vec![rule("POST *blobs/uploads", 1, Fault::Status(502, None))],
        &["--retries", "3"],
    );
    assert_eq!(code(&out), 1, "{}", explain(&out));
    assert_eq!(proxy.count("POST *blobs/uploads"), 1, "{:#?}", proxy.log());

    let (out, proxy, _, _) = run_with(
        &reg,
        vec![rule("POST *blobs/uploads", 1, Fault::Status(503, None))],
        &["--retries", "3"],
    );
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert_eq!(proxy.count("POST *blobs/uploads"), 2, "{:#?}", proxy.log());
}

/// Another tool's entry that a referrers tag held when referrify wrote it, dropped by a
/// concurrent writer's stale write right after (distribution ignores `If-Match`), is put back
/// when its manifest still exists; referrify's own entry is merged again as before.
#[test]
fn a_foreign_entry_dropped_by_a_concurrent_write_is_put_back() {
    let reg = Registry::distribution();
    let repo = common::unique_repo("foreign");
    common::push_layout_raw(&reg, &LEGACY_MULTI.dir(), &repo, "multi");
    let tag = format!("sha256-{}", &AMD64[7..]);
    let entry = |d: &str, t: &str| {
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":834,"artifactType":"{t}"}}"#
        )
    };
    let index = |entries: &[String]| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
            entries.join(",")
        )
        .into_bytes()
    };
    // The tag holds another tool's entry F (its manifest exists); a stale writer W will write
    // an index that holds only its own entry right after referrify's write.
    let (f, w) = (
        LEGACY_MULTI.attestations[0].1,
        LEGACY_MULTI.attestations[1].1,
    );
    let (st, _, _) = common::http_request(
        &reg.backend_addr,
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("content-type", "application/vnd.oci.image.index.v1+json")],
        &index(&[entry(f, "application/vnd.example.f")]),
    );
    assert_eq!(st, 201);
    let stale = Fault::ThenPut(
        format!("/v2/{repo}/manifests/{tag}"),
        "application/vnd.oci.image.index.v1+json",
        index(&[entry(w, "application/vnd.example.w")]),
    );
    let proxy = FaultProxy::start(&reg, vec![rule(&format!("PUT *manifests/{tag}"), 1, stale)]);
    let image = format!("{}/{repo}:multi", proxy.addr);
    let out = common::cli::referrify(&["convert", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let (_, _, body) = common::http_get(
        &reg,
        &format!("/v2/{repo}/manifests/{tag}"),
        "application/vnd.oci.image.index.v1+json",
    );
    let now: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let digests: Vec<&str> = now["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert!(
        digests.contains(&f),
        "the other tool's entry is back: {digests:?}"
    );
    assert!(
        digests.contains(&w),
        "the stale writer's entry stays: {digests:?}"
    );
    let ours = json(&out)["images"][0]["attestations"][0]["artifact"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(digests.contains(&ours.as_str()), "{digests:?}");
    assert_eq!(digests.len(), 3, "{digests:?}");
}

/// A registry that refuses a cross-repository mount (403 `DENIED`: no pull on the source) gets
/// the `{}` blob uploaded instead; the repository converts, and the refusal is counted.
#[test]
fn a_refused_mount_falls_back_to_an_upload_and_is_counted() {
    let reg = Registry::distribution();
    let prefix = common::unique_repo("mount");
    let repos = [format!("{prefix}/a"), format!("{prefix}/b")];
    for r in &repos {
        common::push_layout_raw(&reg, &LEGACY_MULTI.dir(), r, "multi");
    }
    // The first repository uploads {} (POST, PUT); the second one's first POST is the mount.
    let proxy = FaultProxy::start(
        &reg,
        vec![rule("POST *blobs/uploads", 1, Fault::Status(403, None)).after(1)],
    );
    let out = common::cli::referrify(&[
        "migrate",
        &proxy.addr,
        "--repo",
        &format!("{prefix}/"),
        "-j",
        "1",
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(summary["mountsRefused"], 1, "{summary}");
    assert_eq!(summary["converted"], 4, "{summary}");
    let log = proxy.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("POST") && l.ends_with(" *")),
        "the mount was refused: {log:#?}"
    );
}

/// Two images share a subject, so one referrers tag holds both their entries. When `undo`
/// cannot rewrite that tag (every write fails), neither artifact is deleted: before, only the
/// first image's was kept and the second one's was deleted while the tag still listed it.
#[test]
fn undo_deletes_nothing_a_tag_it_could_not_rewrite_still_lists() {
    let reg = Registry::distribution();
    let repo = common::unique_repo("shared-subject");
    common::push_layout_raw(&reg, &LEGACY_V1.dir(), &repo, "v1");
    common::push_layout_raw(&reg, &LEGACY_V02.dir(), &repo, "v02");
    for t in ["v1", "v02"] {
        let out = common::cli::referrify(&["convert", &reg.reference(&format!("{repo}:{t}"))]);
        assert_eq!(code(&out), 0, "{}", explain(&out));
    }
    let tag = format!("sha256-{}", &AMD64[7..]);
    let proxy = FaultProxy::start(
        &reg,
        vec![rule(
            &format!("PUT *manifests/{tag}"),
            100,
            Fault::Status(500, None),
        )],
    );
    let images: Vec<String> = ["v1", "v02"]
        .iter()
        .map(|t| format!("{}/{repo}:{t}", proxy.addr))
        .collect();
    let out = common::cli::referrify(&["undo", "--format", "json", &images[0], &images[1]]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let v = json(&out);
    for img in v["images"].as_array().unwrap() {
        assert_eq!(img["artifactsDeleted"], serde_json::json!([]), "{img}");
    }
    assert_eq!(proxy.count("DELETE *manifests"), 0, "{:#?}", proxy.log());
    let (_, _, body) = common::http_get(
        &reg,
        &format!("/v2/{repo}/manifests/{tag}"),
        "application/vnd.oci.image.index.v1+json",
    );
    let index: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let listed = index["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{index}");
    for m in listed {
        let d = m["digest"].as_str().unwrap();
        let (st, _, _) = common::http_get(
            &reg,
            &format!("/v2/{repo}/manifests/{d}"),
            "application/vnd.oci.image.manifest.v1+json",
        );
        assert_eq!(st, 200, "the tag lists {d}, which must still exist");
    }
}
