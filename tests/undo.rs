//! `referrify undo`: a round trip migrate → undo leaves the registry as it was (every tag and
//! digest compared), on both real registries, with a foreign referrer (written by oras) that
//! stays; a dry run writes nothing.

mod common;

use common::cli::{code, explain, json};
use common::fixtures::{AMD64, LEGACY_MULTI, LEGACY_V1};
use common::{Registry, RegistryKind};

fn oras_attach(reg: &Registry, repo: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sig.json"), b"{\"signature\":\"fake\"}").unwrap();
    let o = std::process::Command::new(common::tool("oras", "REFERRIFY_ORAS"))
        .current_dir(dir.path())
        .args([
            "attach",
            "--plain-http",
            "--format",
            "json",
            "--artifact-type",
            "application/vnd.dev.cosign.artifact.sig.v1+json",
            &format!("{}/{repo}@{AMD64}", reg.backend_addr),
            "sig.json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["digest"].as_str().unwrap().to_string()
}

#[test]
fn migrate_then_undo_leaves_the_registry_as_it_was() {
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        let prefix = common::unique_repo("undo");
        let (a, b) = (format!("{prefix}/a"), format!("{prefix}/b"));
        common::push_layout_raw(&reg, &LEGACY_MULTI.dir(), &a, "multi");
        common::push_layout_raw(&reg, &LEGACY_V1.dir(), &a, "v1");
        common::push_layout_raw(&reg, &LEGACY_MULTI.dir(), &b, "multi");
        let foreign = oras_attach(&reg, &a);
        let before = common::snapshot(&reg, &format!("{prefix}/"));
        let repo_arg = format!("{prefix}/");

        let out = common::cli::referrify(&["migrate", &reg.addr, "--repo", &repo_arg, "-q"]);
        assert_eq!(code(&out), 0, "{}", explain(&out));
        let migrated = common::snapshot(&reg, &format!("{prefix}/"));
        if !kind.has_referrers_api() {
            assert_ne!(migrated, before, "{kind:?}: migrate wrote referrers tags");
        }

        reg.clear_requests();
        let dry = common::cli::referrify(&[
            "undo",
            &reg.addr,
            "--repo",
            &repo_arg,
            "--dry-run",
            "--format",
            "json",
        ]);
        assert_eq!(code(&dry), 0, "{}", explain(&dry));
        assert!(
            reg.write_requests().is_empty(),
            "{:#?}",
            reg.write_requests()
        );
        assert_eq!(
            json(&dry)["summary"]["artifactsDeleted"],
            5,
            "{}",
            explain(&dry)
        );

        let out =
            common::cli::referrify(&["undo", &reg.addr, "--repo", &repo_arg, "--format", "json"]);
        assert_eq!(code(&out), 0, "{}", explain(&out));
        let s = &json(&out)["summary"];
        assert_eq!(s["artifactsDeleted"], 5, "{kind:?}: {s}");
        assert_eq!(s["artifactsKept"], 0, "{s}");
        if !kind.has_referrers_api() {
            // a's amd64 tag held the foreign entry: rewritten; the other three were ours: deleted.
            assert_eq!(
                (s["tagsRewritten"].as_u64(), s["tagsDeleted"].as_u64()),
                (Some(1), Some(3)),
                "{s}"
            );
        }
        assert_eq!(
            common::snapshot(&reg, &format!("{prefix}/")),
            before,
            "{kind:?}: every tag and digest as before the migration"
        );
        // The foreign referrer is still there, and only it.
        let v = common::oras_discover(&reg.reference(&format!("{a}@{AMD64}")), &[]);
        assert_eq!(
            common::oras_referrer_digests(&v),
            std::slice::from_ref(&foreign),
            "{kind:?}"
        );
        // A second undo finds nothing to take back.
        let again =
            common::cli::referrify(&["undo", &reg.addr, "--repo", &repo_arg, "--format", "json"]);
        assert_eq!(code(&again), 0, "{}", explain(&again));
        assert_eq!(json(&again)["summary"]["artifactsDeleted"], 0);
    }
}

/// `convert --index rewrite` moved the tag to a new index; `undo --restore-index` proves the tag
/// holds referrify's rewrite of the given index, moves it back, and takes back the rest.
#[test]
fn undo_restores_a_rewritten_index() {
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        let prefix = common::unique_repo("restore");
        let repo = format!("{prefix}/app");
        common::push_layout_raw(&reg, &LEGACY_MULTI.dir(), &repo, "1");
        let before = common::snapshot(&reg, &format!("{prefix}/"));
        let image = reg.reference(&format!("{repo}:1"));
        let out =
            common::cli::referrify(&["convert", "--index", "rewrite", "--format", "json", &image]);
        assert_eq!(code(&out), 0, "{}", explain(&out));
        let old = json(&out)["images"][0]["indexRewrite"]["old"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(old, LEGACY_MULTI.index);
        assert_ne!(
            common::snapshot(&reg, &format!("{prefix}/")),
            before,
            "the tag moved"
        );

        // Not the index it was rewritten from: refused, nothing changes.
        let wrong = common::cli::referrify(&["undo", &image, "--restore-index", LEGACY_V1.index]);
        assert_eq!(code(&wrong), 1, "{}", explain(&wrong));

        let out =
            common::cli::referrify(&["undo", &image, "--restore-index", &old, "--format", "json"]);
        assert_eq!(code(&out), 0, "{}", explain(&out));
        assert_eq!(json(&out)["images"][0]["indexRestored"], old.as_str());
        assert_eq!(
            common::snapshot(&reg, &format!("{prefix}/")),
            before,
            "{kind:?}: the tag points to the original index again, and nothing of ours is left"
        );
    }
}

/// Tags `1` and `latest` share a legacy index; `convert --index rewrite app:1` moves tag 1 to an
/// index whose attestation entries are the new artifacts. `undo app:latest` must not delete
/// those artifacts (before, tag 1's index then listed two manifests that answered 404): it keeps
/// them, says why, and every manifest tag 1's index lists still exists.
#[test]
fn undo_keeps_artifacts_another_tag_still_references() {
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        let repo = common::unique_repo("shared");
        common::push_layout_raw(&reg, &LEGACY_MULTI.dir(), &repo, "1");
        common::push_layout_raw(&reg, &LEGACY_MULTI.dir(), &repo, "latest");
        let out = common::cli::referrify(&[
            "convert",
            "--index",
            "rewrite",
            &reg.reference(&format!("{repo}:1")),
        ]);
        assert_eq!(code(&out), 0, "{}", explain(&out));

        for dry in [true, false] {
            let mut args = vec!["undo", "--format", "json"];
            if dry {
                args.push("--dry-run");
            }
            let image = reg.reference(&format!("{repo}:latest"));
            args.push(&image);
            let out = common::cli::referrify(&args);
            assert_eq!(code(&out), 0, "{kind:?} dry={dry}: {}", explain(&out));
            let v = json(&out);
            let img = &v["images"][0];
            assert_eq!(
                img["artifactsDeleted"],
                serde_json::json!([]),
                "{kind:?}: {img}"
            );
            let kept = img["artifactsKept"].as_array().unwrap();
            assert_eq!(kept.len(), 2, "{kind:?} dry={dry}: {img}");
            for k in kept {
                let m = k["message"].as_str().unwrap();
                assert!(m.contains("still referenced by tag 1"), "{kind:?}: {m}");
            }
        }
        let (_, _, body) = common::http_get(
            &reg,
            &format!("/v2/{repo}/manifests/1"),
            "application/vnd.oci.image.index.v1+json",
        );
        let index: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for m in index["manifests"].as_array().unwrap() {
            let d = m["digest"].as_str().unwrap();
            let (st, _, _) = common::http_get(
                &reg,
                &format!("/v2/{repo}/manifests/{d}"),
                "application/vnd.oci.image.manifest.v1+json",
            );
            assert_eq!(
                st, 200,
                "{kind:?}: tag 1's index lists {d}, which must still exist"
            );
        }
    }
}
