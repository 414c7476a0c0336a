//! An OCI layout's index.json, read as the layout store reads it, then appended to as convert
//! appends descriptors (the existing bytes must survive the append).
#![no_main]
use libfuzzer_sys::fuzz_target;
use referrify::model::document::Document;
use referrify::model::jsonspan;

fuzz_target!(|data: &[u8]| {
    if let Ok(view) = Document::parse_index(data, Some("application/vnd.oci.image.index.v1+json")) {
        let _ = referrify::model::attestation::classify(&view);
        let add = serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "size": 2
        });
        if let Ok(out) = jsonspan::append_to_member(data, "manifests", &[&add]) {
            let after =
                Document::parse_index(&out, Some("application/vnd.oci.image.index.v1+json"))
                    .expect("an appended index.json parses");
            assert_eq!(after.manifests.len(), view.manifests.len() + 1);
        }
    }
});
