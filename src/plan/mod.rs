//! Pure decisions: what to create, push and tag. Everything here is data in, data out.

pub mod artifact;
pub mod coverage;
pub mod image;
pub mod scope;
pub mod supply;
pub mod undo;
pub mod writes;
