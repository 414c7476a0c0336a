//! What commands print. The structs re-exported here, one module per command, are the JSON
//! schema (documented in the README); `text` renders the same data for
//! people. stdout carries results only.

mod check;
pub mod commands;
mod convert;
pub mod html;
mod migrate;
pub mod progress;
pub mod repair;
pub mod sanitize;
pub mod states;
pub mod supply;
pub mod text;
mod undo;
pub mod verify;

pub use crate::model::image::Problem;
pub use check::{
    gap_platforms_shown, CheckImage, CheckImageLine, CheckReport, CheckSummary, CoverageSummary,
    PlatformReport, RegistryCheckReport, RegistrySummaryLine, RepositoryCoverage, RepositoryLine,
};
pub use convert::{
    AttestationReport, ConvertReport, ConvertSummary, ImageReport, IndexRewrite, TagWrite, Writes,
};
pub use migrate::{
    MigrateCounts, MigrateImage, MigrateRepository, MigrateRow, MigrateSummary, TagProblem,
};
pub use repair::RepairedEntry;
pub use states::{AttestationState, ImageStatus, RepositoryStatus, UndoStatus};
pub use undo::{UndoImage, UndoReport, UndoSummary};

/// The JSON schema version of the one-document reports (`convert`, `check REF`, `undo`).
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON schema version of the JSON-lines reports (`migrate`, `check REGISTRY`): version 2
/// gives each image its own line and each repository a line of counts, so memory no longer grows
/// with a repository's tags (version 1 held every image of a repository in its line).
pub const STREAM_SCHEMA_VERSION: u32 = 2;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// JSON: one document (convert, check REF, undo) or JSON lines (migrate, check REGISTRY).
    Json,
}
