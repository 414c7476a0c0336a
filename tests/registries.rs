//! Every registry the harness can start (`RegistryKind::EVERY`), end to end with the real
//! `legacy-multi` fixture: distribution 2.8.2 (no API), ferro-oci-server (API),
//! go-containerregistry's registry with the API (which labels referrers by `config.mediaType`) and
//! without it (`crane registry serve`), and distribution with token auth (Docker Hub's scheme).
//! Each registry is fresh, per test, on free 127.0.0.1 ports behind the recording proxy, so the
//! tests run in parallel.
//!
//! Per kind: `check` (exit 3) → `convert --dry-run` (no writes) → `convert` (done, verified) → a
//! rerun (no writes, unchanged) → `check` (covered) → `oras discover`; and `migrate` of seeded
//! repositories → `check REGISTRY` (exit 0) → `undo` (every tag and digest as before).
//! Token auth also: `migrate` over five repositories (cross-repository mounts need a token for
//! both repositories) with the token requests counted, `undo` (deletes need the `delete` action),
//! anonymous `check`, an identity token, and 3-second tokens during a slow run.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;
use std::time::{Duration, Instant};

use common::cli::{
    code, docker_config_identity_token, explain, json, json_lines, referrify, referrify_as,
    referrify_with,
};
use common::fixtures::{AMD64, ARM64, LEGACY_MULTI};
use common::{
    load_layout, manifest_digest, oras, oras_discover, oras_referrers, registry_request, Registry,
    RegistryKind, TokenRequest, TOKEN_PASSWORD, TOKEN_REFRESH_TOKEN, TOKEN_USER,
};
use serde_json::Value;

const ATTESTATION_TYPE: &str = "application/vnd.docker.attestation.manifest.v1+json";
const EMPTY_CONFIG_TYPE: &str = "application/vnd.oci.empty.v1+json";
const MULTI_AMD64_ARTIFACT: &str =
    "sha256:ec50a12a05f37a57c1c48ab7a7e27d52aac56b83c3b078fdc79342b109774baf";
const MULTI_ARM64_ARTIFACT: &str =
    "sha256:94b093a90d4c9d934cf4dd7ae72530a5d177da708b57e6bb9c87ef2bbef8db13";
/// `(subject, the artifact referrify makes of its legacy attestation)` for `legacy-multi`.
const MULTI: [(&str, &str); 2] = [(AMD64, MULTI_AMD64_ARTIFACT), (ARM64, MULTI_ARM64_ARTIFACT)];

/// A fresh repository (named after `prefix`) holding `legacy-multi` as `:multi`; returns the
/// repository and the image reference through the proxy.
fn load_multi(reg: &Registry, prefix: &str) -> (String, String) {
    let repo = common::unique_repo(prefix);
    load_layout(reg, &LEGACY_MULTI.dir(), &format!("{repo}:multi"));
    let image = reg.reference(&format!("{repo}:multi"));
    (repo, image)
}

/// `"api"` where the registry has the Referrers API, else `"tag"`.
fn via(kind: RegistryKind) -> &'static str {
    if kind.has_referrers_api() {
        "api"
    } else {
        "tag"
    }
}

/// `oras discover` with the registry's credentials; the referrer descriptors it lists.
fn oras_listing(reg: &Registry, repo: &str, subject: &str, extra: &[&str]) -> Vec<Value> {
    let auth = reg.oras_auth_args();
    let mut args: Vec<&str> = auth.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    oras_referrers(&oras_discover(
        &reg.reference(&format!("{repo}@{subject}")),
        &args,
    ))
}

