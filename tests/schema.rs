//! The JSON output is a documented, stable schema (README "JSON output"): these tests pin every
//! key path, so a rename or removal fails here before it breaks a user's pipeline.

mod common;

use serde_json::Value;
use std::collections::BTreeSet;

fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(p.clone());
                paths(x, &p, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                paths(x, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn run(args: &[&str]) -> Value {
    common::cli::json(&common::cli::referrify(args))
}

fn keys(v: &Value) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    paths(v, "", &mut s);
    s
}

const CONVERT: &[&str] = &[
    "command",
    "dryRun",
    "indexMode",
    "schemaVersion",
    "images",
    "summary",
    "images[].reference",
    "images[].digest",
    "images[].status",
    "images[].attestations",
    "images[].skipped",
    "images[].problems",
    "images[].indexRewrite",
    "images[].indexRewrite.old",
    "images[].indexRewrite.new",
    "images[].indexRewrite.tagsMoved",
    "images[].writes",
    "images[].writes.blobs",
    "images[].writes.manifests",
    "images[].writes.referrersTags",
    "images[].writes.layoutIndexEntries",
    "images[].requests",
    "images[].attestations[].platform",
    "images[].attestations[].subject",
    "images[].attestations[].source",
    "images[].attestations[].artifact",
    "images[].attestations[].artifactSize",
    "images[].attestations[].created",
    "images[].attestations[].predicateTypes",
    "images[].attestations[].state",
    "images[].attestations[].via",
    "images[].attestations[].pushed",
    "images[].attestations[].verified",
    "images[].attestations[].confirm",
    "summary.images",
    "summary.failedImages",
    "summary.attestations",
    "summary.converted",
    "summary.alreadyDone",
    "summary.failed",
];

const CHECK: &[&str] = &[
    "command",
    "schemaVersion",
    "images",
    "summary",
    "images[].reference",
    "images[].digest",
    "images[].platforms",
    "images[].problems",
    "images[].platforms[].platform",
    "images[].platforms[].digest",
    "images[].platforms[].attestation",
    "images[].platforms[].discoverable",
    "images[].platforms[].referrers",
    "images[].platforms[].predicateTypes",
    "images[].platforms[].subjectsMatch",
    "images[].platforms[].statements",
    "images[].platforms[].statements[].manifest",
    "images[].platforms[].statements[].layer",
    "images[].platforms[].statements[].predicateType",
    "images[].platforms[].statements[].subjectMatches",
    "images[].platforms[].covered",
    "images[].platforms[].state",
    "images[].platforms[].reasons",
    "images[].platforms[].confirm",
    "summary.images",
    "summary.failedImages",
    "summary.platforms",
    "summary.covered",
    "summary.uncovered",
    // Issue 14: the supply chain (docs/supply-chain.md).
    "images[].platforms[].supply",
    "images[].platforms[].supply.items",
    "images[].platforms[].supply.items[].artifactType",
    "images[].platforms[].supply.items[].digest",
    "images[].platforms[].supply.items[].discoverable",
    "images[].platforms[].supply.items[].kind",
    "images[].platforms[].supply.items[].on",
    "images[].platforms[].supply.items[].predicateTypes",
    "images[].platforms[].supply.provenance",
    "images[].platforms[].supply.provenance.artifactType",
    "images[].platforms[].supply.provenance.digest",
    "images[].platforms[].supply.provenance.discoverable",
    "images[].platforms[].supply.provenance.kind",
    "images[].platforms[].supply.provenance.on",
    "images[].platforms[].supply.provenance.predicateTypes",
    "images[].platforms[].supply.sbom",
    "images[].platforms[].supply.sbom.artifactType",
    "images[].platforms[].supply.sbom.digest",
    "images[].platforms[].supply.sbom.discoverable",
    "images[].platforms[].supply.sbom.kind",
    "images[].platforms[].supply.sbom.on",
    "images[].platforms[].supply.sbom.predicateTypes",
    "images[].platforms[].supply.signature",
    "images[].platforms[].supply.unmet",
    "images[].platforms[].supply.verify",
    "summary.supply",
    "summary.supply.platforms",
    "summary.supply.provenance",
    "summary.supply.sbom",
    "summary.supply.signature",
    "summary.supply.unmet",
];

#[test]
fn convert_and_check_json_keys_are_the_documented_ones() {
    let (_tmp, dir) = common::temp_layout("buildkit-v0.32.2/legacy-v1");
    let layout = format!("oci-layout://{}", dir.display());
    let expected: BTreeSet<String> = CONVERT.iter().map(|s| s.to_string()).collect();
    let dry = run(&[
        "convert",
        "--dry-run",
        "--index",
        "rewrite",
        "--format",
        "json",
        &layout,
    ]);
    assert_eq!(dry["schemaVersion"], 1);
    // A dry run has no verification result yet: `verified` is null, still present.
    assert_eq!(keys(&dry), expected);
    let done = run(&["convert", "--index", "rewrite", "--format", "json", &layout]);
    assert_eq!(keys(&done), expected);
    let check = run(&["check", "--format", "json", &layout]);
    assert_eq!(check["schemaVersion"], 1);
    assert_eq!(
        keys(&check),
        CHECK.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>()
    );
    // The README documents each of these keys.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for k in CONVERT.iter().chain(CHECK) {
        let leaf = k.rsplit('.').next().unwrap().trim_end_matches("[]");
        assert!(
            readme.contains(&format!("\"{leaf}\"")),
            "README does not document {k}"
        );
    }
}

