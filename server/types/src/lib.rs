//! Identifiers and API data transfer objects shared by the server crates and
//! the web console. Nothing here does I/O, so the crate builds for wasm.

pub mod api;
pub mod ids;
pub mod problem;

pub use ids::*;
