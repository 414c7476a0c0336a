//! Pure, read-only views over the bytes we read: no I/O here.

pub mod attestation;
pub mod digest;
pub mod document;
pub mod gojson;
pub mod image;
pub mod jsonspan;
pub mod media;
pub mod metadata;
pub mod reference;
pub mod referrers;
pub mod repair;
pub mod rewrite;
pub mod statement;
pub mod supply;
