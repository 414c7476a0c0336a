//! Read-only views over manifest and index bytes.
//!
//! The bytes stay the truth: a view is parsed from them for decisions and never serialised back.
//! Parsing is lenient where registries and old BuildKit versions differ (key order, Docker media
//! types, missing optional fields) and strict where a wrong value would mislead us (digests, sizes).
//! Every error names the JSON path of the offending value.

use super::digest::Digest;
use super::media;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A document could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {reason}")]
pub struct ParseError {
    /// JSON path of the offending value (`manifests[2].digest`), or `document`.
    pub at: String,
    /// What is wrong.
    pub reason: String,
}

fn perr(at: impl Into<String>, reason: impl Into<String>) -> ParseError {
    ParseError {
        at: at.into(),
        reason: reason.into(),
    }
}

/// An OCI platform (only the fields we report on; the raw descriptor keeps the rest).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Platform {
    /// `architecture`.
    pub architecture: String,
    /// `os`.
    pub os: String,
    /// `variant`, if any.
    pub variant: Option<String>,
}

impl Platform {
    /// `os/arch[/variant]`, as docker and oras print it.
    pub fn display(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    /// `mediaType` (empty when absent).
    pub media_type: String,
    /// `digest`.
    pub digest: Digest,
    /// `size`.
    pub size: u64,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `platform`.
    pub platform: Option<Platform>,
    /// `artifactType`.
    pub artifact_type: Option<String>,
    /// The descriptor object exactly as parsed (key order kept).
    pub raw: Map<String, Value>,
}

impl Descriptor {
    /// Parses a descriptor object found at JSON path `at`.
    pub fn from_value(v: &Value, at: &str) -> Result<Descriptor, ParseError> {
        let obj = v
            .as_object()
            .ok_or_else(|| perr(at, "descriptor is not an object"))?;
        let media_type = opt_str(obj, "mediaType", at)?.unwrap_or_default();
        let digest_text =
            opt_str(obj, "digest", at)?.ok_or_else(|| perr(format!("{at}.digest"), "missing"))?;
        let digest =
            Digest::parse(&digest_text).map_err(|e| perr(format!("{at}.digest"), e.to_string()))?;
        let size = match obj.get("size") {
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
                perr(
                    format!("{at}.size"),
                    format!("not a non-negative integer: {n}"),
                )
            })?,
            Some(other) => {
                return Err(perr(format!("{at}.size"), format!("not a number: {other}")))
            }
            None => return Err(perr(format!("{at}.size"), "missing")),
        };
        let annotations = string_map(obj.get("annotations"), &format!("{at}.annotations"))?;
        let platform = match obj.get("platform") {
            None | Some(Value::Null) => None,
            Some(Value::Object(p)) => {
                let pat = format!("{at}.platform");
                Some(Platform {
                    architecture: opt_str(p, "architecture", &pat)?.unwrap_or_default(),
                    os: opt_str(p, "os", &pat)?.unwrap_or_default(),
                    variant: opt_str(p, "variant", &pat)?,
                })
            }
            Some(_) => return Err(perr(format!("{at}.platform"), "not an object")),
        };
        let artifact_type = opt_str(obj, "artifactType", at)?;
        Ok(Descriptor {
            media_type,
            digest,
            size,
            annotations,
            platform,
            artifact_type,
            raw: obj.clone(),
        })
    }
}

fn opt_str(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, ParseError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(perr(format!("{at}.{key}"), "not a string")),
    }
}

fn string_map(v: Option<&Value>, at: &str) -> Result<BTreeMap<String, String>, ParseError> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(perr(format!("{at}.{k}"), "not a string")),
            })
            .collect(),
        Some(_) => Err(perr(at, "not an object")),
    }
}

