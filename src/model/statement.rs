//! In-toto statements (v0.1 and v1), read only for their predicate type and subjects.

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// `_type` of in-toto Statement v0.1 (BuildKit before v0.31).
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
/// `_type` of in-toto Statement v1 (BuildKit v0.31+).
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// What a statement says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `_type`.
    pub statement_type: String,
    /// `predicateType`.
    pub predicate_type: String,
    /// `subject[].digest.sha256`, in order (empty string where a subject has no sha256).
    pub subject_sha256: Vec<String>,
}

/// A statement blob could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("in-toto statement: {0}")]
pub struct StatementError(pub String);

impl Statement {
    /// Parses a statement blob.
    pub fn parse(bytes: &[u8]) -> Result<Statement, StatementError> {
        Statement::read(bytes).map_err(|e| match e {
            ReadError::Statement(e) => e,
            ReadError::Io(e) => StatementError(e.to_string()),
        })
    }

    /// Reads a statement from `r` as it streams: `_type`, `predicateType` and the subjects'
    /// sha256 are kept, the predicate is scanned past without being held (BuildKit writes
    /// attestations of up to 80 MiB). Fails on anything after the statement but white space.
    pub fn read(r: impl std::io::Read) -> Result<Statement, ReadError> {
        // serde_json reads a byte at a time: buffered, that is a copy, not a read call.
        let r = std::io::BufReader::with_capacity(64 * 1024, r);
        let mut de = serde_json::Deserializer::from_reader(r);
        let raw = Raw::deserialize(&mut de).map_err(json_error)?;
        de.end().map_err(json_error)?;
        raw.into_statement().map_err(ReadError::Statement)
    }

    /// Whether there is at least one subject and every subject's sha256 equals `hex`.
    pub fn all_subjects_are(&self, hex: &str) -> bool {
        !self.subject_sha256.is_empty() && self.subject_sha256.iter().all(|s| s == hex)
    }
}

/// Reading a statement failed: the bytes are not a statement, or reading them failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not a statement.
    #[error(transparent)]
    Statement(StatementError),
    /// The reader failed (the store's error travels inside).
    #[error(transparent)]
    Io(std::io::Error),
}

fn json_error(e: serde_json::Error) -> ReadError {
    if e.is_io() {
        ReadError::Io(e.into())
    } else {
        ReadError::Statement(StatementError(format!("not valid JSON: {e}")))
    }
}

/// The top-level members a statement is read for; the last of a repeated key wins, as in
/// serde_json's `Value`.
#[derive(Default)]
struct Raw {
    object: bool,
    statement_type: Option<Value>,
    predicate_type: Option<Value>,
    subjects: Option<Option<Vec<String>>>,
}

impl Raw {
    fn into_statement(self) -> Result<Statement, StatementError> {
        if !self.object {
            return Err(StatementError("not a JSON object".into()));
        }
        let statement_type = self
            .statement_type
            .as_ref()
            .and_then(Value::as_str)
            .ok_or_else(|| StatementError("no _type".into()))?
            .to_string();
        if statement_type != STATEMENT_V01 && statement_type != STATEMENT_V1 {
            return Err(StatementError(format!("unknown _type {statement_type:?}")));
        }
        let predicate_type = self
            .predicate_type
            .as_ref()
            .and_then(Value::as_str)
            .ok_or_else(|| StatementError("no predicateType".into()))?
            .to_string();
        let subject_sha256 = self
            .subjects
            .flatten()
            .ok_or_else(|| StatementError("no subject list".into()))?;
        Ok(Statement {
            statement_type,
            predicate_type,
            subject_sha256,
        })
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an in-toto statement")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut raw = Raw {
            object: true,
            ..Raw::default()
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "_type" => raw.statement_type = Some(map.next_value()?),
                "predicateType" => raw.predicate_type = Some(map.next_value()?),
                "subject" => raw.subjects = Some(map.next_value::<Subjects>()?.0),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(raw)
    }

