//! A referrers tag's content: read it, and merge an entry into it; a merge that succeeds must
//! keep every entry that was there and read back with the new one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use referrify::model::digest::Digest;
use referrify::model::referrers::{merge, read_tag_index};

fuzz_target!(|data: &[u8]| {
    let subject = Digest::sha256(b"subject");
    let before = read_tag_index(data, &subject);
    let add = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": Digest::sha256(b"artifact").to_string(),
        "size": 1,
        "artifactType": "application/vnd.docker.attestation.manifest.v1+json"
    });
    if let Ok(Some(merged)) = merge(Some(data), &subject, &[add]) {
        let after = read_tag_index(&merged, &subject).expect("a merged tag index reads back");
        if let Ok(b) = before {
            for d in &b {
                assert!(
                    after.iter().any(|a| a.digest == d.digest),
                    "an entry was lost"
                );
            }
        }
        assert!(after
            .iter()
            .any(|a| a.digest == Digest::sha256(b"artifact")));
    }
});
