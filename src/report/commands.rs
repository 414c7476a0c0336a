//! The commands reports suggest: one an independent client runs to confirm what referrify says,
//! and the referrify command that closes a gap. Pure: built from where the image is.

use crate::model::digest::Digest;
use crate::model::media;
use crate::model::reference::Locator;

/// The `oras discover` command that lists the attestation referrers of `subject` (`platform`:
/// its platform inside the image index, when it has one).
pub fn confirm(at: &Locator, subject: &Digest, platform: Option<&str>) -> String {
    match at {
        Locator::Registry {
            reference,
            plain_http,
            referrers_api,
        } => {
            let plain = if *plain_http { " --plain-http" } else { "" };
            let spec = match referrers_api {
                Some(false) => " --distribution-spec v1.1-referrers-tag",
                _ => "",
            };
            format!(
                "oras discover{plain}{spec} --artifact-type {} {}",
                media::ATTESTATION_ARTIFACT_TYPE,
                reference.with_digest(subject)
            )
        }
        // oras resolves only what `index.json` lists, so a platform manifest inside an index is
        // named through the index and `--platform`.
        Locator::Layout {
            reference,
            resolved,
        } => {
            let dir = reference.dir.display();
            let image = match (platform, &reference.tag, resolved) {
                (Some(p), Some(t), _) => format!("--platform {p} {dir}:{t}"),
                (Some(p), None, Some(d)) => format!("--platform {p} {dir}@{d}"),
                _ => format!("{dir}@{subject}"),
            };
            format!(
                "oras discover --oci-layout --artifact-type {} {image}",
                media::ATTESTATION_ARTIFACT_TYPE
            )
        }
    }
}

/// The command that converts an image, printed for gaps `convert` closes.
pub fn fix(plain_http: bool, reference: &str) -> String {
    let plain = if plain_http { " --plain-http" } else { "" };
    format!("referrify{plain} convert {reference}")
}