    // Any other JSON value is read to its end (so trailing data is still caught) and then
    // reported as not an object.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Raw::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<Raw, E> {
        Ok(Raw::default())
    }
    fn visit_bool<E>(self, _: bool) -> Result<Raw, E> {
        Ok(Raw::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Raw, E> {
        Ok(Raw::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Raw, E> {
        Ok(Raw::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Raw, E> {
        Ok(Raw::default())
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::default())
    }
}

/// `subject[].digest.sha256` in order (`""` where a subject has none); `None` when `subject`
/// is not an array.
struct Subjects(Option<Vec<String>>);

impl<'de> Deserialize<'de> for Subjects {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Subjects, D::Error> {
        d.deserialize_any(SubjectsVisitor)
    }
}

struct SubjectsVisitor;

impl<'de> Visitor<'de> for SubjectsVisitor {
    type Value = Subjects;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a subject list")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Subjects, A::Error> {
        // Each subject is small (a name and a digest map) and read whole; the list is not held.
        let mut out = Vec::new();
        while let Some(s) = seq.next_element::<Value>()? {
            let sha = s.get("digest").and_then(|d| d.get("sha256"));
            out.push(sha.and_then(Value::as_str).unwrap_or("").to_string());
        }
        Ok(Subjects(Some(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Subjects, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Subjects(None))
    }
    fn visit_str<E>(self, _: &str) -> Result<Subjects, E> {
        Ok(Subjects(None))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Subjects, E> {
        Ok(Subjects(None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Subjects, E> {
        Ok(Subjects(None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Subjects, E> {
        Ok(Subjects(None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Subjects, E> {
        Ok(Subjects(None))
    }
    fn visit_unit<E>(self) -> Result<Subjects, E> {
        Ok(Subjects(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v01_and_v1() {
        for t in [STATEMENT_V01, STATEMENT_V1] {
            let b = format!(
                r#"{{"_type":"{t}","predicateType":"https://slsa.dev/provenance/v1","subject":[{{"name":"a","digest":{{"sha256":"ab"}}}},{{"name":"b","digest":{{"sha256":"ab"}}}}],"predicate":{{}}}}"#
            );
            let s = Statement::parse(b.as_bytes()).unwrap();
            assert_eq!(s.predicate_type, "https://slsa.dev/provenance/v1");
            assert!(s.all_subjects_are("ab"));
            assert!(!s.all_subjects_are("cd"));
        }
    }

    #[test]
    fn rejects_others() {
        for b in [
            &br#"{"_type":"x","predicateType":"p","subject":[]}"#[..],
            br#"{"predicateType":"p"}"#,
            b"[1]",
            b"\x00",
        ] {
            assert!(Statement::parse(b).is_err());
        }
        let empty = Statement::parse(
            br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[]}"#,
        )
        .unwrap();
        assert!(!empty.all_subjects_are("ab"));
    }

    #[test]
    fn streaming_reads_what_parsing_reads_and_catches_trailing_data() {
        let b = format!(
            r#"{{"_type":"{STATEMENT_V1}","predicate":{{"x":[1,2,{{"y":"z"}}]}},"subject":[{{"digest":{{"sha256":"ab"}}}},7],"predicateType":"p"}}"#
        );
        let s = Statement::read(b.as_bytes()).unwrap();
        assert_eq!(s.subject_sha256, ["ab", ""]);
        assert_eq!(s.predicate_type, "p");
        assert!(Statement::parse(format!("{b} x").as_bytes()).is_err());
        assert!(Statement::parse(format!("{b}\n ").as_bytes()).is_ok());
        let repeated =
            format!(r#"{{"_type":"x","_type":"{STATEMENT_V1}","predicateType":"p","subject":[]}}"#);
        assert!(
            Statement::parse(repeated.as_bytes()).is_ok(),
            "the last key wins"
        );
        let not_list =
            format!(r#"{{"_type":"{STATEMENT_V1}","predicateType":"p","subject":{{}}}}"#);
        assert!(Statement::parse(not_list.as_bytes()).is_err());
    }

    /// A reader that yields a statement whose predicate is `n` bytes of one string, counting
    /// the bytes handed out: the parse must stream through it.
    struct Huge {
        head: Vec<u8>,
        left: usize,
        tail: Vec<u8>,
        pos: usize,
    }

    impl std::io::Read for Huge {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.pos < self.head.len() {
                let n = buf.len().min(self.head.len() - self.pos);
                buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.left > 0 {
                let n = buf.len().min(self.left);
                buf[..n].fill(b'a');
                self.left -= n;
                return Ok(n);
            }
            let done = self.pos - self.head.len();
            let n = buf.len().min(self.tail.len() - done);
            buf[..n].copy_from_slice(&self.tail[done..done + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn a_large_predicate_is_read_through() {
        let head = format!(
            r#"{{"_type":"{STATEMENT_V1}","predicateType":"p","subject":[{{"digest":{{"sha256":"ab"}}}}],"predicate":{{"big":""#
        )
        .into_bytes();
        let r = Huge {
            head,
            left: 64 << 20,
            tail: br#""}}"#.to_vec(),
            pos: 0,
        };
        let s = Statement::read(r).unwrap();
        assert!(s.all_subjects_are("ab"));
    }
}
