//! The commands reports suggest: one an independent client runs to confirm what referrify says,
//! and the referrify command that closes a gap. Pure: built from where the image is. Every value
//! that came from a registry or a layout is shell-quoted: a pasted command runs nothing else.

use crate::model::digest::Digest;
use crate::model::media;
use crate::model::reference::Locator;

/// The `oras discover` command that lists the attestation referrers of `subject` (`platform`:
/// its platform inside the image index, when it has one).
pub fn confirm(at: &Locator, subject: &Digest, platform: Option<&str>) -> String {
    confirm_filtered(at, subject, platform, true)
}

/// [`confirm`], with the `--artifact-type` filter only when `filter`: where the registry lists
/// referrers under another type (go-containerregistry's registry), the filter finds nothing.
pub fn confirm_filtered(
    at: &Locator,
    subject: &Digest,
    platform: Option<&str>,
    filter: bool,
) -> String {
    let by_type = if filter {
        format!(" --artifact-type {}", media::ATTESTATION_ARTIFACT_TYPE)
    } else {
        String::new()
    };
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
                "oras discover{plain}{spec}{by_type} {}",
                quote(&reference.with_digest(subject))
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
                (Some(p), Some(t), _) => {
                    format!("--platform {} {}", quote(p), quote(&format!("{dir}:{t}")))
                }
                (Some(p), None, Some(d)) => {
                    format!("--platform {} {}", quote(p), quote(&format!("{dir}@{d}")))
                }
                _ => quote(&format!("{dir}@{subject}")),
            };
            format!("oras discover --oci-layout{by_type} {image}")
        }
    }
}

/// The command that converts an image, printed for gaps `convert` closes.
pub fn fix(plain_http: bool, reference: &str) -> String {
    let plain = if plain_http { " --plain-http" } else { "" };
    format!("referrify{plain} convert {}", quote(reference))
}

/// The command that lists every image of a registry check, one JSON line each (text and HTML
/// show the gaps only up to a cap).
pub fn list_all(registry: &str) -> String {
    format!(
        "referrify check {} --format json > coverage.jsonl",
        quote(registry)
    )
}

/// One shell word for `value`: as it is when it needs no quoting, else single-quoted. A NUL,
/// which no shell word can hold, is dropped.
pub fn quote(value: &str) -> String {
    let clean: String = value.chars().filter(|c| *c != '\0').collect();
    shlex::try_quote(&clean)
        .map(|q| q.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::reference::RegistryRef;

    #[test]
    fn values_from_a_registry_are_quoted() {
        let evil = RegistryRef::repository("reg.example", "a/$(touch x)`id`;b");
        let at = Locator::Registry {
            reference: evil,
            plain_http: false,
            referrers_api: Some(true),
        };
        let c = confirm(&at, &Digest::sha256(b"s"), None);
        let words = shlex::split(&c).unwrap();
        assert_eq!(words.len(), 5, "{c}");
        assert!(
            words[4].starts_with("reg.example/a/$(touch x)`id`;b@sha256:"),
            "{c}"
        );
        let f = fix(false, "reg.example/x:'; rm -rf ~ #");
        assert_eq!(
            shlex::split(&f).unwrap(),
            ["referrify", "convert", "reg.example/x:'; rm -rf ~ #"]
        );
        assert_eq!(
            fix(true, "reg.example/app:1"),
            "referrify --plain-http convert reg.example/app:1"
        );
    }
}
