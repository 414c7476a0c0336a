//! `docker buildx build|bake --metadata-file` JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = referrify::model::metadata::image_refs(data);
});
