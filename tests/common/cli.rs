//! Running the referrify binary in tests, always with an empty docker config (never the
//! machine's own), and reading what it printed.

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

/// stdout parsed as JSON.
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}):\n{}", explain(out)))
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
