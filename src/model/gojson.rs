//! A JSON writer that produces the bytes Go's `encoding/json` produces.
//!
//! BuildKit writes manifests with `json.MarshalIndent(v, "", "  ")` and referrers tooling pushes
//! compact `json.Marshal` output. Matching those bytes exactly is what makes our artifact digests
//! equal to BuildKit's (formats.md §4). Object key order is the order of the `serde_json::Map`
//! (the crate's `preserve_order` feature), so callers build values in Go struct order.

use serde_json::Value;

/// `json.Marshal(v)`: compact.
pub fn to_compact(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, v, None, 0);
    out
}

/// `json.MarshalIndent(v, "", "  ")`: two-space indent, `": "` after keys, no trailing newline.
pub fn to_indent(v: &Value) -> Vec<u8> {
    to_indent_prefixed(v, "")
}

/// `json.MarshalIndent(v, prefix, "  ")`: every line after the first starts with `prefix`.
pub fn to_indent_prefixed(v: &Value, prefix: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, v, Some(prefix), 0);
    out
}

fn newline(out: &mut Vec<u8>, prefix: &str, depth: usize) {
    out.push(b'\n');
    out.extend_from_slice(prefix.as_bytes());
    for _ in 0..depth {
        out.extend_from_slice(b"  ");
    }
}

fn write_value(out: &mut Vec<u8>, v: &Value, indent: Option<&str>, depth: usize) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(out, s.as_bytes()),
        Value::Array(items) => {
            if items.is_empty() {
                out.extend_from_slice(b"[]");
                return;
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if let Some(p) = indent {
                    newline(out, p, depth + 1);
                }
                write_value(out, item, indent, depth + 1);
            }
            if let Some(p) = indent {
                newline(out, p, depth);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.extend_from_slice(b"{}");
                return;
            }
            out.push(b'{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if let Some(p) = indent {
                    newline(out, p, depth + 1);
                }
                write_string(out, k.as_bytes());
                out.push(b':');
                if indent.is_some() {
                    out.push(b' ');
                }
                write_value(out, item, indent, depth + 1);
            }
            if let Some(p) = indent {
                newline(out, p, depth);
            }
            out.push(b'}');
        }
    }
}

/// Writes `s` as a Go `encoding/json` string (Go ≥ 1.22): `<`, `>`, `&`, U+2028 and U+2029 as
/// `\u` escapes, `\b` `\f` `\n` `\r` `\t` short forms, other control characters as `\u00xx`, and each
/// byte of invalid UTF-8 as `\ufffd`.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b'<' | b'>' | b'&' | 0..=0x1f => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 0xf) as usize]);
                }
                _ => out.push(b),
            }
            i += 1;
            continue;
        }
        match decode_utf8(&s[i..]) {
            Some((c, len)) => {
                if c == '\u{2028}' {
                    out.extend_from_slice(b"\\u2028");
                } else if c == '\u{2029}' {
                    out.extend_from_slice(b"\\u2029");
                } else {
                    out.extend_from_slice(&s[i..i + len]);
                }
                i += len;
            }
            None => {
                out.extend_from_slice(b"\\ufffd");
                i += 1;
            }
        }
    }
    out.push(b'"');
}

/// Decodes one UTF-8 scalar at the start of `s`, as Go's `utf8.DecodeRune` accepts it.
fn decode_utf8(s: &[u8]) -> Option<(char, usize)> {
    let len = match s[0] {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let chunk = s.get(..len)?;
    let text = std::str::from_utf8(chunk).ok()?;
    text.chars().next().map(|c| (c, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &[u8]) -> String {
        let mut out = Vec::new();
        write_string(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_go() {
        // The example from formats.md §4.
        let v = json!({"k": "a<b>&c\u{2028}"});
        assert_eq!(to_compact(&v), br#"{"k":"a\u003cb\u003e\u0026c\u2028"}"#);
        assert_eq!(s("\u{2029}".as_bytes()), r#""\u2029""#);
        assert_eq!(s(b"\x08\x0c\n\r\t"), r#""\b\f\n\r\t""#);
        assert_eq!(s(b"\x00\x01\x1f\x7f"), "\"\\u0000\\u0001\\u001f\x7f\"");
        assert_eq!(s(b"q\"b\\s/"), r#""q\"b\\s/""#);
        assert_eq!(s("é€😀".as_bytes()), "\"é€😀\"");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_per_byte() {
        assert_eq!(s(b"a\xffb"), r#""a\ufffdb""#);
        // A truncated 3-byte sequence: Go replaces each byte it cannot decode.
        assert_eq!(s(b"\xe2\x82"), r#""\ufffd\ufffd""#);
        // Encoded surrogate halves are invalid UTF-8 in Go too.
        assert_eq!(s(b"\xed\xa0\x80"), r#""\ufffd\ufffd\ufffd""#);
        // An overlong encoding of '/'.
        assert_eq!(s(b"\xc0\xaf"), r#""\ufffd\ufffd""#);
        // A real U+FFFD is written as is.
        assert_eq!(s("\u{fffd}".as_bytes()), "\"\u{fffd}\"");
    }

    #[test]
    fn indent_layout() {
        let v = json!({"a": [], "b": {}, "c": [1, {"d": null}], "e": true});
        let expect = "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    1,\n    {\n      \"d\": null\n    }\n  ],\n  \"e\": true\n}";
        assert_eq!(String::from_utf8(to_indent(&v)).unwrap(), expect);
        let prefixed = String::from_utf8(to_indent_prefixed(&json!({"x": 1}), "  ")).unwrap();
        assert_eq!(prefixed, "{\n    \"x\": 1\n  }");
    }

    #[test]
    fn round_trips_through_serde() {
        let v = json!({"z": "<&>\u{2028}\u{1}", "a": [1, 2.5, -3, "x"], "m": {"k": false}});
        for bytes in [to_compact(&v), to_indent(&v)] {
            let back: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(back, v);
        }
    }
}
