//! The container image, end to end: scripts/image.sh builds the static binary and the
//! FROM-scratch image (Containerfile) with Debian's buildah and pushes it to a real registry on
//! 127.0.0.1; skopeo (an independent client) reads its config back; the binary runs inside the
//! image's own file system, where there is nothing but itself and the CA bundle; and referrify
//! `check`s the pushed image, which carries no attestation, with the documented exit code 3.

mod common;

use common::cli::{ok, root};

use common::cli::{code, explain, json, referrify};
use common::Registry;
use serde_json::Value;
use std::process::{Command, Output, Stdio};

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

/// The paths in the image's layers, read with skopeo into an OCI layout and listed with tar.
fn layer_files(reference: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let skopeo = common::tool("skopeo", "REFERRIFY_SKOPEO");
    ok(
        "skopeo copy",
        Command::new(skopeo)
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{reference}"))
            .arg(format!("oci:{}:image", layout.display()))
            .output()
            .unwrap(),
    );
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest: Value = serde_json::from_slice(&common::layout_blob(
        &layout,
        index["manifests"][0]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    let mut files = Vec::new();
    for layer in manifest["layers"].as_array().unwrap() {
        let hex = layer["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        let blob = layout.join("blobs/sha256").join(hex);
        let out = ok(
            "tar -t",
            Command::new("tar").arg("-tzf").arg(&blob).output().unwrap(),
        );
        files.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| l.trim_start_matches("./").to_string())
                .filter(|l| !l.is_empty()),
        );
    }
    files.sort();
    files
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
            // unoptimised: the same static linking in less build time (releases use release)
            .env(
                "REFERRIFY_STATIC_PROFILE",
                std::env::var("REFERRIFY_STATIC_PROFILE").unwrap_or_else(|_| "dev".into()),
            )
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
    assert_eq!(
        layer_files(&reference),
        [
            "etc/",
            "etc/ssl/",
            "etc/ssl/certs/",
            "etc/ssl/certs/ca-certificates.crt",
            "referrify"
        ],
        "the image holds the binary and the CA bundle, nothing else"
    );

    // The binary runs in the image's own root (no libc, no loader, no NSS modules there):
    // pulled from the registry, it checks itself over the loopback network, reaching the
    // registry by name (glibc's built-in files/dns lookup: /etc/hosts as the runtime provides it).
    let by_name = reference.replacen("127.0.0.1", "localhost", 1);
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
        &by_name,
    ]);
    let _ = buildah(&["rm", &ctr]);
    assert_eq!(
        inside.status.code(),
        Some(3), // buildah run exits with the command's code
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
    let out = referrify(&["check", "--format", "json", &by_name]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    let report = json(&out);
    assert_eq!(report, from_inside, "the image's binary reports the same");
    let image = &report["images"][0];
    assert_eq!(image["digest"], digest.as_str(), "{report}");
    assert_eq!(image["platforms"][0]["digest"], digest.as_str(), "{report}");
    assert_eq!(image["platforms"][0]["state"], "no-attestation", "{report}");
    assert_eq!(report["summary"]["uncovered"], 1, "{report}");
}