/// Counts a migrate repository line and the summary share (`tagsRewrittenAcrossBatches` and
/// `mountsRefused` are left out when 0).
const MIGRATE_COUNTS: &[&str] = &[
    "images",
    "failedImages",
    "resumedImages",
    "attestations",
    "converted",
    "alreadyDone",
    "failed",
    "tagsCreated",
    "tagsUpdated",
    "manifests",
];

const MIGRATE_REPOSITORY: &[&str] = &[
    "type",
    "repository",
    "status",
    "batches",
    "tagProblems",
    "tagProblemsTotal",
];

const MIGRATE_SUMMARY: &[&str] = &[
    "type",
    "schemaVersion",
    "command",
    "registry",
    "dryRun",
    "shard",
    "repositories",
    "failedRepositories",
    "resumedRepositories",
    "requests",
    "seconds",
];

/// `check REGISTRY`'s repository line (its image lines are `check`'s images plus `type`,
/// `repository` and `tags`).
const CHECK_REPOSITORY: &[&str] = &[
    "type",
    "repository",
    "images",
    "failedImages",
    "platforms",
    "covered",
    "uncovered",
    "states",
];

const CHECK_REGISTRY_SUMMARY: &[&str] = &[
    "type",
    "schemaVersion",
    "command",
    "registry",
    "statementsChecked",
    "repositories",
    "failedRepositories",
    "images",
    "failedImages",
    "platforms",
    "covered",
    "uncovered",
    "states",
    "requests",
    // Issue 14: platforms with an SBOM, provenance, a signature, an unmet --require.
    "supply",
];

fn top(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(a: &[&[&str]]) -> BTreeSet<String> {
    a.iter()
        .flat_map(|x| x.iter())
        .map(|s| s.to_string())
        .collect()
}

/// `migrate`'s and `check REGISTRY`'s JSON lines (schema 2), on a real registry.
#[test]
fn migrate_and_registry_check_json_keys_are_the_documented_ones() {
    let reg = common::Registry::distribution();
    let repo = common::unique_repo("schema");
    common::push_layout_raw(&reg, &common::fixtures::LEGACY_MULTI.dir(), &repo, "multi");
    let out = common::cli::referrify(&["check", &reg.addr, "--format", "json"]);
    let lines = common::cli::json_lines(&out);
    let (last, rest) = lines.split_last().unwrap();
    assert_eq!(top(last), set(&[CHECK_REGISTRY_SUMMARY]), "{last}");
    assert_eq!(last["schemaVersion"], 2);
    for l in rest {
        match l["type"].as_str() {
            Some("repository") => assert_eq!(top(l), set(&[CHECK_REPOSITORY]), "{l}"),
            Some("image") => {
                // Every image key of the per-image check, plus the line's own.
                let got = keys(&serde_json::json!({ "images": [l] }));
                for k in CHECK.iter().filter(|k| k.starts_with("images[].")) {
                    // An unconverted image has no supply-chain items, so nothing is picked.
                    let optional = k.contains("statements[]")
                        || k.ends_with("subjectsMatch")
                        || k.contains("supply.items[]")
                        || k.contains("supply.sbom.")
                        || k.contains("supply.provenance.");
                    assert!(
                        optional || got.contains(*k),
                        "check REGISTRY image lacks {k}"
                    );
                }
                for k in ["type", "repository", "tags"] {
                    assert!(l.get(k).is_some(), "{l}");
                }
            }
            _ => panic!("unknown line {l}"),
        }
    }
    let out = common::cli::referrify(&["migrate", &reg.addr, "--shard", "1/1", "--format", "json"]);
    assert_eq!(common::cli::code(&out), 0, "{}", common::cli::explain(&out));
    let lines = common::cli::json_lines(&out);
    let (last, rest) = lines.split_last().unwrap();
    assert_eq!(top(last), set(&[MIGRATE_SUMMARY, MIGRATE_COUNTS]), "{last}");
    assert_eq!(last["schemaVersion"], 2);
    for l in rest.iter().filter(|l| l["type"] == "repository") {
        assert_eq!(top(l), set(&[MIGRATE_REPOSITORY, MIGRATE_COUNTS]), "{l}");
    }
    let images: Vec<&Value> = rest.iter().filter(|l| l["type"] == "image").collect();
    assert_eq!(
        images.len() + 1,
        rest.len(),
        "image lines and one repository line"
    );
    for i in images {
        // The images are convert's image reports, without the per-image request count.
        let image_keys: BTreeSet<String> = keys(&serde_json::json!({ "images": [i] }));
        let convert_images: BTreeSet<String> = CONVERT
            .iter()
            .filter(|k| {
                k.starts_with("images[]")
                    && !k.contains("indexRewrite")
                    && **k != "images[].requests"
            })
            .map(|s| s.to_string())
            .chain([
                "images".to_string(),
                "images[].type".into(),
                "images[].repository".into(),
            ])
            // The tag schema (this registry has no Referrers API) adds these.
            .chain(
                [
                    "images[].attestations[].referrersTag",
                    "images[].writes.referrersTags[].tag",
                    "images[].writes.referrersTags[].created",
                ]
                .map(String::from),
            )
            .collect();
        assert_eq!(image_keys, convert_images);
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for k in MIGRATE_REPOSITORY
        .iter()
        .chain(MIGRATE_SUMMARY)
        .chain(MIGRATE_COUNTS)
        .chain(CHECK_REPOSITORY)
        .chain(CHECK_REGISTRY_SUMMARY)
        .chain(["catalogError", "error", "tagsRewrittenAcrossBatches"].iter())
    {
        let leaf = k.rsplit('.').next().unwrap().trim_end_matches("[]");
        let leaf = leaf.rsplit("[].").next().unwrap();
        assert!(
            readme.contains(&format!("\"{leaf}\"")),
            "README does not document {k}"
        );
    }
}
