//! In-toto statements (v0.1 and v1), read only for their predicate type and subjects.

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
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| StatementError(format!("not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| StatementError("not a JSON object".into()))?;
        let statement_type = obj
            .get("_type")
            .and_then(Value::as_str)
            .ok_or_else(|| StatementError("no _type".into()))?
            .to_string();
        if statement_type != STATEMENT_V01 && statement_type != STATEMENT_V1 {
            return Err(StatementError(format!("unknown _type {statement_type:?}")));
        }
        let predicate_type = obj
            .get("predicateType")
            .and_then(Value::as_str)
            .ok_or_else(|| StatementError("no predicateType".into()))?
            .to_string();
        let subjects = obj
            .get("subject")
            .and_then(Value::as_array)
            .ok_or_else(|| StatementError("no subject list".into()))?;
        let subject_sha256 = subjects
            .iter()
            .map(|s| {
                s.get("digest")
                    .and_then(|d| d.get("sha256"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        Ok(Statement {
            statement_type,
            predicate_type,
            subject_sha256,
        })
    }

    /// Whether there is at least one subject and every subject's sha256 equals `hex`.
    pub fn all_subjects_are(&self, hex: &str) -> bool {
        !self.subject_sha256.is_empty() && self.subject_sha256.iter().all(|s| s == hex)
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
}