/// An image index (OCI index or Docker manifest list).
#[derive(Debug, Clone, PartialEq)]
pub struct IndexView {
    /// `mediaType` (empty when absent).
    pub media_type: String,
    /// `artifactType`.
    pub artifact_type: Option<String>,
    /// `manifests`, in order.
    pub manifests: Vec<Descriptor>,
    /// `subject`.
    pub subject: Option<Descriptor>,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestView {
    /// `schemaVersion`.
    pub schema_version: u64,
    /// `mediaType` (empty when absent).
    pub media_type: String,
    /// `artifactType`.
    pub artifact_type: Option<String>,
    /// `config`.
    pub config: Descriptor,
    /// `layers`, in order.
    pub layers: Vec<Descriptor>,
    /// `subject`.
    pub subject: Option<Descriptor>,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// A parsed manifest or index.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// An image index or manifest list (both variants boxed: they are large and moved around).
    Index(Box<IndexView>),
    /// An image manifest.
    Manifest(Box<ManifestView>),
}

impl Document {
    /// Parses manifest or index bytes. `content_type` (from the registry) is used only when the
    /// body has no `mediaType`.
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Document, ParseError> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| perr("document", format!("not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| perr("document", "not a JSON object"))?;
        let media_type = opt_str(obj, "mediaType", "document")?;
        let kind = media_type
            .as_deref()
            .or(content_type)
            .map(|t| t.split(';').next().unwrap_or("").trim().to_string());
        let is_index = match kind.as_deref() {
            Some(t) if media::is_index(t) => true,
            Some(t) if media::is_manifest(t) => false,
            _ if obj.contains_key("manifests") => true,
            _ if obj.contains_key("layers") || obj.contains_key("config") => false,
            Some(t) => {
                return Err(perr(
                    "document.mediaType",
                    format!("unsupported media type {t:?}"),
                ))
            }
            None => {
                return Err(perr(
                    "document",
                    "neither an image index nor an image manifest",
                ))
            }
        };
        let media_type = media_type.unwrap_or_default();
        let artifact_type = opt_str(obj, "artifactType", "document")?;
        let subject = match obj.get("subject") {
            None | Some(Value::Null) => None,
            Some(s) => Some(Descriptor::from_value(s, "subject")?),
        };
        let annotations = string_map(obj.get("annotations"), "annotations")?;
        if is_index {
            let manifests = descriptors(obj.get("manifests"), "manifests", true)?;
            Ok(Document::Index(Box::new(IndexView {
                media_type,
                artifact_type,
                manifests,
                subject,
                annotations,
            })))
        } else {
            let schema_version = obj
                .get("schemaVersion")
                .and_then(Value::as_u64)
                .ok_or_else(|| perr("schemaVersion", "missing or not an integer"))?;
            let config = Descriptor::from_value(
                obj.get("config").ok_or_else(|| perr("config", "missing"))?,
                "config",
            )?;
            let layers = descriptors(obj.get("layers"), "layers", true)?;
            Ok(Document::Manifest(Box::new(ManifestView {
                schema_version,
                media_type,
                artifact_type,
                config,
                layers,
                subject,
                annotations,
            })))
        }
    }

    /// Parses and requires an index.
    pub fn parse_index(bytes: &[u8], content_type: Option<&str>) -> Result<IndexView, ParseError> {
        match Document::parse(bytes, content_type)? {
            Document::Index(i) => Ok(*i),
            Document::Manifest(_) => Err(perr("document", "is an image manifest, not an index")),
        }
    }

    /// Parses and requires a manifest.
    pub fn parse_manifest(
        bytes: &[u8],
        content_type: Option<&str>,
    ) -> Result<ManifestView, ParseError> {
        match Document::parse(bytes, content_type)? {
            Document::Manifest(m) => Ok(*m),
            Document::Index(_) => Err(perr("document", "is an image index, not a manifest")),
        }
    }
}

fn descriptors(
    v: Option<&Value>,
    at: &str,
    null_is_empty: bool,
) -> Result<Vec<Descriptor>, ParseError> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, d)| Descriptor::from_value(d, &format!("{at}[{i}]")))
            .collect(),
        None | Some(Value::Null) if null_is_empty => Ok(Vec::new()),
        _ => Err(perr(at, "not an array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v011_key_order_and_docker_types() {
        let m = br#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","schemaVersion":2,
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},
            "layers":[{"mediaType":"application/vnd.in-toto+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}]}"#;
        let v = Document::parse_manifest(m, None).unwrap();
        assert_eq!(v.media_type, media::DOCKER_MANIFEST);
        assert_eq!(v.layers.len(), 1);
        assert!(v.layers[0].annotations.is_empty());
    }

    #[test]
    fn errors_name_the_path() {
        let bad = br#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:abc","size":1}]}"#;
        let e = Document::parse(bad, None).unwrap_err();
        assert_eq!(e.at, "manifests[0].digest");
        let neg = br#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":-1}]}"#;
        assert_eq!(
            Document::parse(neg, None).unwrap_err().at,
            "manifests[0].size"
        );
        for junk in [
            &b""[..],
            b"null",
            b"[]",
            b"{}",
            b"{\"mediaType\":\"text/plain\"}",
            b"\xff",
        ] {
            assert!(Document::parse(junk, None).is_err());
        }
    }

    #[test]
    fn content_type_used_only_without_media_type() {
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            Document::parse(idx, Some(media::OCI_INDEX)),
            Ok(Document::Index(_))
        ));
        assert!(matches!(Document::parse(idx, None), Ok(Document::Index(_))));
    }
}
