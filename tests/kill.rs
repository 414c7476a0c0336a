//! Kill -9 at random points of `referrify migrate` over a seeded real registry
//! (docker-registry 2.8.2), 20 trials with different seeds, kill times, request delays and
//! concurrency; each rerun with the same `--state` must end in exactly the registry state one
//! clean run produces: every tag (referrers tags included) pointing to the same digest.
//! Prints the trial table (`cargo test --test kill -- --nocapture`).

mod common;

use common::cli::{code, explain};
use common::fixtures::{LEGACY_MULTI, LEGACY_V1};
use common::Registry;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TRIALS: u64 = 20;
const REPOS: usize = 6;

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
fn kill_9_at_random_points_then_resume_equals_a_clean_run() {
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
    let mut killed_mid_run = 0;
    for trial in 0..TRIALS {
        let mut rng = fastrand::Rng::with_seed(0x5eed + trial);
        let prefix = format!("t{trial:02}");
        seed(&reg, &prefix);
        let delay = [0, 1, 3, 8][rng.usize(0..4)];
        let jobs = [1, 2, 4, 8][rng.usize(0..4)];
        let kill_after = Duration::from_millis(rng.u64(5..1500));
        let state = dir.path().join(format!("{prefix}.jsonl"));
        reg.set_delay(delay);
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_referrify"))
            .args([
                "migrate",
                &reg.addr,
                "--repo",
                &format!("{prefix}/"),
                "-q",
                "-j",
                &jobs.to_string(),
                "--state",
            ])
            .arg(&state)
            .env("DOCKER_CONFIG", empty.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(kill_after);
        let finished_first = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        killed_mid_run += usize::from(!finished_first);
        reg.set_delay(0);
        let recorded = std::fs::read_to_string(&state).unwrap_or_default();
        let complete = recorded
            .lines()
            .filter(|l| l.contains("\"complete\""))
            .count();
        let at_kill = normalized(&reg, &prefix);
        let tags_at_kill = at_kill.keys().filter(|k| k.contains(":sha256-")).count();
        let out = common::cli::referrify(&[
            "migrate",
            &reg.addr,
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
            "| {trial:>2} | {:>4} | {delay:>2} ms | {jobs:>2} | {:>5} ms | {:<9} | {complete}/{REPOS} | {tags_at_kill:>2}/{} | {} |",
            0x5eed + trial,
            kill_after.as_millis(),
            if finished_first { "finished" } else { "killed" },
            REPOS * 2,
            if equal { "equal" } else { "DIFFERENT" },
        ));
        assert!(equal, "trial {trial}: the resumed registry differs from a clean run\n{after:#?}\nvs\n{clean:#?}");
        let _ = started;
    }
    eprintln!("| trial | seed | delay | -j | kill after | run | repos recorded | referrers tags at kill | after resume |");
    eprintln!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        eprintln!("{r}");
    }
    assert!(
        killed_mid_run >= TRIALS as usize / 2,
        "most trials must kill a running migration ({killed_mid_run} of {TRIALS})"
    );
}
