//! Byte-exactness: the golden vectors of formats.md §5 and the real BuildKit v0.32.2 fixtures.

use referrify::engine::load::{self as input, Loaded};
use referrify::model::digest::Digest;
use referrify::model::document::{Descriptor, Document};
use referrify::model::reference::LayoutRef;
use referrify::model::referrers::{merge, referrer_descriptor};
use referrify::model::rewrite::{rewrite_index, EntryUpdate};
use referrify::plan::artifact;
use referrify::plan::image::{conversions, Conversion};
use referrify::store::layout::LayoutStore;
use referrify::store::Store;
use std::path::PathBuf;

fn testdata(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(p)
}

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("golden/{name}"))).unwrap()
}

fn subject_1234() -> Descriptor {
    let v = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:23678f31b3b3586c4fb318aecfe64a96a1f0916ba8faf9b2be2abee63fa9e827",
        "size": 1234,
        "platform": {"architecture": "amd64", "os": "linux"}
    });
    Descriptor::from_value(&v, "subject").unwrap()
}

#[test]
fn golden_vectors_have_the_documented_digests() {
    for (name, size, digest) in [
        (
            "layer-a.json",
            321,
            "193532d5155fc1328657e0bab35d8628d774c6a25ed508f68a5ce8e93c445f22",
        ),
        (
            "layer-b.json",
            390,
            "89a37973f32d465e4e3b578aab30712cabedebc4629833f3a658529cbf6e0a89",
        ),
        (
            "legacy-config.json",
            241,
            "fdc6ca35cccc717ba63c1f6131d69a05a6035fb7aab71f2811403f9de736aa2e",
        ),
        (
            "legacy-manifest.json",
            833,
            "cbcad8cc17f09bfc6e1615dd2311d3bafbaf52831901e99391ad42b0a9bd9c35",
        ),
        (
            "artifact-manifest.json",
            1106,
            "686e80521572c66074e40f6b21770a3b85381b4531e31acac008649fc275a175",
        ),
        (
            "legacy-index.json",
            856,
            "eb92a9b17225a59462d7429f87801e8475315290b234390360d2c83e758cbe07",
        ),
        (
            "artifact-index.json",
            857,
            "4d569d530b2d8d4b361e1f3fc1da47cd342299519ac3d2781b09d1a8a5220d2d",
        ),
        (
            "referrers-index.json",
            310,
            "a08457e287dbe9d78e447ef97c670a14bd2365da9e7a850e5333b7e7bfef7363",
        ),
    ] {
        let b = golden(name);
        assert_eq!(b.len(), size, "{name}");
        assert_eq!(Digest::sha256(&b).encoded(), digest, "{name}");
    }
}

#[test]
fn legacy_manifest_converts_to_buildkit_artifact_bytes() {
    let legacy = Document::parse_manifest(&golden("legacy-manifest.json"), None).unwrap();
    let art = artifact::build(&legacy, &subject_1234(), &[None, None]).unwrap();
    assert_eq!(
        String::from_utf8(art.bytes.clone()).unwrap(),
        String::from_utf8(golden("artifact-manifest.json")).unwrap()
    );
    assert_eq!(
        art.digest.as_str(),
        "sha256:686e80521572c66074e40f6b21770a3b85381b4531e31acac008649fc275a175"
    );
    // An independent parser (oci-spec) reads what we wrote as an OCI 1.1 artifact.
    let m: oci_spec::image::ImageManifest = serde_json::from_slice(&art.bytes).unwrap();
    assert_eq!(
        m.artifact_type().as_ref().map(|t| t.to_string()).as_deref(),
        Some("application/vnd.docker.attestation.manifest.v1+json")
    );
    assert_eq!(
        m.subject().as_ref().unwrap().digest().to_string(),
        subject_1234().digest.as_str()
    );
    assert_eq!(m.config().data().as_deref(), Some("e30="));
}

