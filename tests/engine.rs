//! The engine's seams, driven through its library API on real BuildKit fixtures in OCI layouts:
//! a dry run plans exactly the writes a run then makes, a batch converts an attestation shared by
//! two images once and credits its writes once, a rerun writes nothing, and the store adds the
//! referrers of several subjects to a layout's `index.json` in one operation.

mod common;

use common::temp_layout;
use referrify::engine::load::{load, Loaded};
use referrify::engine::{self, Input, Options};
use referrify::model::document::Document;
use referrify::model::reference::LayoutRef;
use referrify::model::referrers::{Listing, ReferrersUpdate};
use referrify::report::progress::Silent;
use referrify::report::{AttestationState, ImageReport, ImageStatus};
use referrify::store::layout::LayoutStore;
use referrify::store::Store;
use serde_json::Value;
use std::path::Path;

fn open(dir: &Path) -> Store {
    Store::from(
        LayoutStore::open(LayoutRef {
            dir: dir.to_path_buf(),
            tag: None,
            digest: None,
        })
        .unwrap(),
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn input(store: &Store, text: &str) -> Input {
    let image = match rt().block_on(load(store)).unwrap() {
        Loaded::Index(i) => i,
        Loaded::Manifest(..) => panic!("expected an index"),
    };
    Input {
        text: text.into(),
        image,
        tags: Vec::new(),
    }
}

fn convert(store: &Store, inputs: &[Input], dry_run: bool) -> Vec<ImageReport> {
    let opts = Options {
        dry_run,
        verify: true,
        rewrite: false,
    };
    rt().block_on(engine::convert(store, inputs, opts, &Silent))
}

fn index_entries(dir: &Path) -> usize {
    let bytes = std::fs::read(dir.join("index.json")).unwrap();
    Document::parse_index(&bytes, None).unwrap().manifests.len()
}

#[test]
fn a_dry_run_plans_exactly_the_writes_the_run_makes() {
    let (_tmp, dir) = temp_layout("buildkit-v0.32.2/legacy-multi");
    let store = open(&dir);
    let before = std::fs::read(dir.join("index.json")).unwrap();
    let planned = convert(&store, &[input(&store, "img")], true);
    assert_eq!(
        std::fs::read(dir.join("index.json")).unwrap(),
        before,
        "a dry run writes nothing"
    );
    let done = convert(&store, &[input(&store, "img")], false);
    let (p, d) = (&planned[0], &done[0]);
    assert_eq!(p.status, ImageStatus::Planned);
    assert_eq!(d.status, ImageStatus::Done, "{:?}", d.error);
    assert_eq!(p.writes.manifests, d.writes.manifests);
    assert_eq!(p.writes.blobs, d.writes.blobs);
    assert_eq!(p.writes.layout_index_entries, d.writes.layout_index_entries);
    assert_eq!(
        d.writes.layout_index_entries, 2,
        "one artifact per platform"
    );
    assert_eq!(index_entries(&dir), 1 + 2);
    let artifacts =
        |r: &ImageReport| -> Vec<_> { r.attestations.iter().map(|a| a.artifact.clone()).collect() };
    assert_eq!(artifacts(p), artifacts(d));
    assert!(p
        .attestations
        .iter()
        .all(|a| a.state == AttestationState::Planned));
    assert!(d
        .attestations
        .iter()
        .all(|a| a.state == AttestationState::Done && a.verified == Some(true)));

    let again = convert(&store, &[input(&store, "img")], false);
    assert_eq!(again[0].status, ImageStatus::Unchanged);
    assert_eq!(
        again[0].writes.manifests + again[0].writes.layout_index_entries,
        0
    );
    assert_eq!(index_entries(&dir), 3, "a rerun adds nothing");
}

#[test]
fn an_attestation_shared_by_two_images_is_converted_and_credited_once() {
    let (_tmp, dir) = temp_layout("buildkit-v0.32.2/legacy-multi");
    let store = open(&dir);
    // The same index named twice (as two tags of one digest would be in a registry walk).
    let inputs = [input(&store, "a"), input(&store, "b")];
    let reports = convert(&store, &inputs, false);
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].attestations.len(), 2);
    assert_eq!(
        reports[1].attestations.len(),
        2,
        "each image reports its attestations"
    );
    assert_eq!(
        reports[0].writes.manifests, 2,
        "pushes credited to the first image"
    );
    assert_eq!(reports[1].writes.manifests, 0, "and only once");
    assert_eq!(
        reports[0].writes.layout_index_entries + reports[1].writes.layout_index_entries,
        2
    );
    assert_eq!(index_entries(&dir), 3, "each artifact added once");
}

#[test]
fn the_store_adds_referrers_of_several_subjects_in_one_operation() {
    let (_tmp, dir) = temp_layout("buildkit-v0.32.2/legacy-multi");
    let store = open(&dir);
    let input = input(&store, "img");
    let (convs, problems) = referrify::plan::image::conversions(&input.image);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(convs.len(), 2);
    for c in &convs {
        rt().block_on(store.put_manifest(
            &c.artifact.digest,
            "application/vnd.oci.image.manifest.v1+json",
            &c.artifact.bytes,
        ))
        .unwrap();
    }
    let updates: Vec<ReferrersUpdate> = convs
        .iter()
        .map(|c| ReferrersUpdate {
            subject: c.subject.digest.clone(),
            listing: Listing::Layout { listed: Vec::new() },
            additions: vec![c.descriptor.clone()],
        })
        .collect();
    let refs: Vec<&ReferrersUpdate> = updates.iter().collect();
    let (written, failure) = rt().block_on(store.add_referrers(&refs));
    assert!(failure.is_none(), "{failure:?}");
    assert_eq!(written.index_entries, 2);
    assert!(written.tags.is_empty(), "a layout has no referrers tags");
    for c in &convs {
        let listed = rt().block_on(store.referrers(&c.subject.digest)).unwrap();
        let digests: Vec<_> = listed
            .descriptors
            .iter()
            .map(|d| d.digest.clone())
            .collect();
        assert_eq!(
            digests,
            std::slice::from_ref(&c.artifact.digest),
            "listed as a referrer of its subject"
        );
    }
    // The same additions again change nothing.
    let (again, _) = rt().block_on(store.add_referrers(&refs));
    assert_eq!(again.index_entries, 0);
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 3);
}
