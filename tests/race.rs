//! Two referrify processes writing the same referrers tag (`sha256-<hex>`) at once, on a real
//! registry without the Referrers API, far away (every request delayed): both read the tag
//! before either writes it, so the second write drops the first one's entry (a lost update).
//! Without the read-back (`--no-verify`) the race shows; with it, the loser merges its entry
//! in again and both entries end up in the tag.

mod common;

use common::cli::explain;
use common::fixtures::{AMD64, LEGACY_V02, LEGACY_V1};
use common::Registry;
use std::process::{Command, Output};

fn convert(reg: &Registry, image: &str, verify: bool) -> std::process::Child {
    let mut args = vec!["convert".to_string(), reg.reference(image)];
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

#[test]
fn concurrent_writers_of_one_referrers_tag_lose_nothing() {
    let reg = Registry::distribution();
    reg.set_delay(25);
    let rounds = 4;
    let mut lost_without_readback = 0;
    let mut remerged = 0;
    for round in 0..rounds {
        for verify in [false, true] {
            let repo = common::unique_repo("race");
            // legacy-v1 and legacy-v02: two images, two attestations, one subject (amd64).
            common::push_layout_raw(&reg, &LEGACY_V1.dir(), &repo, "v1");
            common::push_layout_raw(&reg, &LEGACY_V02.dir(), &repo, "v02");
            let a = convert(&reg, &format!("{repo}:v1"), verify);
            let b = convert(&reg, &format!("{repo}:v02"), verify);
            let outs: Vec<Output> = [a, b]
                .into_iter()
                .map(|c| c.wait_with_output().unwrap())
                .collect();
            for o in &outs {
                assert_eq!(o.status.code(), Some(0), "round {round}: {}", explain(o));
                remerged +=
                    usize::from(String::from_utf8_lossy(&o.stderr).contains("merging again"));
            }
            let n = entries(&reg, &repo);
            if verify {
                assert_eq!(n, 2, "round {round}: both entries are in the tag");
            } else {
                lost_without_readback += usize::from(n < 2);
            }
        }
    }
    eprintln!(
        "{rounds} rounds: an entry was lost in {lost_without_readback} without the read-back; \
         {remerged} re-merges with it, none lost"
    );
    assert!(
        lost_without_readback > 0,
        "the race did not show; the test proves nothing"
    );
    assert!(remerged > 0, "with the read-back the loser merged again");
}
