//! Builds the OCI 1.1 artifact form of a legacy attestation manifest, byte for byte as BuildKit
//! v0.32 writes it with `oci-artifact=true` (formats.md §3, §5(c); BuildKit
//! `exporter/containerimage/writer.go` @ 73ed6825, lines 618-661).

use crate::model::digest::Digest;
use crate::model::document::{Descriptor, ManifestView};
use crate::model::{gojson, media};
use serde_json::{json, Map, Value};

/// An artifact manifest we created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The exact bytes to push.
    pub bytes: Vec<u8>,
    /// Their sha256.
    pub digest: Digest,
}

impl Artifact {
    /// Wraps bytes we created.
    pub fn from_bytes(bytes: Vec<u8>) -> Artifact {
        Artifact {
            digest: Digest::sha256(&bytes),
            bytes,
        }
    }
}

/// A legacy manifest that cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    /// BuildKit never writes an attestation manifest without statements.
    #[error("the attestation manifest has no layers")]
    NoLayers,
    /// The subject descriptor must say what it points at.
    #[error("the image manifest entry {0} has no mediaType")]
    SubjectWithoutMediaType(Digest),
}

/// The artifact manifest for `legacy`, whose subject is the index entry `subject`.
///
/// Layers are carried over as they are (re-indented, keys in Go struct order). Where an in-toto
/// layer has no `in-toto.io/predicate-type` annotation (Docker media types) and
/// `predicate_types[i]` is known from the statement, the annotation is added, as BuildKit does
/// for OCI manifests. The `{}` config blob must be pushed too: BuildKit writes it, and registries
/// that check referenced blobs need it.
pub fn build(
    legacy: &ManifestView,
    subject: &Descriptor,
    predicate_types: &[Option<String>],
) -> Result<Artifact, ArtifactError> {
    if legacy.layers.is_empty() {
        return Err(ArtifactError::NoLayers);
    }
    if subject.media_type.is_empty() {
        return Err(ArtifactError::SubjectWithoutMediaType(
            subject.digest.clone(),
        ));
    }
    let layers: Vec<Value> = legacy
        .layers
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            let mut raw = layer.raw.clone();
            let needs_type = layer.media_type == media::IN_TOTO
                && !layer.annotations.contains_key(media::PREDICATE_TYPE);
            if let (true, Some(Some(pt))) = (needs_type, predicate_types.get(i)) {
                let ann = raw
                    .entry("annotations")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(a) = ann {
                    a.insert(media::PREDICATE_TYPE.into(), Value::String(pt.clone()));
                } else {
                    *ann = json!({ media::PREDICATE_TYPE: pt });
                }
            }
            go_descriptor(&raw)
        })
        .collect();
    let mut m = Map::new();
    m.insert("schemaVersion".into(), json!(2));
    m.insert("mediaType".into(), json!(media::OCI_MANIFEST));
    m.insert(
        "artifactType".into(),
        json!(media::ATTESTATION_ARTIFACT_TYPE),
    );
    m.insert("config".into(), empty_config());
    m.insert("layers".into(), Value::Array(layers));
    m.insert("subject".into(), subject_descriptor(subject));
    Ok(Artifact::from_bytes(gojson::to_indent(&Value::Object(m))))
}

/// Go's `ocispecs.DescriptorEmptyJSON`, `data` included.
pub fn empty_config() -> Value {
    let mut m = Map::new();
    m.insert("mediaType".into(), json!(media::OCI_EMPTY));
    m.insert("digest".into(), json!(media::EMPTY_JSON_DIGEST));
    m.insert("size".into(), json!(2));
    m.insert("data".into(), json!(media::EMPTY_JSON_DATA));
    Value::Object(m)
}

/// `{mediaType, digest, size}` of the platform manifest: BuildKit ≥ v0.25 drops `platform` and
/// annotations from the subject (PR moby/buildkit#6191).
pub fn subject_descriptor(d: &Descriptor) -> Value {
    let mut m = Map::new();
    m.insert("mediaType".into(), json!(d.media_type));
    m.insert("digest".into(), json!(d.digest.as_str()));
    m.insert("size".into(), json!(d.size));
    Value::Object(m)
}

/// A descriptor object with its keys in Go's `ocispecs.Descriptor` field order, annotations sorted
/// as Go sorts map keys; unknown keys (which Go would drop) are kept at the end so nothing is lost.
pub fn go_descriptor(raw: &Map<String, Value>) -> Value {
    const ORDER: [&str; 8] = [
        "mediaType",
        "digest",
        "size",
        "urls",
        "annotations",
        "data",
        "platform",
        "artifactType",
    ];
    let mut m = Map::new();
    for key in ORDER {
        if let Some(v) = raw.get(key) {
            let v = match (key, v) {
                ("annotations", Value::Object(a)) => {
                    let mut sorted: Vec<_> = a.iter().collect();
                    sorted.sort_by(|x, y| x.0.as_bytes().cmp(y.0.as_bytes()));
                    Value::Object(
                        sorted
                            .into_iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )
                }
                ("platform", Value::Object(p)) => go_platform(p),
                _ => v.clone(),
            };
            m.insert(key.into(), v);
        }
    }
    for (k, v) in raw {
        if !m.contains_key(k) {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

fn go_platform(p: &Map<String, Value>) -> Value {
    const ORDER: [&str; 5] = ["architecture", "os", "os.version", "os.features", "variant"];
    let mut m = Map::new();
    for key in ORDER {
        if let Some(v) = p.get(key) {
            m.insert(key.into(), v.clone());
        }
    }
    for (k, v) in p {
        if !m.contains_key(k) {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}
