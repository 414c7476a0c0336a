//! Image references: `HOST[:PORT]/REPO[:TAG|@DIGEST]` (normalised the way docker does) and
//! `oci-layout://DIR[:TAG|@DIGEST]`.

use super::digest::Digest;
use std::fmt;
use std::path::PathBuf;

/// Docker Hub's API host; `docker.io` names are served from here.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The key under which docker stores Docker Hub credentials.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// Where an image lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// An image in a registry.
    Registry(RegistryRef),
    /// An image in an OCI image layout directory.
    Layout(LayoutRef),
}

/// An image in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRef {
    /// The registry as written, normalised (`docker.io` for Docker Hub).
    pub registry: String,
    /// The repository (`library/alpine`).
    pub repository: String,
    /// The tag, if one was given (or `latest` when neither tag nor digest was).
    pub tag: Option<String>,
    /// The digest, if one was given.
    pub digest: Option<Digest>,
}

/// An image in an OCI layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutRef {
    /// The layout directory.
    pub dir: PathBuf,
    /// The `org.opencontainers.image.ref.name` to select.
    pub tag: Option<String>,
    /// The digest to select.
    pub digest: Option<Digest>,
}

/// Where an image lives and how a client reaches it: what the commands reports print need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locator {
    /// A registry repository.
    Registry {
        /// The image reference.
        reference: RegistryRef,
        /// Whether requests go over plain HTTP.
        plain_http: bool,
        /// Whether the registry has the Referrers API (`None`: not probed yet).
        referrers_api: Option<bool>,
    },
    /// An OCI layout directory.
    Layout {
        /// The layout reference.
        reference: LayoutRef,
        /// The image its `index.json` resolved to, once resolved.
        resolved: Option<Digest>,
    },
}

/// A reference could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct RefError {
    /// What the user wrote.
    pub input: String,
    /// Why it was rejected.
    pub reason: String,
}

impl RegistryRef {
    /// The host the API is served from (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == "docker.io" {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The reference to fetch: the digest when given, else the tag.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `registry/repository@digest`.
    pub fn with_digest(&self, d: &Digest) -> String {
        format!("{}/{}@{}", self.registry, self.repository, d)
    }
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Display for LayoutRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci-layout://{}", self.dir.display())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Registry(r) => r.fmt(f),
            ImageRef::Layout(l) => l.fmt(f),
        }
    }
}

impl ImageRef {
    /// Parses a command-line reference.
    pub fn parse(input: &str) -> Result<ImageRef, RefError> {
        let fail = |reason: &str| RefError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        if let Some(rest) = input.strip_prefix("oci-layout://") {
            return parse_layout(rest)
                .map(ImageRef::Layout)
                .map_err(|r| fail(&r));
        }
        if input.contains("://") {
            return Err(fail("only oci-layout:// is understood as a scheme; write registries as HOST[:PORT]/REPO[:TAG|@DIGEST]"));
        }
        let r: oci_spec::distribution::Reference =
            input
                .parse()
                .map_err(|e: oci_spec::distribution::ParseError| {
                    match uppercase_repository(input) {
                        Some(repo) => fail(&format!(
                            "{e}: repository names must be lowercase ({repo:?}; try {:?})",
                            repo.to_ascii_lowercase()
                        )),
                        None => fail(&e.to_string()),
                    }
                })?;
        let digest = r
            .digest()
            .map(Digest::parse)
            .transpose()
            .map_err(|e| fail(&e.to_string()))?;
        // oci-spec fills in "latest" when neither is given, like docker does; a digest without an
        // explicit tag must not grow one.
        let name_part = input.split('@').next().unwrap_or("");
        let explicit_tag = name_part.rsplit('/').next().unwrap_or("").contains(':');
        let tag = match &digest {
            Some(_) if !explicit_tag => None,
            _ => r.tag().map(str::to_string),
        };
        Ok(ImageRef::Registry(RegistryRef {
            registry: r.registry().to_string(),
            repository: r.repository().to_string(),
            tag,
            digest,
        }))
    }
}

