//! The verifying load engine behind `echo-harness load`: many clients on 127.0.0.1 that stream or ping-pong
//! against an echo server and check every echoed byte while they measure (throughput, round trips, latency in
//! HDR histograms, errors by kind), beside slow clients (slowloris) and connect/close churn, bounded in time and
//! connections. [`procfs`] reads the server process's memory and descriptors from /proc. It knows nothing of
//! scenarios or properties, and starts no server: the caller gives it an address.
//!
//! - [`engine`]: the clients and the run ([`run`]).
//! - [`stats`]: what a run measured ([`Measured`]) and the JSON document with stable keys.
//! - [`procfs`]: the process listening on a port, its RSS and open descriptors.
//! - [`settings`]: what a run is asked to do ([`Settings`], [`Mode`], [`Transform`]).

pub mod engine;
pub mod procfs;
pub mod settings;
pub mod stats;

pub use engine::run;
pub use settings::{Mode, Settings, Transform};
pub use stats::Measured;
