//! The simulated runner: a scenario played on turmoil's network under one seed against a [`target::Target`],
//! recorded as a [`crate::model::trace::Run`]. `process.rs` models the server process's sockets (kill order,
//! TCP details turmoil leaves out). It judges nothing and never touches real sockets.

pub mod process;
pub mod runner;
pub mod target;
