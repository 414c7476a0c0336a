//! Issue 14: `convert --repair-tag-entries` on a real registry without the Referrers API
//! (distribution), checked with `oras discover --artifact-type` as the independent client, and
//! `undo` restoring the tag's original bytes.

mod common;

use common::cli::{code, explain, json, referrify};
use common::fixtures::{AMD64, LEGACY_MULTI};
use common::{load_layout, Registry};
use serde_json::{json, Value};

const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A referrers tag as go-containerregistry wrote it before v0.22.1 (cosign#5098): the entry
/// has no `artifactType` and no annotations, so `oras discover --artifact-type` misses it.
/// `convert --repair-tag-entries` adds exactly those two members, read from the manifest; `undo`
/// gives the tag its original bytes back.
#[test]
fn repair_fills_in_tag_entries_and_undo_restores_the_bytes() {
    let reg = Registry::distribution();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo = common::unique_repo("repair");
    load_layout(&reg, &LEGACY_MULTI.dir(), &format!("{repo}:multi"));
    let repo_ref = reg.reference(&repo);
    let config = common::oras_push_blob(&repo_ref, dir, "application/vnd.oci.empty.v1+json", b"{}");
    let layer = common::oras_push_blob(
        &repo_ref,
        dir,
        BUNDLE,
        br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#,
    );
    let amd64_size = common::http_get(
        &reg,
        &format!("/v2/{repo}/manifests/{AMD64}"),
        common::MANIFEST_ACCEPT,
    )
    .2
    .len();
    let bundle = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": BUNDLE,
        "config": config,
        "layers": [layer],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": AMD64, "size": amd64_size},
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1",
            "org.opencontainers.image.created": "2026-11-29T00:00:00Z"
        }
    }))
    .unwrap();
    let bundle_digest = common::sha256_digest(&bundle);
    let put = |reference: &str, bytes: &[u8], media_type: &str| {
        let (status, _, body) = common::registry_request(
            &reg,
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("content-type", media_type)],
            bytes,
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    };
    put(
        &bundle_digest,
        &bundle,
        "application/vnd.oci.image.manifest.v1+json",
    );
    let entry = format!(
        r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":{},"digest":"{bundle_digest}"}}"#,
        bundle.len()
    );
    let original = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{entry}]}}"#
    );
    let tag = format!("sha256-{}", &AMD64[7..]);
    put(
        &tag,
        original.as_bytes(),
        "application/vnd.oci.image.index.v1+json",
    );
    let subject = reg.reference(&format!("{repo}@{AMD64}"));
    let typed = [
        "--distribution-spec",
        "v1.1-referrers-tag",
        "--artifact-type",
        BUNDLE,
    ];
    let found = |v: &Value| common::oras_referrer_digests(v).contains(&bundle_digest);
    assert!(
        !found(&common::oras_discover(&subject, &typed)),
        "found before the repair"
    );

    let image = reg.reference(&format!("{repo}:multi"));
    // A dry run reports the entry and writes nothing.
    reg.clear_requests();
    let dry = [
        "convert",
        "--repair-tag-entries",
        "--dry-run",
        "--format",
        "json",
    ];
    let out = referrify(&[&dry[..], &[image.as_str()]].concat());
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let planned = json(&out)["images"][0]["repairedEntries"].clone();
    assert_eq!(planned[0]["digest"], bundle_digest.as_str(), "{planned:#}");
    assert!(
        reg.write_requests().is_empty(),
        "{:#?}",
        reg.write_requests()
    );
    let out = referrify(&[
        "convert",
        "--repair-tag-entries",
        "--format",
        "json",
        &image,
    ]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let r = json(&out);
    let repaired = r["images"][0]["repairedEntries"].as_array().unwrap();
    assert_eq!(repaired.len(), 1, "{r:#}");
    assert_eq!(repaired[0]["tag"], tag.as_str());
    assert_eq!(repaired[0]["digest"], bundle_digest.as_str());
    assert_eq!(repaired[0]["artifactType"], BUNDLE);
    // Exactly the two members, in front of the entry's own bytes; nothing else of it changed.
    let after = common::http_get(
        &reg,
        &format!("/v2/{repo}/manifests/{tag}"),
        "application/vnd.oci.image.index.v1+json",
    )
    .2;
    let after = String::from_utf8(after).unwrap();
    let filled = format!(
        r#"{{"artifactType":"{BUNDLE}","annotations":{{"dev.sigstore.bundle.content":"dsse-envelope","dev.sigstore.bundle.predicateType":"https://slsa.dev/provenance/v1","org.opencontainers.image.created":"2026-11-29T00:00:00Z"}},{}"#,
        &entry[1..]
    );
    assert!(after.contains(&filled), "{after}");
    assert!(
        found(&common::oras_discover(&subject, &typed)),
        "oras finds it by type"
    );
    // The check now classifies it from the listing alone.
    let out = referrify(&[
        "check",
        "--format",
        "json",
        "--require",
        "provenance",
        &image,
    ]);
    assert_eq!(code(&out), 0, "{}", explain(&out));

    // A second repair finds nothing to do.
    let out = referrify(&[
        "convert",
        "--repair-tag-entries",
        "--format",
        "json",
        &image,
    ]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(json(&out)["images"][0].get("repairedEntries").is_none());

    let out = referrify(&["undo", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert_eq!(
        json(&out)["images"][0]["restoredEntries"],
        1,
        "{}",
        explain(&out)
    );
    let back = common::http_get(
        &reg,
        &format!("/v2/{repo}/manifests/{tag}"),
        "application/vnd.oci.image.index.v1+json",
    )
    .2;
    assert_eq!(
        String::from_utf8(back).unwrap(),
        original,
        "undo restores the original bytes"
    );
}
