//! Scenarios: what the clients do and what the network and the server's process go through, loaded from TOML
//! files. The types live in `types.rs`; `load.rs` reads a file (twins included), `file.rs` resolves each section
//! with its checks (`steps.rs` the timeline), `emit.rs` writes a scenario back. The format is documented in `scenarios/README.md`.

pub mod bounds;
mod cuts;
mod emit;
mod file;
mod load;
mod steps;
mod types;

pub use cuts::*;
pub use types::*;

#[cfg(test)]
mod tests;
