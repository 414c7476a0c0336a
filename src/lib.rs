//! referrify: make BuildKit's legacy in-index attestations discoverable as OCI 1.1 referrers.
//!
//! Data flows one way: `store`/`input` read bytes → `model` views → `plan` (pure decisions) →
//! `execute` writes → `report` renders. `commands` connects the stages.
#![deny(missing_docs)]

pub mod cli;
pub mod commands;
pub mod execute;
pub mod exit;
pub mod input;
pub mod model;
pub mod plan;
pub mod report;
pub mod state;
pub mod store;
pub mod transport;
pub mod walk;
