//! The SaaS registries users run, each reproduced by a quirk proxy in front of a real registry
//! (registries.md §1, §2, §10; `tests/common/quirk_proxy.rs`), and what referrify must do there.
//! The real `referrify` binary runs against the proxy with the real BuildKit fixtures.
//!
//! | registry | behind | what the proxy does | what referrify must do |
//! |---|---|---|---|
//! | GHCR | distribution (htpasswd) | referrers → 303 to another host answering 429 | no API, tag schema; the other host gets nothing |
//! | GitLab | distribution | `sha256-<hex>` resolves to the subject; unknown subject refused | say neither mechanism works, write nothing |
//! | Quay | ferro | 400 for unknown subjects, late listing, fallback tag merged, no `OCI-Subject` | API, every attestation verified, rerun writes nothing |
//! | ECR | distribution | `OCI-Subject` without an API, 405 for index subjects | tag schema all the same |
//! | Harbor | distribution | deleting a referrer → 412 "referenced by others" | undo keeps them, with the reason; entries still taken out |
//! | Artifactory < 7.90.1 | distribution | referrers → 406 | no API, tag schema |

mod common;

use common::cli::{code, explain, json, referrify, referrify_with};
use common::fixtures::{Fixture, AMD64, ARM64, EXPECTED_CONVERSIONS, LEGACY_MULTI};
use common::quirk_proxy::{self, QuirkProxy, Seen};
use common::{Registry, MANIFEST_ACCEPT};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const ATTESTATION: &str = "application/vnd.docker.attestation.manifest.v1+json";

/// `(subject, converted artifact)` for each attestation of `LEGACY_MULTI`.
fn multi_artifacts() -> Vec<(&'static str, &'static str)> {
    EXPECTED_CONVERSIONS
        .iter()
        .filter(|e| e.fixture == LEGACY_MULTI.name)
        .map(|e| (e.subject, e.converted))
        .collect()
}

/// `sha256-<hex>` of a digest.
fn referrers_tag(digest: &str) -> String {
    format!("sha256-{}", &digest["sha256:".len()..])
}

/// A fresh repository holding `f` under `tag` in `reg` (pushed to the backend, not recorded).
fn seeded(reg: &Registry, prefix: &str, f: Fixture, tag: &str) -> String {
    let repo = common::unique_repo(prefix);
    if reg.credentials.is_some() {
        common::load_layout(reg, &f.dir(), &format!("{repo}:{tag}"));
    } else {
        common::push_layout_raw(reg, &f.dir(), &repo, tag);
    }
    repo
}

/// Runs referrify with `args`, then `--format json` and the image, through `cfg` if given.
fn run(cfg: Option<&Path>, args: &[&str], image: &str) -> Output {
    let mut all = args.to_vec();
    all.extend(["--format", "json", image]);
    referrify_with(cfg, &all)
}

/// A docker config dir with Basic credentials for `host`.
fn docker_config(host: &str, user: &str, pass: &str) -> tempfile::TempDir {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    dir
}

/// The referrers tag of `subject` as the real registry holds it (`None`: no such tag).
fn tag_index(reg: &Registry, repo: &str, subject: &str) -> Option<Value> {
    let (st, _, body) = common::http_get(
        reg,
        &format!("/v2/{repo}/manifests/{}", referrers_tag(subject)),
        INDEX,
    );
    (st == 200).then(|| serde_json::from_slice(&body).unwrap())
}

