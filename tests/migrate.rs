//! `referrify migrate` and `referrify check REGISTRY` against real registries on loopback
//! (docker-registry 2.8.2 without the Referrers API, ferro-oci-server with it), confirmed with
//! oras: catalog and tag paging, dry run, state and resume (including a kill -9), shards, and
//! the request counts the README documents.

mod common;

use common::cli::{code, explain};
use common::fault_proxy::{rule, Fault, FaultProxy};
use common::fixtures::{
    Fixture, AMD64, ARM64, LEGACY_MULTI, LEGACY_V02, LEGACY_V1, OCIARTIFACT_V1,
};
use common::{oras_referrer_digests, Registry, RegistryKind};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

const ATTESTATION: &str = "application/vnd.docker.attestation.manifest.v1+json";

/// Runs referrify with extra environment (an empty docker config, as every test does).
fn referrify_env(env: &[(&str, &str)], args: &[&str]) -> Output {
    let empty = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_referrify"));
    c.args(args)
        .env("DOCKER_CONFIG", empty.path())
        .env_remove("REFERRIFY_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("running referrify")
}

/// stdout as JSON lines.
fn lines(out: &Output) -> Vec<Value> {
    common::cli::json_lines(out)
}

fn summary(out: &Output) -> Value {
    let all = lines(out);
    let last = all
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no output\n{}", explain(out)));
    assert_eq!(last["type"], "summary", "{}", explain(out));
    last
}

fn repositories(out: &Output) -> Vec<Value> {
    lines(out)
        .into_iter()
        .filter(|l| l["type"] == "repository")
        .collect()
}

/// One repository with four images that share the amd64 subject: legacy-multi (amd64 + arm64),
/// legacy-v1 and legacy-v02 (amd64, other attestations), ociartifact-v1 (amd64, already an
/// artifact in the index). Seven attestations, five on one subject.
fn seed_shared(reg: &Registry, repo: &str) {
    for (f, tag) in [
        (LEGACY_MULTI, "multi"),
        (LEGACY_V1, "v1"),
        (LEGACY_V02, "v02"),
        (OCIARTIFACT_V1, "art"),
    ] {
        common::push_layout_raw(reg, &f.dir(), repo, tag);
    }
}

fn seed(reg: &Registry, f: Fixture, repo: &str, tag: &str) {
    common::push_layout_raw(reg, &f.dir(), repo, tag);
}

/// The attestation referrers oras lists for a subject (auto mode: the API where there is one,
/// else the tag schema).
fn oras_lists(reg: &Registry, repo: &str, subject: &str) -> BTreeSet<String> {
    let v = common::oras_discover(
        &reg.reference(&format!("{repo}@{subject}")),
        &["--artifact-type", ATTESTATION],
    );
    oras_referrer_digests(&v).into_iter().collect()
}

/// The image lines of `repo` (JSON lines schema 2: one line per image).
fn images_of(out: &Output, repo: &str) -> Vec<Value> {
    lines(out)
        .into_iter()
        .filter(|l| l["type"] == "image" && l["repository"] == repo)
        .collect()
}

fn artifacts_of(images: &[Value], subject: &str) -> BTreeSet<String> {
    images
        .iter()
        .flat_map(|i| i["attestations"].as_array().unwrap().iter())
        .filter(|a| a["subject"] == subject)
        .map(|a| a["artifact"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn migrate_a_registry_then_rerun_and_resume() {
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        let prefix = common::unique_repo("mig");
        let (a, b) = (format!("{prefix}/a"), format!("{prefix}/b"));
        seed_shared(&reg, &a);
        seed(&reg, LEGACY_MULTI, &b, "t1");
        seed(&reg, LEGACY_MULTI, &b, "t2"); // same image under two tags: one image
        let state_dir = tempfile::tempdir().unwrap();
        let state = state_dir.path().join("state.jsonl");
        let state = state.to_str().unwrap();
        // Pages of one: catalog and tags are read through `Link` page by page.
        let page = [("REFERRIFY_PAGE_SIZE", "1")];
        let repo_arg = format!("{prefix}/");
        let args = [
            "migrate", &reg.addr, "--repo", &repo_arg, "--state", state, "--format", "json",
        ];
        let out = referrify_env(&page, &args);
        assert_eq!(code(&out), 0, "{kind:?}: {}", explain(&out));
        let s = summary(&out);
        assert_eq!(
            (
                s["repositories"].as_u64(),
                s["images"].as_u64(),
                s["attestations"].as_u64()
            ),
            (Some(2), Some(5), Some(7)),
            "{kind:?}: {s}"
        );
        // With the API, pushing the ociartifact image listed its artifact already.
        let already = u64::from(kind.has_referrers_api());
        assert_eq!(
            (
                s["converted"].as_u64(),
                s["alreadyDone"].as_u64(),
                s["failed"].as_u64()
            ),
            (Some(7 - already), Some(already), Some(0)),
            "{s}"
        );
        let repos = repositories(&out);
        let line_a = repos
            .iter()
            .find(|r| r["repository"] == a.as_str())
            .unwrap();
        let line_b = repos
            .iter()
            .find(|r| r["repository"] == b.as_str())
            .unwrap();
        assert_eq!(line_b["images"], 1, "two tags, one image: {line_b}");
        assert_eq!(line_a["images"], 4, "{line_a}");
        let (images_a, images_b) = (images_of(&out, &a), images_of(&out, &b));
        assert_eq!(images_b.len(), 1, "two tags, one image line");
        // oras sees exactly what referrify reports, for the shared subject too.
        let amd64 = artifacts_of(&images_a, AMD64);
        assert_eq!(amd64.len(), 4, "{images_a:?}");
        assert_eq!(oras_lists(&reg, &a, AMD64), amd64, "{kind:?}");
        assert_eq!(oras_lists(&reg, &a, ARM64), artifacts_of(&images_a, ARM64));
        assert_eq!(oras_lists(&reg, &b, AMD64), artifacts_of(&images_b, AMD64));
        if !kind.has_referrers_api() {
            // One tag write per subject although four images share it: no duplicate entries.
            let tag = format!("sha256-{}", &AMD64[7..]);
            let idx = common::http_get_json(
                &reg,
                &format!("/v2/{a}/manifests/{tag}"),
                "application/vnd.oci.image.index.v1+json",
            );
            let listed: Vec<&str> = idx["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["digest"].as_str().unwrap())
                .collect();
            assert_eq!(listed.len(), 4, "{idx}");
            assert_eq!(listed.iter().collect::<BTreeSet<_>>().len(), 4);
        }
        let clean = common::snapshot(&reg, &prefix);

        // A rerun without the state reads, finds everything done, and writes nothing.
        reg.clear_requests();
        let out = referrify_env(
            &[],
            &[
                "migrate", &reg.addr, "--repo", &repo_arg, "--format", "json",
            ],
        );
        assert_eq!(code(&out), 0, "{}", explain(&out));
        let s = summary(&out);
        assert_eq!(
            (s["converted"].as_u64(), s["alreadyDone"].as_u64()),
            (Some(0), Some(7)),
            "{s}"
        );
        assert!(
            reg.write_requests().is_empty(),
            "{:#?}",
            reg.write_requests()
        );
        // The referrers tags are not taken for images.
        assert_eq!(s["images"].as_u64(), Some(5), "{s}");

        // With the state, the finished repositories are skipped: only the catalog is read.
        reg.clear_requests();
        let out = referrify_env(&[], &args);
        assert_eq!(code(&out), 0, "{}", explain(&out));
        let s = summary(&out);
        assert_eq!(s["resumedRepositories"].as_u64(), Some(2), "{s}");
        let seen = reg.requests();
        assert!(seen.iter().all(|r| r.path() == "/v2/_catalog"), "{seen:#?}");
        assert_eq!(common::snapshot(&reg, &prefix), clean);
    }
}

#[test]
fn dry_run_plans_per_repository_and_writes_nothing() {
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        let prefix = common::unique_repo("dry");
        seed_shared(&reg, &format!("{prefix}/a"));
        seed(&reg, LEGACY_V1, &format!("{prefix}/b"), "1");
        let repo_arg = format!("{prefix}/");
        reg.clear_requests();
        let out = referrify_env(
            &[],
            &[
                "migrate",
                &reg.addr,
                "--repo",
                &repo_arg,
                "--dry-run",
                "--format",
                "json",
            ],
        );
        assert_eq!(code(&out), 0, "{}", explain(&out));
        assert!(
            reg.write_requests().is_empty(),
            "{:#?}",
            reg.write_requests()
        );
        let planned = summary(&out);
        assert_eq!(planned["dryRun"], true);
        let total =
            |v: &Value| v["converted"].as_u64().unwrap() + v["alreadyDone"].as_u64().unwrap();
        assert_eq!(total(&planned), 6, "{planned}");
        // With the API the ociartifact image's artifact is listed already (its push listed it).
        let already = u64::from(kind.has_referrers_api());
        assert_eq!(planned["alreadyDone"].as_u64(), Some(already), "{planned}");
        // The ociartifact image's attestation is an artifact already: listed, not created.
        let tags_planned = planned["tagsCreated"].as_u64().unwrap();
        for r in repositories(&out) {
            assert_eq!(r["status"], "planned", "{r}");
        }
        let text = referrify_env(
            &[],
            &["migrate", &reg.addr, "--repo", &repo_arg, "--dry-run"],
        );
        let t = String::from_utf8_lossy(&text.stdout);
        assert!(
            t.contains("TO-CONVERT") && t.contains("dry run: nothing written"),
            "{t}"
        );
        assert!(t.contains(&format!("{prefix}/a")), "{t}");

        let out = referrify_env(
            &[],
            &[
                "migrate", &reg.addr, "--repo", &repo_arg, "--format", "json",
            ],
        );
        assert_eq!(code(&out), 0, "{}", explain(&out));
        let done = summary(&out);
        // The plan was what the run did.
        assert_eq!(done["converted"], planned["converted"], "{done}");
        assert_eq!(total(&done), 6);
        assert_eq!(done["tagsCreated"], tags_planned, "{done}");
        if kind.has_referrers_api() {
            assert_eq!(tags_planned, 0, "no referrers tags where the API exists");
        } else {
            assert_eq!(tags_planned, 3, "amd64 and arm64 in a, amd64 in b");
        }
    }
}

/// The requests of a migration, counted at the registry: one Referrers API probe and one `{}`
/// blob step per repository, nothing read twice, no HEAD of artifacts (README "Request counts").
#[test]
fn requests_are_shared_per_repository() {
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        let prefix = common::unique_repo("req");
        let names: Vec<String> = (0..3).map(|i| format!("{prefix}/r{i}")).collect();
        for n in &names {
            seed(&reg, LEGACY_MULTI, n, "multi");
            seed(&reg, LEGACY_V1, n, "v1");
        }
        let repo_arg = format!("{prefix}/");
        reg.clear_requests();
        let out = referrify_env(
            &[],
            &[
                "migrate", &reg.addr, "--repo", &repo_arg, "--format", "json",
            ],
        );
        assert_eq!(code(&out), 0, "{}", explain(&out));
        let seen = reg.requests();
        let s = summary(&out);
        assert_eq!(
            s["requests"].as_u64(),
            Some(seen.len() as u64),
            "the summary counts what the registry saw"
        );
        assert_eq!(s["converted"].as_u64(), Some(9));
        let lines: Vec<String> = seen
            .iter()
            .map(|r| format!("{} {}", r.method, r.path()))
            .collect();
        for n in &names {
            let count = |p: &str| {
                lines
                    .iter()
                    .filter(|l| l.starts_with(&format!("{p} /v2/{n}/")))
                    .count()
            };
            let of = |m: &str, what: &str| {
                lines
                    .iter()
                    .filter(|l| l.starts_with(&format!("{m} /v2/{n}/{what}")))
                    .count()
            };
            assert_eq!(of("GET", "tags/list"), 1, "{n}: {lines:#?}");
            assert_eq!(of("GET", "manifests/multi") + of("GET", "manifests/v1"), 2);
            // Three legacy manifests (two in multi, one in v1), each read once.
            assert_eq!(of("GET", "manifests/sha256:"), 3, "{n}: {lines:#?}");
            assert_eq!(
                count("HEAD") - of("HEAD", "blobs/"),
                0,
                "no manifest HEADs: {lines:#?}"
            );
            // The {} blob: at most one HEAD, and at most one upload (POST + PUT) or mount (POST).
            assert!(of("HEAD", "blobs/") <= 1, "{n}: {lines:#?}");
            assert!(of("POST", "blobs/uploads/") <= 1, "{n}: {lines:#?}");
            // Three artifacts pushed, once each.
            assert_eq!(of("PUT", "manifests/sha256:"), 3, "{n}: {lines:#?}");
            if kind.has_referrers_api() {
                // Both subjects listed before the writes (the probe first) and once after.
                assert_eq!(of("GET", "referrers/"), 4, "{n}: {lines:#?}");
                assert_eq!(of("PUT", "manifests/sha256-"), 0);
            } else {
                // The probe, then per subject: tag read, tag read again right before the write,
                // tag write (amd64 gets two entries in one write), tag read-back.
                assert_eq!(of("GET", "referrers/"), 1, "{n}: {lines:#?}");
                assert_eq!(of("GET", "manifests/sha256-"), 6, "{n}: {lines:#?}");
                assert_eq!(of("PUT", "manifests/sha256-"), 2, "{n}: {lines:#?}");
            }
        }
        // After the first repository uploaded {}, the others mount it (distribution) or find it
        // (ferro serves {} built in): no second upload of the same bytes.
        let uploads = lines
            .iter()
            .filter(|l| l.starts_with("PUT ") && l.contains("/blobs/uploads/"))
            .count();
        assert!(uploads <= 1, "{lines:#?}");
        assert_eq!(lines.iter().filter(|l| *l == "GET /v2/_catalog").count(), 1);
    }
}

#[test]
fn a_killed_migration_resumes_to_the_state_of_a_clean_run() {
    let killed = Registry::distribution();
    let clean = Registry::distribution();
    let prefix = "kill";
    let repos: Vec<String> = (0..16).map(|i| format!("{prefix}/r{i:02}")).collect();
    for reg in [&killed, &clean] {
        common::seed_many(reg, LEGACY_MULTI, &repos, "multi");
        common::seed_many(reg, LEGACY_V1, &repos, "v1");
    }
    let out = referrify_env(
        &[],
        &["migrate", &clean.addr, "-j", "1", "--format", "json"],
    );
    assert_eq!(code(&out), 0, "{}", explain(&out));

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.jsonl");
    let empty = tempfile::tempdir().unwrap();
    // Kill -9 while the 21st referrers tag write waits for its answer: some repositories are
    // recorded by then, others are in flight (16 repositories, 32 tags).
    let proxy = FaultProxy::start(
        &killed,
        vec![rule("PUT *manifests/sha256-", 1, Fault::Hold).after(20)],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_referrify"))
        .args([
            "migrate",
            &proxy.addr,
            "-j",
            "1",
            "--format",
            "json",
            "--state",
        ])
        .arg(&state)
        .env("DOCKER_CONFIG", empty.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..6000 {
        if proxy.held() > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(proxy.held(), 1, "the run reached the 21st tag write");
    child.kill().unwrap();
    let _ = child.wait();
    proxy.release();
    let recorded = std::fs::read_to_string(&state).unwrap();
    let complete = recorded
        .lines()
        .filter(|l| l.contains("\"complete\""))
        .count();
    assert!(
        complete < 16,
        "killed part-way ({complete} repositories recorded)"
    );
    assert_ne!(
        common::snapshot(&killed, prefix),
        common::snapshot(&clean, prefix),
        "stopped part-way"
    );

    let out = referrify_env(
        &[],
        &[
            "migrate",
            &proxy.addr,
            "--format",
            "json",
            "--state",
            state.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let s = summary(&out);
    assert_eq!(
        s["resumedRepositories"].as_u64(),
        Some(complete as u64),
        "{s}"
    );
    assert_eq!(
        common::snapshot(&killed, prefix),
        common::snapshot(&clean, prefix)
    );
}

#[test]
fn shards_split_the_repositories_and_together_cover_the_registry() {
    let reg = Registry::ferro();
    let prefix = common::unique_repo("shard");
    let names: BTreeSet<String> = (0..9).map(|i| format!("{prefix}/r{i}")).collect();
    for n in &names {
        seed(&reg, LEGACY_V1, n, "1");
    }
    let repo_arg = format!("{prefix}/");
    let out = referrify_env(
        &[],
        &["check", &reg.addr, "--repo", &repo_arg, "--format", "json"],
    );
    assert_eq!(code(&out), 3, "gaps before: {}", explain(&out));
    let mut taken: Vec<String> = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let out = referrify_env(
            &[],
            &[
                "migrate", &reg.addr, "--repo", &repo_arg, "--shard", &shard, "--format", "json",
            ],
        );
        assert_eq!(code(&out), 0, "{}", explain(&out));
        assert_eq!(summary(&out)["shard"], shard.as_str());
        taken.extend(
            repositories(&out)
                .iter()
                .map(|r| r["repository"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(
        taken.len(),
        names.len(),
        "each repository in exactly one shard: {taken:?}"
    );
    assert_eq!(taken.into_iter().collect::<BTreeSet<_>>(), names);
    let out = referrify_env(
        &[],
        &["check", &reg.addr, "--repo", &repo_arg, "--format", "json"],
    );
    assert_eq!(code(&out), 0, "covered after: {}", explain(&out));
    let bad = referrify_env(&[], &["migrate", &reg.addr, "--shard", "0/3"]);
    assert_eq!(code(&bad), 2, "{}", explain(&bad));
}

#[test]
fn check_a_registry_reports_each_state_and_its_fix() {
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        let prefix = common::unique_repo("cov");
        let a = format!("{prefix}/a");
        seed_shared(&reg, &a);
        let repo_arg = format!("{prefix}/");
        let out = referrify_env(
            &[],
            &["check", &reg.addr, "--repo", &repo_arg, "--format", "json"],
        );
        assert_eq!(code(&out), 3, "{}", explain(&out));
        let all = lines(&out);
        let v = all.last().unwrap().clone();
        assert_eq!(v["type"], "summary");
        let states = &v["states"];
        let images: Vec<&Value> = all.iter().filter(|l| l["type"] == "image").collect();
        assert_eq!(images.len(), 4);
        if kind.has_referrers_api() {
            // Pushing the ociartifact image listed its artifact for amd64 (the API indexes every
            // manifest with a subject), and amd64 is the subject of every image here: only
            // arm64 has a gap.
            assert_eq!(states["discoverable-api"].as_u64(), Some(4), "{v:#}");
            assert_eq!(states["legacy-only"].as_u64(), Some(1), "{v:#}");
        } else {
            // multi: 2 legacy platforms; v1, v02: 1 each; art: an artifact in the index, not listed.
            assert_eq!(states["legacy-only"].as_u64(), Some(4), "{v:#}");
            assert_eq!(states["not-discoverable"].as_u64(), Some(1), "{v:#}");
        }
        let mut fixes = 0;
        for i in &images {
            for p in i["platforms"].as_array().unwrap() {
                if p["covered"] == true {
                    assert!(p.get("fix").is_none(), "{p}");
                    continue;
                }
                fixes += 1;
                assert_eq!(
                    p["fix"].as_str().unwrap(),
                    format!(
                        "referrify convert {}/{a}@{}",
                        reg.addr,
                        i["digest"].as_str().unwrap()
                    )
                );
            }
        }
        assert_eq!(fixes, v["uncovered"].as_u64().unwrap());
        // The printed fix works.
        let fix = images
            .iter()
            .flat_map(|i| i["platforms"].as_array().unwrap())
            .find_map(|p| p["fix"].as_str())
            .unwrap();
        let argv: Vec<&str> = fix.split(' ').skip(1).collect();
        let out = referrify_env(&[], &argv);
        assert_eq!(code(&out), 0, "{}", explain(&out));

        referrify_env(&[], &["migrate", &reg.addr, "--repo", &repo_arg]);
        let html = tempfile::NamedTempFile::new().unwrap();
        reg.clear_requests();
        let out = referrify_env(
            &[],
            &[
                "check",
                &reg.addr,
                "--repo",
                &repo_arg,
                "--format",
                "json",
                "--html",
                html.path().to_str().unwrap(),
            ],
        );
        assert_eq!(code(&out), 0, "{}", explain(&out));
        let v = lines(&out).last().unwrap().clone();
        let want = if kind.has_referrers_api() {
            "discoverable-api"
        } else {
            "discoverable-tag"
        };
        assert_eq!(v["states"][want].as_u64(), Some(5), "{v:#}");
        assert!(v["requests"].as_u64().unwrap() as usize == reg.requests().len());
        // Per checked platform: catalog, tags list, one index read per tag, one listing per
        // platform manifest (amd64 is listed once for the four images that share it: five
        // platforms, two subjects), and without the API one probe; nothing else when covered.
        let seen = reg.requests();
        assert!(seen.iter().all(|r| r.method == "GET"), "{seen:#?}");
        let listings = seen
            .iter()
            .filter(|r| r.path().contains("/referrers/") || r.path().contains("/manifests/sha256-"))
            .count();
        // Issue 14: the four image indexes are listed too (signatures often sit there), and
        // each distinct attestation manifest (five) is read once for its predicate types.
        let expected_listings = if kind.has_referrers_api() { 2 } else { 1 + 2 } + 4;
        assert_eq!(listings, expected_listings, "{seen:#?}");
        assert_eq!(seen.len(), 1 + 1 + 4 + expected_listings + 5, "{seen:#?}");
        let page = std::fs::read_to_string(html.path()).unwrap();
        assert!(
            page.contains(&a) && page.contains("discoverable"),
            "the page names the repository"
        );
        let _ = Path::new(html.path());
    }
}

/// On a terminal, migrate shows bars for repositories, images and attestations; never with -q,
/// JSON, or when stderr is not a terminal.
#[test]
fn walk_progress_bars_only_on_a_terminal() {
    let reg = Registry::distribution();
    let prefix = common::unique_repo("bars");
    let repos: Vec<String> = (0..6).map(|i| format!("{prefix}/r{i}")).collect();
    common::seed_many(&reg, LEGACY_MULTI, &repos, "multi");
    let bin = env!("CARGO_BIN_EXE_referrify");
    let in_pty = |args: &str| {
        // A slow registry would be needed to see a bar mid-run; a dry run with -j 1 redraws often
        // enough, and indicatif draws the bars at least once.
        let cmd = format!("{bin} {args} >/dev/null");
        let o = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("DOCKER_CONFIG", "/nonexistent")
            .output()
            .expect("script (util-linux)");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let base = format!("migrate {} --repo {prefix}/ --dry-run -j 1", reg.addr);
    let shown = in_pty(&base);
    for unit in ["repositories", "images", "attestations"] {
        assert!(
            shown.contains(unit),
            "{unit} bar expected on a terminal: {shown:?}"
        );
    }
    assert!(shown.contains("ETA"), "{shown:?}");
    assert!(!in_pty(&format!("{base} -q")).contains("repositories"));
    assert!(!in_pty(&format!("{base} --format json")).contains("repositories"));
    let piped = referrify_env(&[], &base.split(' ').collect::<Vec<_>>());
    assert!(
        String::from_utf8_lossy(&piped.stderr).is_empty(),
        "{}",
        explain(&piped)
    );
}

/// One broken image does not stop a migration: it is reported with its repository, digest and
/// what is wrong, the other repositories are converted, the exit code is 1, and the state file
/// does not record the broken image, so a rerun tries it again.
#[test]
fn a_broken_image_fails_alone() {
    let reg = Registry::distribution();
    let prefix = common::unique_repo("broken");
    let (good, bad) = (format!("{prefix}/good"), format!("{prefix}/bad"));
    seed(&reg, LEGACY_MULTI, &good, "multi");
    seed(&reg, LEGACY_V1, &bad, "1");
    // Point the attestation entry at a platform manifest the index does not hold.
    let dir = LEGACY_V1.dir();
    let index = String::from_utf8(common::layout_blob(&dir, LEGACY_V1.index)).unwrap();
    let missing = format!("sha256:{}", "0".repeat(64));
    let broken = index.replacen(
        &format!("\"vnd.docker.reference.digest\": \"{AMD64}\""),
        &format!("\"vnd.docker.reference.digest\": \"{missing}\""),
        1,
    );
    assert_ne!(broken, index, "the fixture names its subject");
    let (st, h, _) = common::http_request(
        &reg.backend_addr,
        "PUT",
        &format!("/v2/{bad}/manifests/1"),
        &[("content-type", "application/vnd.oci.image.index.v1+json")],
        broken.as_bytes(),
    );
    assert_eq!(st, 201);
    let bad_digest = h
        .get("docker-content-digest")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let state = tempfile::tempdir().unwrap();
    let state = state.path().join("s.jsonl");
    let repo_arg = format!("{prefix}/");
    let out = referrify_env(
        &[],
        &[
            "migrate",
            &reg.addr,
            "--repo",
            &repo_arg,
            "--format",
            "json",
            "--state",
            state.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let repos = repositories(&out);
    let g = repos
        .iter()
        .find(|r| r["repository"] == good.as_str())
        .unwrap();
    assert_eq!(g["status"], "done", "{g}");
    let b = repos
        .iter()
        .find(|r| r["repository"] == bad.as_str())
        .unwrap();
    assert_eq!(b["status"], "failed", "{b}");
    let bad_images = images_of(&out, &bad);
    let img = &bad_images[0];
    assert_eq!(img["digest"], bad_digest.as_str());
    let problem = img["problems"][0]["message"].as_str().unwrap();
    assert!(problem.contains(&missing), "names what is wrong: {problem}");
    // stderr names the repository, the image and the problem too.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&bad) && err.contains(&missing[..19]), "{err}");
    let recorded = std::fs::read_to_string(&state).unwrap();
    assert!(
        recorded.contains(&good) && !recorded.contains(&bad_digest),
        "{recorded}"
    );
    assert_eq!(summary(&out)["failedRepositories"].as_u64(), Some(1));
}

/// Ctrl-C (SIGINT) part-way: no new repository is started, the ones in flight finish their
/// writes, every repository reported is recorded complete in the state file, the summary is
/// printed, and the exit code is 130. A rerun with the state file finishes the rest and ends
/// where a clean run ends.
#[test]
fn an_interrupted_migration_stops_at_a_safe_point_and_resumes() {
    let reg = Registry::distribution();
    let clean = Registry::distribution();
    let prefix = "sigint";
    let repos: Vec<String> = (0..24).map(|i| format!("{prefix}/r{i:02}")).collect();
    for r in [&reg, &clean] {
        common::seed_many(r, LEGACY_MULTI, &repos, "multi");
    }
    let out = referrify_env(&[], &["migrate", &clean.addr, "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    reg.set_delay(20);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.jsonl");
    let empty = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_referrify"))
        .args([
            "migrate", &reg.addr, "-j", "1", "--format", "json", "--state",
        ])
        .arg(&state)
        .env("DOCKER_CONFIG", empty.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first line means a batch is done: interrupt then.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    reg.set_delay(0);
    assert_eq!(status.code(), Some(130), "{first}{rest}");
    let lines: Vec<Value> = format!("{first}{rest}")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (last, done) = lines.split_last().unwrap();
    assert_eq!(last["type"], "summary", "the summary is printed: {last}");
    // Image lines are printed as their batches finish; a repository line when it is done.
    let reported: BTreeSet<String> = done
        .iter()
        .filter(|r| r["type"] == "repository")
        .map(|r| {
            assert_eq!(r["status"], "done", "{r}");
            r["repository"].as_str().unwrap().to_string()
        })
        .collect();
    let recorded: BTreeSet<String> = std::fs::read_to_string(&state)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["complete"] == true)
        .map(|v| v["repository"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        reported, recorded,
        "every repository reported is recorded complete"
    );

    let out = referrify_env(
        &[],
        &[
            "migrate",
            &reg.addr,
            "--format",
            "json",
            "--state",
            state.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert_eq!(
        summary(&out)["resumedRepositories"].as_u64(),
        Some(recorded.len() as u64)
    );
    assert_eq!(
        common::snapshot(&reg, prefix),
        common::snapshot(&clean, prefix)
    );
}
