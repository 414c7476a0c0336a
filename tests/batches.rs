//! A registry walk works on a repository in bounded batches of its tags (README "Large
//! repositories"): tag pages streamed, an image tagged in several batches worked on once, a
//! referrers tag shared by images of different batches written correctly in each (and the extra
//! writes counted), and `--state` exact at batch granularity after a kill -9 in the middle of a
//! repository. Real docker-registry 2.8.2 (no Referrers API: every batch writes referrers tags).

mod common;

use common::cli::{code, explain, json_lines};
use common::fault_proxy::{rule, Fault, FaultProxy};
use common::fixtures::{AMD64, ARM64, LEGACY_MULTI, LEGACY_V1};
use common::Registry;
use serde_json::Value;
use std::process::{Command, Output, Stdio};

/// `-j 1`: batches of 32 tags (the smallest batch).
const BATCH: usize = 32;
/// Tags of the `legacy-multi` image: `a000`…; with `z` (legacy-v1) last, three batches.
const MULTI_TAGS: usize = 70;

/// `repo` holds `legacy-multi` under [`MULTI_TAGS`] tags and `legacy-v1` under `z`. The two
/// indexes share the linux/amd64 platform manifest but carry different attestations of it.
fn seed(reg: &Registry, repo: &str) {
    common::load_layout_ref(
        reg,
        &LEGACY_MULTI.dir(),
        LEGACY_MULTI.ref_name,
        &format!("{repo}:a000"),
    );
    let index = common::layout_blob(&LEGACY_MULTI.dir(), LEGACY_MULTI.index);
    for i in 1..MULTI_TAGS {
        let (st, _, body) = common::registry_request(
            reg,
            "PUT",
            &format!("/v2/{repo}/manifests/a{i:03}"),
            &[("content-type", "application/vnd.oci.image.index.v1+json")],
            &index,
        );
        assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    }
    common::load_layout_ref(
        reg,
        &LEGACY_V1.dir(),
        LEGACY_V1.ref_name,
        &format!("{repo}:z"),
    );
}

fn migrate(addr: &str, repo: &str, state: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_referrify"))
        .args([
            "migrate", addr, "--repo", repo, "-j", "1", "--format", "json", "--state",
        ])
        .arg(state)
        // Ten tags a page: the listing is read in eight pages as the batches need them.
        .env("REFERRIFY_PAGE_SIZE", "10")
        .env("DOCKER_CONFIG", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn of_type<'a>(lines: &'a [Value], t: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == t).collect()
}

#[test]
fn a_repository_is_worked_on_in_batches_with_one_line_per_image() {
    let reg = Registry::distribution();
    seed(&reg, "big");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.jsonl");
    reg.clear_requests();
    let out = migrate(&reg.addr, "big", &state);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let lines = json_lines(&out);

    // Two distinct images, each on its own line, however many tags point to them.
    let images = of_type(&lines, "image");
    assert_eq!(images.len(), 2, "{lines:#?}");
    assert!(images
        .iter()
        .all(|i| i["repository"] == "big" && i["status"] == "done"));
    let tags_of_multi = images
        .iter()
        .find(|i| i["digest"] == LEGACY_MULTI.index)
        .unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, tags) = tags_of_multi.rsplit_once(':').unwrap();
    assert_eq!(
        tags.split(',').count(),
        BATCH,
        "the image's line names the tags of the batch it was worked on in: {tags_of_multi}"
    );

    // One repository line with counts, not images; three batches.
    let repos = of_type(&lines, "repository");
    assert_eq!(repos.len(), 1);
    let r = repos[0];
    assert_eq!(r["batches"], 3, "{r}");
    assert_eq!(r["images"], 2, "{r}");
    assert_eq!(
        r["converted"], 3,
        "two of legacy-multi, one of legacy-v1: {r}"
    );
    assert!(r.get("images").unwrap().is_u64(), "counts only: {r}");
    // The linux/amd64 referrers tag is written by the first batch and again by the last: the
    // extra write is counted, and the tag holds both attestations.
    assert_eq!(r["tagsRewrittenAcrossBatches"], 1, "{r}");
    let summary = of_type(&lines, "summary")[0];
    assert_eq!(summary["schemaVersion"], 2);
    assert_eq!(summary["tagsRewrittenAcrossBatches"], 1, "{summary}");
    let amd = common::oras_discover(
        &format!("{}/big@{AMD64}", reg.addr),
        &["--distribution-spec", "v1.1-referrers-tag"],
    );
    assert_eq!(common::oras_referrers(&amd).len(), 2, "{amd}");
    let arm = common::oras_discover(
        &format!("{}/big@{ARM64}", reg.addr),
        &["--distribution-spec", "v1.1-referrers-tag"],
    );
    assert_eq!(common::oras_referrers(&arm).len(), 1, "{arm}");

    // The tag list is read a page at a time as batches need it; distribution 2.8 ignores `n` on
    // tag lists and sends all 71 in one page (registries that page are covered in migrate.rs,
    // with pages of one).
    let listings = reg
        .requests()
        .iter()
        .filter(|q| q.method == "GET" && q.path_and_query.contains("/tags/list"))
        .count();
    assert_eq!(listings, 1, "tag list pages read");

    // Every image is recorded as its batch finishes, and the repository when all are done.
    let recorded = std::fs::read_to_string(&state).unwrap();
    assert_eq!(
        recorded.lines().filter(|l| l.contains("\"image\"")).count(),
        2,
        "{recorded}"
    );
    assert!(recorded.contains("\"complete\""), "{recorded}");
}

