//! Byte positions of values inside JSON text, for edits that keep every other byte as it was.
//!
//! Rewriting an index entry's digest, or appending to a referrers index written by another tool,
//! must not re-serialise what we did not write: key order, spacing and escapes stay untouched and
//! only the spliced bytes change. The scanner validates structure only; callers parse values with
//! serde_json first, so the text is already known to be valid JSON.

use std::ops::Range;

/// A JSON text could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed JSON at byte {at}: {what}")]
pub struct SpanError {
    /// Byte offset.
    pub at: usize,
    /// What was expected.
    pub what: &'static str,
}

/// Maximum nesting the scanner follows; deeper documents are rejected instead of overflowing the stack.
const MAX_DEPTH: usize = 256;

fn err(at: usize, what: &'static str) -> SpanError {
    SpanError { at, what }
}

/// Index of the first non-whitespace byte at or after `i`.
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The range of the value starting at the first non-whitespace byte from `i`.
pub fn value_at(b: &[u8], i: usize) -> Result<Range<usize>, SpanError> {
    let start = skip_ws(b, i);
    let end = scan(b, start, 0)?;
    Ok(start..end)
}

fn scan(b: &[u8], i: usize, depth: usize) -> Result<usize, SpanError> {
    if depth > MAX_DEPTH {
        return Err(err(i, "nesting too deep"));
    }
    match b.get(i) {
        None => Err(err(i, "a value")),
        Some(b'"') => scan_string(b, i),
        Some(b'{') => {
            let mut j = skip_ws(b, i + 1);
            if b.get(j) == Some(&b'}') {
                return Ok(j + 1);
            }
            loop {
                j = scan_string(b, skip_ws(b, j))?;
                j = skip_ws(b, j);
                if b.get(j) != Some(&b':') {
                    return Err(err(j, "':'"));
                }
                j = scan(b, skip_ws(b, j + 1), depth + 1)?;
                j = skip_ws(b, j);
                match b.get(j) {
                    Some(b',') => j += 1,
                    Some(b'}') => return Ok(j + 1),
                    _ => return Err(err(j, "',' or '}'")),
                }
            }
        }
        Some(b'[') => {
            let mut j = skip_ws(b, i + 1);
            if b.get(j) == Some(&b']') {
                return Ok(j + 1);
            }
            loop {
                j = scan(b, skip_ws(b, j), depth + 1)?;
                j = skip_ws(b, j);
                match b.get(j) {
                    Some(b',') => j += 1,
                    Some(b']') => return Ok(j + 1),
                    _ => return Err(err(j, "',' or ']'")),
                }
            }
        }
        Some(_) => {
            let mut j = i;
            while j < b.len()
                && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'-' | b'+' | b'.'))
            {
                j += 1;
            }
            if j == i {
                Err(err(i, "a value"))
            } else {
                Ok(j)
            }
        }
    }
}

fn scan_string(b: &[u8], i: usize) -> Result<usize, SpanError> {
    if b.get(i) != Some(&b'"') {
        return Err(err(i, "a string"));
    }
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Ok(j + 1),
            _ => j += 1,
        }
    }
    Err(err(j, "end of string"))
}

/// The members of the object spanning `obj`: decoded key and the range of its value.
pub fn members(b: &[u8], obj: Range<usize>) -> Result<Vec<(String, Range<usize>)>, SpanError> {
    if b.get(obj.start) != Some(&b'{') {
        return Err(err(obj.start, "an object"));
    }
    let mut out = Vec::new();
    let mut j = skip_ws(b, obj.start + 1);
    if b.get(j) == Some(&b'}') {
        return Ok(out);
    }
    loop {
        let ks = skip_ws(b, j);
        let ke = scan_string(b, ks)?;
        let key: String =
            serde_json::from_slice(&b[ks..ke]).map_err(|_| err(ks, "a valid key string"))?;
        j = skip_ws(b, ke);
        if b.get(j) != Some(&b':') {
            return Err(err(j, "':'"));
        }
        let v = value_at(b, j + 1)?;
        j = skip_ws(b, v.end);
        out.push((key, v));
        match b.get(j) {
            Some(b',') => j += 1,
            Some(b'}') => return Ok(out),
            _ => return Err(err(j, "',' or '}'")),
        }
    }
}

/// The element ranges of the array spanning `arr`.
pub fn elements(b: &[u8], arr: Range<usize>) -> Result<Vec<Range<usize>>, SpanError> {
    if b.get(arr.start) != Some(&b'[') {
        return Err(err(arr.start, "an array"));
    }
    let mut out = Vec::new();
    let mut j = skip_ws(b, arr.start + 1);
    if b.get(j) == Some(&b']') {
        return Ok(out);
    }
    loop {
        let v = value_at(b, j)?;
        j = skip_ws(b, v.end);
        out.push(v);
        match b.get(j) {
            Some(b',') => j += 1,
            Some(b']') => return Ok(out),
            _ => return Err(err(j, "',' or ']'")),
        }
    }
}

