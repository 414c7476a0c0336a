//! OCI layouts that may be hostile: a FIFO planted as `index.json` or as a blob is refused, not
//! waited on; a layout whose `blobs/sha256` is a symlink out of it is refused before anything
//! is written; content under an algorithm nobody can check is refused; an artifact overwritten
//! after it was converted is not taken for discoverable; an attestation manifest that cannot be
//! read is a gap with its reason, not "no attestation"; and `index.json` has one writer at a
//! time.

mod common;

use common::cli::{code, explain, json};
use common::fixtures::LEGACY_MULTI;
use common::temp_layout;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_referrify")
}

/// Runs referrify; a run still going after a minute has hung (a FIFO waited on): it is killed
/// and the test fails. This is a liveness guard, not a speed bound.
fn referrify_or_hang(args: &[&str]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("referrify {args:?} hung (still running after a minute)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The run's output (stdout and stderr) says `what`.
fn says(out: &Output, what: &str) {
    assert!(
        explain(out).contains(what),
        "expected {what:?} in: {}",
        explain(out)
    );
}

fn mkfifo(p: &Path) {
    let _ = std::fs::remove_file(p);
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success());
}

fn blob(dir: &Path, digest: &str) -> std::path::PathBuf {
    dir.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn layout_ref(dir: &Path) -> String {
    format!("oci-layout://{}:multi", dir.display())
}

#[test]
fn a_fifo_as_index_json_or_as_a_blob_is_refused_not_waited_on() {
    let (_t, dir) = temp_layout("buildkit-v0.32.2/legacy-multi");
    mkfifo(&dir.join("index.json"));
    let out = referrify_or_hang(&["check", &layout_ref(&dir)]);
    assert_ne!(code(&out), 0, "{}", explain(&out));
    says(&out, "not a regular file");

    let (_t, dir) = temp_layout("buildkit-v0.32.2/legacy-multi");
    let (_, att, _) = LEGACY_MULTI.attestations[0];
    mkfifo(&blob(&dir, att));
    let out = referrify_or_hang(&["check", "--format", "json", &layout_ref(&dir)]);
    assert_ne!(code(&out), 0, "{}", explain(&out));
    says(&out, "not a regular file");
}

/// An attestation manifest that cannot be read leaves its platform `listing-failed` with the
/// reason: before, the entry was dropped and the platform called `no-attestation`.
#[test]
fn an_unreadable_attestation_is_a_gap_with_its_reason() {
    let (_t, dir) = temp_layout("buildkit-v0.32.2/legacy-multi");
    let (subject, att, _) = LEGACY_MULTI.attestations[0];
    std::fs::write(blob(&dir, att), b"{\"not\":\"the manifest\"}").unwrap();
    let out = referrify_or_hang(&["check", "--format", "json", &layout_ref(&dir)]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let v = json(&out);
    let p = v["images"][0]["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["digest"] == subject)
        .unwrap()
        .clone();
    assert_eq!(p["state"], "listing-failed", "{p}");
    assert_eq!(p["attestation"], "legacy", "{p}");
    assert!(
        p["reasons"].to_string().contains("does not match digest"),
        "{p}"
    );
}

#[test]
fn a_layout_whose_blobs_lead_out_of_it_is_refused_before_any_write() {
    let (_t, dir) = temp_layout("buildkit-v0.32.2/legacy-multi");
    let outside = tempfile::tempdir().unwrap();
    let elsewhere = outside.path().join("sha256");
    std::fs::rename(dir.join("blobs/sha256"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.join("blobs/sha256")).unwrap();
    let before: Vec<_> = std::fs::read_dir(&elsewhere)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let out = referrify_or_hang(&["convert", &layout_ref(&dir)]);
    assert_ne!(code(&out), 0, "{}", explain(&out));
    says(&out, "symlink out of the layout");
    let after: Vec<_> = std::fs::read_dir(&elsewhere)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        before.len(),
        after.len(),
        "nothing written through the symlink"
    );
}

#[test]
fn content_under_an_algorithm_nobody_can_check_is_refused() {
    let (_t, dir) = temp_layout("buildkit-v0.32.2/legacy-multi");
    let index = std::fs::read_to_string(dir.join("index.json")).unwrap();
    let hex = LEGACY_MULTI.index.trim_start_matches("sha256:");
    let md5 = "md5:0123456789abcdef0123456789abcdef";
    std::fs::create_dir_all(dir.join("blobs/md5")).unwrap();
    std::fs::copy(
        blob(&dir, LEGACY_MULTI.index),
        dir.join("blobs/md5/0123456789abcdef0123456789abcdef"),
    )
    .unwrap();
    std::fs::write(
        dir.join("index.json"),
        index.replace(&format!("sha256:{hex}"), md5),
    )
    .unwrap();
    let out = referrify_or_hang(&["check", &layout_ref(&dir)]);
    assert_ne!(code(&out), 0, "{}", explain(&out));
    says(&out, "cannot be verified");
}

/// After `convert`, an artifact blob overwritten with other bytes is not a referrer any more:
/// `check` no longer calls the platform discoverable, and `convert` says what is wrong.
#[test]
fn an_artifact_overwritten_after_convert_is_not_taken_for_discoverable() {
    let (_t, dir) = temp_layout("buildkit-v0.32.2/legacy-multi");
    let out = referrify_or_hang(&["convert", "--format", "json", &layout_ref(&dir)]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let artifact = json(&out)["images"][0]["attestations"][0]["artifact"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(blob(&dir, &artifact), b"{}").unwrap();
    let out = referrify_or_hang(&["check", "--format", "json", &layout_ref(&dir)]);
    assert_ne!(code(&out), 0, "{}", explain(&out));
    let states: Vec<String> = json(&out)["images"][0]["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["state"].as_str().unwrap().to_string())
        .collect();
    assert!(
        states.iter().any(|s| s != "discoverable-layout"),
        "{states:?}"
    );
    let out = referrify_or_hang(&["convert", &layout_ref(&dir)]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    says(&out, "does not match digest");
}

/// Two runs on one layout take turns on `index.json`: a convert waits while another process
/// holds the layout's lock, then adds its entries to what that process left.
#[test]
fn index_json_has_one_writer_at_a_time() {
    let (_t, dir) = temp_layout("buildkit-v0.32.2/legacy-multi");
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(".referrify.lock"))
        .unwrap();
    lock.lock().unwrap();
    let mut child = Command::new(bin())
        .args(["convert", &layout_ref(&dir)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While the lock is held, the convert cannot finish (it would have written index.json).
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "convert wrote index.json under another writer's lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The other writer adds an entry of its own, then lets go.
    let index = std::fs::read_to_string(dir.join("index.json")).unwrap();
    let mine = r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2,"annotations":{"org.opencontainers.image.ref.name":"other-writer"}}"#;
    let changed = index.replacen("\"manifests\":[", &format!("\"manifests\":[{mine},"), 1);
    assert_ne!(changed, index, "index.json layout changed: {index}");
    std::fs::write(dir.join("index.json"), changed).unwrap();
    drop(lock);
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let after = std::fs::read_to_string(dir.join("index.json")).unwrap();
    assert!(
        after.contains("other-writer"),
        "the other writer's entry was kept: {after}"
    );
    assert_eq!(after.matches("\"artifactType\"").count(), 2, "{after}");
}