fn digests(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["digest"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn listed(proxy: &QuirkProxy) -> Vec<Seen> {
    proxy
        .requests()
        .into_iter()
        .filter(|s| s.path().contains("/referrers/"))
        .collect()
}

/// The attestations of `LEGACY_MULTI` in a convert report: each converted to its expected
/// artifact, made discoverable `via` the API or the tag, and verified. Returns them with their
/// subject.
fn converted_via<'a>(report: &'a Value, via: &str) -> Vec<(&'static str, &'a Value)> {
    assert_eq!(report["summary"]["converted"], 2, "{report:#}");
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
    multi_artifacts()
        .into_iter()
        .map(|(subject, artifact)| {
            let a = report["images"][0]["attestations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["subject"] == subject)
                .unwrap_or_else(|| panic!("no attestation of {subject}: {report:#}"));
            assert_eq!(a["artifact"], artifact, "{a}");
            assert_eq!(a["via"], via, "{a}");
            assert_eq!(a["verified"], true, "{a}");
            (subject, a)
        })
        .collect()
}

/// `convert`, `check` and a second `convert` of `LEGACY_MULTI` in `repo` through `proxy`, on a
/// registry whose quirks all mean "no Referrers API": the tag schema is used and verified,
/// check covers every platform, the rerun writes nothing. Returns what the proxy saw during
/// the first convert.
fn converts_with_the_tag_schema(
    reg: &Registry,
    proxy: &QuirkProxy,
    repo: &str,
    cfg: Option<&Path>,
) -> Vec<Seen> {
    let image = proxy.reference(&format!("{repo}:multi"));
    let out = run(cfg, &["convert"], &image);
    assert_eq!(code(&out), 0, "{}\n{}", explain(&out), proxy.dump());
    let report = json(&out);
    for (subject, a) in converted_via(&report, "tag") {
        assert_eq!(a["referrersTag"], referrers_tag(subject), "{a}");
        let tag = tag_index(reg, repo, subject).expect("the referrers tag was written");
        assert_eq!(digests(&tag["manifests"]), [a["artifact"].clone()], "{tag}");
    }
    let converted = proxy.requests();
    let probes = listed(proxy);
    assert_eq!(
        probes.len(),
        1,
        "one Referrers API probe per repository:\n{}",
        proxy.dump()
    );

    let out = run(cfg, &["check"], &image);
    assert_eq!(code(&out), 0, "{}\n{}", explain(&out), proxy.dump());
    for p in json(&out)["images"][0]["platforms"].as_array().unwrap() {
        assert_eq!(p["discoverable"], "tag", "{p}");
        assert_eq!(p["covered"], true, "{p}");
    }

    proxy.clear();
    let out = run(cfg, &["convert"], &image);
    assert_eq!(code(&out), 0, "{}\n{}", explain(&out), proxy.dump());
    assert!(
        proxy.writes().is_empty(),
        "a rerun writes nothing:\n{}",
        proxy.dump()
    );
    assert_eq!(json(&out)["summary"]["alreadyDone"], 2);
    converted
}

/// GHCR: the referrers endpoint redirects (303) to a rate-limited page on another host (429).
/// referrify does not follow the redirect, takes it as "no Referrers API", uses the tag schema
/// and never talks to the other host, let alone sends it the credentials.
#[test]
fn ghcr_303_to_a_429_page_is_no_api_and_never_followed() {
    let (user, pass) = ("ghcr-user", "ghp_s3cret-TOKEN-42");
    let reg = Registry::distribution_with_htpasswd(user, pass);
    let repo = seeded(&reg, "ghcr", LEGACY_MULTI, "multi");
    let proxy = QuirkProxy::start(&reg, quirk_proxy::ghcr());
    let cfg = docker_config(&proxy.addr, user, pass);

    converts_with_the_tag_schema(&reg, &proxy, &repo, Some(cfg.path()));

    let redirected = proxy.noted("303 to the other host");
    assert!(
        !redirected.is_empty(),
        "the probe met the redirect:\n{}",
        proxy.dump()
    );
    assert!(
        redirected.iter().all(|s| s.authorization.is_some()),
        "the probe went to the registry with the credentials: {redirected:#?}"
    );
    assert!(
        proxy.side_requests().is_empty(),
        "the 429 host received requests: {:#?}",
        proxy.side_requests()
    );
}

/// GitLab: `sha256-<hex>` resolves to the subject manifest itself and there is no OCI
/// referrers endpoint, so neither the Referrers API nor the tag schema can work there.
/// referrify says so plainly, fails the image, and writes nothing at all.
#[test]
fn gitlab_neither_api_nor_tag_schema_is_said_plainly_and_nothing_is_written() {
    let reg = Registry::distribution();
    let repo = seeded(&reg, "gitlab", LEGACY_MULTI, "multi");
    let proxy = QuirkProxy::start(&reg, quirk_proxy::gitlab());

    // The proxy is GitLab: the tag reads as the subject, byte for byte …
    let (st, h, body) = common::http_request(
        &proxy.addr,
        "GET",
        &format!("/v2/{repo}/manifests/{}", referrers_tag(AMD64)),
        &[("accept", MANIFEST_ACCEPT)],
        b"",
    );
    assert_eq!((st, quirk_proxy::sha256(&body)), (200, AMD64.to_string()));
    assert_eq!(h["docker-content-digest"], AMD64);
    // … and a referrer of a subject the repository does not hold is refused.
    let unknown = format!("sha256:{}", "ab".repeat(32));
    let orphan = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": ATTESTATION, "config": {"mediaType": "application/vnd.oci.empty.v1+json",
        "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
        "layers": [], "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": unknown, "size": 9}});
    let orphan = serde_json::to_vec(&orphan).unwrap();
    let (st, _, body) = common::http_request(
        &proxy.addr,
        "PUT",
        &format!("/v2/{repo}/manifests/{}", quirk_proxy::sha256(&orphan)),
        &[("content-type", "application/vnd.oci.image.manifest.v1+json")],
        &orphan,
    );
    let body = String::from_utf8_lossy(&body).to_string();
    assert_eq!(st, 400, "{body}");
    assert!(
        body.contains("MANIFEST_BLOB_UNKNOWN") && body.contains(&unknown),
        "{body}"
    );
    proxy.clear();

    let image = proxy.reference(&format!("{repo}:multi"));
    let out = run(None, &["convert"], &image);
    assert!(
        proxy.writes().is_empty(),
        "nothing may be written where neither mechanism works:\n{}",
        proxy.dump()
    );
    assert_eq!(code(&out), 1, "{}\n{}", explain(&out), proxy.dump());
    let report = json(&out);
    let image_error = report["images"][0]["error"].as_str().unwrap_or("");
    for a in report["images"][0]["attestations"].as_array().unwrap() {
        assert_ne!(a["state"], "done", "{a}");
        assert_ne!(a["pushed"], true, "{a}");
        let said = format!("{} {image_error}", a["reason"].as_str().unwrap_or(""));
        let s = said.to_lowercase();
        assert!(
            s.contains("referrers api")
                && s.contains("tag schema")
                && (s.contains("neither") || s.contains("cannot") || s.contains("can't")),
            "the reason must say plainly that neither the Referrers API nor the tag schema \
             can work on this registry; it says: {said}"
        );
    }
    // The text output says it too.
    let out = referrify(&["convert", &image]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .to_lowercase();
    assert!(
        text.contains("referrers api") && text.contains("tag schema"),
        "{}",
        explain(&out)
    );
    assert!(proxy.writes().is_empty(), "{}", proxy.dump());
}

