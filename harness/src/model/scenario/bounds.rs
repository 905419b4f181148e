//! What a scenario file may ask for: the bounds every value is checked against (documented in
//! `scenarios/README.md`, "What a scenario may cost"), and the locator that turns a span into an error. Shared by
//! the parsers of the file's sections; nothing here parses or runs.

use std::ops::Range;

use super::types::ScenarioError;

/// Builds the error for a span of the text being parsed.
pub(super) type At<'a> = dyn Fn(Range<usize>, String) -> ScenarioError + 'a;

/// The largest message a scenario may hold (64 MiB): every message is kept in memory, sent and echoed.
pub const MAX_MESSAGE: usize = 64 << 20;
/// The most payload bytes a whole scenario may send (all clients, after `count` and `rounds`): what one run may
/// cost in memory, and in time.
pub const MAX_TOTAL_BYTES: usize = 256 << 20;
/// The most messages a whole scenario may send (all clients, after `count` and `rounds`).
pub const MAX_TOTAL_MESSAGES: usize = 1_000_000;
/// The most timeline steps a scenario may have after `repeat`.
pub const MAX_STEPS: usize = 100_000;
/// The longest any time in a scenario may be, in ms (a deadline, a timeout, a latency): one hour of simulated
/// time. Idle, that takes about 20 s to simulate; a run's wall-clock budget ends anything slower.
pub const MAX_MS: u64 = 3_600_000;
/// The largest `tcp_capacity`.
pub const MAX_TCP_CAPACITY: usize = 4096;
/// The largest `buffer` (16 MiB), as `echo-harness serve --buffer` allows.
pub const MAX_BUFFER: usize = 16 << 20;
/// The largest `max_connections`.
pub const MAX_CONNECTIONS: usize = 100_000;
/// The most messages one client may send (after `rounds`): bounds a run's memory and time.
pub const MAX_MESSAGES: usize = 100_000;