#[test]
fn buildkit_v011_key_order_and_docker_media_types_give_the_same_artifact() {
    // v0.11 wrote mediaType before schemaVersion; layer order inside descriptors is Go's.
    let text = String::from_utf8(golden("legacy-manifest.json")).unwrap();
    let v011 = text.replacen(
        "  \"schemaVersion\": 2,\n  \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",",
        "  \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n  \"schemaVersion\": 2,",
        1,
    );
    assert_ne!(v011, text);
    let m = Document::parse_manifest(v011.as_bytes(), None).unwrap();
    assert_eq!(
        artifact::build(&m, &subject_1234(), &[None, None])
            .unwrap()
            .bytes,
        golden("artifact-manifest.json")
    );

    // Docker schema 2 (buildx 0.10, docker driver): no predicate-type annotations on layers.
    let docker = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "sha256:fdc6ca35cccc717ba63c1f6131d69a05a6035fb7aab71f2811403f9de736aa2e", "size": 241},
        "layers": [
            {"mediaType": "application/vnd.in-toto+json", "digest": "sha256:193532d5155fc1328657e0bab35d8628d774c6a25ed508f68a5ce8e93c445f22", "size": 321},
            {"mediaType": "application/vnd.in-toto+json", "digest": "sha256:89a37973f32d465e4e3b578aab30712cabedebc4629833f3a658529cbf6e0a89", "size": 390}
        ]
    });
    let m = Document::parse_manifest(&serde_json::to_vec(&docker).unwrap(), None).unwrap();
    let types = [
        Some("https://spdx.dev/Document".to_string()),
        Some("https://slsa.dev/provenance/v1".to_string()),
    ];
    let art = artifact::build(&m, &subject_1234(), &types).unwrap();
    assert_eq!(
        art.bytes,
        golden("artifact-manifest.json"),
        "predicate types come from the statements"
    );
}

#[test]
fn index_rewrite_matches_buildkit_v032_index() {
    let out = rewrite_index(
        &golden("legacy-index.json"),
        &[EntryUpdate {
            position: 1,
            digest: Digest::parse(
                "sha256:686e80521572c66074e40f6b21770a3b85381b4531e31acac008649fc275a175",
            )
            .unwrap(),
            size: 1106,
            media_type: None,
        }],
    )
    .unwrap();
    assert_eq!(out, golden("artifact-index.json"));
}

#[test]
fn referrers_tag_index_matches_regclient_and_oras_form() {
    let art = golden("artifact-manifest.json");
    let view = Document::parse_manifest(&art, None).unwrap();
    let subject = subject_1234().digest;
    let out = merge(None, &subject, &[referrer_descriptor(&art, &view)])
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        String::from_utf8(golden("referrers-index.json")).unwrap()
    );
    // Merging again changes nothing: no write on a second run.
    assert_eq!(
        merge(Some(&out), &subject, &[referrer_descriptor(&art, &view)]).unwrap(),
        None
    );
}

#[test]
fn merge_keeps_foreign_entries_byte_for_byte() {
    let subject = subject_1234().digest;
    // A pretty-printed tag index written by another tool, with a cosign signature in it.
    let foreign = "{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n  \"manifests\": [\n    {\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\",\"size\":7,\"artifactType\":\"application/vnd.dev.cosign.artifact.sig.v1+json\",\"annotations\":{\"x\":\"a&b\"}}\n  ],\n  \"annotations\": {\"keep\": \"me\"}\n}";
    let art = golden("artifact-manifest.json");
    let view = Document::parse_manifest(&art, None).unwrap();
    let out = String::from_utf8(
        merge(
            Some(foreign.as_bytes()),
            &subject,
            &[referrer_descriptor(&art, &view)],
        )
        .unwrap()
        .unwrap(),
    )
    .unwrap();
    let (head, tail) = foreign.split_at(foreign.find("\n  ],").unwrap());
    assert!(out.starts_with(head), "existing bytes kept:\n{out}");
    assert!(out.ends_with(tail));
    let parsed = Document::parse_index(out.as_bytes(), None).unwrap();
    assert_eq!(parsed.manifests.len(), 2);
    assert_eq!(
        parsed.manifests[1].artifact_type.as_deref(),
        Some("application/vnd.docker.attestation.manifest.v1+json")
    );
}

fn load_fixture(name: &str) -> (Vec<Conversion>, referrify::model::image::LoadedImage) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = Store::from(
        LayoutStore::open(LayoutRef {
            dir: testdata(&format!("buildkit-v0.32.2/{name}")),
            tag: None,
            digest: None,
        })
        .unwrap(),
    );
    let img = match rt.block_on(input::load(&store)).unwrap() {
        Loaded::Index(i) => i,
        Loaded::Manifest(..) => panic!("{name}: expected an index"),
    };
    let (convs, problems) = conversions(&img);
    assert!(problems.is_empty(), "{name}: {problems:?}");
    (convs, img)
}

