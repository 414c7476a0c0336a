//! Push notifications, parsed into one typed [`Event`]: distribution's `events.v1+json` /
//! `events.v2+json` (with or without `includereferences`), Harbor's `PUSH_ARTIFACT` and its
//! CloudEvents form, zot's CloudEvents `zotregistry.image.updated`, and a generic
//! `{"repository", "digest"|"tag"}` for scripts. Pure: bytes in, events out; nothing is fetched.

use crate::model::digest::Digest;
use crate::model::media;
use crate::model::reference::{is_valid_repository, is_valid_tag};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an event names: an image by digest, or by tag (Quay-like and generic events).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    /// A manifest by digest.
    Digest(Digest),
    /// A tag to resolve.
    Tag(String),
}

/// What the event says about the manifest's children without fetching anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Children {
    /// The event does not list them.
    #[default]
    Unknown,
    /// An index whose listed children include attestation manifests.
    Attestations,
    /// An index whose listed children hold no attestation manifest: nothing to convert.
    None,
}

/// One push of one manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The registry host the event names (`None`: it names none; the receiver's own registry).
    pub host: Option<String>,
    /// The repository.
    pub repository: String,
    /// The manifest.
    pub target: Target,
    /// The tag pushed with it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Its media type, when the event says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// What the event lists of an index's children.
    #[serde(default)]
    pub children: Children,
}

/// A body that is not a notification we understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON.
    #[error("the body is not JSON: {0}")]
    Json(String),
    /// JSON, but of no known shape.
    #[error("not a known notification: {0}")]
    Shape(String),
}

/// What a body held: the pushes to look at, and how many events it held that are not pushes of
/// a manifest (pulls, deletes, blob pushes).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Manifest pushes.
    pub events: Vec<Event>,
    /// Events of other kinds.
    pub other: usize,
}

/// Parses a notification body (the format is found from its shape, not the content type).
pub fn parse(body: &[u8]) -> Result<Parsed, EventError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| EventError::Json(e.to_string()))?;
    let Some(obj) = v.as_object() else {
        return Err(EventError::Shape("the body is not a JSON object".into()));
    };
    if let Some(events) = obj.get("events") {
        return distribution(events);
    }
    if obj.contains_key("specversion") {
        return cloud_event(&v);
    }
    if obj.get("type").and_then(Value::as_str) == Some("PUSH_ARTIFACT") {
        return harbor(v.get("event_data").unwrap_or(&Value::Null));
    }
    if obj.get("type").and_then(Value::as_str).is_some() {
        // Harbor's other event types (PULL_ARTIFACT, DELETE_ARTIFACT, SCANNING_…).
        return Ok(Parsed {
            events: Vec::new(),
            other: 1,
        });
    }
    if obj.contains_key("repository") {
        return generic(&v).map(|e| Parsed {
            events: vec![e],
            other: 0,
        });
    }
    Err(EventError::Shape(
        "expected distribution's {\"events\":[…]}, Harbor's PUSH_ARTIFACT, a CloudEvent, or {\"repository\", \"digest\"|\"tag\"}".into(),
    ))
}

