//! The commands that verify each supply-chain item independently of referrify: `cosign verify`
//! and `verify-attestation`, `gh attestation verify oci://…`, `notation verify`, `oras discover`.
//! referrify reports presence and shape; these tools judge validity. Every value is
//! shell-quoted; `IDENTITY`, `ISSUER` and `OWNER` are placeholders for the signer the user trusts.

use super::commands::{confirm_filtered, quote};
use crate::model::digest::Digest;
use crate::model::media;
use crate::model::reference::Locator;
use crate::model::supply::Kind;
use crate::plan::supply::{Item, On, Supply};

/// The subjects an item can be attached to.
pub struct Subjects<'a> {
    /// The platform manifest.
    pub platform: &'a Digest,
    /// Its platform name inside the index (layouts name the manifest through it).
    pub platform_name: Option<&'a str>,
    /// The image index, when there is one.
    pub index: Option<&'a Digest>,
}

/// One command per distinct check of `s`'s items, in item order.
pub fn commands(at: &Locator, s: &Supply, subjects: &Subjects<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in &s.items {
        for c in item_commands(at, item, subjects) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

fn item_commands(at: &Locator, item: &Item, s: &Subjects<'_>) -> Vec<String> {
    let subject = match (item.on, s.index) {
        (On::Index, Some(i)) => i,
        _ => s.platform,
    };
    let Locator::Registry {
        reference,
        plain_http,
        ..
    } = at
    else {
        // cosign, gh and notation read registries; in a layout, oras lists what is there.
        let platform = (item.on == On::Platform)
            .then_some(s.platform_name)
            .flatten();
        return vec![confirm_filtered(at, subject, platform, false)];
    };
    let image = quote(&reference.with_digest(subject));
    let cosign_http = if *plain_http {
        " --allow-http-registry"
    } else {
        ""
    };
    let keyless = "--certificate-identity-regexp IDENTITY --certificate-oidc-issuer ISSUER";
    let oras = |artifact_type: &str| {
        let mut c = confirm_filtered(at, subject, None, false);
        if let Some(rest) = c.strip_prefix("oras discover") {
            c = format!(
                "oras discover --artifact-type {}{rest}",
                quote(artifact_type)
            );
        }
        c
    };
    match item.kind {
        Kind::BuildkitAttestation => vec![oras(media::ATTESTATION_ARTIFACT_TYPE)],
        Kind::SigstoreAttestation => {
            let mut v: Vec<String> = item
                .predicate_types
                .iter()
                .map(|p| {
                    format!(
                        "cosign verify-attestation{cosign_http} --type {} {keyless} {image}",
                        quote(&cosign_type(p))
                    )
                })
                .collect();
            v.push(format!(
                "gh attestation verify --bundle-from-oci --owner OWNER {}",
                quote(&format!("oci://{}", reference.with_digest(subject)))
            ));
            v
        }
        Kind::CosignTagAttestation => vec![format!(
            "cosign verify-attestation{cosign_http} {keyless} {image}"
        )],
        Kind::SigstoreSignature | Kind::CosignTagSignature => {
            vec![format!("cosign verify{cosign_http} {keyless} {image}")]
        }
        Kind::CosignSignature => vec![format!(
            "cosign verify{cosign_http} --experimental-oci11 {keyless} {image}"
        )],
        Kind::NotationSignature => {
            let insecure = if *plain_http {
                " --insecure-registry"
            } else {
                ""
            };
            vec![format!("notation verify{insecure} {image}")]
        }
        Kind::CosignTagSbom => vec![format!("cosign download sbom{cosign_http} {image}")],
        Kind::Other => vec![oras(
            item.artifact_type.as_deref().unwrap_or(media::OCI_MANIFEST),
        )],
    }
}

/// cosign's `--type` for a predicate type: its short names where it has one, else the URI.
fn cosign_type(predicate_type: &str) -> String {
    let short = match predicate_type {
        "https://slsa.dev/provenance/v1" => "slsaprovenance1",
        "https://slsa.dev/provenance/v0.2" => "slsaprovenance02",
        "https://spdx.dev/Document" => "spdxjson",
        "https://cyclonedx.org/bom" => "cyclonedx",
        p => return p.to_string(),
    };
    short.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::reference::RegistryRef;
    use crate::plan::supply::Discovery;

    #[test]
    fn commands_are_quoted_words() {
        let at = Locator::Registry {
            reference: RegistryRef::repository("reg.example", "a/$(x)"),
            plain_http: true,
            referrers_api: Some(false),
        };
        let p = Digest::sha256(b"p");
        let i = Digest::sha256(b"i");
        let item = |kind, on| Item {
            kind,
            digest: Some(Digest::sha256(b"r")),
            tag: None,
            on,
            discoverable: Discovery::Referrers,
            artifact_type: Some("application/x;y".into()),
            predicate_types: vec!["https://slsa.dev/provenance/v1".into()],
        };
        let s = Supply {
            items: vec![
                item(Kind::SigstoreAttestation, On::Index),
                item(Kind::NotationSignature, On::Platform),
                item(Kind::Other, On::Platform),
                item(Kind::BuildkitAttestation, On::Platform),
            ],
            sbom: None,
            provenance: None,
            signature: None,
            verify: Vec::new(),
            unmet: Vec::new(),
        };
        let subjects = Subjects {
            platform: &p,
            platform_name: Some("linux/amd64"),
            index: Some(&i),
        };
        let cmds = commands(&at, &s, &subjects);
        assert_eq!(cmds.len(), 5, "{cmds:#?}");
        for c in &cmds {
            let words = shlex::split(c).unwrap();
            let last = words.last().unwrap();
            assert!(last.contains("reg.example/a/$(x)@sha256:"), "{c}");
        }
        assert!(cmds[0].contains("--type slsaprovenance1"), "{}", cmds[0]);
        assert!(cmds[0].ends_with(&format!("{i}'")), "{}", cmds[0]);
        assert!(
            cmds[1].starts_with("gh attestation verify --bundle-from-oci --owner OWNER 'oci://")
        );
        assert!(cmds[2].starts_with("notation verify --insecure-registry "));
    }
}
