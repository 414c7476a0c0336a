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
