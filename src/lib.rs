//! referrify: make BuildKit's legacy in-index attestations discoverable as OCI 1.1 referrers.
//!
//! Data flows one way: `commands` parse arguments and hand a batch of images to the `engine`
//! (directly, or for each repository of the registry `walk`); the engine reads through `store`
//! (on `transport`), views the bytes with `model`, decides with `plan` (pure), writes through
//! `store`, and returns typed outcomes that `report` renders.
#![deny(missing_docs)]

pub mod cli;
pub mod commands;
pub mod engine;
pub mod exit;
pub mod help;
pub mod model;
pub mod plan;
pub mod report;
pub mod serve;
pub mod state;
pub mod stop;
pub mod store;
pub mod transport;
pub mod walk;