/// Pushes a subject-less artifact of another tool into `repo` and lists it in the referrers
/// tag of `subject` (as a tool writing the tag schema before Quay had the API would have);
/// returns its digest.
fn foreign_fallback_tag(reg: &Registry, repo: &str, subject: &str) -> String {
    let sig = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
        "layers": []});
    let sig = serde_json::to_vec(&sig).unwrap();
    let digest = quirk_proxy::sha256(&sig);
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": sig.len(),
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"}]});
    for (reference, mt, bytes) in [
        (
            digest.clone(),
            "application/vnd.oci.image.manifest.v1+json",
            sig,
        ),
        (
            referrers_tag(subject),
            INDEX,
            serde_json::to_vec(&index).unwrap(),
        ),
    ] {
        let (st, _, b) = common::http_request(
            &reg.backend_addr,
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("content-type", mt)],
            &bytes,
        );
        assert_eq!(st, 201, "{}", String::from_utf8_lossy(&b));
    }
    digest
}

/// Quay: 400 `MANIFEST_INVALID` for the referrers of an unknown digest, new referrers listed
/// only from the third listing after their push, the fallback tag's descriptors merged into the
/// API's answer, no `OCI-Subject`. referrify uses the API, verifies every attestation (with
/// retries), a rerun writes nothing, and check covers every platform.
#[test]
fn quay_late_listing_and_merged_fallback_tag_are_verified_through_the_api() {
    const LATE: usize = 2;
    let reg = Registry::ferro();
    let repo = seeded(&reg, "quay", LEGACY_MULTI, "multi");
    let foreign = foreign_fallback_tag(&reg, &repo, AMD64);
    let proxy = QuirkProxy::start(&reg, quirk_proxy::quay(LATE));
    let image = proxy.reference(&format!("{repo}:multi"));

    // The proxy is Quay: an unknown subject is a 400, the fallback tag shows in the API.
    let (st, _, body) = common::http_request(
        &proxy.addr,
        "GET",
        &format!("/v2/{repo}/referrers/sha256:{}", "0".repeat(64)),
        &[],
        b"",
    );
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&body));
    let (st, _, body) = common::http_request(
        &proxy.addr,
        "GET",
        &format!("/v2/{repo}/referrers/{AMD64}"),
        &[],
        b"",
    );
    assert_eq!(st, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(digests(&v["manifests"]), std::slice::from_ref(&foreign));
    proxy.clear();

    let out = run(None, &["convert"], &image);
    assert_eq!(code(&out), 0, "{}\n{}", explain(&out), proxy.dump());
    // Listed late, verified all the same.
    converted_via(&json(&out), "api");
    let late = proxy.noted("late listing");
    assert!(
        late.len() >= 2 * LATE,
        "both new referrers were listed late {LATE} times each:\n{}",
        proxy.dump()
    );
    assert!(
        proxy.noted("400 for an unknown subject").is_empty(),
        "referrify probes with the real subject digest:\n{}",
        proxy.dump()
    );
    let writes = proxy.writes();
    assert!(
        writes
            .iter()
            .all(|w| !w.path().contains("/manifests/sha256-")),
        "no referrers tag is written where the API exists:\n{}",
        proxy.dump()
    );
    assert_eq!(
        tag_index(&reg, &repo, AMD64).map(|t| digests(&t["manifests"])),
        Some(vec![foreign.clone()]),
        "the other tool's fallback tag is untouched"
    );
    assert!(tag_index(&reg, &repo, ARM64).is_none());

    proxy.clear();
    let out = run(None, &["convert"], &image);
    assert_eq!(code(&out), 0, "{}\n{}", explain(&out), proxy.dump());
    assert!(
        proxy.writes().is_empty(),
        "a rerun writes nothing:\n{}",
        proxy.dump()
    );
    assert_eq!(json(&out)["summary"]["alreadyDone"], 2, "{}", explain(&out));

    let out = run(None, &["check"], &image);
    assert_eq!(code(&out), 0, "{}\n{}", explain(&out), proxy.dump());
    for p in json(&out)["images"][0]["platforms"].as_array().unwrap() {
        assert_eq!(p["discoverable"], "api", "{p}");
        assert_eq!(p["covered"], true, "{p}");
        let (_, artifact) = multi_artifacts()
            .into_iter()
            .find(|(s, _)| p["digest"] == *s)
            .unwrap();
        assert_eq!(
            p["referrers"],
            serde_json::json!([artifact]),
            "attestation referrers only, once each (the merged cosign entry is filtered out): {p}"
        );
    }
}

