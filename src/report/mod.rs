//! What commands print. The structs re-exported here, one module per command, are the JSON
//! schema (`schemaVersion` 1, documented in the README); `text` renders the same data for
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
    CheckImage, CheckReport, CheckSummary, CoverageSummary, PlatformReport, RegistryCheckReport,
    RepositoryCoverage,
};
pub use convert::{
    AttestationReport, ConvertReport, ConvertSummary, ImageReport, IndexRewrite, TagWrite, Writes,
};
pub use migrate::{MigrateRepository, MigrateRow, MigrateSummary, TagProblem};
pub use repair::RepairedEntry;
pub use states::{AttestationState, ImageStatus, RepositoryStatus, UndoStatus};
pub use undo::{UndoImage, UndoReport, UndoSummary};

/// The JSON schema version of every report.
pub const SCHEMA_VERSION: u32 = 1;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// One JSON document.
    Json,
}
