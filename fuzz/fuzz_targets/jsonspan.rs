//! The byte-span scanner: on any input it returns spans inside the input, and on valid JSON its
//! view of the top level agrees with serde_json.
#![no_main]
use libfuzzer_sys::fuzz_target;
use referrify::model::jsonspan;

fuzz_target!(|data: &[u8]| {
    let start = jsonspan::skip_ws(data, 0);
    if let Ok(r) = jsonspan::value_at(data, start) {
        assert!(r.end <= data.len() && r.start <= r.end);
        if let Ok(members) = jsonspan::members(data, r.clone()) {
            for (_, m) in &members {
                assert!(m.end <= r.end);
            }
            if let Ok(serde_json::Value::Object(o)) =
                serde_json::from_slice::<serde_json::Value>(data)
            {
                // serde keeps one of duplicate keys; the scanner sees them all.
                assert!(members.len() >= o.len());
            }
        }
    }
});
