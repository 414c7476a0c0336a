//! The JSON that `docker buildx build|bake --metadata-file` writes: which images were pushed.

use serde_json::{Map, Value};

/// The metadata file could not be read as buildx metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("buildx metadata: {0}")]
pub struct MetadataError(pub String);

/// Image references named in a metadata file, pinned to `containerimage.digest` when present
/// (`name[:tag]@digest`), in file order, without duplicates.
///
/// `build` writes one object with `image.name` (a comma-separated list) and
/// `containerimage.digest`; `bake` writes one such object per target.
pub fn image_refs(bytes: &[u8]) -> Result<Vec<String>, MetadataError> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| MetadataError(format!("not valid JSON: {e}")))?;
    let top = v
        .as_object()
        .ok_or_else(|| MetadataError("not a JSON object".into()))?;
    let mut out = Vec::new();
    if is_build_result(top) {
        collect(top, "", &mut out)?;
    } else {
        for (target, value) in top {
            if let Some(obj) = value.as_object() {
                if is_build_result(obj) {
                    collect(obj, target, &mut out)?;
                }
            }
        }
    }
    if out.is_empty() {
        return Err(MetadataError(
            "no image.name entries found (was the image pushed with a name?)".into(),
        ));
    }
    Ok(out)
}

fn is_build_result(obj: &Map<String, Value>) -> bool {
    obj.contains_key("image.name") || obj.contains_key("containerimage.digest")
}

fn collect(
    obj: &Map<String, Value>,
    target: &str,
    out: &mut Vec<String>,
) -> Result<(), MetadataError> {
    let at = if target.is_empty() {
        String::new()
    } else {
        format!("target {target:?}: ")
    };
    let names = match obj.get("image.name") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(MetadataError(format!("{at}image.name is not a string"))),
        None => return Ok(()),
    };
    let digest = match obj.get("containerimage.digest") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(MetadataError(format!(
                "{at}containerimage.digest is not a string"
            )))
        }
        None => None,
    };
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let r = match &digest {
            Some(d) if !name.contains('@') => format!("{name}@{d}"),
            _ => name.to_string(),
        };
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:85d071c67081b9bf1ebc9ddc5968f26731439c418caf454d96fe989715266ea4";

    #[test]
    fn build_and_bake() {
        let build = format!(
            r#"{{"buildx.build.ref":"x","containerimage.digest":"{D}","image.name":"reg.example/app:1,reg.example/app:latest"}}"#
        );
        assert_eq!(
            image_refs(build.as_bytes()).unwrap(),
            [
                format!("reg.example/app:1@{D}"),
                format!("reg.example/app:latest@{D}")
            ]
        );
        let bake = format!(
            r#"{{"a":{{"containerimage.digest":"{D}","image.name":"r/a:1"}},"b":{{"image.name":"r/b:2"}},"buildx.build.warnings":[]}}"#
        );
        assert_eq!(
            image_refs(bake.as_bytes()).unwrap(),
            [format!("r/a:1@{D}"), "r/b:2".to_string()]
        );
    }

    #[test]
    fn errors() {
        assert!(image_refs(b"[]").is_err());
        assert!(image_refs(b"{}").is_err());
        assert!(image_refs(br#"{"image.name":5}"#).is_err());
        assert!(image_refs(b"\xff").is_err());
    }
}
