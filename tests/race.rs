//! Two referrify processes writing the same referrers tag (`sha256-<hex>`) at once, on a real
//! registry without the Referrers API: a proxy makes both read the tag before either writes it,
//! so the second write drops the first one's entry (a lost update), every time. Without the
//! read-back (`--no-verify`) the loss shows; with it, the loser merges its entry in again and
//! both entries end up in the tag.

mod common;

use common::cli::explain;
use common::fault_proxy::{rule, Fault, FaultProxy};
use common::fixtures::{AMD64, LEGACY_V02, LEGACY_V1};
use common::Registry;
use std::process::{Command, Output};

fn convert(addr: &str, image: &str, verify: bool) -> std::process::Child {
    let mut args = vec!["convert".to_string(), format!("{addr}/{image}")];
    if !verify {
        args.push("--no-verify".into());
    }
    Command::new(env!("CARGO_BIN_EXE_referrify"))
        .args(&args)
        .env("DOCKER_CONFIG", "/nonexistent")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn entries(reg: &Registry, repo: &str) -> usize {
    let v = common::http_get_json(
        reg,
        &format!("/v2/{repo}/manifests/sha256-{}", &AMD64[7..]),
        "application/vnd.oci.image.index.v1+json",
    );
    v["manifests"].as_array().map_or(0, Vec::len)
}

/// Runs the two writers through a proxy that holds every write of the shared tag until both
/// writers have read it (each reads it twice: when planning and right before writing), so the
/// lost update happens every time, not by luck. Returns their outputs and the tag's entries.
fn race(reg: &Registry, verify: bool) -> (Vec<Output>, usize) {
    let repo = common::unique_repo("race");
    // legacy-v1 and legacy-v02: two images, two attestations, one subject (amd64).
    common::push_layout_raw(reg, &LEGACY_V1.dir(), &repo, "v1");
    common::push_layout_raw(reg, &LEGACY_V02.dir(), &repo, "v02");
    let tag = format!("sha256-{}", &AMD64[7..]);
    let both_read = Fault::WaitFor(format!("GET *manifests/{tag}"), 4);
    let proxy = FaultProxy::start(
        reg,
        vec![rule(&format!("PUT *manifests/{tag}"), 2, both_read)],
    );
    let a = convert(&proxy.addr, &format!("{repo}:v1"), verify);
    let b = convert(&proxy.addr, &format!("{repo}:v02"), verify);
    let outs: Vec<Output> = [a, b]
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    (outs, entries(reg, &repo))
}

#[test]
fn concurrent_writers_of_one_referrers_tag_lose_nothing() {
    let reg = Registry::distribution();
    // Without the read-back the second write drops the first one's entry.
    let (outs, n) = race(&reg, false);
    for o in &outs {
        assert_eq!(o.status.code(), Some(0), "{}", explain(o));
    }
    assert_eq!(n, 1, "the race shows: one entry lost without the read-back");
    // With it, the loser sees its entry gone and merges it in again.
    let (outs, n) = race(&reg, true);
    let mut remerged = 0;
    for o in &outs {
        assert_eq!(o.status.code(), Some(0), "{}", explain(o));
        remerged += usize::from(String::from_utf8_lossy(&o.stderr).contains("merging again"));
    }
    assert_eq!(n, 2, "both entries are in the tag");
    assert_eq!(remerged, 1, "exactly the loser merged again");
}
