//! echo-harness: a property-based and fault-injection test harness for TCP echo servers.
//!
//! It turns the traps of the classic socket tutorial (empty messages that hang, servers that die with their
//! client, `send` that writes only part, messages that TCP splits and joins, restarts that meet "Address already
//! in use") into checked properties, run on turmoil's simulated network under explicit seeds.
//!
//! # Layout
//!
//! One way through: scenario → runner → events → oracles → verdicts → reporters.
//!
//! - [`net`]: the seam. [`net::Network`] and [`net::Listener`] with two implementations, [`net::Real`] (tokio
//!   sockets) and [`net::Sim`] (turmoil). The server and client below are written once against it.
//! - [`server`]: the system under test, a correct uppercase echo server: `server::run(listener, config, shutdown)`.
//! - [`client`]: the echo client: connect, echo (whatever TCP does to the bytes), half-close, all with timeouts.
//! - [`scenario`]: scenario files (TOML) loaded and validated into [`scenario::Scenario`].
//! - [`sim`]: the simulated runner: plays a scenario under a seed against a [`sim::Target`] (the server under
//!   test, as a value) and records [`trace::Record`]s.
//! - [`script`]: the scenario clients' programs, written once over a [`script::Wire`] (simulated or real).
//! - [`process`]: the simulated server process's sockets, closed in a fixed order when it is killed.
//! - [`trace`]: the events a run records and the stable trace hash.
//! - [`oracle`]: pure functions from events to verdicts on named properties, with evidence.
//! - [`check`]: the suite: every scenario and seed, gathered per property into a [`check::CheckReport`].
//! - [`report`]: reporters, pure functions of a report: terminal table, JSON, Markdown.
//! - [`faults`]: stream shaping (short writes, split reads, pauses) that turmoil does not do itself.
//! - [`mutants`]: the catalogue of faulty servers, each the real server with one bug, kept apart from it;
//!   [`catalogue`] hunts them with the suite and exploration.
//! - [`blackbox`]: any server started by a command line (or already running), checked over real sockets.
//! - [`real`]: the real-socket runner: the same scenarios and clients on 127.0.0.1, faults played by proxies.
//! - [`proxy`]: a fault-injecting TCP proxy on loopback (latency, slicing, bandwidth, stalls, resets, FINs).
//! - [`kernel`]: kernel checks on real sockets (reuse-address, send vs sendall, empty send, refused).
//! - [`explore`]: proptest strategies generating whole scenarios, with [`shrink`] reducing failures to a minimal
//!   scenario file.
//!
//! The binary (`harness/src/main.rs`) is a thin layer of flags over these.

// Simulated runs rely on tokio's unstable runtime options (deterministic task panics and `select!`).
#[cfg(not(tokio_unstable))]
compile_error!("build with `--cfg tokio_unstable` (set in .cargo/config.toml): simulated runs depend on it");

pub mod blackbox;
pub mod catalogue;
pub mod check;
pub mod client;
pub mod explore;
pub mod faults;
pub mod kernel;
pub mod mutants;
pub mod net;
pub mod oracle;
pub mod process;
pub mod proxy;
pub mod real;
pub mod report;
pub mod scenario;
pub mod script;
pub mod server;
pub mod shrink;
pub mod sim;
pub mod trace;

/// Process exit codes of the `echo-harness` binary.
pub mod exit {
    /// Every property held.
    pub const HELD: u8 = 0;
    /// A property failed.
    pub const FAILED: u8 = 1;
    /// A usage or input error: a bad flag, a malformed scenario file, an address that cannot be bound.
    pub const USAGE: u8 = 2;
}
