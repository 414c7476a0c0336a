//! `referrify watch` against a real registry (distribution 2.8.2, no Referrers API): the first
//! cycle converts every image; an idle cycle costs one catalog page, one tags-list page per
//! repository and one manifest read per re-checked tag (pinned); tags added and moved between
//! cycles are converted; the state file carries what was seen across processes.

mod common;

use common::fixtures::{self, AMD64, ARM64};
use common::Registry;

fn discovered(reg: &Registry, repo: &str, subject: &str) -> Vec<String> {
    let mut d = common::oras_referrer_digests(&common::oras_discover(
        &reg.reference(&format!("{repo}@{subject}")),
        &[],
    ));
    d.sort();
    d
}

/// One `watch --once` cycle; returns its summary line.
fn cycle(reg: &Registry, state: &std::path::Path) -> serde_json::Value {
    let out = common::cli::referrify(&[
        "watch",
        &reg.addr,
        "--state",
        state.to_str().unwrap(),
        "--once",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::cli::explain(&out));
    let lines = common::cli::json_lines(&out);
    let last = lines.last().expect("a cycle line").clone();
    assert_eq!(last["kind"], "cycle", "{last}");
    last["cycle"].clone()
}

#[test]
fn watch_converts_new_and_moved_tags_and_idles_cheaply() {
    let reg = Registry::distribution();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("seen.json");
    common::push_layout_raw(&reg, &fixtures::LEGACY_V1.dir(), "w/a", "1");
    common::push_layout_raw(&reg, &fixtures::LEGACY_V02.dir(), "w/b", "latest");

    let c = cycle(&reg, &state);
    assert_eq!(
        (c["images"].as_u64(), c["converted"].as_u64()),
        (Some(2), Some(2)),
        "{c}"
    );
    assert_eq!(
        discovered(&reg, "w/a", AMD64),
        common::cli::planned_artifacts(fixtures::LEGACY_V1)
    );
    assert_eq!(
        discovered(&reg, "w/b", AMD64),
        common::cli::planned_artifacts(fixtures::LEGACY_V02)
    );

    // Idle: one catalog page, one tags list per repository, one read of w/b:latest (re-checked
    // by default because it moves); w/a:1 and the referrers tags are not read again.
    reg.clear_requests();
    let c = cycle(&reg, &state);
    assert_eq!(c["images"], 0, "{c}");
    let mut seen: Vec<String> = reg
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            "GET /v2/_catalog",
            "GET /v2/w/a/tags/list",
            "GET /v2/w/b/manifests/latest",
            "GET /v2/w/b/tags/list",
        ],
        "the idle cycle's requests"
    );
    assert_eq!(c["requests"], 4, "{c}");

    // A new tag and a moved tag between cycles: both images converted.
    common::push_layout_raw(&reg, &fixtures::LEGACY_MULTI.dir(), "w/a", "2");
    common::push_layout_raw(&reg, &fixtures::LEGACY_V1.dir(), "w/b", "latest");
    let c = cycle(&reg, &state);
    assert_eq!(
        (c["images"].as_u64(), c["converted"].as_u64()),
        (Some(2), Some(2)),
        "{c}"
    );
    let multi = common::cli::planned_artifacts(fixtures::LEGACY_MULTI);
    assert_eq!(discovered(&reg, "w/a", ARM64), vec![multi[1].clone()]);
    let mut both = common::cli::planned_artifacts(fixtures::LEGACY_V1);
    both.extend(common::cli::planned_artifacts(fixtures::LEGACY_V02));
    both.sort();
    assert_eq!(discovered(&reg, "w/b", AMD64), both);

    // Idle again, however many tags w/a has now.
    reg.clear_requests();
    let c = cycle(&reg, &state);
    assert_eq!(
        (c["images"].as_u64(), c["requests"].as_u64()),
        (Some(0), Some(4)),
        "{c}"
    );
    assert!(reg.write_requests().is_empty());
}