/// Quay answers 400 for the referrers of a digest it does not hold. Here the first platform
/// manifest of the image was deleted from the repository (the index still names it), so the
/// probe meets that 400 first. It means "unknown subject", not "no Referrers API"
/// (registries.md §2, §3): referrify must not fall back to the tag schema on a registry that
/// has the API; the other platform's attestation goes through the API and is verified.
#[test]
fn quay_400_for_a_missing_subject_is_not_taken_as_no_api() {
    let reg = Registry::ferro();
    let repo = seeded(&reg, "quay-gone", LEGACY_MULTI, "multi");
    let (st, _, b) = common::http_request(
        &reg.backend_addr,
        "DELETE",
        &format!("/v2/{repo}/manifests/{AMD64}"),
        &[],
        b"",
    );
    assert_eq!(st / 100, 2, "{}", String::from_utf8_lossy(&b));
    let proxy = QuirkProxy::start(&reg, quirk_proxy::quay(0));

    let out = run(
        None,
        &["convert"],
        &proxy.reference(&format!("{repo}:multi")),
    );
    assert!(
        !proxy.noted("400 for an unknown subject").is_empty(),
        "the probe met Quay's 400:\n{}",
        proxy.dump()
    );
    assert!(
        proxy
            .writes()
            .iter()
            .all(|w| !w.path().contains("/manifests/sha256-")),
        "a referrers tag was written on a registry with the Referrers API:\n{}\n{}",
        proxy.dump(),
        explain(&out)
    );
    let report = json(&out);
    let atts = report["images"][0]["attestations"].as_array().unwrap();
    let arm = atts.iter().find(|a| a["subject"] == ARM64).unwrap();
    assert_eq!(arm["via"], "api", "{arm}");
    assert_eq!(arm["verified"], true, "{arm}");
    let amd = atts.iter().find(|a| a["subject"] == AMD64).unwrap();
    assert_ne!(amd["via"], "tag", "{amd}");
}