/// The range of member `key` of the top-level object. A key that appears twice is refused:
/// JSON parsers disagree on which one counts (serde_json takes the last, this scanner would take
/// the first), so an edit of such a document could change what another reader never sees.
pub fn top_member(b: &[u8], key: &str) -> Result<Option<Range<usize>>, SpanError> {
    let root = value_at(b, 0)?;
    unique_member(&members(b, root)?, key)
}

/// The range of member `key` among `members`, refusing a key that appears more than once.
pub fn unique_member(
    members: &[(String, Range<usize>)],
    key: &str,
) -> Result<Option<Range<usize>>, SpanError> {
    let mut found = members.iter().filter(|(k, _)| k == key);
    let first = found.next().map(|(_, r)| r.clone());
    match found.next() {
        Some((_, r)) => Err(err(
            r.start,
            "a key that appears once (this one is repeated; refusing to edit the document)",
        )),
        None => Ok(first),
    }
}

/// Applies non-overlapping `(range, replacement)` edits to `b`.
pub fn splice(b: &[u8], mut edits: Vec<(Range<usize>, Vec<u8>)>) -> Vec<u8> {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = Vec::with_capacity(b.len() + 64);
    let mut pos = 0;
    for (r, rep) in edits {
        out.extend_from_slice(&b[pos..r.start]);
        out.extend_from_slice(&rep);
        pos = r.end;
    }
    out.extend_from_slice(&b[pos..]);
    out
}

/// Appends the already-encoded JSON values `items` to the array spanning `arr`, repeating the
/// whitespace that precedes its first element before each new one.
pub fn append_to_array(
    b: &[u8],
    arr: Range<usize>,
    items: &[Vec<u8>],
) -> Result<Vec<u8>, SpanError> {
    let elems = elements(b, arr.clone())?;
    let mut insert = Vec::new();
    // The whitespace before the first element tells whether the array is pretty-printed.
    let lead: &[u8] = match elems.first() {
        Some(first) => &b[arr.start + 1..first.start],
        None => b"",
    };
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !elems.is_empty() {
            insert.push(b',');
        }
        insert.extend_from_slice(lead);
        insert.extend_from_slice(item);
    }
    let at = match elems.last() {
        Some(last) => last.end,
        None => arr.start + 1,
    };
    Ok(splice(b, vec![(at..at, insert)]))
}

/// Removes the elements for which `remove(index)` is true from the array that is member `key`
/// of the top-level object. Each run of removed elements goes with the separator before it (or,
/// at the start, the one after it), so removing what [`append_to_member`] appended gives back
/// the bytes as they were. Every other byte is kept.
pub fn remove_from_member(
    b: &[u8],
    key: &str,
    remove: impl Fn(usize) -> bool,
) -> Result<Vec<u8>, SpanError> {
    let arr = top_member(b, key)?.ok_or(SpanError {
        at: 0,
        what: "the array member",
    })?;
    let elems = elements(b, arr)?;
    let n = elems.len();
    let mut edits = Vec::new();
    let mut i = 0;
    while i < n {
        if !remove(i) {
            i += 1;
            continue;
        }
        let first = i;
        while i < n && remove(i) {
            i += 1;
        }
        let last = i - 1;
        let range = if first > 0 {
            elems[first - 1].end..elems[last].end
        } else if i < n {
            elems[0].start..elems[i].start
        } else {
            elems[0].start..elems[last].end
        };
        edits.push((range, Vec::new()));
    }
    Ok(splice(b, edits))
}

/// The indentation prefix of pretty-printed elements of the array spanning `arr` (the spaces after
/// the last newline before its first element), or `None` for a compact or empty array.
pub fn element_indent(b: &[u8], arr: Range<usize>) -> Result<Option<String>, SpanError> {
    let elems = elements(b, arr.clone())?;
    let Some(first) = elems.first() else {
        return Ok(None);
    };
    let lead = &b[arr.start + 1..first.start];
    Ok(lead
        .iter()
        .rposition(|&c| c == b'\n')
        .map(|nl| String::from_utf8_lossy(&lead[nl + 1..]).into_owned()))
}