#[test]
fn kill_9_in_the_last_batch_redoes_only_that_batch() {
    let reg = Registry::distribution();
    seed(&reg, "k");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.jsonl");
    // Hold the second artifact push that reaches the registry after the first batch: the one of
    // legacy-v1's attestation, in the last batch (the first batch pushes legacy-multi's two).
    let proxy = FaultProxy::start(
        &reg,
        vec![rule("PUT *manifests/sha256:", 1, Fault::Hold).after(2)],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_referrify"))
        .args([
            "migrate",
            &proxy.addr,
            "--repo",
            "k",
            "-j",
            "1",
            "-q",
            "--state",
        ])
        .arg(&state)
        .env("REFERRIFY_PAGE_SIZE", "10")
        .env("DOCKER_CONFIG", "/nonexistent")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(
        proxy.wait_held(&mut child),
        1,
        "never reached the last batch's push: {:#?}",
        proxy.log()
    );
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    proxy.release();

    // The first batch was recorded before the last one started; the repository was not.
    let recorded = std::fs::read_to_string(&state).unwrap();
    let images: Vec<&str> = recorded
        .lines()
        .filter(|l| l.contains("\"image\""))
        .collect();
    assert_eq!(images.len(), 1, "{recorded}");
    assert!(images[0].contains(LEGACY_MULTI.index), "{recorded}");
    assert!(!recorded.contains("\"complete\""), "{recorded}");

    // The rerun redoes only the last batch's image.
    let out = migrate(&proxy.addr, "k", &state);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let lines = json_lines(&out);
    let images = of_type(&lines, "image");
    assert_eq!(images.len(), 1, "{lines:#?}");
    assert_eq!(images[0]["digest"], LEGACY_V1.index);
    assert_eq!(of_type(&lines, "repository")[0]["resumedImages"], 1);
    let amd = common::oras_discover(
        &format!("{}/k@{AMD64}", reg.addr),
        &["--distribution-spec", "v1.1-referrers-tag"],
    );
    assert_eq!(common::oras_referrers(&amd).len(), 2, "{amd}");
}

#[test]
fn check_registry_streams_a_line_per_image_and_caps_the_text() {
    let reg = Registry::distribution();
    seed(&reg, "c");
    let out = common::cli::referrify(&[
        "check", &reg.addr, "--repo", "c", "-j", "1", "--format", "json",
    ]);
    assert_eq!(code(&out), 3, "legacy only: {}", explain(&out));
    let lines = json_lines(&out);
    assert_eq!(of_type(&lines, "image").len(), 2, "{lines:#?}");
    let r = of_type(&lines, "repository")[0];
    assert_eq!(
        (
            r["images"].as_u64(),
            r["platforms"].as_u64(),
            r["uncovered"].as_u64()
        ),
        (Some(2), Some(3), Some(3)),
        "{r}"
    );
    let s = of_type(&lines, "summary")[0];
    assert_eq!(
        (s["schemaVersion"].as_u64(), s["platforms"].as_u64()),
        (Some(2), Some(3)),
        "{s}"
    );
    assert_eq!(lines.last().unwrap()["type"], "summary");

    // Text keeps the gaps up to the cap, counts the rest and says how to list them all.
    let out = Command::new(env!("CARGO_BIN_EXE_referrify"))
        .args(["check", &reg.addr, "--repo", "c", "-j", "1"])
        .env("REFERRIFY_GAPS_SHOWN", "1")
        .env("DOCKER_CONFIG", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", explain(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "3 more platform manifests with a gap not shown; list every one with: referrify check {} --format json > coverage.jsonl",
            reg.addr
        )),
        "{text}"
    );
    assert!(
        !text.contains("linux/amd64") && !text.contains("linux/arm64"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with('c') && l.contains(" 2 ")),
        "the roll-up row: {text}"
    );
}