/// The repository part of a registry reference when it has uppercase letters (docker's
/// "invalid reference format" does not say that this is why).
fn uppercase_repository(input: &str) -> Option<&str> {
    let name = input.split('@').next().unwrap_or("");
    let (first, rest) = name.split_once('/')?;
    let hostlike = first.contains('.') || first.contains(':') || first == "localhost";
    let path = if hostlike { rest } else { name };
    let last_slash = path.rfind('/').map(|i| i + 1).unwrap_or(0);
    let repo = match path[last_slash..].find(':') {
        Some(i) => &path[..last_slash + i],
        None => path,
    };
    repo.bytes().any(|b| b.is_ascii_uppercase()).then_some(repo)
}

/// A registry named on its own (`HOST[:PORT]`, for registry-wide commands), normalised like an
/// image reference's registry (`docker.io` for Docker Hub). `None`: the text is not a bare host.
pub fn parse_registry(input: &str) -> Option<String> {
    let host = input.strip_suffix('/').unwrap_or(input);
    if host.is_empty() || host.contains('/') || host.contains("://") || host.contains('@') {
        return None;
    }
    let ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    let hostlike = host.contains('.') || host.contains(':') || host == "localhost";
    if !ok || !hostlike {
        return None;
    }
    let probe = format!("{host}/x");
    match ImageRef::parse(&probe) {
        Ok(ImageRef::Registry(r)) => Some(r.registry),
        _ => None,
    }
}

impl RegistryRef {
    /// A reference to a whole repository (no tag, no digest), as a registry walk names it.
    pub fn repository(registry: &str, repository: &str) -> RegistryRef {
        RegistryRef {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: None,
            digest: None,
        }
    }
}

fn parse_layout(rest: &str) -> Result<LayoutRef, String> {
    if rest.is_empty() {
        return Err("missing directory after oci-layout://".into());
    }
    let (path_part, digest) = match rest.rsplit_once('@') {
        Some((p, d)) if d.contains(':') => (p, Some(Digest::parse(d).map_err(|e| e.to_string())?)),
        _ => (rest, None),
    };
    // A tag follows the last ':' after the last '/', as in oras's `--oci-layout dir:tag`.
    let last_slash = path_part.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (dir, tag) = match path_part[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (&path_part[..at], Some(path_part[at + 1..].to_string()))
        }
        None => (path_part, None),
    };
    if dir.is_empty() {
        return Err("missing directory after oci-layout://".into());
    }
    if let Some(t) = &tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !ok {
            return Err(format!("invalid tag {t:?}"));
        }
    }
    Ok(LayoutRef {
        dir: PathBuf::from(dir),
        tag,
        digest,
    })
}

