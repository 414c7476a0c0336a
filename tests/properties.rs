//! Property tests: parsers of registry and file content never panic, and what we write reads back.

use proptest::prelude::*;
use referrify::model::digest::Digest;
use referrify::model::document::Document;
use referrify::model::referrers::{merge, read_tag_index};
use referrify::model::{gojson, jsonspan, metadata, statement::Statement};
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        // Strings with what Go escapes specially: <>&, U+2028/9, controls, non-ASCII.
        "[a-z<>&\u{2028}\u{2029}\u{0}-\u{1f}\"\\\\é😀 ]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z<&\u{2028}]{0,6}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

const REAL: &[&str] = &[
    "testdata/golden/legacy-manifest.json",
    "testdata/golden/artifact-manifest.json",
    "testdata/golden/legacy-index.json",
    "testdata/golden/referrers-index.json",
    "testdata/golden/layer-a.json",
];

fn real(i: usize) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(REAL[i % REAL.len()]))
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn go_writer_round_trips(v in arb_json()) {
        for bytes in [gojson::to_compact(&v), gojson::to_indent(&v)] {
            let back: Value = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(&back, &v);
            // Go never writes these raw.
            let text = String::from_utf8(bytes).unwrap();
            let raw_special = ['<', '>', '&', '\u{2028}', '\u{2029}'].iter().any(|c| text.contains(*c));
            prop_assert!(!raw_special, "unescaped character in {}", text);
        }
    }

    #[test]
    fn span_scanner_agrees_with_serde(v in arb_json()) {
        let bytes = gojson::to_indent(&v);
        let range = jsonspan::value_at(&bytes, 0).unwrap();
        prop_assert_eq!(range, 0..bytes.len());
        if let Value::Object(map) = &v {
            let members = jsonspan::members(&bytes, 0..bytes.len()).unwrap();
            prop_assert_eq!(members.len(), map.len());
            for ((k, r), (k2, v2)) in members.iter().zip(map) {
                prop_assert_eq!(k, k2);
                let parsed: Value = serde_json::from_slice(&bytes[r.clone()]).unwrap();
                prop_assert_eq!(&parsed, v2);
            }
        }
    }

    #[test]
    fn parsers_never_panic_on_bytes(b in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Document::parse(&b, None);
        let _ = Statement::parse(&b);
        let _ = metadata::image_refs(&b);
        let _ = read_tag_index(&b, &Digest::sha256(b"x"));
        let _ = jsonspan::value_at(&b, 0).and_then(|r| jsonspan::members(&b, r));
        let _ = referrify::transport::challenge::parse(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn retry_after_never_panics(
        secs in any::<u64>(),
        day in 0u64..40,
        year in any::<i64>(),
        h in 0u64..30,
        text in "\\PC{0,40}",
    ) {
        use referrify::transport::retry::parse_retry_after;
        let now = std::time::SystemTime::now();
        let _ = parse_retry_after(&secs.to_string(), now);
        let _ = parse_retry_after(&format!("Sun, {day:02} Nov {year} {h:02}:00:00 GMT"), now);
        let _ = parse_retry_after(&text, now);
        let policy = referrify::transport::retry::RetryPolicy::default();
        if let Some(d) = parse_retry_after(&format!("Sun, {day:02} Nov {year} {h:02}:00:00 GMT"), now) {
            prop_assert!(policy.backoff(1, Some(d)) <= policy.max_retry_after);
        }
    }

    #[test]
    fn parsers_never_panic_on_mutated_real_documents(i in 0usize..5, edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut b = real(i);
        for (at, byte) in edits {
            let n = b.len();
            b[at % n] = byte;
        }
        if let Ok(Document::Manifest(m)) = Document::parse(&b, None) {
            let _ = referrify::plan::artifact::build(&m, &m.config, &[]);
        }
        let _ = read_tag_index(&b, &Digest::sha256(b"x"));
        let _ = Statement::parse(&b);
    }

    #[test]
    fn merge_keeps_everything_and_adds_once(existing in prop::collection::btree_set(0u8..20, 0..8), adds in prop::collection::vec(0u8..20, 0..8)) {
        let desc = |n: u8| json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": Digest::sha256(&[n]).to_string(), "size": n, "artifactType": "t"});
        let subject = Digest::sha256(b"subject");
        let old = if existing.is_empty() { None } else {
            Some(gojson::to_compact(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": existing.iter().map(|n| desc(*n)).collect::<Vec<_>>()})))
        };
        let additions: Vec<Value> = adds.iter().map(|n| desc(*n)).collect();
        let out = merge(old.as_deref(), &subject, &additions).unwrap();
        let mut want: Vec<u8> = existing.iter().copied().collect();
        for a in &adds { if !want.contains(a) { want.push(*a); } }
        match out {
            None => prop_assert_eq!(want.len(), existing.len()),
            Some(bytes) => {
                let listed: Vec<String> = read_tag_index(&bytes, &subject).unwrap().into_iter().map(|d| d.digest.to_string()).collect();
                let expect: Vec<String> = want.iter().map(|n| Digest::sha256(&[*n]).to_string()).collect();
                prop_assert_eq!(listed, expect);
                if let Some(o) = &old {
                    // The old bytes up to the end of the last existing entry are kept verbatim.
                    let cut = o.len() - 2;
                    prop_assert_eq!(&bytes[..cut], &o[..cut]);
                }
            }
        }
    }
}

/// Found by `scripts/fuzz.sh` (gojson target): a 73-digit integer parses to an f64 whose shortest
/// form, written back, must parse to the same f64 (serde_json's `float_roundtrip`).
#[test]
fn huge_numbers_round_trip_through_the_go_writer() {
    let text = format!("9{}", "8".repeat(72));
    let v: Value = serde_json::from_str(&text).unwrap();
    for bytes in [gojson::to_compact(&v), gojson::to_indent(&v)] {
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, v, "{}", String::from_utf8_lossy(&bytes));
    }
}
