//! The simulated runner: a scenario played on turmoil's network under one seed against a [`target::Target`],
//! recorded as a [`crate::model::trace::Run`]. `process.rs` models the server process's sockets (kill order,
//! TCP details turmoil leaves out), `links.rs` plays cuts as TCP lives through them. It judges nothing and never touches real sockets.

mod links;
pub mod process;
pub mod runner;
pub mod target;
