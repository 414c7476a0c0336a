//! `referrify convert` and `check` against real registries on 127.0.0.1 — Debian's
//! docker-registry 2.8.2 (no Referrers API: tag schema) and ferro-oci-server 1.0.0 (Referrers
//! API) — loaded with the real BuildKit fixtures, every result cross-checked with `oras`.

mod common;

use common::cli::{code, explain, first_image_error, json, referrify, referrify_with};

use common::fixtures::{AMD64, ARM64, LEGACY_MULTI, LEGACY_V1};
use common::{
    http_get, http_request, load_layout, oras, oras_discover, oras_referrer_digests, Registry,
    RegistryKind, MANIFEST_ACCEPT,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const ATTESTATION_TYPE: &str = "application/vnd.docker.attestation.manifest.v1+json";
const MULTI_AMD64_ARTIFACT: &str =
    "sha256:ec50a12a05f37a57c1c48ab7a7e27d52aac56b83c3b078fdc79342b109774baf";
const MULTI_ARM64_ARTIFACT: &str =
    "sha256:94b093a90d4c9d934cf4dd7ae72530a5d177da708b57e6bb9c87ef2bbef8db13";
const MULTI_AMD64_TAG_INDEX: &str =
    "sha256:14d080a4e00354afc957ea570537cd3a017b2bef56758b9d2f2ca2dd353beeb5";

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn manifest_digest(reg: &Registry, repo: &str, reference: &str) -> Option<String> {
    let (status, _, body) = http_get(
        reg,
        &format!("/v2/{repo}/manifests/{reference}"),
        MANIFEST_ACCEPT,
    );
    (status == 200).then(|| sha256(&body))
}

fn tags(reg: &Registry, repo: &str) -> Vec<String> {
    let (_, _, body) = http_get(reg, &format!("/v2/{repo}/tags/list"), None);
    let v: Value = serde_json::from_slice(&body).unwrap();
    let mut t: Vec<String> = v["tags"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    t.sort();
    t
}

fn attestation_states(report: &Value) -> Vec<(String, String)> {
    report["images"][0]["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["artifact"].as_str().unwrap().to_string(),
                a["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn oras_lists(reg: &Registry, repo: &str, subject: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--artifact-type", ATTESTATION_TYPE];
    args.extend_from_slice(extra);
    oras_referrer_digests(&oras_discover(
        &format!("{}/{repo}@{subject}", reg.addr),
        &args,
    ))
}

/// The whole job on one registry kind: dry run, convert, idempotent rerun, check, oras.
fn convert_and_check(kind: RegistryKind) {
    let reg = Registry::start(kind);
    let repo = common::unique_repo("multi");
    load_layout(&reg, &LEGACY_MULTI.dir(), &format!("{repo}:multi"));
    let image = reg.reference(&format!("{repo}:multi"));
    let index_before = manifest_digest(&reg, &repo, "multi").unwrap();
    assert_eq!(index_before, LEGACY_MULTI.index);
    let legacy: Vec<Vec<u8>> = LEGACY_MULTI
        .attestations
        .iter()
        .map(|(_, d, _)| http_get(&reg, &format!("/v2/{repo}/manifests/{d}"), MANIFEST_ACCEPT).2)
        .collect();

    // Before: check reports both platforms as legacy-only gaps, exit 3.
    let out = referrify(&["check", "--format", "json", &image]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    let r = json(&out);
    for p in r["images"][0]["platforms"].as_array().unwrap() {
        assert_eq!(p["attestation"], "legacy");
        assert_eq!(p["discoverable"], "none");
        assert_eq!(p["subjectsMatch"], true);
        assert_eq!(p["covered"], false);
    }

    // Dry run: the plan, and not one write request.
    reg.clear_requests();
    let out = referrify(&["convert", "--dry-run", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(
        reg.write_requests().is_empty(),
        "dry run wrote: {:?}",
        reg.write_requests()
    );
    let r = json(&out);
    assert_eq!(r["dryRun"], true);
    assert_eq!(r["images"][0]["status"], "planned");
    let mut states = attestation_states(&r);
    states.sort();
    let mut expected = vec![
        (MULTI_AMD64_ARTIFACT.to_string(), "planned".to_string()),
        (MULTI_ARM64_ARTIFACT.to_string(), "planned".to_string()),
    ];
    expected.sort();
    assert_eq!(states, expected);
    let expected_tags = if kind.has_referrers_api() { 0 } else { 2 };
    assert_eq!(
        r["images"][0]["writes"]["referrersTags"]
            .as_array()
            .unwrap()
            .len(),
        expected_tags
    );
    assert!(
        oras_lists(&reg, &repo, AMD64, &[]).is_empty(),
        "dry run made something discoverable"
    );

    // Convert.
    reg.clear_requests();
    let out = referrify(&["convert", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let r = json(&out);
    assert_eq!(r["images"][0]["status"], "done");
    for a in r["images"][0]["attestations"].as_array().unwrap() {
        assert_eq!(a["state"], "done", "{a}");
        assert_eq!(a["verified"], true, "{a}");
        assert_eq!(
            a["via"],
            if kind.has_referrers_api() {
                "api"
            } else {
                "tag"
            }
        );
    }
    let writes = reg.write_requests();
    let manifest_puts = writes
        .iter()
        .filter(|w| w.method == "PUT" && w.path().contains("/manifests/sha256:"))
        .count();
    assert_eq!(manifest_puts, 2, "{writes:?}");
    let tag_puts = writes
        .iter()
        .filter(|w| w.method == "PUT" && w.path().contains("/manifests/sha256-"))
        .count();
    assert_eq!(tag_puts, expected_tags, "{writes:?}");

    // The index, its tag and the legacy manifests are untouched.
    assert_eq!(
        manifest_digest(&reg, &repo, "multi").unwrap(),
        LEGACY_MULTI.index
    );
    for ((_, d, _), bytes) in LEGACY_MULTI.attestations.iter().zip(&legacy) {
        assert_eq!(
            &http_get(&reg, &format!("/v2/{repo}/manifests/{d}"), MANIFEST_ACCEPT).2,
            bytes
        );
    }
    // The artifacts are stored byte for byte.
    let (_, _, art) = http_get(
        &reg,
        &format!("/v2/{repo}/manifests/{MULTI_AMD64_ARTIFACT}"),
        MANIFEST_ACCEPT,
    );
    assert_eq!(sha256(&art), MULTI_AMD64_ARTIFACT);

    // oras, in auto mode and pinned to the mechanism this registry has, sees exactly our artifacts.
    assert_eq!(oras_lists(&reg, &repo, AMD64, &[]), [MULTI_AMD64_ARTIFACT]);
    assert_eq!(oras_lists(&reg, &repo, ARM64, &[]), [MULTI_ARM64_ARTIFACT]);
    if kind.has_referrers_api() {
        assert_eq!(
            oras_lists(
                &reg,
                &repo,
                AMD64,
                &["--distribution-spec", "v1.1-referrers-api"]
            ),
            [MULTI_AMD64_ARTIFACT]
        );
        assert_eq!(
            tags(&reg, &repo),
            ["multi"],
            "no referrers tags where the API exists"
        );
    } else {
        assert_eq!(
            oras_lists(
                &reg,
                &repo,
                ARM64,
                &["--distribution-spec", "v1.1-referrers-tag"]
            ),
            [MULTI_ARM64_ARTIFACT]
        );
        let out = oras(&[
            "discover",
            "--plain-http",
            "--distribution-spec",
            "v1.1-referrers-api",
            &format!("{}/{repo}@{AMD64}", reg.addr),
        ]);
        assert!(
            !out.status.success(),
            "distribution 2.8.2 has no Referrers API"
        );
        let tag = format!("sha256-{}", &AMD64[7..]);
        assert_eq!(
            manifest_digest(&reg, &repo, &tag).unwrap(),
            MULTI_AMD64_TAG_INDEX,
            "tag index bytes as regclient/oras write them"
        );
    }

    // A second run writes nothing and says so.
    reg.clear_requests();
    let out = referrify(&["convert", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(
        reg.write_requests().is_empty(),
        "second run wrote: {:?}",
        reg.write_requests()
    );
    let r = json(&out);
    assert_eq!(r["images"][0]["status"], "unchanged");
    assert!(attestation_states(&r)
        .iter()
        .all(|(_, s)| s == "already-done"));
    assert_eq!(r["summary"]["alreadyDone"], 2);

    // After: every platform covered, exit 0; the printed command is one oras can run.
    let out = referrify(&["check", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let r = json(&out);
    for p in r["images"][0]["platforms"].as_array().unwrap() {
        assert_eq!(p["attestation"], "artifact");
        assert_eq!(
            p["discoverable"],
            if kind.has_referrers_api() {
                "api"
            } else {
                "tag"
            }
        );
        assert_eq!(p["covered"], true, "{p}");
        let cmd: Vec<&str> = p["confirm"].as_str().unwrap().split_whitespace().collect();
        assert_eq!(cmd[..2], ["oras", "discover"]);
        let mut args = cmd[1..].to_vec();
        args.extend(["--format", "json"]);
        let o = oras(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(oras_referrer_digests(&v).len(), 1, "{v}");
    }
    let text = referrify(&["check", &image]);
    assert_eq!(code(&text), 0);
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .contains("coverage: 2 of 2 platform manifests covered"),
        "{}",
        explain(&text)
    );
}

#[test]
fn convert_and_check_without_referrers_api() {
    convert_and_check(RegistryKind::Distribution);
}

#[test]
fn convert_and_check_with_referrers_api() {
    convert_and_check(RegistryKind::Ferro);
}

fn index_rewrite(kind: RegistryKind) {
    let reg = Registry::start(kind);
    let repo = common::unique_repo("rewrite");
    load_layout(&reg, &LEGACY_V1.dir(), &format!("{repo}:1"));
    let image = reg.reference(&format!("{repo}:1"));
    let (_, _, old_index) = http_get(&reg, &format!("/v2/{repo}/manifests/1"), MANIFEST_ACCEPT);
    assert_eq!(sha256(&old_index), LEGACY_V1.index);

    let out = referrify(&["convert", "--index", "rewrite", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let r = json(&out);
    let rw = &r["images"][0]["indexRewrite"];
    assert_eq!(rw["old"], LEGACY_V1.index);
    assert_eq!(rw["tagsMoved"], serde_json::json!(["1"]));
    let artifact = "sha256:58abb913e49c265ba6264739e3595589e9ca0e15f21531cdf83b224013113fb1";
    // The new index is the old one with only the attestation entry's digest and size replaced.
    let expected = String::from_utf8(old_index.clone())
        .unwrap()
        .replace(LEGACY_V1.attestations[0].1, artifact)
        .replace("\"size\": 834", "\"size\": 1106");
    let (_, _, new_index) = http_get(&reg, &format!("/v2/{repo}/manifests/1"), MANIFEST_ACCEPT);
    assert_eq!(String::from_utf8(new_index.clone()).unwrap(), expected);
    assert_eq!(rw["new"], sha256(&new_index));
    // Nothing is lost: the old index and the legacy manifest are still there by digest.
    assert_eq!(
        manifest_digest(&reg, &repo, LEGACY_V1.index).as_deref(),
        Some(LEGACY_V1.index)
    );
    assert!(manifest_digest(&reg, &repo, LEGACY_V1.attestations[0].1).is_some());
    assert_eq!(oras_lists(&reg, &repo, AMD64, &[]), [artifact]);

    // Rerun: the index now holds artifacts; nothing to do.
    reg.clear_requests();
    let out = referrify(&["convert", "--index", "rewrite", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(
        reg.write_requests().is_empty(),
        "{:?}",
        reg.write_requests()
    );
    let r = json(&out);
    assert_eq!(r["images"][0]["attestations"][0]["created"], false);
    assert_eq!(r["images"][0]["attestations"][0]["state"], "already-done");
    let out = referrify(&["check", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
}

#[test]
fn index_rewrite_without_referrers_api() {
    index_rewrite(RegistryKind::Distribution);
}

#[test]
fn index_rewrite_with_referrers_api() {
    index_rewrite(RegistryKind::Ferro);
}

#[test]
fn rewrite_never_moves_a_tag_that_changed_since_it_was_read() {
    let reg = Registry::distribution();
    let repo = common::unique_repo("moved");
    load_layout(&reg, &LEGACY_V1.dir(), &format!("{repo}:1"));
    load_layout(&reg, &LEGACY_MULTI.dir(), &format!("{repo}:multi"));
    // Pinned by digest with a tag that now points to another image (pushed after the build).
    load_layout(&reg, &LEGACY_MULTI.dir(), &format!("{repo}:1"));
    let image = reg.reference(&format!("{repo}:1@{}", LEGACY_V1.index));
    let out = referrify(&["convert", "--index", "rewrite", "--format", "json", &image]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let err = first_image_error(&out);
    assert!(
        err.contains("tag 1 now points to") && err.contains("not moving it"),
        "{err}"
    );
    assert_eq!(
        manifest_digest(&reg, &repo, "1").as_deref(),
        Some(LEGACY_MULTI.index)
    );
}

#[test]
fn foreign_referrers_in_the_tag_index_are_kept() {
    let reg = Registry::distribution();
    let repo = common::unique_repo("foreign");
    load_layout(&reg, &LEGACY_V1.dir(), &format!("{repo}:1"));
    // A third-party referrer written by a real client (oras attach), which creates the tag index.
    let dir = tempfile::tempdir().unwrap();
    let sig = dir.path().join("sig.json");
    std::fs::write(&sig, b"{\"signature\":\"fake\"}").unwrap();
    let subject = format!("{}/{repo}@{AMD64}", reg.backend_addr);
    let o = std::process::Command::new(common::tool("oras", "REFERRIFY_ORAS"))
        .current_dir(dir.path())
        .args([
            "attach",
            "--plain-http",
            "--artifact-type",
            "application/vnd.dev.cosign.artifact.sig.v1+json",
            &subject,
            "sig.json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tag = format!("sha256-{}", &AMD64[7..]);
    let (_, _, before) = http_get(
        &reg,
        &format!("/v2/{repo}/manifests/{tag}"),
        MANIFEST_ACCEPT,
    );
    let before_v: Value = serde_json::from_slice(&before).unwrap();
    let foreign = before_v["manifests"][0].clone();
    assert_eq!(before_v["manifests"].as_array().unwrap().len(), 1);

    let out = referrify(&[
        "convert",
        "--format",
        "json",
        &reg.reference(&format!("{repo}:1")),
    ]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let (_, _, after) = http_get(
        &reg,
        &format!("/v2/{repo}/manifests/{tag}"),
        MANIFEST_ACCEPT,
    );
    let after_v: Value = serde_json::from_slice(&after).unwrap();
    let entries = after_v["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{after_v}");
    assert_eq!(entries[0], foreign, "the foreign entry is kept as it was");
    assert_eq!(entries[1]["artifactType"], ATTESTATION_TYPE);
    // oras sees both referrers.
    let all = oras_referrer_digests(&oras_discover(&format!("{}/{repo}@{AMD64}", reg.addr), &[]));
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.contains(&foreign["digest"].as_str().unwrap().to_string()));
}

#[test]
fn a_tag_that_is_not_an_index_is_never_overwritten() {
    let reg = Registry::distribution();
    let repo = common::unique_repo("squat");
    load_layout(&reg, &LEGACY_MULTI.dir(), &format!("{repo}:multi"));
    // Someone tagged an image manifest (the arm64 one) as sha256-<amd64 hex>.
    let (_, _, arm) = http_get(
        &reg,
        &format!("/v2/{repo}/manifests/{ARM64}"),
        MANIFEST_ACCEPT,
    );
    let tag = format!("sha256-{}", &AMD64[7..]);
    let (st, _, _) = http_request(
        &reg.backend_addr,
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("content-type", "application/vnd.oci.image.manifest.v1+json")],
        &arm,
    );
    assert_eq!(st, 201);

    reg.clear_requests();
    let out = referrify(&[
        "convert",
        "--format",
        "json",
        &reg.reference(&format!("{repo}:multi")),
    ]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let r = json(&out);
    let atts = r["images"][0]["attestations"].as_array().unwrap();
    let amd = atts.iter().find(|a| a["subject"] == AMD64).unwrap();
    assert_eq!(amd["state"], "blocked");
    let reason = amd["reason"].as_str().unwrap();
    assert!(
        reason.contains(&tag) && reason.contains("not an OCI image index"),
        "{reason}"
    );
    // The other platform is still converted.
    let arm_a = atts.iter().find(|a| a["subject"] == ARM64).unwrap();
    assert_eq!(arm_a["state"], "done");
    // The squatted tag is untouched, and nothing was pushed for the blocked subject.
    assert_eq!(manifest_digest(&reg, &repo, &tag).unwrap(), ARM64);
    assert!(
        reg.write_requests()
            .iter()
            .all(|w| !w.path().contains(&tag) && !w.path().contains(MULTI_AMD64_ARTIFACT)),
        "{:?}",
        reg.write_requests()
    );
    let text = referrify(&["convert", &reg.reference(&format!("{repo}:multi"))]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("blocked") && stdout.contains(&tag),
        "{stdout}"
    );
}

#[test]
fn basic_auth_from_docker_config() {
    let reg = Registry::distribution_with_htpasswd("ci-user", "s3cret-pa55");
    let repo = common::unique_repo("auth");
    load_layout(&reg, &LEGACY_V1.dir(), &format!("{repo}:1"));
    let image = reg.reference(&format!("{repo}:1"));

    // Anonymous: refused, with a clear message and no secret anywhere.
    let out = referrify(&["convert", "--format", "json", &image]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let err = first_image_error(&out);
    assert!(err.contains("401"), "{err}");

    // With docker's config.json (`auths` with base64 `auth`).
    use base64::Engine as _;
    let cfg = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("ci-user:s3cret-pa55");
    std::fs::write(
        cfg.path().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.addr),
    )
    .unwrap();
    let converted = referrify_with(
        Some(cfg.path()),
        &["convert", "-v", "--format", "json", &image],
    );
    assert_eq!(code(&converted), 0, "{}", explain(&converted));
    assert_eq!(
        json(&converted)["images"][0]["attestations"][0]["verified"],
        true
    );
    let checked = referrify_with(Some(cfg.path()), &["check", "-vv", &image]);
    assert_eq!(code(&checked), 0, "{}", explain(&checked));
    for o in [&out, &converted, &checked] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            !all.contains("s3cret-pa55") && !all.contains(&auth),
            "credential leaked:\n{all}"
        );
    }
    let v = oras_discover(
        &format!("{}/{repo}@{AMD64}", reg.addr),
        &["-u", "ci-user", "-p", "s3cret-pa55"],
    );
    assert_eq!(
        oras_referrer_digests(&v),
        ["sha256:58abb913e49c265ba6264739e3595589e9ca0e15f21531cdf83b224013113fb1"]
    );
}

#[test]
fn metadata_file_from_buildx_bake() {
    let reg = Registry::ferro();
    let repo = common::unique_repo("bake");
    load_layout(&reg, &LEGACY_MULTI.dir(), &format!("{repo}:multi"));
    load_layout(&reg, &LEGACY_V1.dir(), &format!("{repo}:v1"));
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("metadata.json");
    // What `docker buildx bake --metadata-file` writes: one object per target.
    let content = serde_json::json!({
        "multi": {"containerimage.digest": LEGACY_MULTI.index, "image.name": format!("{0}/{repo}:multi,{0}/{repo}:latest", reg.addr)},
        "single": {"containerimage.digest": LEGACY_V1.index, "image.name": format!("{}/{repo}:v1", reg.addr)},
        "buildx.build.warnings": []
    });
    std::fs::write(&meta, serde_json::to_vec(&content).unwrap()).unwrap();
    let out = referrify(&[
        "convert",
        "-q",
        "--format",
        "json",
        "--metadata-file",
        meta.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let r = json(&out);
    assert_eq!(r["summary"]["images"], 3);
    assert_eq!(r["summary"]["converted"], 3);
    assert_eq!(
        r["summary"]["alreadyDone"], 2,
        "the second name of the same index finds it done"
    );
    assert_eq!(oras_lists(&reg, &repo, ARM64, &[]), [MULTI_ARM64_ARTIFACT]);
}

#[test]
fn one_bad_image_does_not_stop_the_others() {
    let reg = Registry::distribution();
    let repo = common::unique_repo("mixed");
    load_layout(&reg, &LEGACY_V1.dir(), &format!("{repo}:good"));
    let missing = reg.reference(&format!("{repo}:does-not-exist"));
    let out = referrify(&[
        "convert",
        "--format",
        "json",
        &missing,
        &reg.reference(&format!("{repo}:good")),
    ]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let r = json(&out);
    assert_eq!(r["images"][0]["status"], "failed");
    assert!(
        r["images"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{r}"
    );
    assert_eq!(r["images"][1]["status"], "done");
    // Usage errors are exit 2 and touch nothing.
    assert_eq!(code(&referrify(&["convert"])), 2);
    assert_eq!(code(&referrify(&["convert", "Not A Ref"])), 2);
    assert_eq!(code(&referrify(&["frobnicate"])), 2);
}

#[test]
fn credential_helpers_from_docker_config() {
    let reg = Registry::distribution_with_htpasswd("helper-user", "helper-pa55");
    let repo = common::unique_repo("helper");
    load_layout(&reg, &LEGACY_V1.dir(), &format!("{repo}:1"));
    let image = reg.reference(&format!("{repo}:1"));
    // A docker credential helper, as `docker-credential-<name> get` with the server on stdin.
    let bin = tempfile::tempdir().unwrap();
    let helper = bin.path().join("docker-credential-referrifytest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\nif [ \"$server\" = \"{}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"helper-user\",\"Secret\":\"helper-pa55\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
            reg.addr
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for config in [
        r#"{"credsStore":"referrifytest"}"#.to_string(),
        format!(r#"{{"credHelpers":{{"{}":"referrifytest"}}}}"#, reg.addr),
    ] {
        let cfg = tempfile::tempdir().unwrap();
        std::fs::write(cfg.path().join("config.json"), &config).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_referrify"))
            .args(["check", "--format", "json", &image])
            .env("DOCKER_CONFIG", cfg.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        // Authenticated: the image is read (legacy only, so exit 3, not an auth failure).
        assert_eq!(code(&out), 3, "{config}: {}", explain(&out));
        assert_eq!(
            json(&out)["images"][0]["platforms"][0]["attestation"],
            "legacy"
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("helper-pa55"));
    }
}

/// The HTTP requests a pipeline run makes, every one counted at the registry (recording proxy).
/// Listed per step so a change that adds a round trip shows up here; see the README's count.
#[test]
fn request_counts_of_a_pipeline_run() {
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        let repo = common::unique_repo("count");
        load_layout(&reg, &LEGACY_MULTI.dir(), &format!("{repo}:multi"));
        let image = reg.reference(&format!("{repo}:multi"));
        reg.clear_requests();
        let out = referrify(&["convert", "--format", "json", &image]);
        assert_eq!(code(&out), 0, "{}", explain(&out));
        let seen: Vec<String> = reg
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path().replace(&repo, "R")))
            .collect();
        assert_eq!(
            json(&out)["images"][0]["requests"],
            seen.len(),
            "the report counts what the registry saw: {seen:#?}"
        );
        let (a, b) = (&AMD64[7..19], &ARM64[7..19]);
        let n = |prefix: &str| seen.iter().filter(|s| s.starts_with(prefix)).count();
        // Read: the index and the two legacy manifests.
        assert_eq!(n("GET /v2/R/manifests/multi"), 1, "{seen:#?}");
        assert_eq!(n("GET /v2/R/manifests/sha256:"), 2, "{seen:#?}");
        // Write: the {} blob (HEAD; ferro serves it built in, distribution needs POST + PUT)
        // and the two artifacts.
        assert_eq!(n("HEAD /v2/R/blobs/"), 1, "{seen:#?}");
        let upload = usize::from(!kind.has_referrers_api());
        assert_eq!(n("POST /v2/R/blobs/uploads/"), upload, "{seen:#?}");
        assert_eq!(n("PUT /v2/R/blobs/uploads/"), upload, "{seen:#?}");
        assert_eq!(n("PUT /v2/R/manifests/sha256:"), 2, "{seen:#?}");
        // No HEAD of artifacts: an unlisted artifact is pushed (a PUT costs what a HEAD costs).
        assert_eq!(n("HEAD /v2/R/manifests/"), 0, "{seen:#?}");
        if kind.has_referrers_api() {
            // Every subject listed before the push (so a dry run plans what a run does, and an
            // earlier partial run is seen), and once after (verification).
            assert_eq!(n("GET /v2/R/referrers/"), 4, "{seen:#?}");
            assert_eq!(seen.len(), 10, "{seen:#?}");
        } else {
            // One probe; then per subject: tag read, tag read again right before the write, tag
            // write, tag read-back.
            assert_eq!(n("GET /v2/R/referrers/"), 1, "{seen:#?}");
            assert_eq!(
                n(&format!("GET /v2/R/manifests/sha256-{a}")),
                3,
                "{seen:#?}"
            );
            assert_eq!(
                n(&format!("GET /v2/R/manifests/sha256-{b}")),
                3,
                "{seen:#?}"
            );
            assert_eq!(n("PUT /v2/R/manifests/sha256-"), 2, "{seen:#?}");
            assert_eq!(seen.len(), 17, "{seen:#?}");
        }
        // A second run reads and lists every subject (the probe finds the attestation), then stops.
        reg.clear_requests();
        let out = referrify(&["convert", "--format", "json", &image]);
        assert_eq!(code(&out), 0, "{}", explain(&out));
        let again = reg.requests();
        assert!(again.iter().all(|r| r.method == "GET"), "{again:#?}");
        assert_eq!(
            again.len(),
            if kind.has_referrers_api() { 5 } else { 6 },
            "{again:#?}"
        );
    }
}

#[test]
fn docker_media_types_through_both_registries() {
    let (_tmp, dir, subject) = common::docker_vintage_layout();
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        let repo = common::unique_repo("docker");
        // skopeo 1.9 refuses Docker schema 2 manifests with in-toto layers; push them as buildx did.
        common::push_layout_raw(&reg, &dir, &repo, "docker");
        let image = reg.reference(&format!("{repo}:docker"));
        let (_, h, _) = http_get(
            &reg,
            &format!("/v2/{repo}/manifests/docker"),
            MANIFEST_ACCEPT,
        );
        assert_eq!(
            h.get("content-type").unwrap(),
            "application/vnd.docker.distribution.manifest.list.v2+json"
        );
        let out = referrify(&["convert", "--format", "json", &image]);
        assert_eq!(code(&out), 0, "{kind:?}: {}", explain(&out));
        let a = &json(&out)["images"][0]["attestations"][0];
        assert_eq!(
            a["predicateTypes"],
            serde_json::json!([
                "https://spdx.dev/Document",
                "https://slsa.dev/provenance/v1"
            ])
        );
        let artifact = a["artifact"].as_str().unwrap();
        assert_eq!(
            oras_lists(&reg, &repo, &subject, &[]),
            [artifact],
            "{kind:?}"
        );
        // The golden statements name another manifest: discoverable, yet flagged.
        let out = referrify(&["check", "--format", "json", &image]);
        assert_eq!(code(&out), 3, "{kind:?}: {}", explain(&out));
        let p = &json(&out)["images"][0]["platforms"][0];
        assert_eq!(
            (
                p["attestation"].as_str(),
                p["subjectsMatch"].as_bool(),
                p["covered"].as_bool()
            ),
            (Some("artifact"), Some(false), Some(false)),
            "{p}"
        );
    }
}

#[test]
fn check_a_platform_manifest_by_digest() {
    let reg = Registry::distribution();
    let repo = common::unique_repo("bydigest");
    load_layout(&reg, &LEGACY_MULTI.dir(), &format!("{repo}:multi"));
    let platform = reg.reference(&format!("{repo}@{ARM64}"));
    // Before: a bare image manifest with nothing attached.
    let out = referrify(&["check", "--format", "json", &platform]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    assert_eq!(
        json(&out)["images"][0]["platforms"][0]["reasons"],
        serde_json::json!(["no attestation"])
    );
    // convert on a bare manifest has nothing to do and says so.
    let out = referrify(&["convert", "--format", "json", &platform]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert_eq!(json(&out)["images"][0]["status"], "not-an-index");
    // After converting the index, the platform manifest alone is covered.
    assert_eq!(
        code(&referrify(&[
            "convert",
            "-q",
            &reg.reference(&format!("{repo}:multi"))
        ])),
        0
    );
    let out = referrify(&["check", "--format", "json", &platform]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let p = &json(&out)["images"][0]["platforms"][0];
    assert_eq!(p["referrers"], serde_json::json!([MULTI_ARM64_ARTIFACT]));
    assert_eq!(p["subjectsMatch"], true);
}
