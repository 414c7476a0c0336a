//! Kill -9 of `referrify migrate` over a seeded real registry (docker-registry 2.8.2) at chosen
//! points of its work: a proxy in front of the registry holds the k-th request of a kind (an
//! artifact push, a referrers tag write, a tag read-back, a blob upload, a tag listing...), so
//! the process is certainly in the middle of that step when it is killed. Each rerun with the
//! same `--state` must end in exactly the registry state one clean run produces: every tag
//! (referrers tags included) pointing to the same digest. Prints the trial table
//! (`cargo nextest run --test kill --no-capture`).

mod common;

use common::cli::{code, explain};
use common::fault_proxy::{rule, Fault, FaultProxy};
use common::fixtures::{LEGACY_MULTI, LEGACY_V1};
use common::Registry;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

const REPOS: usize = 6;

/// Where a trial kills: the `k`-th request (from 0) matching the pattern is held, then the
/// process is killed while it waits for the answer; `-j` varies the concurrency around it.
const POINTS: &[(&str, usize, usize)] = &[
    ("GET *tags/list", 2, 1),
    ("GET *manifests/sha256:", 5, 4),
    ("POST *blobs/uploads", 0, 1),
    ("POST *blobs/uploads", 2, 8),
    ("PUT *manifests/sha256:", 0, 1),
    ("PUT *manifests/sha256:", 7, 2),
    ("PUT *manifests/sha256:", 15, 8),
    ("GET *manifests/sha256-", 3, 1),
    ("PUT *manifests/sha256-", 0, 1),
    ("PUT *manifests/sha256-", 4, 4),
    ("PUT *manifests/sha256-", 9, 2),
    ("GET *manifests/sha256-", 14, 8),
    // Late, during the read-backs: some repositories are recorded done by then.
    ("GET *manifests/sha256-", 33, 1),
    ("GET *manifests/sha256-", 35, 4),
];

/// The snapshot of `prefix/…` with the prefix taken out, so trials compare with the clean run.
fn normalized(reg: &Registry, prefix: &str) -> BTreeMap<String, String> {
    common::snapshot(reg, &format!("{prefix}/"))
        .into_iter()
        .map(|(k, v)| (k.trim_start_matches(prefix).to_string(), v))
        .collect()
}

fn seed(reg: &Registry, prefix: &str) {
    let repos: Vec<String> = (0..REPOS).map(|i| format!("{prefix}/r{i}")).collect();
    common::seed_many(reg, LEGACY_MULTI, &repos, "multi");
    common::seed_many(reg, LEGACY_V1, &repos, "v1");
}

#[test]
fn kill_9_at_chosen_points_then_resume_equals_a_clean_run() {
    let reg = Registry::distribution();
    seed(&reg, "clean");
    let out = common::cli::referrify(&["migrate", &reg.addr, "--repo", "clean/", "-q"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let clean = normalized(&reg, "clean");
    assert_eq!(
        clean.len(),
        REPOS * 4,
        "2 image tags + 2 referrers tags per repository"
    );

    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for (trial, (pattern, k, jobs)) in POINTS.iter().enumerate() {
        let prefix = format!("t{trial:02}");
        seed(&reg, &prefix);
        let state = dir.path().join(format!("{prefix}.jsonl"));
        let proxy = FaultProxy::start(&reg, vec![rule(pattern, 1, Fault::Hold).after(*k)]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_referrify"))
            .args([
                "migrate",
                &proxy.addr,
                "--repo",
                &format!("{prefix}/"),
                "-q",
            ])
            .args(["-j", &jobs.to_string(), "--state"])
            .arg(&state)
            .env("DOCKER_CONFIG", empty.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait (bounded) until the chosen request is held: the run is then mid-step.
        assert_eq!(
            proxy.wait_held(&mut child),
            1,
            "trial {trial}: the run never reached request {k} of {pattern}: {:#?}",
            proxy.log()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "trial {trial}: still running"
        );
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        proxy.release();
        let recorded = std::fs::read_to_string(&state).unwrap_or_default();
        let complete = recorded
            .lines()
            .filter(|l| l.contains("\"complete\""))
            .count();
        let at_kill = normalized(&reg, &prefix);
        let tags_at_kill = at_kill.keys().filter(|k| k.contains(":sha256-")).count();
        // Resumed through the same address (the state file names it); the proxy now forwards all.
        let out = common::cli::referrify(&[
            "migrate",
            &proxy.addr,
            "--repo",
            &format!("{prefix}/"),
            "--format",
            "json",
            "--state",
            state.to_str().unwrap(),
        ]);
        assert_eq!(code(&out), 0, "trial {trial}: {}", explain(&out));
        let after = normalized(&reg, &prefix);
        let equal = after == clean;
        rows.push(format!(
            "| {trial:>2} | {pattern} #{k} | {jobs:>2} | {complete}/{REPOS} | {tags_at_kill:>2}/{} | {} |",
            REPOS * 2,
            if equal { "equal" } else { "DIFFERENT" },
        ));
        assert!(
            equal,
            "trial {trial}: the resumed registry differs from a clean run\n{after:#?}\nvs\n{clean:#?}"
        );
    }
    eprintln!("| trial | killed while waiting for | -j | repos recorded | referrers tags at kill | after resume |");
    eprintln!("|---|---|---|---|---|---|");
    for r in &rows {
        eprintln!("{r}");
    }
}
