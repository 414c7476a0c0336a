//! The Go-compatible JSON writer: any JSON value written (compact and indented) parses back to
//! the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use referrify::model::gojson;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        for bytes in [gojson::to_compact(&v), gojson::to_indent(&v)] {
            let back: serde_json::Value =
                serde_json::from_slice(&bytes).expect("the writer writes JSON");
            assert_eq!(back, v);
        }
    }
});
