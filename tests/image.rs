//! The container image, end to end: scripts/image.sh builds the static binary and the
//! FROM-scratch image (Containerfile) with Debian's buildah and pushes it to a real registry on
//! 127.0.0.1; skopeo (an independent client) reads its config back; the binary runs inside the
//! image's own file system, where there is nothing but itself and the CA bundle; and referrify
//! `check`s the pushed image, which carries no attestation, with the documented exit code 3.

mod common;

use common::cli::{code, explain, json, referrify};
use common::Registry;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn ok(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({})\n--- stderr ---\n{}\n--- stdout ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// buildah with the storage scripts/image.sh uses (target/image/).
fn buildah(args: &[&str]) -> Output {
    let work = root().join("target/image");
    let (storage, run) = (work.join("storage"), work.join("run"));
    Command::new(common::tool("buildah", "REFERRIFY_BUILDAH"))
        .arg("--root")
        .arg(storage)
        .arg("--runroot")
        .arg(run)
        .args(["--storage-driver", "vfs"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running buildah")
}

/// The pushed image's config as skopeo reads it from the registry.
fn skopeo_config(reference: &str) -> Value {
    let skopeo = common::tool("skopeo", "REFERRIFY_SKOPEO");
    let out = ok(
        "skopeo inspect --config",
        Command::new(skopeo)
            .args(["inspect", "--config", "--tls-verify=false"])
            .arg(format!("docker://{reference}"))
            .output()
            .unwrap(),
    );
    serde_json::from_slice(&out.stdout).expect("skopeo printed JSON")
}

#[test]
fn image_is_static_on_scratch_and_check_reports_it_without_attestations() {
    common::tool("buildah", "REFERRIFY_BUILDAH"); // a clear panic first when it is missing
    let reg = Registry::distribution();
    let reference = reg.reference("tools/referrify:test");
    let out = ok(
        "scripts/image.sh",
        Command::new("bash")
            .arg(root().join("scripts/image.sh"))
            .arg(&reference)
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    );
    let digest = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(digest.starts_with("sha256:"), "image.sh printed {digest:?}");

    // What the Containerfile promises, read back by another client.
    let config = skopeo_config(&reference);
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532", "non-root user: {config}");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/referrify"]));
    assert_eq!(
        c["Labels"]["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    let layers = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(
        layers.len(),
        2,
        "scratch + the binary + the CA bundle: {config}"
    );

    // The binary runs in the image's own root (no libc, no loader there): pulled from the
    // registry, it checks itself over the loopback network.
    let ctr = ok(
        "buildah from",
        buildah(&["from", "--quiet", "--tls-verify=false", &reference]),
    );
    let ctr = String::from_utf8_lossy(&ctr.stdout).trim().to_string();
    let inside = buildah(&[
        "run",
        "--isolation",
        "chroot",
        &ctr,
        "--",
        "/referrify",
        "check",
        "--format",
        "json",
        &reference,
    ]);
    let _ = buildah(&["rm", &ctr]);
    assert_eq!(
        inside.status.code(),
        Some(1), // buildah run reports a non-zero exit of the command as 1
        "the image's referrify check: {}",
        String::from_utf8_lossy(&inside.stderr)
    );
    let from_inside: Value = serde_json::from_slice(&inside.stdout).unwrap_or_else(|e| {
        panic!(
            "the image's referrify printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&inside.stdout),
            String::from_utf8_lossy(&inside.stderr)
        )
    });

    // The same check from the test's own binary: exit 3, the pushed digest, no attestation.
    let out = referrify(&["check", "--format", "json", &reference]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    let report = json(&out);
    assert_eq!(report, from_inside, "the image's binary reports the same");
    let text = report.to_string();
    assert!(text.contains(&digest), "report names {digest}: {report}");
}