fn oras_digests(reg: &Registry, repo: &str, subject: &str, extra: &[&str]) -> BTreeSet<String> {
    oras_listing(reg, repo, subject, extra)
        .iter()
        .map(|d| d["digest"].as_str().expect("referrer digest").to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// What oras finds for each platform manifest of `legacy-multi` in `repo`, asked every way that
/// applies to this registry: auto mode without a filter; with `--artifact-type` (nothing on ggcr,
/// which labels referrers by their config media type); pinned to the mechanism it has.
fn assert_oras_finds_the_artifacts(reg: &Registry, repo: &str) {
    let kind = reg.kind;
    for (subject, artifact) in MULTI {
        let want = set(&[artifact]);
        assert_eq!(
            oras_digests(reg, repo, subject, &[]),
            want,
            "{kind:?}: oras discover {subject}"
        );
        let filtered = oras_digests(reg, repo, subject, &["--artifact-type", ATTESTATION_TYPE]);
        if kind.lists_artifact_type() {
            assert_eq!(filtered, want, "{kind:?}: oras --artifact-type");
        } else {
            assert!(
                filtered.is_empty(),
                "{kind:?} lists referrers by config.mediaType, so the filter finds nothing: {filtered:?}"
            );
            let listed = oras_listing(reg, repo, subject, &[]);
            assert_eq!(
                listed[0]["artifactType"], EMPTY_CONFIG_TYPE,
                "{kind:?} labels our artifact by its config: {listed:?}"
            );
        }
        let spec = if kind.has_referrers_api() {
            "v1.1-referrers-api"
        } else {
            "v1.1-referrers-tag"
        };
        assert_eq!(
            oras_digests(reg, repo, subject, &["--distribution-spec", spec]),
            want,
            "{kind:?}: oras --distribution-spec {spec}"
        );
    }
    if !kind.has_referrers_api() {
        let out = oras(&[
            "discover",
            "--plain-http",
            "--distribution-spec",
            "v1.1-referrers-api",
            &reg.reference(&format!("{repo}@{AMD64}")),
        ]);
        assert!(!out.status.success(), "{kind:?} has no Referrers API");
    }
}

fn attestations(report: &Value) -> &Vec<Value> {
    report["images"][0]["attestations"]
        .as_array()
        .unwrap_or_else(|| panic!("no attestations: {report}"))
}

fn platforms(report: &Value) -> &Vec<Value> {
    report["images"][0]["platforms"]
        .as_array()
        .unwrap_or_else(|| panic!("no platforms: {report}"))
}

/// One test per kind for `$f(kind)`, in a module named after it: `$f::ggcr`, …
macro_rules! every_kind {
    ($f:ident) => {
        mod $f {
            use super::RegistryKind;

            #[test]
            fn distribution() {
                super::$f(RegistryKind::Distribution);
            }

            #[test]
            fn ferro() {
                super::$f(RegistryKind::Ferro);
            }

            #[test]
            fn ggcr() {
                super::$f(RegistryKind::Ggcr);
            }

            #[test]
            fn ggcr_without_referrers_api() {
                super::$f(RegistryKind::GgcrNoApi);
            }

            #[test]
            fn distribution_with_token_auth() {
                super::$f(RegistryKind::DistributionToken);
            }
        }
    };
}

/// The whole `convert` job on one image: check, dry run, convert, rerun, check, oras.
fn convert_end_to_end(kind: RegistryKind) {
    let reg = Registry::start(kind);
    let (repo, image) = load_multi(&reg, "e2e");
    assert_eq!(
        manifest_digest(&reg, &repo, "multi").as_deref(),
        Some(LEGACY_MULTI.index)
    );

    // Before: both platforms are legacy-only gaps, exit 3.
    let out = referrify_as(&reg, &["check", "--format", "json", &image]);
    assert_eq!(code(&out), 3, "{kind:?}: {}", explain(&out));
    let r = json(&out);
    assert_eq!(platforms(&r).len(), 2, "{r}");
    for p in platforms(&r) {
        assert_eq!(p["attestation"], "legacy", "{kind:?}: {p}");
        assert_eq!(p["discoverable"], "none", "{kind:?}: {p}");
        assert_eq!(p["covered"], false, "{kind:?}: {p}");
    }

    // Dry run: the plan, and not one write request.
    reg.clear_requests();
    let out = referrify_as(&reg, &["convert", "--dry-run", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{kind:?}: {}", explain(&out));
    assert!(
        reg.write_requests().is_empty(),
        "{kind:?}: dry run wrote: {:#?}",
        reg.write_requests()
    );
    let r = json(&out);
    assert_eq!(r["images"][0]["status"], "planned", "{r}");
    let planned: BTreeSet<(&str, &str)> = attestations(&r)
        .iter()
        .map(|a| {
            (
                a["artifact"].as_str().unwrap(),
                a["state"].as_str().unwrap(),
            )
        })
        .collect();
    let want: BTreeSet<(&str, &str)> = MULTI.iter().map(|(_, a)| (*a, "planned")).collect();
    assert_eq!(planned, want, "{kind:?}");
    assert!(
        oras_digests(&reg, &repo, AMD64, &[]).is_empty(),
        "{kind:?}: the dry run made something discoverable"
    );

    // Convert: done and verified, through the mechanism the registry has.
    reg.clear_requests();
    let tokens = kind == RegistryKind::DistributionToken;
    if tokens {
        reg.clear_token_requests();
    }
    let out = referrify_as(&reg, &["convert", "--format", "json", &image]);
    if tokens {
        let t = reg.token_requests();
        print_token_counts("convert of one image", &t);
        assert!(
            by_scope_set(&t).values().all(|n| *n == 1),
            "one token per scope set: {t:?}"
        );
    }
    assert_eq!(code(&out), 0, "{kind:?}: {}", explain(&out));
    let r = json(&out);
    assert_eq!(r["images"][0]["status"], "done", "{kind:?}: {r}");
    assert_eq!(attestations(&r).len(), 2, "{r}");
    for a in attestations(&r) {
        assert_eq!(a["state"], "done", "{kind:?}: {a}");
        assert_eq!(a["verified"], true, "{kind:?}: {a}");
        assert_eq!(a["via"], via(kind), "{kind:?}: {a}");
        // Listed by digest; where the registry reports another artifactType, the report says
        // which, since clients filtering by artifactType will not find it there.
        let warned = a["warnings"].to_string();
        if kind.lists_artifact_type() {
            assert!(a.get("warnings").is_none(), "{kind:?}: {a}");
        } else {
            assert!(warned.contains(EMPTY_CONFIG_TYPE), "{kind:?}: {a}");
        }
    }
    assert_eq!(r["summary"]["converted"], 2, "{r}");
    assert_eq!(r["summary"]["failed"], 0, "{r}");
    // The artifacts are stored byte for byte; the index, its tag and the legacy manifests stay.
    for (_, artifact) in MULTI {
        assert_eq!(
            manifest_digest(&reg, &repo, artifact).as_deref(),
            Some(artifact)
        );
    }
    assert_eq!(
        manifest_digest(&reg, &repo, "multi").as_deref(),
        Some(LEGACY_MULTI.index)
    );
    for (_, legacy, _) in LEGACY_MULTI.attestations {
        assert_eq!(
            manifest_digest(&reg, &repo, legacy).as_deref(),
            Some(*legacy)
        );
    }

    // A rerun writes nothing and says so.
    reg.clear_requests();
    let out = referrify_as(&reg, &["convert", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{kind:?}: {}", explain(&out));
    assert!(
        reg.write_requests().is_empty(),
        "{kind:?}: the rerun wrote: {:#?}",
        reg.write_requests()
    );
    let r = json(&out);
    assert_eq!(r["images"][0]["status"], "unchanged", "{kind:?}: {r}");
    for a in attestations(&r) {
        assert_eq!(a["state"], "already-done", "{kind:?}: {a}");
    }
    assert_eq!(r["summary"]["alreadyDone"], 2, "{r}");

    // After: every platform covered.
    let out = referrify_as(&reg, &["check", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{kind:?}: {}", explain(&out));
    let r = json(&out);
    for p in platforms(&r) {
        assert_eq!(p["attestation"], "artifact", "{kind:?}: {p}");
        assert_eq!(p["discoverable"], via(kind), "{kind:?}: {p}");
        assert_eq!(p["covered"], true, "{kind:?}: {p}");
        if !kind.lists_artifact_type() {
            assert!(
                p["warnings"].to_string().contains(EMPTY_CONFIG_TYPE),
                "{kind:?}: {p}"
            );
            // The printed command lists without the filter, which finds nothing there.
            let confirm = p["confirm"].as_str().unwrap();
            assert!(!confirm.contains("--artifact-type"), "{kind:?}: {confirm}");
        }
        // The printed command, run as printed (credentials added), lists the artifact.
        if !matches!(kind, RegistryKind::DistributionToken) {
            let cmd: Vec<&str> = p["confirm"].as_str().unwrap().split_whitespace().collect();
            assert_eq!(cmd[..2], ["oras", "discover"]);
            let mut args = cmd[1..].to_vec();
            args.extend(["--format", "json"]);
            let o = oras(&args);
            assert!(
                o.status.success(),
                "{kind:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            let found = oras_referrers(&v);
            assert_eq!(found.len(), 1, "{kind:?}: {v}");
        }
    }
    assert_eq!(r["summary"]["covered"], 2, "{r}");

    assert_oras_finds_the_artifacts(&reg, &repo);
}

every_kind!(convert_end_to_end);

/// Checks a `migrate --format json` run that converted every image of `repos` (each holding
/// `legacy-multi` once); returns the summary line.
fn assert_migrated_all(kind: RegistryKind, out: &Output, repos: &[String]) -> Value {
    let all = json_lines(out);
    let failed: Vec<String> = all
        .iter()
        .filter(|l| l["type"] == "repository" && l["status"] != "done")
        .map(|l| {
            let errors: BTreeSet<&str> = l["images"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|i| {
                    let own = i["error"].as_str();
                    let per_attestation = i["attestations"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a["reason"].as_str());
                    own.into_iter().chain(per_attestation)
                })
                .chain(l["error"].as_str())
                .collect();
            let name = l["repository"].as_str().unwrap_or("?");
            let status = l["status"].as_str().unwrap_or("?");
            format!("{name} {status}: {}", Vec::from_iter(errors).join("; "))
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{kind:?}: repositories not done:\n  {}\n{}",
        failed.join("\n  "),
        explain(out)
    );
    assert_eq!(code(out), 0, "{kind:?}: {}", explain(out));
    let s = all.last().cloned().unwrap_or_default();
    assert_eq!(s["type"], "summary", "{}", explain(out));
    let n = repos.len() as u64;
    assert_eq!(
        (
            s["repositories"].as_u64(),
            s["failedRepositories"].as_u64(),
            s["images"].as_u64(),
            s["failedImages"].as_u64(),
        ),
        (Some(n), Some(0), Some(n), Some(0)),
        "{kind:?}: {s}"
    );
    assert_eq!(
        (
            s["attestations"].as_u64(),
            s["converted"].as_u64(),
            s["failed"].as_u64()
        ),
        (Some(2 * n), Some(2 * n), Some(0)),
        "{kind:?}: {s}"
    );
    let done: BTreeSet<&str> = all
        .iter()
        .filter(|l| l["type"] == "repository")
        .map(|l| l["repository"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = repos.iter().map(String::as_str).collect();
    assert_eq!(done, want, "{kind:?}");
    s
}

fn seeded_repos(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}/r{i}")).collect()
}

/// migrate of seeded repositories → check REGISTRY → undo, which leaves every tag and digest
/// as it was.
fn migrate_check_undo(kind: RegistryKind) {
    let reg = Registry::start(kind);
    let prefix = common::unique_repo("fleet");
    let repos = seeded_repos(&prefix, 3);
    common::seed_many(&reg, LEGACY_MULTI, &repos, "multi");
    let repo_arg = format!("{prefix}/");
    let before = common::snapshot(&reg, &repo_arg);
    assert_eq!(before.len(), repos.len(), "{before:#?}");

    let out = referrify_as(&reg, &["check", &reg.addr, "--repo", &repo_arg]);
    assert_eq!(code(&out), 3, "{kind:?}: {}", explain(&out));

    let out = referrify_as(
        &reg,
        &[
            "migrate", &reg.addr, "--repo", &repo_arg, "--format", "json",
        ],
    );
    assert_migrated_all(kind, &out, &repos);
    for repo in &repos {
        for (subject, artifact) in MULTI {
            assert_eq!(
                oras_digests(&reg, repo, subject, &[]),
                set(&[artifact]),
                "{kind:?}: {repo}@{subject}"
            );
        }
    }

    let out = referrify_as(
        &reg,
        &["check", &reg.addr, "--repo", &repo_arg, "--format", "json"],
    );
    assert_eq!(code(&out), 0, "{kind:?}: {}", explain(&out));
    let s = &common::cli::summary_line(&out);
    let state = format!("discoverable-{}", via(kind));
    assert_eq!(
        (s["covered"].as_u64(), s["uncovered"].as_u64()),
        (Some(6), Some(0)),
        "{kind:?}: {s}"
    );
    assert_eq!(s["states"][&state], 6, "{kind:?}: {s}");

    let out = referrify_as(
        &reg,
        &["undo", &reg.addr, "--repo", &repo_arg, "--format", "json"],
    );
    assert_eq!(code(&out), 0, "{kind:?}: {}", explain(&out));
    let s = &json(&out)["summary"];
    assert_eq!(
        (s["artifactsDeleted"].as_u64(), s["artifactsKept"].as_u64()),
        (Some(6), Some(0)),
        "{kind:?}: {s}"
    );
    assert_eq!(
        common::snapshot(&reg, &repo_arg),
        before,
        "{kind:?}: every tag and digest as before the migration"
    );
    for repo in &repos {
        assert!(
            oras_digests(&reg, repo, AMD64, &[]).is_empty(),
            "{kind:?}: {repo} still lists referrers"
        );
    }
}

every_kind!(migrate_check_undo);

// ------------------------------------------------------------------------------------------------
// token auth

/// Token requests per distinct scope set, printed.
fn by_scope_set(tokens: &[TokenRequest]) -> BTreeMap<Vec<String>, usize> {
    let mut m = BTreeMap::new();
    for t in tokens {
        *m.entry(t.scope_set()).or_insert(0) += 1;
    }
    m
}

fn print_token_counts(what: &str, tokens: &[TokenRequest]) {
    let sets = by_scope_set(tokens);
    eprintln!(
        "{what}: {} token requests, {} distinct scope sets",
        tokens.len(),
        sets.len()
    );
    for (scopes, n) in &sets {
        eprintln!("  {n} x {}", scopes.join(" "));
    }
}

/// Whether `scopes` ask for `action` on repository `repo` (`repository:<repo>:<a>,<b>…`).
fn grants(scopes: &[String], repo: &str, action: &str) -> bool {
    let prefix = format!("repository:{repo}:");
    scopes.iter().any(|s| {
        s.strip_prefix(&prefix)
            .is_some_and(|actions| actions.split(',').any(|a| a == action))
    })
}

/// `from` and the target repository of a cross-repository mount request.
fn mount_of(path_and_query: &str) -> Option<(String, String)> {
    let (path, query) = path_and_query.split_once('?')?;
    let to = path
        .strip_prefix("/v2/")?
        .strip_suffix("/blobs/uploads/")?
        .to_owned();
    let from = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "from")?
        .1
        .into_owned();
    Some((from, to))
}

/// Over five repositories, every one converts: the `{}` blob is uploaded once and mounted into
/// the others, which needs a token for both repositories (`repository:<to>:pull,push` and
/// `repository:<from>:pull`); with one scope only, distribution answers 401 insufficient_scope.
/// Tokens: one per distinct scope set (the catalog, each repository, each mount), never fetched
/// twice.
#[test]
fn token_auth_migrate_converts_every_repository() {
    let reg = Registry::distribution_token();
    let prefix = common::unique_repo("tokmig");
    let repos = seeded_repos(&prefix, 5);
    common::seed_many(&reg, LEGACY_MULTI, &repos, "multi");
    let repo_arg = format!("{prefix}/");
    reg.clear_token_requests();
    reg.clear_requests();

    let out = referrify_as(
        &reg,
        &[
            "migrate", &reg.addr, "--repo", &repo_arg, "--format", "json",
        ],
    );
    let tokens = reg.token_requests();
    print_token_counts("migrate over 5 repositories", &tokens);
    let requests = reg.requests();
    assert_migrated_all(RegistryKind::DistributionToken, &out, &repos);

    // Every mount went through (distribution can mount; a 401 is a token without `from`).
    let mounts: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query.contains("mount="))
        .collect();
    let mounted: BTreeSet<(String, String)> = mounts
        .iter()
        .filter(|r| r.status == 201)
        .filter_map(|r| mount_of(&r.path_and_query))
        .collect();
    assert_eq!(
        mounted.len(),
        repos.len() - 1,
        "every repository but the one that uploaded `{{}}` mounts it: {mounts:#?}"
    );

    // Tokens: all for alice, all granted; one request per distinct scope set.
    for t in &tokens {
        assert_eq!((t.status, t.user.as_str()), (200, TOKEN_USER), "{t:?}");
    }
    let sets = by_scope_set(&tokens);
    let twice: Vec<_> = sets.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "a scope set was fetched more than once: {twice:?}"
    );
    assert_eq!(
        sets.get(&vec!["registry:catalog:*".to_string()]),
        Some(&1),
        "one catalog token: {sets:?}"
    );
    for repo in &repos {
        assert!(
            sets.keys().any(|s| grants(s, repo, "push")),
            "no push token for {repo}: {sets:?}"
        );
    }
    for (from, to) in &mounted {
        assert!(
            sets.keys()
                .any(|s| grants(s, to, "push") && grants(s, from, "pull")),
            "no token for the mount {from} -> {to}: {sets:?}"
        );
    }
    // The minimum is the catalog plus one per repository (a token per repository that names the
    // mount source too); at most one more per mount, and a pull-only one per repository.
    let n = repos.len();
    assert!(
        (1 + n..=1 + 2 * n + mounted.len()).contains(&tokens.len()),
        "{} token requests for {n} repositories and {} mounts: {sets:?}",
        tokens.len(),
        mounted.len()
    );
}

/// `undo` on a token-auth registry takes back what `convert` wrote: deleting a manifest needs
/// the `delete` action (`repository:<name>:…delete`), which distribution checks apart from `push`.
#[test]
fn token_auth_undo_takes_back_a_conversion() {
    let reg = Registry::distribution_token();
    let (repo, image) = load_multi(&reg, "tokundo");
    let before = common::snapshot(&reg, &repo);
    let out = referrify_as(&reg, &["convert", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert_ne!(
        common::snapshot(&reg, &repo),
        before,
        "referrers tags written"
    );

    reg.clear_token_requests();
    let out = referrify_as(&reg, &["undo", "--format", "json", &image]);
    let tokens = reg.token_requests();
    print_token_counts("undo of one image", &tokens);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let s = &json(&out)["summary"];
    assert_eq!(
        (
            s["tagsDeleted"].as_u64(),
            s["artifactsDeleted"].as_u64(),
            s["artifactsKept"].as_u64()
        ),
        (Some(2), Some(2), Some(0)),
        "{s}"
    );
    assert_eq!(
        common::snapshot(&reg, &repo),
        before,
        "every tag and digest as before the conversion"
    );
    assert!(
        tokens.iter().any(|t| grants(&t.scopes, &repo, "delete")),
        "no token with the delete action: {tokens:?}"
    );
}

/// Anonymous callers get `pull` only: `check` works before and after, `convert` is refused.
#[test]
fn token_auth_anonymous_check_pulls_only() {
    let reg = Registry::distribution_token();
    let (_, image) = load_multi(&reg, "anon");
    reg.clear_token_requests();

    let out = referrify(&["check", "--format", "json", &image]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    assert!(platforms(&json(&out))
        .iter()
        .all(|p| p["attestation"] == "legacy"));

    // Anonymous convert cannot push: refused, and nothing was written.
    reg.clear_requests();
    let out = referrify(&["convert", "--format", "json", &image]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let written: Vec<_> = reg
        .write_requests()
        .into_iter()
        .filter(|r| r.status < 400)
        .collect();
    assert!(written.is_empty(), "anonymous writes: {written:#?}");

    let anonymous = reg.token_requests();
    print_token_counts("anonymous check + convert", &anonymous);
    assert!(!anonymous.is_empty());
    for t in &anonymous {
        assert_eq!(
            (t.grant.as_str(), t.user.as_str(), t.status),
            ("anonymous", "", 200),
            "{t:?}"
        );
    }

    let out = referrify_as(&reg, &["convert", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));

    reg.clear_token_requests();
    let out = referrify(&["check", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(platforms(&json(&out)).iter().all(|p| p["covered"] == true));
    let tokens = reg.token_requests();
    print_token_counts("anonymous check", &tokens);
    assert!(!tokens.is_empty());
    for t in &tokens {
        assert_eq!((t.grant.as_str(), t.status), ("anonymous", 200), "{t:?}");
        assert!(
            t.scopes.iter().all(|s| s.ends_with(":pull")),
            "check asks for pull only: {t:?}"
        );
    }
}

/// docker's `identitytoken` is exchanged with an OAuth2 `POST` (grant_type=refresh_token); a
/// wrong one is refused by the issuer and reported as an auth failure.
#[test]
fn token_auth_identity_token_from_docker_config() {
    let reg = Registry::distribution_token();
    let (_, image) = load_multi(&reg, "idtok");

    reg.clear_token_requests();
    let wrong = docker_config_identity_token(&reg, "refresh-mallory");
    let out = referrify_with(Some(wrong.path()), &["convert", "--format", "json", &image]);
    assert_eq!(code(&out), 1, "{}", explain(&out));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("refresh-mallory"), "token leaked: {all}");
    let tokens = reg.token_requests();
    assert!(
        tokens
            .iter()
            .any(|t| t.method == "POST" && t.grant == "refresh_token" && t.status == 401),
        "{tokens:?}"
    );

    reg.clear_token_requests();
    let cfg = docker_config_identity_token(&reg, TOKEN_REFRESH_TOKEN);
    let out = referrify_with(Some(cfg.path()), &["convert", "--format", "json", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let tokens = reg.token_requests();
    print_token_counts("convert with an identity token", &tokens);
    assert!(!tokens.is_empty());
    for t in &tokens {
        assert_eq!(
            (
                t.method.as_str(),
                t.grant.as_str(),
                t.user.as_str(),
                t.status
            ),
            ("POST", "refresh_token", TOKEN_USER, 200),
            "{t:?}"
        );
    }
    let out = referrify_with(Some(cfg.path()), &["check", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
}

/// Tokens that the registry refuses 3 s after they were issued, during a run slowed down to
/// outlast several of them: the expired token is refreshed and no image fails.
#[test]
fn token_auth_short_lived_tokens_during_a_slow_run() {
    const LIFETIME: u64 = 3;
    let reg = Registry::distribution_token_expiring(LIFETIME);
    let (repo, image) = load_multi(&reg, "shortlived");
    reg.clear_token_requests();
    reg.set_delay(500);

    let start = Instant::now();
    let out = referrify_as(&reg, &["convert", "--format", "json", &image]);
    let took = start.elapsed();
    reg.set_delay(0);
    let tokens = reg.token_requests();
    print_token_counts(
        &format!("convert in {took:.1?} with {LIFETIME}-s tokens"),
        &tokens,
    );
    assert!(
        took > Duration::from_secs(2 * LIFETIME),
        "the run ({took:?}) must outlast two token lifetimes to mean anything"
    );
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let r = json(&out);
    assert_eq!(r["summary"]["failedImages"], 0, "{r}");
    assert_eq!(r["images"][0]["status"], "done", "{r}");
    for a in attestations(&r) {
        assert_eq!(a["verified"], true, "{a}");
    }
    let refreshed = tokens
        .iter()
        .filter(|t| t.status == 200 && grants(&t.scopes, &repo, "push"))
        .count();
    assert!(
        refreshed >= 2,
        "a {took:?} run with {LIFETIME}-s tokens needs a fresh token: {tokens:?}"
    );

    let out = referrify_as(&reg, &["check", &image]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
}

// ------------------------------------------------------------------------------------------------
// the harness itself

/// Every kind starts behind the proxy; the Referrers API is there exactly where the kind says.
#[test]
fn every_kind_starts_with_the_api_it_claims() {
    for kind in RegistryKind::EVERY {
        let reg = Registry::start(kind);
        let (status, headers, _) =
            common::try_http_request(&reg.addr, "GET", "/v2/", &[], b"").unwrap();
        if kind == RegistryKind::DistributionToken {
            assert_eq!(status, 401, "{kind:?}");
            let ch = headers["www-authenticate"].to_str().unwrap();
            assert!(
                ch.starts_with("Bearer ") && ch.contains(reg.token_issuer_addr()),
                "{ch}"
            );
        } else {
            assert_eq!(status, 200, "{kind:?}");
        }
        let repo = common::unique_repo("probe");
        common::push_layout_raw(&reg, &LEGACY_MULTI.dir(), &repo, "multi");
        let (status, _, body) = registry_request(
            &reg,
            "GET",
            &format!("/v2/{repo}/referrers/{AMD64}"),
            &[],
            b"",
        );
        let want = if kind.has_referrers_api() { 200 } else { 404 };
        assert_eq!(status, want, "{kind:?}: {}", String::from_utf8_lossy(&body));
        assert_eq!(
            manifest_digest(&reg, &repo, "multi").as_deref(),
            Some(LEGACY_MULTI.index),
            "{kind:?}"
        );
    }
}

/// The issuer: docker's GET flow, OAuth2 POST with a refresh token or a password, wrong
/// credentials refused, and a log line per request with its scopes and user.
#[test]
fn token_issuer_flows_and_log() {
    let reg = Registry::distribution_token();
    let issuer = reg.token_issuer_addr().to_owned();
    let form = |body: &str| {
        common::http_request(
            &issuer,
            "POST",
            "/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    };
    let scope = "repository%3Aa%3Apull%2Cpush+repository%3Ab%3Apull";
    let (status, _, body) = form(&format!(
        "grant_type=refresh_token&refresh_token={TOKEN_REFRESH_TOKEN}&service=test-registry&scope={scope}"
    ));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(v["expires_in"], 300);
    let (status, _, _) =
        form("grant_type=refresh_token&refresh_token=nope&service=test-registry&scope=x:y:pull");
    assert_eq!(status, 401);
    let (status, _, _) = form(&format!(
        "grant_type=password&username={TOKEN_USER}&password={TOKEN_PASSWORD}&service=test-registry&scope=repository%3Ac%3Apull"
    ));
    assert_eq!(status, 200);
    let (status, _, _) = form("grant_type=password&username=alice&password=wrong&service=s");
    assert_eq!(status, 401);
    let bad = common::basic_auth(TOKEN_USER, "wrong");
    let (status, _, _) = common::http_request(
        &issuer,
        "GET",
        "/token?service=test-registry&scope=repository:a:pull",
        &[("authorization", &bad)],
        b"",
    );
    assert_eq!(status, 401);

    let log: Vec<(String, String, String, Vec<String>, u16)> = reg
        .token_requests()
        .into_iter()
        .map(|t| (t.method, t.grant, t.user, t.scopes, t.status))
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        log,
        [
            (
                "POST".into(),
                "refresh_token".into(),
                "alice".into(),
                s(&["repository:a:pull,push", "repository:b:pull"]),
                200
            ),
            (
                "POST".into(),
                "refresh_token".into(),
                "".into(),
                s(&["x:y:pull"]),
                401
            ),
            (
                "POST".into(),
                "password".into(),
                "alice".into(),
                s(&["repository:c:pull"]),
                200
            ),
            (
                "POST".into(),
                "password".into(),
                "alice".into(),
                s(&[]),
                401
            ),
            (
                "GET".into(),
                "basic".into(),
                "alice".into(),
                s(&["repository:a:pull"]),
                401
            ),
        ]
    );
    reg.clear_token_requests();
    assert!(reg.token_requests().is_empty());
}
