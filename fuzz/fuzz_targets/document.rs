//! Registry content: any bytes as an index or manifest (with and without a Content-Type), then
//! the attestation classification and, for manifests, the artifact view and predicate types.
#![no_main]
use libfuzzer_sys::fuzz_target;
use referrify::model::attestation;
use referrify::model::document::Document;

fuzz_target!(|data: &[u8]| {
    for ct in [
        None,
        Some("application/vnd.oci.image.index.v1+json"),
        Some("application/vnd.docker.distribution.manifest.list.v2+json"),
        Some("application/vnd.oci.image.manifest.v1+json"),
    ] {
        match Document::parse(data, ct) {
            Ok(Document::Index(i)) => {
                let _ = attestation::classify(&i);
            }
            Ok(Document::Manifest(m)) => {
                let _ = attestation::is_artifact(&m);
                let _ = attestation::annotated_predicate_types(&m);
            }
            Err(_) => {}
        }
    }
});
