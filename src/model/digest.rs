//! Content digests (`<algorithm>:<encoded>`): parsing, hashing and verification.
//!
//! Digests from registries and files are untrusted text, so parsing is lenient about algorithms we
//! do not know (they are carried along) but strict about the ones we hash ourselves.

use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;

/// A 128-bit key for `s` (the first 16 bytes of its SHA-256): sets of many digests or tag names
/// (a repository's 100,000 tags) hold 16 bytes an entry instead of a string. Two names with one
/// key take about 2^64 hashes to find; such a pair would only make a walk skip a name, never
/// write or delete anything.
pub fn key(s: &str) -> u128 {
    let h = Sha256::digest(s.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    u128::from_le_bytes(b)
}

/// A validated digest string such as `sha256:44136fa3…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// Why a digest string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {value:?}: {reason}")]
pub struct DigestError {
    /// The rejected text (truncated to 100 characters).
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Digest {
    /// Parses `alg:encoded` following the OCI image-spec grammar; sha256 and sha512 must be lowercase
    /// hex of the right length.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let err = |reason| DigestError {
            value: s.chars().take(100).collect(),
            reason,
        };
        let (alg, enc) = s.split_once(':').ok_or_else(|| err("missing ':'"))?;
        let alg_ok = !alg.is_empty()
            && alg.split(['+', '.', '_', '-']).all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if !alg_ok {
            return Err(err("bad algorithm"));
        }
        if enc.is_empty()
            || !enc
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'=' || b == b'_' || b == b'-')
        {
            return Err(err("bad encoded part"));
        }
        let hex_len = match alg {
            "sha256" => Some(64),
            "sha512" => Some(128),
            _ => None,
        };
        if let Some(n) = hex_len {
            if enc.len() != n
                || !enc
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(err("encoded part is not lowercase hex of the right length"));
            }
        }
        Ok(Digest(s.to_string()))
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The algorithm part (`sha256`).
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map(|(a, _)| a).unwrap_or("")
    }

    /// The encoded part (the hex for sha256).
    pub fn encoded(&self) -> &str {
        self.0.split_once(':').map(|(_, e)| e).unwrap_or("")
    }

    /// The whole digest text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `bytes` hash to this digest. `None` when the algorithm is not one we can compute.
    pub fn verify(&self, bytes: &[u8]) -> Option<bool> {
        if !self.is_verifiable() {
            return None;
        }
        let mut v = self.verifier();
        v.update(bytes);
        Some(v.finish().is_ok())
    }

    /// Whether content can be checked against this digest (sha256 or sha512): content under any
    /// other algorithm is refused, never used unchecked.
    pub fn is_verifiable(&self) -> bool {
        matches!(self.algorithm(), "sha256" | "sha512")
    }

    /// Hashes bytes as they pass with this digest's algorithm, to check them at the end
    /// without holding them.
    pub fn verifier(&self) -> Verifier {
        let state = match self.algorithm() {
            "sha256" => HashState::Sha256(Sha256::new()),
            "sha512" => HashState::Sha512(Sha512::new()),
            _ => HashState::Unknown,
        };
        Verifier {
            expected: self.clone(),
            state,
        }
    }

    /// Short form for people: `sha256:` plus the first 12 hex characters.
    pub fn short(&self) -> String {
        let enc = self.encoded();
        format!("{}:{}", self.algorithm(), &enc[..enc.len().min(12)])
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Bytes hashed so far, to be checked against a digest ([`Digest::verifier`]).
pub struct Verifier {
    expected: Digest,
    state: HashState,
}

enum HashState {
    Sha256(Sha256),
    Sha512(Sha512),
    Unknown,
}

impl Verifier {
    /// Hashes more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            HashState::Sha256(h) => h.update(bytes),
            HashState::Sha512(h) => h.update(bytes),
            HashState::Unknown => {}
        }
    }

    /// `Ok(())` when the bytes match (or the algorithm is not one we can check, as
    /// [`Digest::verify`] says with `None`), else what they hash to.
    pub fn finish(self) -> Result<(), String> {
        let (alg, actual) = match self.state {
            HashState::Sha256(h) => ("sha256", hex::encode(h.finalize())),
            HashState::Sha512(h) => ("sha512", hex::encode(h.finalize())),
            HashState::Unknown => return Ok(()),
        };
        if actual == self.expected.encoded() {
            Ok(())
        } else {
            Err(format!("{alg}:{actual}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_json_blob_digest() {
        assert_eq!(
            Digest::sha256(b"{}").as_str(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn parse_table() {
        let good = [
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
        ];
        for g in good {
            assert!(Digest::parse(g).is_ok(), "{g}");
        }
        let bad = [
            "",
            "sha256",
            "sha256:",
            ":abc",
            "sha256:abc",
            "SHA256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "sha256:44136FA355B3678A1146AD16F7E8649E94FB4FC21FE77E8310C060F61CAAFF8A",
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a/",
            "sha256:../../etc/passwd",
        ];
        for b in bad {
            assert!(Digest::parse(b).is_err(), "{b}");
        }
    }

    #[test]
    fn verify_and_short() {
        let d = Digest::sha256(b"hello");
        assert_eq!(d.verify(b"hello"), Some(true));
        assert_eq!(d.verify(b"hellO"), Some(false));
        assert_eq!(Digest::parse("foo:bar").unwrap().verify(b"x"), None);
        assert_eq!(d.short(), "sha256:2cf24dba5fb0");
    }
}