/// Appends `values` to the array that is member `key` of the top-level object, encoded the way Go
/// writes them and indented like the existing elements (compact arrays stay compact). A `null`
/// member becomes an array. Every other byte of `b` is kept.
pub fn append_to_member(
    b: &[u8],
    key: &str,
    values: &[&serde_json::Value],
) -> Result<Vec<u8>, SpanError> {
    let arr = top_member(b, key)?.ok_or(SpanError {
        at: 0,
        what: "the array member",
    })?;
    let is_null = &b[arr.clone()] == b"null";
    let indent = if is_null {
        None
    } else {
        element_indent(b, arr.clone())?
    };
    let encoded: Vec<Vec<u8>> = values
        .iter()
        .map(|v| match &indent {
            Some(prefix) => super::gojson::to_indent_prefixed(v, prefix),
            None => super::gojson::to_compact(v),
        })
        .collect();
    if is_null {
        let mut out = b"[".to_vec();
        out.extend(encoded.join(&b","[..]));
        out.push(b']');
        return Ok(splice(b, vec![(arr, out)]));
    }
    append_to_array(b, arr, &encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_members_and_elements() {
        let t = br#" {"a" : [1, {"x\"y": "v"} , []], "b":{}, "c":"s\\\"" } "#;
        let root = value_at(t, 0).unwrap();
        let m = members(t, root).unwrap();
        assert_eq!(
            m.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        let arr = m[0].1.clone();
        let el = elements(t, arr).unwrap();
        assert_eq!(el.len(), 3);
        let inner = members(t, el[1].clone()).unwrap();
        assert_eq!(inner[0].0, "x\"y");
        assert_eq!(&t[inner[0].1.clone()], br#""v""#);
        assert_eq!(&t[m[2].1.clone()], br#""s\\\"""#);
    }

    #[test]
    fn append_keeps_style() {
        let compact = br#"{"manifests":[{"a":1}],"z":2}"#;
        let arr = top_member(compact, "manifests").unwrap().unwrap();
        let out = append_to_array(compact, arr, &[b"{\"b\":2}".to_vec()]).unwrap();
        assert_eq!(out, br#"{"manifests":[{"a":1},{"b":2}],"z":2}"#);

        let empty = br#"{"manifests": []}"#;
        let arr = top_member(empty, "manifests").unwrap().unwrap();
        let out = append_to_array(empty, arr, &[b"1".to_vec(), b"2".to_vec()]).unwrap();
        assert_eq!(out, br#"{"manifests": [1,2]}"#);

        let pretty = b"{\n  \"manifests\": [\n    {\"a\": 1}\n  ]\n}";
        let arr = top_member(pretty, "manifests").unwrap().unwrap();
        assert_eq!(
            element_indent(pretty, arr.clone()).unwrap().as_deref(),
            Some("    ")
        );
        let out = append_to_array(pretty, arr, &[b"2".to_vec()]).unwrap();
        assert_eq!(
            out,
            b"{\n  \"manifests\": [\n    {\"a\": 1},\n    2\n  ]\n}"
        );
    }

    #[test]
    fn append_to_member_handles_null_and_style() {
        let v = serde_json::json!({"a": "<"});
        let out = append_to_member(br#"{"m":null}"#, "m", &[&v]).unwrap();
        assert_eq!(out, br#"{"m":[{"a":"\u003c"}]}"#);
        let pretty = b"{\n  \"m\": [\n    1\n  ]\n}";
        let out = append_to_member(pretty, "m", &[&v]).unwrap();
        assert_eq!(
            out,
            b"{\n  \"m\": [\n    1,\n    {\n      \"a\": \"\\u003c\"\n    }\n  ]\n}"
        );
        assert!(append_to_member(br#"{"x":[]}"#, "m", &[&v]).is_err());
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for t in [
            &b""[..],
            b"{",
            b"[1,",
            b"{\"a\"",
            b"{\"a\":}",
            b"\"abc",
            b"{\"a\":1,}",
            b"]",
        ] {
            let r = value_at(t, 0).and_then(|r| members(t, r));
            assert!(r.is_err(), "{:?}", String::from_utf8_lossy(t));
        }
        let deep = "[".repeat(100_000);
        assert!(value_at(deep.as_bytes(), 0).is_err());
    }
}

#[cfg(test)]
mod remove_tests {
    use super::*;

    #[test]
    fn removing_what_was_appended_restores_the_bytes() {
        let d = serde_json::json!({"digest": "sha256:x", "size": 1});
        for original in [
            &br#"{"manifests":[{"a":1},{"b":2}],"x":true}"#[..],
            b"{\n  \"manifests\": [\n    {\"a\": 1}\n  ]\n}",
            br#"{"manifests":[]}"#,
        ] {
            let grown = append_to_member(original, "manifests", &[&d, &d]).unwrap();
            let n = elements(&grown, top_member(&grown, "manifests").unwrap().unwrap())
                .unwrap()
                .len();
            let back = remove_from_member(&grown, "manifests", |i| i >= n - 2).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&back),
                String::from_utf8_lossy(original)
            );
        }
        let b = br#"{"manifests":[1,2,3,4]}"#;
        let f = |keep: &[usize]| {
            let out = remove_from_member(b, "manifests", |i| !keep.contains(&i)).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(f(&[1, 3]), r#"{"manifests":[2,4]}"#);
        assert_eq!(f(&[0, 3]), r#"{"manifests":[1,4]}"#);
        assert_eq!(f(&[]), r#"{"manifests":[]}"#);
        assert_eq!(f(&[2]), r#"{"manifests":[3]}"#);
    }

    #[test]
    fn a_repeated_key_on_the_edited_path_is_refused() {
        let doc = br#"{"manifests":[],"x":1,"manifests":[{"digest":"a"}]}"#;
        assert!(top_member(doc, "manifests").is_err());
        assert!(top_member(doc, "x").unwrap().is_some());
        let add = serde_json::json!({"digest": "b"});
        assert!(append_to_member(doc, "manifests", &[&add]).is_err());
        assert!(remove_from_member(doc, "manifests", |_| true).is_err());
    }
}
