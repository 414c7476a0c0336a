//! Issue 14: `check` classifies the whole supply chain. Referrers are made by an independent
//! client (`oras attach`, `oras manifest push`) with the artifactTypes and annotations of
//! formats.md §14, onto platform manifests and onto the index, on a registry with the Referrers
//! API (ferro) and one without (distribution); cosign's tag-scheme tags are pushed as the
//! manifests cosign writes. Every printed verify command must parse as shell words.

mod common;

use common::cli::{code, explain, json, referrify};
use common::fixtures::{AMD64, ARM64, LEGACY_MULTI};
use common::{load_layout, oras, Registry, RegistryKind};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const NOTATION: &str = "application/vnd.cncf.notary.signature";
const COSIGN_SIG: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

fn spec(kind: RegistryKind) -> &'static str {
    if kind.has_referrers_api() {
        "v1.1-referrers-api"
    } else {
        "v1.1-referrers-tag"
    }
}

/// `oras attach` of one file as `layer_type` with `artifact_type` and `annotations`.
fn attach(
    kind: RegistryKind,
    subject: &str,
    dir: &Path,
    artifact_type: &str,
    layer_type: &str,
    annotations: &[&str],
) {
    let name = "payload.json";
    std::fs::write(dir.join(name), br#"{"payload":"x"}"#).unwrap();
    let file = format!("{name}:{layer_type}");
    let mut args = vec![
        "attach",
        "--plain-http",
        "--distribution-spec",
        spec(kind),
        "--artifact-type",
        artifact_type,
    ];
    for a in annotations {
        args.extend(["--annotation", a]);
    }
    args.extend([subject, file.as_str()]);
    let out = std::process::Command::new(common::tool("oras", "REFERRIFY_ORAS"))
        .args(&args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "oras {args:?}: {}", explain(&out));
}

/// Pushes `manifest` with `oras manifest push` (oras lists it in the referrers tag where the
/// registry has no API) and returns its digest.
fn push_manifest(kind: RegistryKind, target: &str, dir: &Path, manifest: &Value) -> String {
    let bytes = serde_json::to_vec(manifest).unwrap();
    let path = dir.join("manifest.json");
    std::fs::write(&path, &bytes).unwrap();
    let p = path.to_str().unwrap();
    let out = oras(&[
        "manifest",
        "push",
        "--plain-http",
        "--distribution-spec",
        spec(kind),
        "--media-type",
        "application/vnd.oci.image.manifest.v1+json",
        target,
        p,
    ]);
    assert!(out.status.success(), "{}", explain(&out));
    common::sha256_digest(&bytes)
}

/// Every platform's items as `(platform, kind, on, discoverable)`.
fn items(report: &Value, at: &str) -> BTreeSet<(String, String, String, String)> {
    let mut out = BTreeSet::new();
    for p in report.pointer(at).unwrap().as_array().unwrap() {
        for i in p["supply"]["items"].as_array().unwrap() {
            out.insert((
                p["platform"].as_str().unwrap().to_string(),
                i["kind"].as_str().unwrap().to_string(),
                i["on"].as_str().unwrap().to_string(),
                i["discoverable"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

/// Every verify command parses as shell words and ends with a reference into `repo`.
fn commands_are_well_formed(report: &Value, at: &str, repo: &str) -> usize {
    let mut n = 0;
    for p in report.pointer(at).unwrap().as_array().unwrap() {
        for c in p["supply"]["verify"].as_array().unwrap() {
            let c = c.as_str().unwrap();
            let words = shlex::split(c).unwrap_or_else(|| panic!("not shell words: {c}"));
            assert!(
                ["cosign", "gh", "notation", "oras"].contains(&words[0].as_str()),
                "{c}"
            );
            let last = words.last().unwrap();
            assert!(last.contains(&format!("/{repo}@sha256:")), "{c}");
            n += 1;
        }
    }
    n
}

/// The image lines of `check REGISTRY --format json` (a JSON line per image).
fn image_lines(out: &std::process::Output) -> Vec<Value> {
    common::cli::json_lines(out)
        .into_iter()
        .filter(|l| l["type"] == "image")
        .collect()
}

fn unmet(report: &Value, at: &str) -> Vec<String> {
    report
        .pointer(at)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["supply"]["unmet"].as_array().unwrap().clone())
        .map(|u| u.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn referrers_of_platforms_and_index_are_classified_and_gated() {
    // ferro (API), distribution (no API), and go-containerregistry's registry with the API (it
    // lists config.mediaType as artifactType, so referrers are read to be classified) and
    // without it.
    let kinds = [
        RegistryKind::Ferro,
        RegistryKind::Distribution,
        RegistryKind::Ggcr,
        RegistryKind::GgcrNoApi,
    ];
    for kind in kinds {
        let reg = Registry::start(kind);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let repo = common::unique_repo("supply");
        load_layout(&reg, &LEGACY_MULTI.dir(), &format!("{repo}:multi"));
        let image = reg.reference(&format!("{repo}:multi"));
        let out = referrify(&["convert", "-q", &image]);
        assert_eq!(code(&out), 0, "{}", explain(&out));

        // BuildKit's SBOM and provenance are discoverable now; no signature yet.
        let all = "sbom,provenance,signature";
        let out = referrify(&["check", "--format", "json", "--require", all, &image]);
        assert_eq!(code(&out), 3, "{kind:?}: {}", explain(&out));
        let r = json(&out);
        let u = unmet(&r, "/images/0/platforms");
        assert_eq!(u.len(), 2, "{u:?}");
        assert!(u.iter().all(|u| u.starts_with("signature: ")), "{u:?}");
        let out = referrify(&["check", "--require", "sbom,provenance", &image]);
        assert_eq!(code(&out), 0, "{kind:?}: {}", explain(&out));

        let old_digest = attach_foreign(kind, &reg, &repo, dir);

        let out = referrify(&["check", "--format", "json", "--require", all, &image]);
        assert_eq!(code(&out), 0, "{kind:?}: {}", explain(&out));
        let r = json(&out);
        let got = items(&r, "/images/0/platforms");
        let want = |p: &str, k: &str, on: &str| {
            assert!(
                got.contains(&(p.into(), k.into(), on.into(), "referrers".into())),
                "{kind:?}: no {k} on {on} for {p}: {got:#?}"
            )
        };
        for p in ["linux/amd64", "linux/arm64"] {
            want(p, "buildkit-attestation", "platform");
            want(p, "sigstore-signature", "index");
        }
        want("linux/amd64", "sigstore-attestation", "platform");
        want("linux/amd64", "notation-signature", "platform");
        want("linux/amd64", "cosign-signature", "platform");
        want("linux/amd64", "other", "platform");
        want("linux/arm64", "notation-signature", "platform");
        let arm = &r["images"][0]["platforms"][1];
        assert_eq!(arm["platform"], "linux/arm64");
        assert!(
            arm["supply"]["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["digest"] == old_digest.as_str()),
            "{arm:#}"
        );
        // Platform evidence is preferred to the index's.
        assert_eq!(arm["supply"]["signature"]["on"], "platform", "{arm:#}");
        assert_eq!(
            r["summary"]["supply"],
            json!({"platforms": 2, "sbom": 2, "provenance": 2, "signature": 2, "unmet": 0})
        );
        let n = commands_are_well_formed(&r, "/images/0/platforms", &repo);
        assert!(n >= 8, "{n} verify commands");
        page_and_text_show_the_totals(dir, &image);

        // The registry-wide check applies --require too.
        let out = referrify(&[
            "check",
            &reg.addr,
            "--repo",
            &repo,
            "--format",
            "json",
            "--require",
            all,
        ]);
        assert_eq!(code(&out), 0, "{kind:?}: {}", explain(&out));
        let images = image_lines(&out);
        let image = images
            .iter()
            .find(|i| i["digest"] == LEGACY_MULTI.index)
            .unwrap();
        assert_eq!(items(image, "/platforms"), got, "{kind:?}");
    }
}

/// cosign ≤ 2's tag scheme: `sha256-<hex>.sig` and `.att` next to the image, with the
/// manifests cosign writes (a simple-signing layer with the signature annotation; a DSSE layer
/// with `predicateType`). Found by the registry-wide check from the tag list it reads: the
/// `.sig` costs no request, the `.att` one (its predicate type); both are reported as
/// discoverable only to cosign.
#[test]
fn cosign_tag_scheme_is_found_from_the_tag_list() {
    let reg = Registry::distribution();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo = common::unique_repo("cosigntag");
    load_layout(&reg, &LEGACY_MULTI.dir(), &format!("{repo}:multi"));
    let image = reg.reference(&format!("{repo}:multi"));
    let out = referrify(&["convert", "-q", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let gate = [
        "--repo",
        &repo,
        "--format",
        "json",
        "--require",
        "signature",
    ];
    let check_registry = || {
        let mut args = vec!["check", reg.addr.as_str()];
        args.extend(gate);
        referrify(&args)
    };
    let out = check_registry();
    assert_eq!(code(&out), 3, "no signature yet: {}", explain(&out));
    let u = unmet(&image_lines(&out)[0], "/platforms");
    assert_eq!(u.len(), 2, "{u:?}");
    assert!(u.iter().all(|u| u.starts_with("signature: ")), "{u:?}");

    let repo_ref = reg.reference(&repo);
    let config = common::oras_push_blob(
        &repo_ref,
        dir,
        "application/vnd.oci.image.config.v1+json",
        br#"{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let mut sig_layer = common::oras_push_blob(
        &repo_ref,
        dir,
        "application/vnd.dev.cosign.simplesigning.v1+json",
        br#"{"critical":{"identity":{"docker-reference":"x"},"image":{"docker-manifest-digest":"sha256:00"},"type":"cosign container image signature"},"optional":null}"#,
    );
    sig_layer["annotations"] = json!({"dev.cosignproject.cosign/signature": "MEUCIQ=="});
    let mut att_layer = common::oras_push_blob(
        &repo_ref,
        dir,
        "application/vnd.dsse.envelope.v1+json",
        br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}"#,
    );
    att_layer["annotations"] = json!({
        "dev.cosignproject.cosign/signature": "",
        "predicateType": "https://spdx.dev/Document"
    });
    let manifest = |layer: &Value| {
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": [layer]
        })
    };
    let sig_tag = format!("sha256-{}.sig", &LEGACY_MULTI.index[7..]);
    let att_tag = format!("sha256-{}.att", &AMD64[7..]);
    let kind = RegistryKind::Distribution;
    push_manifest(
        kind,
        &format!("{repo_ref}:{sig_tag}"),
        dir,
        &manifest(&sig_layer),
    );
    push_manifest(
        kind,
        &format!("{repo_ref}:{att_tag}"),
        dir,
        &manifest(&att_layer),
    );

    reg.clear_requests();
    let out = check_registry();
    assert_eq!(code(&out), 0, "{}", explain(&out));
    // The .sig and .att tags are not images: one image.
    let images = image_lines(&out);
    assert_eq!(images.len(), 1, "{images:#?}");
    let r = &images[0];
    let reads = |tag: &str| {
        reg.requests()
            .iter()
            .filter(|q| q.path().ends_with(tag))
            .count()
    };
    assert_eq!(
        reads(&sig_tag),
        0,
        "the .sig tag is known from the tag list"
    );
    assert_eq!(
        reads(&att_tag),
        1,
        "the .att tag is read once, for its predicate type"
    );
    let at = "/platforms";
    let got = items(r, at);
    for p in ["linux/amd64", "linux/arm64"] {
        let sig = (
            p.into(),
            "cosign-tag-signature".into(),
            "index".into(),
            "cosign-tag".into(),
        );
        assert!(got.contains(&sig), "{got:#?}");
    }
    let amd = &r["platforms"][0];
    let att = amd["supply"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "cosign-tag-attestation")
        .unwrap_or_else(|| panic!("{amd:#}"));
    assert_eq!(att["tag"], att_tag.as_str());
    assert_eq!(att["predicateTypes"], json!(["https://spdx.dev/Document"]));
    commands_are_well_formed(r, at, &repo);

    // `check IMAGE` reads no tag list, so it says where to look.
    let out = referrify(&[
        "check",
        "--format",
        "json",
        "--require",
        "signature",
        &image,
    ]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    let u = unmet(&json(&out), "/images/0/platforms");
    assert!(u.iter().all(|u| u.contains("registry-wide")), "{u:?}");
}

/// Referrers made by oras as the other tools make them: a Sigstore message signature on the
/// index; a DSSE provenance bundle, a Notation, a cosign OCI 1.1 signature and something else on
/// amd64; Notation's older form (no artifactType, the type as config.mediaType) on arm64, whose
/// digest is returned.
fn attach_foreign(kind: RegistryKind, reg: &Registry, repo: &str, dir: &Path) -> String {
    let at = |d: &str| reg.reference(&format!("{repo}@{d}"));
    // A Sigstore message signature on the index covers both platforms.
    attach(
        kind,
        &at(LEGACY_MULTI.index),
        dir,
        BUNDLE,
        BUNDLE,
        &["dev.sigstore.bundle.content=message-signature"],
    );
    // On amd64: a DSSE provenance bundle, Notation, cosign OCI 1.1, something else.
    attach(
        kind,
        &at(AMD64),
        dir,
        BUNDLE,
        BUNDLE,
        &[
            "dev.sigstore.bundle.content=dsse-envelope",
            "dev.sigstore.bundle.predicateType=https://slsa.dev/provenance/v1",
        ],
    );
    attach(
        kind,
        &at(AMD64),
        dir,
        NOTATION,
        "application/jose+json",
        &[],
    );
    attach(
        kind,
        &at(AMD64),
        dir,
        COSIGN_SIG,
        "application/vnd.dev.cosign.simplesigning.v1+json",
        &["dev.cosignproject.cosign/signature=MEUCIQ"],
    );
    attach(
        kind,
        &at(AMD64),
        dir,
        "application/vnd.example.thing",
        "text/plain",
        &[],
    );
    // On arm64: Notation's older form (no artifactType; the type as config.mediaType).
    let repo_ref = reg.reference(repo);
    let config = common::oras_push_blob(&repo_ref, dir, NOTATION, b"{}");
    let sig = common::oras_push_blob(&repo_ref, dir, "application/cose", b"cose-signature");
    let arm64_size = common::http_get(
        reg,
        &format!("/v2/{repo}/manifests/{ARM64}"),
        common::MANIFEST_ACCEPT,
    )
    .2
    .len();
    let old = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [sig],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ARM64, "size": arm64_size},
        "annotations": {"io.cncf.notary.x509chain.thumbprint#S256": "[\"ab\"]"}
    });
    // By digest: a tag would make it an image of the registry-wide check.
    let old_digest = common::sha256_digest(&serde_json::to_vec(&old).unwrap());
    push_manifest(kind, &format!("{repo_ref}@{old_digest}"), dir, &old);
    old_digest
}

/// The text totals line and the HTML page's totals and columns of a fully covered image.
fn page_and_text_show_the_totals(dir: &Path, image: &str) {
    let html = dir.join("coverage.html");
    let text = referrify(&["check", "--html", html.to_str().unwrap(), image]);
    let page = std::fs::read_to_string(&html).unwrap();
    for key in ["sbom", "provenance", "signature"] {
        assert!(
            page.contains(&format!(
                r#"data-total="{key}"><div class="value">2 of 2</div>"#
            )),
            "{key} total on the page"
        );
        assert!(
            page.contains(&format!(r#"data-key="{key}""#)),
            "{key} column"
        );
    }
    assert!(
        page.contains("platform referrer (notation-signature)"),
        "signature cell"
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(
            "2 of 2 platforms have a discoverable SBOM, 2 of 2 provenance, 2 of 2 a signature"
        ),
        "{text}"
    );
}
