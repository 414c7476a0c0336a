//! Which repositories and tags a registry-wide run takes: `--repo` prefixes, `--tags`, and the
//! stable `--shard K/N` split. Pure, so every process of a sharded run decides the same way.

use sha2::{Digest as _, Sha256};

/// One part of a split run: shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: u64,
    /// How many processes share the run.
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("--shard {s:?}: expected K/N, e.g. 1/4"))?;
        let parse = |x: &str| {
            x.trim()
                .parse::<u64>()
                .map_err(|_| format!("--shard {s:?}: {x:?} is not a number"))
        };
        let (index, count) = (parse(k)?, parse(n)?);
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "--shard {s:?}: K must be between 1 and N (shards are numbered from 1)"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether this shard takes `repository`: the first 8 bytes of its sha256, modulo N. The
    /// same on every machine and in every release, and independent of catalog order.
    pub fn takes(&self, repository: &str) -> bool {
        let h = Sha256::digest(repository.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&h[..8]);
        u64::from_be_bytes(first) % self.count == self.index - 1
    }
}

/// The repositories and tags a run takes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--repo` values (empty: every repository).
    pub prefixes: Vec<String>,
    /// `--tags` (unanchored; anchor it yourself with `^…$`).
    pub tags: Option<regex::Regex>,
    /// `--shard`.
    pub shard: Option<Shard>,
}

impl Selection {
    /// Whether a repository is taken. A prefix ending in `/` takes everything below it; any
    /// other prefix takes the repository of that name and everything below it (`team/app`
    /// takes `team/app` and `team/app/cache`, not `team/app2`).
    pub fn takes_repository(&self, repo: &str) -> bool {
        let by_prefix = self.prefixes.is_empty()
            || self.prefixes.iter().any(|p| {
                if p.ends_with('/') {
                    repo.starts_with(p.as_str())
                } else {
                    repo == p
                        || (repo.starts_with(p.as_str())
                            && repo.as_bytes().get(p.len()) == Some(&b'/'))
                }
            });
        by_prefix && self.shard.is_none_or(|s| s.takes(repo))
    }

    /// Whether a tag is taken: `--tags` matches, and it is not a tag other tools derive from a
    /// digest (the referrers tag schema's `sha256-<hex>`, cosign's `.sig`/`.att`/`.sbom`).
    pub fn takes_tag(&self, tag: &str) -> bool {
        !is_derived_tag(tag) && self.tags.as_ref().is_none_or(|r| r.is_match(tag))
    }

    /// The repositories to take when the registry has no catalog: the `--repo` values as names.
    pub fn named_repositories(&self) -> Vec<String> {
        self.prefixes
            .iter()
            .map(|p| p.trim_end_matches('/').to_string())
            .filter(|p| !p.is_empty() && self.shard.is_none_or(|s| s.takes(p)))
            .collect()
    }
}

/// `sha256-<64 hex>` with an optional `.sig`, `.att` or `.sbom` suffix.
pub fn is_derived_tag(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else {
        return false;
    };
    let hex = rest.split('.').next().unwrap_or("");
    let suffix = &rest[hex.len()..];
    hex.len() == 64
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && matches!(suffix, "" | ".sig" | ".att" | ".sbom")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_every_repository_exactly_once() {
        let repos: Vec<String> = (0..1000).map(|i| format!("team{}/app{i}", i % 7)).collect();
        let n = 4;
        let shards: Vec<Shard> = (1..=n)
            .map(|k| format!("{k}/{n}").parse().unwrap())
            .collect();
        let mut sizes = vec![0; n as usize];
        for r in &repos {
            let owners: Vec<usize> = (0..n as usize).filter(|&k| shards[k].takes(r)).collect();
            assert_eq!(owners.len(), 1, "{r}");
            sizes[owners[0]] += 1;
        }
        // Roughly even (a hash split, not round robin).
        assert!(sizes.iter().all(|&s| (180..=320).contains(&s)), "{sizes:?}");
        // Stable: pinned values, so a release that changes the split fails here.
        let s: Shard = "2/3".parse().unwrap();
        assert_eq!(
            ["a", "b", "c", "library/alpine"].map(|r| s.takes(r)),
            ["a", "b", "c", "library/alpine"].map(|r| {
                let h = Sha256::digest(r.as_bytes());
                u64::from_be_bytes(h[..8].try_into().unwrap()) % 3 == 1
            })
        );
    }

    #[test]
    fn shard_syntax() {
        assert!("0/4".parse::<Shard>().is_err());
        assert!("5/4".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x/4".parse::<Shard>().is_err());
        assert!("4".parse::<Shard>().is_err());
        assert_eq!(
            "4/4".parse::<Shard>().unwrap(),
            Shard { index: 4, count: 4 }
        );
    }

    #[test]
    fn prefixes_and_tags() {
        let s = Selection {
            prefixes: vec!["team/app".into(), "infra/".into()],
            tags: Some(regex::Regex::new("^v[0-9]").unwrap()),
            shard: None,
        };
        assert!(s.takes_repository("team/app"));
        assert!(s.takes_repository("team/app/cache"));
        assert!(!s.takes_repository("team/app2"));
        assert!(s.takes_repository("infra/x"));
        assert!(!s.takes_repository("infra"));
        assert!(s.takes_tag("v1.2"));
        assert!(!s.takes_tag("latest"));
        let all = Selection::default();
        assert!(all.takes_tag("latest"));
        let hex = "a".repeat(64);
        assert!(!all.takes_tag(&format!("sha256-{hex}")));
        assert!(!all.takes_tag(&format!("sha256-{hex}.sig")));
        assert!(all.takes_tag("sha256-short"));
        assert_eq!(s.named_repositories(), ["team/app", "infra"]);
    }
}
