//! What a load run is asked to do: the clients' mode, the transform the echo must show, and the bounded settings
//! the CLI resolves its flags into.

use std::time::Duration;

/// How the clients talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Each client writes without waiting and reads the echo at the same time: throughput.
    Stream,
    /// Each client writes one message and waits for its whole echo before the next: round trips.
    Pingpong,
}

pub use crate::model::transform::Transform;

/// What a load run does; every field is bounded by the caller (the CLI checks the flags).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Settings {
    /// Concurrent clients doing the work of `mode` (churn clients when `churn` is set).
    pub clients: usize,
    /// How long the clients send; then they stop sending and wait for what is still owed to them.
    #[serde(serialize_with = "super::stats::as_secs")]
    pub duration: Duration,
    /// Stream or ping-pong.
    pub mode: Mode,
    /// Bytes per write (stream) or per message (ping-pong and churn).
    pub size: usize,
    /// Ping-pong round trips per second over all clients, paced; latency then counts from when each round trip
    /// was due, not from when it was sent, so a stalled server cannot hide its stall (coordinated omission).
    pub rate: Option<f64>,
    /// Extra clients that send one byte a second and read its echo (slowloris), beside the others.
    pub slow_clients: usize,
    /// Clients connect, exchange one message and close, over and over; every tenth close is a reset (RST).
    pub churn: bool,
    /// At most this many bytes sent per client (stream), then it stops sending: a bounded stream.
    pub bytes_per_client: Option<u64>,
    /// A streaming client starts reading only this long after it starts writing: backpressure.
    #[serde(serialize_with = "super::stats::as_secs_opt")]
    pub read_delay: Option<Duration>,
    /// What the echo must be.
    pub transform: Transform,
    /// How long a client may wait for any progress before it counts a timeout and gives up.
    #[serde(serialize_with = "super::stats::as_secs")]
    pub io_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            clients: 16,
            duration: Duration::from_secs(10),
            mode: Mode::Stream,
            size: 16 * 1024,
            rate: None,
            slow_clients: 0,
            churn: false,
            bytes_per_client: None,
            read_delay: None,
            transform: Transform::Upper,
            io_timeout: Duration::from_secs(10),
        }
    }
}
