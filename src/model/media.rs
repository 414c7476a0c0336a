//! Media types and annotation keys used by BuildKit attestations and OCI 1.1 referrers.
//! Values from image-spec v1.1.1 and BuildKit v0.32 `exporter/containerimage` (formats.md §3).

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema 2 manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The OCI empty descriptor's media type.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The 2-byte `{}` blob.
pub const EMPTY_JSON: &[u8] = b"{}";
/// sha256 of `{}`.
pub const EMPTY_JSON_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// base64 of `{}` as Go's `[]byte` encoding writes it.
pub const EMPTY_JSON_DATA: &str = "e30=";
/// The artifactType BuildKit (`oci-artifact=true`) gives attestation manifests.
pub const ATTESTATION_ARTIFACT_TYPE: &str = "application/vnd.docker.attestation.manifest.v1+json";
/// In-toto statement layers.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// Index-entry annotation naming the kind of reference (`attestation-manifest`).
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// Index-entry annotation naming the platform manifest an attestation describes.
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
/// The older spelling of [`REFERENCE_DIGEST`] that buildx still accepts.
pub const REFERENCE_DIGEST_OLD: &str = "com.docker.reference.digest";
/// The [`REFERENCE_TYPE`] value of attestation manifests.
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";
/// Layer annotation carrying a statement's predicate type.
pub const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
/// OCI layout `index.json` annotation carrying a tag.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Accept header for manifest reads: every manifest and index type we understand.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Whether a media type names an image index (OCI or Docker list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// Whether a media type names an image manifest (OCI or Docker schema 2).
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Whether an `artifactType` a referrers listing reports may not be the manifest's own: missing,
/// empty, or a config media type (go-containerregistry's registry lists `config.mediaType`
/// there). Only the manifest itself then tells what the referrer is.
pub fn is_doubtful_artifact_type(listed: Option<&str>) -> bool {
    match listed {
        None | Some("") => true,
        Some(t) => {
            t == OCI_EMPTY
                || t == "application/vnd.oci.image.config.v1+json"
                || t == "application/vnd.docker.container.image.v1+json"
        }
    }
}
