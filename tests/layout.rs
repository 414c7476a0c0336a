//! `referrify` on OCI image layouts: the real BuildKit fixtures and Docker Hub's real
//! `alpine:latest`, each result confirmed with `oras discover --oci-layout`.

mod common;

use common::cli::{explain, json, referrify};

use common::fixtures::{AMD64, ARM64, LEGACY_MULTI};
use common::{oras, oras_referrer_digests, temp_layout};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

const ATTESTATION_TYPE: &str = "application/vnd.docker.attestation.manifest.v1+json";

/// Every file under `dir` with the sha256 of its content.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, hex::encode(Sha256::digest(std::fs::read(&p).unwrap())));
            }
        }
    }
    out
}

fn oras_layout(layout: &Path, platform: &str, tag: &str) -> Vec<String> {
    let target = format!("{}:{tag}", layout.display());
    let o = oras(&[
        "discover",
        "--oci-layout",
        "--format",
        "json",
        "--artifact-type",
        ATTESTATION_TYPE,
        "--platform",
        platform,
        &target,
    ]);
    assert!(
        o.status.success(),
        "oras: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    oras_referrer_digests(&serde_json::from_slice(&o.stdout).unwrap())
}

#[test]
fn buildkit_layout_convert_dry_run_idempotency_and_oras() {
    let (_tmp, dir) = temp_layout("buildkit-v0.32.2/legacy-multi");
    let layout = format!("oci-layout://{}:multi", dir.display());
    let index_json_before = std::fs::read(dir.join("index.json")).unwrap();
    let pristine = snapshot(&dir);
    assert!(oras_layout(&dir, "linux/amd64", "multi").is_empty());

    let out = referrify(&["check", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(3), "{}", explain(&out));

    let out = referrify(&["convert", "--dry-run", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert_eq!(snapshot(&dir), pristine, "a dry run changed the layout");
    assert_eq!(json(&out)["images"][0]["writes"]["layoutIndexEntries"], 2);

    let out = referrify(&["convert", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let r = json(&out);
    assert_eq!(r["images"][0]["writes"]["blobs"], 1, "the {{}} blob");
    assert_eq!(r["images"][0]["writes"]["manifests"], 2);
    // Nothing that was there changed; index.json only grew by our two descriptors.
    let after = snapshot(&dir);
    for (k, v) in &pristine {
        if k != "index.json" {
            assert_eq!(after.get(k), Some(v), "{k} changed");
        }
    }
    let index_json = std::fs::read(dir.join("index.json")).unwrap();
    assert_eq!(
        &index_json[..index_json_before.len() - 2],
        &index_json_before[..index_json_before.len() - 2]
    );
    let parsed: Value = serde_json::from_slice(&index_json).unwrap();
    let added: Vec<&Value> = parsed["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .collect();
    assert_eq!(added.len(), 2);
    assert!(added.iter().all(|d| d["artifactType"] == ATTESTATION_TYPE));
    assert_eq!(
        common::layout_blob(
            &dir,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        ),
        b"{}"
    );

    assert_eq!(
        oras_layout(&dir, "linux/amd64", "multi"),
        ["sha256:ec50a12a05f37a57c1c48ab7a7e27d52aac56b83c3b078fdc79342b109774baf"]
    );
    assert_eq!(
        oras_layout(&dir, "linux/arm64", "multi"),
        ["sha256:94b093a90d4c9d934cf4dd7ae72530a5d177da708b57e6bb9c87ef2bbef8db13"]
    );

    let converted = snapshot(&dir);
    let out = referrify(&["convert", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert_eq!(json(&out)["images"][0]["status"], "unchanged");
    assert_eq!(snapshot(&dir), converted, "a second run wrote something");

    let out = referrify(&["check", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    for p in json(&out)["images"][0]["platforms"].as_array().unwrap() {
        assert_eq!(p["discoverable"], "layout");
        assert_eq!(p["covered"], true);
        assert!([AMD64, ARM64].contains(&p["digest"].as_str().unwrap()));
    }
}

#[test]
fn buildkit_artifact_layout_is_already_covered() {
    let (_tmp, dir) = temp_layout("buildkit-v0.32.2/ociartifact-v1");
    let layout = format!("oci-layout://{}", dir.display());
    let before = snapshot(&dir);
    let out = referrify(&["check", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let out = referrify(&["convert", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let r = json(&out);
    assert_eq!(r["images"][0]["attestations"][0]["created"], false);
    assert_eq!(r["images"][0]["attestations"][0]["state"], "already-done");
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn layout_index_rewrite() {
    let (_tmp, dir) = temp_layout("buildkit-v0.32.2/legacy-v1");
    let layout = format!("oci-layout://{}:1", dir.display());
    let out = referrify(&["convert", "--index", "rewrite", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let r = json(&out);
    let new = r["images"][0]["indexRewrite"]["new"]
        .as_str()
        .unwrap()
        .to_string();
    let old = r["images"][0]["indexRewrite"]["old"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(old, common::fixtures::LEGACY_V1.index);
    assert_eq!(
        r["images"][0]["indexRewrite"]["tagsMoved"],
        serde_json::json!(["1"])
    );
    let index_json: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index_json["manifests"][0]["digest"], new.as_str());
    assert_eq!(
        index_json["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "1"
    );
    // Old index kept; new index present and pointing at the artifact.
    assert!(!common::layout_blob(&dir, &old).is_empty());
    let new_index: Value = serde_json::from_slice(&common::layout_blob(&dir, &new)).unwrap();
    assert_eq!(
        new_index["manifests"][1]["digest"],
        "sha256:58abb913e49c265ba6264739e3595589e9ca0e15f21531cdf83b224013113fb1"
    );
    assert_eq!(
        oras_layout(&dir, "linux/amd64", "1"),
        ["sha256:58abb913e49c265ba6264739e3595589e9ca0e15f21531cdf83b224013113fb1"]
    );
    let out = referrify(&["check", &layout]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
}

#[test]
fn docker_hub_alpine_latest() {
    let (_tmp, dir) = temp_layout("dockerhub/alpine-latest");
    let layout = format!("oci-layout://{}:latest", dir.display());
    let out = referrify(&["check", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(3), "{}", explain(&out));
    let r = json(&out);
    let platforms = r["images"][0]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 8);
    assert!(platforms
        .iter()
        .all(|p| p["attestation"] == "legacy" && p["subjectsMatch"] == true));

    let out = referrify(&["convert", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let r = json(&out);
    let atts = r["images"][0]["attestations"].as_array().unwrap();
    assert_eq!(atts.len(), 8);
    let v6 = atts
        .iter()
        .find(|a| a["platform"] == "linux/arm/v6")
        .unwrap();
    assert_eq!(
        v6["predicateTypes"],
        serde_json::json!(["https://slsa.dev/provenance/v0.2"])
    );
    let amd = atts
        .iter()
        .find(|a| a["platform"] == "linux/amd64")
        .unwrap();
    assert_eq!(
        amd["source"],
        "sha256:f9fd905ebc9c0e5e6dac67fb89753e85b7b831273995bdca248ba4cb74ba2dc9"
    );
    assert_eq!(
        amd["subject"],
        "sha256:1882fa4569e0c591ea092d3766c4893e19b8901a8e649de7067188aba3cc0679"
    );

    let out = referrify(&["check", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let r = json(&out);
    let platforms = r["images"][0]["platforms"].as_array().unwrap();
    let statements: usize = platforms
        .iter()
        .map(|p| p["statements"].as_array().unwrap().len())
        .sum();
    assert_eq!(statements, 15, "8 provenance + 7 SBOM statements");
    for p in platforms {
        assert_eq!(p["covered"], true, "{p}");
        let platform = p["platform"].as_str().unwrap();
        let listed = oras_layout(&dir, platform, "latest");
        assert_eq!(
            listed,
            p["referrers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_string())
                .collect::<Vec<_>>(),
            "{platform}"
        );
    }
}

#[test]
fn broken_attestation_is_reported_by_digest_and_the_rest_goes_on() {
    let (_tmp, dir) = temp_layout("buildkit-v0.32.2/legacy-multi");
    // Corrupt the arm64 attestation manifest: its blob no longer matches its digest.
    let arm_att = LEGACY_MULTI
        .attestations
        .iter()
        .find(|(s, _, _)| *s == ARM64)
        .unwrap()
        .1;
    std::fs::write(dir.join("blobs/sha256").join(&arm_att[7..]), b"{not json").unwrap();
    let (_tmp2, good) = temp_layout("buildkit-v0.32.2/legacy-v1");
    let bad_ref = format!("oci-layout://{}:multi", dir.display());
    let good_ref = format!("oci-layout://{}:1", good.display());
    let out = referrify(&["convert", "--format", "json", &bad_ref, &good_ref]);
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    let r = json(&out);
    assert_eq!(r["images"][0]["status"], "failed");
    let problem = &r["images"][0]["problems"][0];
    assert_eq!(problem["digest"], arm_att);
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("does not match digest"),
        "{problem}"
    );
    // The healthy platform of the same image, and the other image, are converted.
    assert_eq!(r["images"][0]["attestations"][0]["state"], "done");
    assert_eq!(r["images"][1]["status"], "done");
    let text = referrify(&["convert", &bad_ref]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("problem") && stdout.contains(&arm_att[..19]),
        "{stdout}"
    );

    // Not a layout at all, or an unknown tag: a clear error, exit 1.
    let out = referrify(&[
        "check",
        "oci-layout:///nonexistent/dir",
        &format!("oci-layout://{}:nope", good.display()),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("/nonexistent/dir: no such directory") && stdout.contains("tag \"nope\""),
        "{stdout}"
    );
}

#[test]
fn docker_schema2_vintage_gets_predicate_types_from_statements() {
    let (_tmp, dir, subject) = common::docker_vintage_layout();
    let layout = format!("oci-layout://{}:docker", dir.display());
    let out = referrify(&["convert", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let r = json(&out);
    let a = &r["images"][0]["attestations"][0];
    assert_eq!(a["subject"], subject.as_str());
    assert_eq!(
        a["predicateTypes"],
        serde_json::json!([
            "https://spdx.dev/Document",
            "https://slsa.dev/provenance/v1"
        ])
    );
    let art: Value =
        serde_json::from_slice(&common::layout_blob(&dir, a["artifact"].as_str().unwrap()))
            .unwrap();
    assert_eq!(
        art["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(art["artifactType"], ATTESTATION_TYPE);
    assert_eq!(
        art["subject"]["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        art["layers"][0]["annotations"]["in-toto.io/predicate-type"],
        "https://spdx.dev/Document"
    );
    assert_eq!(
        art["layers"][1]["annotations"]["in-toto.io/predicate-type"],
        "https://slsa.dev/provenance/v1"
    );
    assert_eq!(
        oras_layout(&dir, "linux/amd64", "docker"),
        [a["artifact"].as_str().unwrap()]
    );

    // The statements name another manifest: discoverable, but not covered.
    let out = referrify(&["check", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(3), "{}", explain(&out));
    let p = &json(&out)["images"][0]["platforms"][0];
    assert_eq!(p["discoverable"], "layout");
    assert_eq!(p["subjectsMatch"], false);
    assert!(
        p["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("does not name this manifest")),
        "{p}"
    );
}

#[test]
fn docker_schema2_index_rewrite_switches_the_entry_to_oci() {
    let (_tmp, dir, _) = common::docker_vintage_layout();
    let layout = format!("oci-layout://{}:docker", dir.display());
    let out = referrify(&["convert", "--index", "rewrite", "--format", "json", &layout]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let r = json(&out);
    let old: Value = serde_json::from_slice(&common::layout_blob(
        &dir,
        r["images"][0]["indexRewrite"]["old"].as_str().unwrap(),
    ))
    .unwrap();
    let new: Value = serde_json::from_slice(&common::layout_blob(
        &dir,
        r["images"][0]["indexRewrite"]["new"].as_str().unwrap(),
    ))
    .unwrap();
    assert_eq!(new["manifests"][0], old["manifests"][0]);
    assert_eq!(
        new["manifests"][1]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        new["manifests"][1]["digest"],
        r["images"][0]["attestations"][0]["artifact"]
    );
    assert_eq!(
        new["manifests"][1]["annotations"],
        old["manifests"][1]["annotations"]
    );
}

#[test]
fn progress_bar_only_on_a_terminal_and_never_with_quiet() {
    let (_tmp, dir) = temp_layout("buildkit-v0.32.2/legacy-v1");
    let bin = env!("CARGO_BIN_EXE_referrify");
    let layout = format!("oci-layout://{}", dir.display());
    // util-linux `script` gives the command a pseudo-terminal; stdout goes to /dev/null.
    let in_pty = |args: &str| {
        let cmd = format!("{bin} {args} {layout} >/dev/null");
        let o = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .output()
            .expect("script (util-linux)");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(
        in_pty("check").contains("checking ["),
        "bar expected on a terminal"
    );
    assert!(
        !in_pty("check -q").contains("checking ["),
        "-q hides the bar"
    );
    assert!(
        !in_pty("check --format json").contains("checking ["),
        "JSON runs stay quiet"
    );
    let piped = referrify(&["check", &layout]);
    assert!(
        !String::from_utf8_lossy(&piped.stderr).contains('['),
        "{}",
        explain(&piped)
    );
}
