//! Huge inputs stay bounded: an image index with thousands of platforms (each with a legacy
//! attestation) converts and checks in one pass over the layout, not one per platform. (Its time
//! is a benchmark matter; the test proves the work completes and is right. Before the referrers
//! of a layout were indexed once per `index.json`, 3,000 platforms took over ten minutes.)

mod common;

use common::cli::{code, explain, json, referrify};
use serde_json::{json, Value};

const PLATFORMS: usize = 2000;

/// A copy of legacy-v1 whose index holds `n` platform manifests, each with its own attestation.
fn wide_layout(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, dir) = common::temp_layout("buildkit-v0.32.2/legacy-v1");
    let f = common::fixtures::LEGACY_V1;
    let index: Value = serde_json::from_slice(&common::layout_blob(&dir, f.index)).unwrap();
    let (plat, att) = (&index["manifests"][0], &index["manifests"][1]);
    let pm: Value =
        serde_json::from_slice(&common::layout_blob(&dir, plat["digest"].as_str().unwrap()))
            .unwrap();
    let am = common::layout_blob(&dir, att["digest"].as_str().unwrap());
    let mut entries = Vec::new();
    for i in 0..n {
        let mut p = pm.clone();
        p["annotations"] = json!({ "n": i.to_string() });
        let (pd, ps) = common::put_blob(&dir, &serde_json::to_vec(&p).unwrap());
        entries.push(
            json!({"mediaType": plat["mediaType"], "digest": pd, "size": ps,
            "platform": {"architecture": format!("arch{i}"), "os": "linux"}}),
        );
        let a = String::from_utf8(am.clone()).unwrap().replacen(
            "\"layers\"",
            &format!("\"annotations\":{{\"n\":\"{i}\"}},\"layers\""),
            1,
        );
        let (ad, asz) = common::put_blob(&dir, a.as_bytes());
        entries.push(json!({"mediaType": att["mediaType"], "digest": ad, "size": asz,
            "annotations": {"vnd.docker.reference.digest": pd, "vnd.docker.reference.type": "attestation-manifest"},
            "platform": {"architecture": "unknown", "os": "unknown"}}));
    }
    let mut idx = index.clone();
    idx["manifests"] = Value::Array(entries);
    let (d, s) = common::put_blob(&dir, &serde_json::to_vec(&idx).unwrap());
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{"mediaType": idx["mediaType"], "digest": d, "size": s,
            "annotations": {"org.opencontainers.image.ref.name": "wide"}}]}))
        .unwrap(),
    )
    .unwrap();
    (tmp, dir)
}

#[test]
fn thousands_of_platforms_convert_and_check_in_one_pass() {
    let (_tmp, dir) = wide_layout(PLATFORMS);
    let layout = format!("oci-layout://{}:wide", dir.display());
    let out = referrify(&["convert", "--format", "json", &layout]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let s = &json(&out)["summary"];
    assert_eq!(s["converted"].as_u64(), Some(PLATFORMS as u64), "{s}");
    let out = referrify(&["check", "--format", "json", &layout]);
    let v = json(&out);
    assert_eq!(v["summary"]["platforms"].as_u64(), Some(PLATFORMS as u64));
    // Every platform is discoverable; the copied statements name the original manifest, so each
    // is flagged as a subject mismatch, as it should be.
    let platforms = v["images"][0]["platforms"].as_array().unwrap();
    assert!(platforms
        .iter()
        .all(|p| p["discoverable"] == "layout" && p["subjectsMatch"] == false));
    assert_eq!(code(&out), 3, "{}", explain(&out));
}

/// A Docker-media-type image (no predicate-type annotations, so the statement must be read)
/// whose one statement is `size` bytes and names the platform manifest.
fn big_statement_layout(size: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put = |b: &[u8]| common::put_blob(&dir, b);
    let (cfg, cfg_size) =
        put(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let platform = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cfg, "size": cfg_size}, "layers": []});
    let (pm, pm_size) = put(&serde_json::to_vec(&platform).unwrap());
    let head = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","subject":[{{"name":"x","digest":{{"sha256":"{}"}}}}],"predicate":{{"pad":""#,
        pm.trim_start_matches("sha256:")
    );
    let mut statement = head.into_bytes();
    statement.resize(size - 3, b'a');
    statement.extend_from_slice(br#""}}"#);
    assert_eq!(statement.len(), size);
    let (st, st_size) = put(&statement);
    drop(statement);
    let (acfg, acfg_size) = put(
        br#"{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let att = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": acfg, "size": acfg_size},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": st, "size": st_size}]});
    let (am, am_size) = put(&serde_json::to_vec(&att).unwrap());
    let list = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json", "manifests": [
        {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": pm, "size": pm_size, "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": am, "size": am_size,
         "annotations": {"vnd.docker.reference.digest": pm, "vnd.docker.reference.type": "attestation-manifest"},
         "platform": {"architecture": "unknown", "os": "unknown"}}]});
    let (idx, idx_size) = put(&serde_json::to_vec(&list).unwrap());
    let index_json = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "digest": idx, "size": idx_size, "annotations": {"org.opencontainers.image.ref.name": "big"}}]});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index_json).unwrap(),
    )
    .unwrap();
    (tmp, dir)
}

/// BuildKit v0.33 writes attestations of up to 80 MiB: such a statement is read (streaming) and
/// checked like any other, in a layout and through a real registry; one over the 128 MiB limit
/// is refused with the limit named, never converted.
#[test]
fn an_80_mib_statement_is_read_and_one_over_the_limit_is_refused() {
    let (_tmp, dir) = big_statement_layout(80 << 20);
    let layout = format!("oci-layout://{}:big", dir.display());
    let out = referrify(&["check", "--format", "json", &layout]);
    assert_eq!(code(&out), 3, "legacy only before: {}", explain(&out));
    let p = &json(&out)["images"][0]["platforms"][0];
    assert_eq!(p["state"], "legacy-only");
    assert_eq!(p["subjectsMatch"], true, "{p}");
    assert_eq!(p["predicateTypes"], json!(["https://spdx.dev/Document"]));
    let out = referrify(&["convert", "--format", "json", &layout]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let a = &json(&out)["images"][0]["attestations"][0];
    assert_eq!(a["state"], "done");
    assert_eq!(a["predicateTypes"], json!(["https://spdx.dev/Document"]));

    let reg = common::Registry::distribution();
    common::push_layout_raw(&reg, &dir, "big", "big");
    let image = reg.reference("big:big");
    let out = referrify(&["convert", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let out = referrify(&["check", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert_eq!(
        json(&out)["images"][0]["platforms"][0]["subjectsMatch"],
        true
    );

    let limit = referrify::transport::MAX_STATEMENT_BYTES;
    let (_tmp2, over) = big_statement_layout(limit + 1);
    let out = referrify(&[
        "convert",
        "--format",
        "json",
        &format!("oci-layout://{}:big", over.display()),
    ]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains(&limit.to_string()), "names the limit: {text}");
}
