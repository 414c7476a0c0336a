//! Running the referrify binary in tests, always with an empty docker config (never the
//! machine's own), and reading what it printed.

use super::Registry;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// Runs `referrify ARGS` with `DOCKER_CONFIG` set to `config_dir` (an empty temp dir if `None`).
pub fn referrify_with(config_dir: Option<&Path>, args: &[&str]) -> Output {
    let empty = tempfile::tempdir().unwrap();
    let dir = config_dir.unwrap_or(empty.path());
    std::process::Command::new(env!("CARGO_BIN_EXE_referrify"))
        .args(args)
        .env("DOCKER_CONFIG", dir)
        .env_remove("REFERRIFY_LOG")
        .output()
        .expect("running referrify")
}

/// Runs `referrify ARGS` with an empty docker config.
pub fn referrify(args: &[&str]) -> Output {
    referrify_with(None, args)
}

/// A docker config directory holding `reg`'s credentials (if it has some) for its proxy
/// address, as `docker login` writes them (`auths` with base64 `auth`).
pub fn docker_config(reg: &Registry) -> tempfile::TempDir {
    let entry = reg.credentials.as_ref().map(|(u, p)| {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        serde_json::json!({ "auth": auth })
    });
    docker_config_entry(reg, entry)
}

/// A docker config directory with an `identitytoken` for `reg` (what `docker login` keeps for
/// registries that hand out OAuth2 refresh tokens); referrify exchanges it with a `POST`.
pub fn docker_config_identity_token(reg: &Registry, token: &str) -> tempfile::TempDir {
    let entry = serde_json::json!({ "auth": "", "identitytoken": token });
    docker_config_entry(reg, Some(entry))
}

fn docker_config_entry(reg: &Registry, entry: Option<Value>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut auths = serde_json::Map::new();
    if let Some(e) = entry {
        auths.insert(reg.addr.clone(), e);
    }
    let config = serde_json::json!({ "auths": auths });
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    dir
}

/// Runs `referrify ARGS` with `reg`'s credentials in a docker config ([`docker_config`]):
/// anonymous where the registry needs none.
pub fn referrify_as(reg: &Registry, args: &[&str]) -> Output {
    let cfg = docker_config(reg);
    referrify_with(Some(cfg.path()), args)
}

/// stdout parsed as JSON.
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}):\n{}", explain(out)))
}

/// stdout as JSON lines (`migrate` and `check REGISTRY --format json`).
pub fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", explain(out)))
        })
        .collect()
}

/// The last JSON line, which must be the summary (`migrate` and `check REGISTRY` print JSON
/// lines: a line per image, a line per repository, then the summary).
pub fn summary_line(out: &Output) -> Value {
    let last = json_lines(out).pop().unwrap_or_default();
    assert_eq!(last["type"], "summary", "{}", explain(out));
    last
}

/// The `error` of the first image in a JSON report (panics when there is none).
pub fn first_image_error(out: &Output) -> String {
    json(out)["images"][0]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no image error:\n{}", explain(out)))
        .to_string()
}

/// The exit code (-1 for a signal).
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Exit code, stdout and stderr, for assertion messages.
pub fn explain(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The crate's root directory (where Cargo.toml is).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `out`, after asserting that `what` succeeded (the assertion shows both streams).
pub fn ok(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({})\n--- stderr ---\n{}\n--- stdout ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        stdout(&out)
    );
    out
}

/// The artifacts `convert` makes of a fixture's attestations, from a dry run on its layout.
pub fn planned_artifacts(f: super::fixtures::Fixture) -> Vec<String> {
    let out = referrify(&[
        "convert",
        "--dry-run",
        "--format",
        "json",
        &format!("oci-layout://{}@{}", f.dir().display(), f.index),
    ]);
    json(&out)["images"][0]["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["artifact"].as_str().unwrap().to_string())
        .collect()
}