/// ECR: `OCI-Subject` comes back on every manifest PUT with a subject although there is no
/// Referrers API; the referrers of an index answer 405. The header is a hint, never proof:
/// referrify uses the tag schema, and convert and check succeed.
#[test]
fn ecr_oci_subject_without_an_api_still_uses_the_tag_schema() {
    let reg = Registry::distribution();
    let repo = seeded(&reg, "ecr", LEGACY_MULTI, "multi");
    let proxy = QuirkProxy::start(&reg, quirk_proxy::ecr());

    // The proxy is ECR: the referrers of the index are a 405.
    let (st, _, _) = common::http_request(
        &proxy.addr,
        "GET",
        &format!("/v2/{repo}/referrers/{}", LEGACY_MULTI.index),
        &[],
        b"",
    );
    assert_eq!(st, 405);
    proxy.clear();

    let converted = converts_with_the_tag_schema(&reg, &proxy, &repo, None);
    let hinted = converted
        .iter()
        .filter(|s| s.note == Some("OCI-Subject sent"))
        .count();
    assert_eq!(
        hinted, 2,
        "both artifact pushes got the header: {converted:#?}"
    );
}

/// Harbor refuses to delete an artifact that is "referenced by others" (412). `undo` takes our
/// entries out of the referrers tags all the same, reports the artifacts as kept with the
/// registry's reason, and exits 0 (kept artifacts are not a failure: README, "Taking it back").
#[test]
fn harbor_refused_deletes_are_kept_with_the_reason_and_the_entries_still_go() {
    let reg = Registry::distribution();
    let repo = seeded(&reg, "harbor", LEGACY_MULTI, "multi");
    let out = run(None, &["convert"], &reg.reference(&format!("{repo}:multi")));
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let proxy = QuirkProxy::start(&reg, quirk_proxy::harbor());

    let out = run(None, &["undo"], &proxy.reference(&format!("{repo}:multi")));
    assert_eq!(code(&out), 0, "{}\n{}", explain(&out), proxy.dump());
    let report = json(&out);
    let img = &report["images"][0];
    assert_eq!(img["status"], "undone", "{img:#}");
    assert_eq!(img["removedEntries"], 2, "{img:#}");
    let mut deleted: Vec<String> = img["tagsDeleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    deleted.sort();
    let mut want: Vec<String> = [AMD64, ARM64].iter().map(|d| referrers_tag(d)).collect();
    want.sort();
    assert_eq!(deleted, want, "{img:#}");
    assert_eq!(img["artifactsDeleted"], serde_json::json!([]), "{img:#}");
    let kept = img["artifactsKept"].as_array().unwrap();
    let mut kept_digests = digests(&img["artifactsKept"]);
    kept_digests.sort();
    let mut artifacts: Vec<String> = multi_artifacts()
        .iter()
        .map(|(_, a)| a.to_string())
        .collect();
    artifacts.sort();
    assert_eq!(kept_digests, artifacts, "{img:#}");
    for k in kept {
        let m = k["message"].as_str().unwrap_or("");
        assert!(
            m.contains("the deleting artifact is referenced by others") && m.contains("412"),
            "the registry's reason: {k}"
        );
    }
    assert_eq!(report["summary"]["artifactsKept"], 2);
    assert_eq!(proxy.noted("delete refused").len(), 2, "{}", proxy.dump());
    for (subject, artifact) in multi_artifacts() {
        assert!(
            tag_index(&reg, &repo, subject).is_none(),
            "tag of {subject}"
        );
        let (st, _, _) = common::http_get(
            &reg,
            &format!("/v2/{repo}/manifests/{artifact}"),
            MANIFEST_ACCEPT,
        );
        assert_eq!(st, 200, "the refused artifact is still there");
    }
}

/// Artifactory before 7.90.1: the referrers endpoint answers 406, which means no API.
#[test]
fn artifactory_406_is_no_api() {
    let reg = Registry::distribution();
    let repo = seeded(&reg, "artifactory", LEGACY_MULTI, "multi");
    let proxy = QuirkProxy::start(&reg, quirk_proxy::artifactory_old());
    converts_with_the_tag_schema(&reg, &proxy, &repo, None);
    assert!(
        listed(&proxy).iter().all(|s| s.status == 406),
        "{}",
        proxy.dump()
    );
}

/// Docker Hub keeps credentials under `https://index.docker.io/v1/`: whichever name the
/// registry goes by, that entry is found (the unit tests in `src/transport/credentials.rs`
/// cover `identitytoken` for `docker.io` only; this covers Basic `auth` for all three names).
#[test]
fn docker_hub_credentials_are_found_under_the_index_key() {
    use referrify::transport::credentials::{lookup, Credential};
    let cfg = docker_config("https://index.docker.io/v1/", "hub-user", "hub-pass");
    let path = cfg.path().join("config.json");
    for name in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
        assert_eq!(
            lookup(&path, name).unwrap(),
            Some(Credential::Basic {
                username: "hub-user".into(),
                password: "hub-pass".into()
            }),
            "{name}"
        );
    }
    assert_eq!(lookup(&path, "ghcr.io").unwrap(), None);
}