#[test]
fn real_buildkit_fixtures_convert_to_the_documented_digests() {
    // testdata/README.md "Expected conversion results".
    let table = [
        (
            "legacy-v1",
            "baf833cb",
            "58abb913e49c265ba6264739e3595589e9ca0e15f21531cdf83b224013113fb1",
            1106,
            "120694fc0803a5313f0573a9921ea92b9f04bb88c6cb248cc956443819d389de",
            true,
        ),
        (
            "legacy-v02",
            "baf833cb",
            "8be4a296fc1cad7219904f8e707c033e9b19ff9eda5cd6b87f318b543ec0f44e",
            1108,
            "536b3be56ae91ad30edf8759e31ec86a834ea8d063fa5c2999565e5d562c64d2",
            true,
        ),
        (
            "legacy-multi",
            "baf833cb",
            "ec50a12a05f37a57c1c48ab7a7e27d52aac56b83c3b078fdc79342b109774baf",
            1106,
            "14d080a4e00354afc957ea570537cd3a017b2bef56758b9d2f2ca2dd353beeb5",
            true,
        ),
        (
            "legacy-multi",
            "b27e98de",
            "94b093a90d4c9d934cf4dd7ae72530a5d177da708b57e6bb9c87ef2bbef8db13",
            1106,
            "4729e75610061b450feaaa5f87e76849a2c8a764acd6014c74be75696ebb1a9b",
            true,
        ),
        (
            "ociartifact-v1",
            "baf833cb",
            "d261a363fd1a297f01328ceb9892ea21f214807db4237e8839d1240b6b296c28",
            1106,
            "b406e8946fcb0aa5673b701602a0af7c84053696f2b8e02269125db03321c729",
            false,
        ),
    ];
    for (fixture, subject, artifact_hex, size, tag_hex, created) in table {
        let (convs, _) = load_fixture(fixture);
        let c = convs
            .iter()
            .find(|c| c.subject.digest.encoded().starts_with(subject))
            .unwrap_or_else(|| panic!("{fixture}/{subject}"));
        assert_eq!(
            c.artifact.digest.encoded(),
            artifact_hex,
            "{fixture}/{subject}"
        );
        assert_eq!(c.artifact.bytes.len(), size);
        assert_eq!(c.created, created, "{fixture}/{subject}");
        let tag = merge(None, &c.subject.digest, std::slice::from_ref(&c.descriptor))
            .unwrap()
            .unwrap();
        assert_eq!(
            Digest::sha256(&tag).encoded(),
            tag_hex,
            "{fixture}/{subject} tag index"
        );
    }
}

#[test]
fn legacy_v1_converts_to_exactly_what_buildkit_wrote_with_oci_artifact_true() {
    // formats.md §6: swap in the artifact build's provenance layer to cancel per-run metadata.
    let (legacy, _) = load_fixture("legacy-v1");
    let (art, _) = load_fixture("ociartifact-v1");
    let text = String::from_utf8(legacy[0].artifact.bytes.clone()).unwrap();
    let swapped = text.replace(
        "sha256:2cade199396d6dae70c73bf4940d1cd67c105c1ff46d24cdc2396f041e3b8bdc",
        "sha256:67ddfa2964fb0126041e854db29cf856b03efeff882f2d7adb55e83a8177e536",
    );
    assert_ne!(swapped, text);
    assert_eq!(swapped.as_bytes(), &art[0].artifact.bytes[..]);
    assert_eq!(
        Digest::sha256(swapped.as_bytes()).encoded(),
        "d261a363fd1a297f01328ceb9892ea21f214807db4237e8839d1240b6b296c28"
    );
}

#[test]
fn v019_artifact_with_platform_in_subject_is_taken_as_converted() {
    let text = String::from_utf8(golden("artifact-manifest.json")).unwrap();
    let v019 = text.replace(
        "    \"size\": 1234\n  }\n}",
        "    \"size\": 1234,\n    \"platform\": {\n      \"architecture\": \"amd64\",\n      \"os\": \"linux\"\n    }\n  }\n}",
    );
    let m = Document::parse_manifest(v019.as_bytes(), None).unwrap();
    assert!(referrify::model::attestation::is_artifact(&m));
    // Listed as BuildKit v0.19 listed it: under its own digest (formats.md), with its type.
    let d = referrer_descriptor(v019.as_bytes(), &m);
    assert_eq!(
        d["digest"],
        "sha256:520048b7ed888c000e22996705ee816ad9f8c5a5ccf2ef5b51b0b96c3df3a199"
    );
    assert_eq!(
        d["artifactType"],
        "application/vnd.docker.attestation.manifest.v1+json"
    );
}

#[test]
fn rewritten_real_index_is_buildkits_oci_artifact_index() {
    // legacy-v1 and ociartifact-v1 come from the same build; with the attestation entry pointed at
    // BuildKit's own artifact, our rewrite must reproduce BuildKit's index byte for byte.
    let (_, legacy) = load_fixture("legacy-v1");
    let (art, oci) = load_fixture("ociartifact-v1");
    let out = rewrite_index(
        &legacy.index.bytes,
        &[EntryUpdate {
            position: 1,
            digest: art[0].artifact.digest.clone(),
            size: art[0].artifact.bytes.len() as u64,
            media_type: None,
        }],
    )
    .unwrap();
    assert_eq!(out, oci.index.bytes);
    assert_eq!(
        Digest::sha256(&out).encoded(),
        "2444e6a3cac3eb1d4a4dfce79c36e418b40f722482414880983372adf5a3f993"
    );
}