/// Whether `name` is a repository name by distribution-spec's grammar: lowercase path
/// components of `[a-z0-9]` joined by `.`, `_`, `__` or runs of `-`, separated by `/`, at most
/// 255 characters. Names from a catalog that are not are skipped (they would go into URLs and
/// printed commands).
pub fn is_valid_repository(name: &str) -> bool {
    fn component(c: &str) -> bool {
        let b = c.as_bytes();
        let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        if b.is_empty() || !alnum(&b[0]) || !alnum(&b[b.len() - 1]) {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            if alnum(&b[i]) {
                i += 1;
                continue;
            }
            let sep_start = i;
            while i < b.len() && !alnum(&b[i]) {
                i += 1;
            }
            let sep = &c[sep_start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
            if !ok {
                return false;
            }
        }
        true
    }
    !name.is_empty() && name.len() <= 255 && name.split('/').all(component)
}

/// Whether `tag` is a tag by distribution-spec's grammar: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uppercase_repository_says_names_are_lowercase() {
        let e = ImageRef::parse("127.0.0.1:5000/Team/App:v1").unwrap_err();
        assert!(
            e.reason
                .contains(r#"repository names must be lowercase ("Team/App"; try "team/app")"#),
            "{e}"
        );
        let e = ImageRef::parse("reg.example.com/team/app:v 1").unwrap_err();
        assert!(!e.reason.contains("lowercase"), "{e}");
        assert!(ImageRef::parse("reg.example.com/team/app:V1").is_ok());
    }

    #[test]
    fn bare_registries() {
        assert_eq!(
            parse_registry("127.0.0.1:5000").as_deref(),
            Some("127.0.0.1:5000")
        );
        assert_eq!(parse_registry("ghcr.io/").as_deref(), Some("ghcr.io"));
        assert_eq!(parse_registry("localhost").as_deref(), Some("localhost"));
        assert_eq!(parse_registry("docker.io").as_deref(), Some("docker.io"));
        assert_eq!(parse_registry("alpine"), None);
        assert_eq!(parse_registry("ghcr.io/a/b"), None);
        assert_eq!(parse_registry("oci-layout://x"), None);
        assert_eq!(parse_registry("a b.io"), None);
    }

    const D: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    fn reg(s: &str) -> RegistryRef {
        match ImageRef::parse(s).unwrap() {
            ImageRef::Registry(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn docker_normalisation() {
        let r = reg("alpine");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("docker.io", "library/alpine", Some("latest"))
        );
        assert_eq!(r.api_host(), DOCKER_HUB_API);
        let r = reg("index.docker.io/foo/bar:1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "foo/bar")
        );
        let r = reg("localhost:5000/a/b/c:v1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "a/b/c", Some("v1"))
        );
        assert_eq!(r.api_host(), "localhost:5000");
        let r = reg(&format!("127.0.0.1:5000/seed/app@{D}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_ref().unwrap().as_str(), D);
        assert_eq!(r.reference(), D);
        let r = reg(&format!("127.0.0.1:5000/seed/app:1@{D}"));
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/seed/app:1@{D}"));
    }

    #[test]
    fn rejects_bad_refs() {
        for s in [
            "",
            "reg.example/UPPER",
            "a/b:",
            "a@sha256:abc",
            "https://x/y",
            "a b",
        ] {
            assert!(ImageRef::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn layout_refs() {
        let l = match ImageRef::parse("oci-layout://./out/app:1").unwrap() {
            ImageRef::Layout(l) => l,
            other => panic!("{other:?}"),
        };
        assert_eq!(l.dir, PathBuf::from("./out/app"));
        assert_eq!(l.tag.as_deref(), Some("1"));
        let l = match ImageRef::parse(&format!("oci-layout:///tmp/x@{D}")).unwrap() {
            ImageRef::Layout(l) => l,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (l.dir.to_str().unwrap(), l.tag.as_deref()),
            ("/tmp/x", None)
        );
        assert_eq!(l.digest.unwrap().as_str(), D);
        let l = match ImageRef::parse("oci-layout://dir.v1/sub").unwrap() {
            ImageRef::Layout(l) => l,
            other => panic!("{other:?}"),
        };
        assert_eq!((l.dir.to_str().unwrap(), l.tag), ("dir.v1/sub", None));
        assert!(ImageRef::parse("oci-layout://").is_err());
        assert!(ImageRef::parse("oci-layout://d:bad tag").is_err());
    }

    #[test]
    fn names_and_tags_follow_the_distribution_grammar() {
        for ok in ["a", "team/app", "a.b_c__d---e/f0", "library/alpine"] {
            assert!(is_valid_repository(ok), "{ok}");
        }
        for bad in [
            "", "A", "a//b", "-a", "a-", "a$(id)", "a/`x`", "a b", "a..b", "a___b",
        ] {
            assert!(!is_valid_repository(bad), "{bad}");
        }
        for ok in ["1", "latest", "v1.2-rc_3", "_x", "sha256-abc"] {
            assert!(is_valid_tag(ok), "{ok}");
        }
        for bad in ["", ".x", "-x", "a:b", "a$(id)", &"x".repeat(129)] {
            assert!(!is_valid_tag(bad), "{bad}");
        }
    }
}