/// Parses a CloudEvent in binary mode: the type in the `ce-type` header, the body its data
/// (zot's HTTP sink can send this form).
pub fn parse_binary(ce_type: &str, body: &[u8]) -> Result<Parsed, EventError> {
    let data: Value = serde_json::from_slice(body).map_err(|e| EventError::Json(e.to_string()))?;
    cloud_event(&serde_json::json!({"type": ce_type, "data": data}))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

/// Whether a media type names a manifest or an index (distribution also reports blob pushes).
pub fn is_manifest_type(t: &str) -> bool {
    matches!(
        t,
        media::OCI_MANIFEST | media::OCI_INDEX | media::DOCKER_MANIFEST | media::DOCKER_LIST
    )
}

fn is_index_type(t: &str) -> bool {
    t == media::OCI_INDEX || t == media::DOCKER_LIST
}

/// `host[:port]` of a URL or of `host/…` (Harbor's `resource_url`).
fn host_of(s: &str) -> Option<String> {
    let rest = s.split_once("://").map_or(s, |(_, r)| r);
    let host = rest.split('/').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn repository(name: &str) -> Result<String, EventError> {
    if is_valid_repository(name) {
        Ok(name.to_string())
    } else {
        Err(EventError::Shape(format!(
            "{name:?} is not a valid repository name"
        )))
    }
}

fn digest(s: &str) -> Result<Digest, EventError> {
    Digest::parse(s).map_err(|e| EventError::Shape(format!("digest {s:?}: {e}")))
}

fn tag(s: Option<&str>) -> Result<Option<String>, EventError> {
    match s {
        Some(t) if !is_valid_tag(t) => Err(EventError::Shape(format!("{t:?} is not a valid tag"))),
        t => Ok(t.map(str::to_string)),
    }
}

/// distribution: `{"events":[{action, target{mediaType, digest, repository, url, tag,
/// references[]}, request{host}}]}`.
fn distribution(events: &Value) -> Result<Parsed, EventError> {
    let Some(list) = events.as_array() else {
        return Err(EventError::Shape("\"events\" is not an array".into()));
    };
    let mut out = Parsed::default();
    for e in list {
        let media_type = str_at(e, &["target", "mediaType"]).unwrap_or("");
        if str_at(e, &["action"]) != Some("push") || !is_manifest_type(media_type) {
            out.other += 1;
            continue;
        }
        let repo = str_at(e, &["target", "repository"])
            .ok_or_else(|| EventError::Shape("a push event without target.repository".into()))?;
        let d = str_at(e, &["target", "digest"])
            .ok_or_else(|| EventError::Shape("a push event without target.digest".into()))?;
        let host = str_at(e, &["target", "url"])
            .and_then(host_of)
            .or_else(|| str_at(e, &["request", "host"]).map(|h| h.to_ascii_lowercase()));
        out.events.push(Event {
            host,
            repository: repository(repo)?,
            target: Target::Digest(digest(d)?),
            tag: tag(str_at(e, &["target", "tag"]))?,
            media_type: Some(media_type.to_string()),
            children: children(
                media_type,
                e.get("target").and_then(|t| t.get("references")),
            ),
        });
    }
    Ok(out)
}

/// What `includereferences` lists of an index's children.
fn children(media_type: &str, references: Option<&Value>) -> Children {
    let Some(refs) = references.and_then(Value::as_array) else {
        return Children::Unknown;
    };
    if !is_index_type(media_type) {
        return Children::Unknown;
    }
    let attestation = refs.iter().any(|r| {
        str_at(r, &["annotations", media::REFERENCE_TYPE]) == Some(media::ATTESTATION_MANIFEST)
    });
    if attestation {
        Children::Attestations
    } else {
        Children::None
    }
}

/// Harbor: `event_data{resources[{digest, tag, resource_url}], repository{repo_full_name}}`.
fn harbor(data: &Value) -> Result<Parsed, EventError> {
    let repo = str_at(data, &["repository", "repo_full_name"]).ok_or_else(|| {
        EventError::Shape("Harbor event without repository.repo_full_name".into())
    })?;
    let Some(resources) = data.get("resources").and_then(Value::as_array) else {
        return Err(EventError::Shape("Harbor event without resources".into()));
    };
    let mut out = Parsed::default();
    for r in resources {
        let target = match (str_at(r, &["digest"]), str_at(r, &["tag"])) {
            (Some(d), _) => Target::Digest(digest(d)?),
            (None, Some(t)) => Target::Tag(tag(Some(t))?.unwrap_or_default()),
            (None, None) => {
                return Err(EventError::Shape(
                    "Harbor resource without digest or tag".into(),
                ))
            }
        };
        out.events.push(Event {
            host: str_at(r, &["resource_url"]).and_then(host_of),
            repository: repository(repo)?,
            target,
            tag: tag(str_at(r, &["tag"]))?,
            media_type: None,
            children: Children::Unknown,
        });
    }
    Ok(out)
}

/// CloudEvents (structured mode): Harbor's `harbor.artifact.pushed` and zot's
/// `zotregistry.image.updated`; other types are not pushes.
fn cloud_event(v: &Value) -> Result<Parsed, EventError> {
    let data = v.get("data").unwrap_or(&Value::Null);
    match str_at(v, &["type"]) {
        Some("harbor.artifact.pushed") => harbor(data),
        Some("zotregistry.image.updated") => {
            let name = str_at(data, &["name"])
                .ok_or_else(|| EventError::Shape("zot event without data.name".into()))?;
            let d = str_at(data, &["digest"])
                .ok_or_else(|| EventError::Shape("zot event without data.digest".into()))?;
            let reference = str_at(data, &["reference"]).filter(|r| !r.starts_with("sha256:"));
            Ok(Parsed {
                events: vec![Event {
                    host: None,
                    repository: repository(name)?,
                    target: Target::Digest(digest(d)?),
                    tag: tag(reference)?,
                    media_type: str_at(data, &["mediaType"]).map(str::to_string),
                    children: Children::Unknown,
                }],
                other: 0,
            })
        }
        Some(_) => Ok(Parsed {
            events: Vec::new(),
            other: 1,
        }),
        None => Err(EventError::Shape("a CloudEvent without type".into())),
    }
}

/// The generic form: `{"repository", "digest"}` or `{"repository", "tag"}`, and optionally
/// `"registry"` (the host it names).
fn generic(v: &Value) -> Result<Event, EventError> {
    let repo = str_at(v, &["repository"])
        .ok_or_else(|| EventError::Shape("\"repository\" must be a string".into()))?;
    let t = tag(str_at(v, &["tag"]))?;
    let target = match (str_at(v, &["digest"]), &t) {
        (Some(d), _) => Target::Digest(digest(d)?),
        (None, Some(t)) => Target::Tag(t.clone()),
        (None, None) => {
            return Err(EventError::Shape(
                "name the image with \"digest\" or \"tag\"".into(),
            ))
        }
    };
    Ok(Event {
        host: str_at(v, &["registry"]).map(|h| h.to_ascii_lowercase()),
        repository: repository(repo)?,
        target,
        tag: t,
        media_type: None,
        children: Children::Unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:85d0a4b5c3a4f1f0e3b5e5d7c4c0b7b8a1b2c3d4e5f60718293a4b5c6d7e8f90";

    #[test]
    fn distribution_index_with_references() {
        let body = format!(
            r#"{{"events":[{{"action":"push","target":{{"mediaType":"{}","digest":"{D}","repository":"team/app","url":"http://127.0.0.1:5000/v2/team/app/manifests/{D}","tag":"1","references":[{{"mediaType":"x","digest":"{D}","annotations":{{"vnd.docker.reference.type":"attestation-manifest"}}}}]}},"request":{{"host":"127.0.0.1:5000"}}}},{{"action":"pull","target":{{}}}}]}}"#,
            media::OCI_INDEX
        );
        let p = parse(body.as_bytes()).unwrap();
        assert_eq!(p.other, 1);
        assert_eq!(p.events.len(), 1);
        let e = &p.events[0];
        assert_eq!(e.host.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(e.repository, "team/app");
        assert_eq!(e.tag.as_deref(), Some("1"));
        assert_eq!(e.children, Children::Attestations);
    }

    #[test]
    fn cloudevent_binary_mode() {
        let body =
            format!(r#"{{"name":"team/app","reference":"1","digest":"{D}","mediaType":"x"}}"#);
        let p = parse_binary("zotregistry.image.updated", body.as_bytes()).unwrap();
        assert_eq!(p.events[0].repository, "team/app");
        assert_eq!(p.events[0].tag.as_deref(), Some("1"));
        assert_eq!(
            parse_binary("zotregistry.repository.created", b"{}")
                .unwrap()
                .other,
            1
        );
    }

    #[test]
    fn generic_and_garbage() {
        let p = parse(br#"{"repository":"app","tag":"latest"}"#).unwrap();
        assert_eq!(p.events[0].target, Target::Tag("latest".into()));
        assert!(parse(b"{").is_err());
        assert!(parse(b"[1]").is_err());
        assert!(parse(br#"{"repository":"UPPER","tag":"x"}"#).is_err());
        assert!(parse(br#"{"repository":"a","digest":"sha256:zz"}"#).is_err());
    }
}