/// Docker Hub: a cross-repository mount needs a token that can also pull the source
/// repository (rust-oci-client#235); Hub refuses the mount otherwise. `migrate` over two
/// repositories behind Hub-style token auth uploads the `{}` blob once, and the other
/// repository mounts it with a token that names the source: no mount is refused, nothing is
/// uploaded twice.
#[test]
fn docker_hub_mounts_with_a_token_that_can_pull_the_source() {
    let reg = Registry::distribution();
    let prefix = common::unique_repo("hub");
    let repos = [format!("{prefix}/a"), format!("{prefix}/b")];
    common::seed_many(&reg, LEGACY_MULTI, &repos, "multi");
    let proxy = QuirkProxy::start(&reg, quirk_proxy::docker_hub());
    let cfg = docker_config(&proxy.addr, "hub-user", "hub-pass");

    // The proxy is Hub: a token for the target alone does not let a mount through.
    let basic = common::basic_auth("hub-user", "hub-pass");
    let (st, _, body) = common::http_request(
        &proxy.addr,
        "GET",
        &format!(
            "/token?service=registry.docker.io&scope=repository%3A{}%3Apull%2Cpush",
            repos[1].replace('/', "%2F")
        ),
        &[("authorization", &basic)],
        b"",
    );
    assert_eq!(st, 200);
    let token: Value = serde_json::from_slice(&body).unwrap();
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    let (st, h, _) = common::http_request(
        &proxy.addr,
        "POST",
        &format!(
            "/v2/{}/blobs/uploads/?mount={}&from={}",
            repos[1], LEGACY_MULTI.attestations[0].1, repos[0]
        ),
        &[("authorization", &bearer)],
        b"",
    );
    assert_eq!(st, 401);
    assert!(h["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("pull,push"));
    proxy.clear();

    let out = referrify_with(
        Some(cfg.path()),
        &[
            "migrate",
            &proxy.addr,
            "--repo",
            &repos[0],
            "--repo",
            &repos[1],
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}\n{}", explain(&out), proxy.dump());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["converted"], 4, "{summary}");
    assert!(summary.get("mountsRefused").is_none(), "{summary}");

    let seen = proxy.requests();
    assert!(
        proxy
            .noted("mount refused: no pull on the source")
            .is_empty(),
        "{}",
        proxy.dump()
    );
    let mounts: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.note == Some("mount allowed"))
        .collect();
    assert_eq!(
        mounts.len(),
        1,
        "one repository mounts {{}}:\n{}",
        proxy.dump()
    );
    assert_eq!(mounts[0].status, 201, "{}", proxy.dump());
    let uploads = seen
        .iter()
        .filter(|s| s.method == "POST" && s.path().ends_with("/blobs/uploads/"))
        .filter(|s| !s.path_and_query.contains("mount="))
        .count();
    assert_eq!(uploads, 1, "{{}} uploaded once:\n{}", proxy.dump());
    // The mount's token was asked for with pull on the source repository.
    let from = mounts[0]
        .path_and_query
        .split("from=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .replace("%2F", "/");
    let pull_source = format!("repository%3A{}%3Apull", from.replace('/', "%2F"));
    assert!(
        seen.iter()
            .any(|s| s.note == Some("token") && s.path_and_query.contains(&pull_source)),
        "no token asked for pull on {from}:\n{}",
        proxy.dump()
    );
}
