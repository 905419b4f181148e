//! Scenario types: what the clients do and what the network and the server's process go through, validated.
//!
//! A [`Scenario`] is data. It is validated when loaded (see `load.rs` and `file.rs`), so a runner never meets a
//! contradiction. This file owns the types and what follows from them alone (the bytes a seed draws, whether a
//! timeline makes sense); it reads no file and knows no runner.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use rand::{RngCore, SeedableRng};

use crate::model::faults::Shaping;
use crate::model::transform::Transform;
use crate::sut::server;

/// A malformed scenario file, located to the line.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read (or is not a regular file of a sensible size).
    #[error("{path}: cannot read: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why, in one line (a message, not a source: the line would say it twice).
        reason: String,
    },
    /// The file is not a valid scenario.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the mistake.
        line: usize,
        /// 1-based column of the mistake.
        column: usize,
        /// What is wrong, in one line.
        message: String,
    },
}

/// A scripted scenario, validated.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file stem: what reports and replay commands call it.
    pub name: String,
    /// The file it came from, for replay commands.
    pub path: PathBuf,
    /// One line saying what it checks.
    pub description: String,
    /// Where it is meant to run: a file found by exploring a server on real sockets says `real`.
    pub backend: Backend,
    /// The seeds every run of the suite uses.
    pub seeds: Vec<u64>,
    /// Latency and capacity of the simulated network.
    pub network: NetworkSpec,
    /// How the server under test is configured and how its streams are shaped.
    pub server: ServerSpec,
    /// Every client, expanded (a `count = 3` block gives three).
    pub clients: Vec<ClientSpec>,
    /// Faults at fixed simulated times, sorted by time (repeats expanded).
    pub timeline: Vec<Fault>,
    /// Bounds that turn a hang into a finding.
    pub limits: Limits,
    /// Variants that must fail: proof that this scenario can catch what it is about.
    pub twins: Vec<Twin>,
}

/// A failing twin: the scenario against a planted bug, or with a broken expectation, and the property that
/// must then fail under at least one of its seeds.
#[derive(Debug, Clone)]
pub struct Twin {
    /// A planted bug of the catalogue to run instead of the built-in server, if any, by name. The hunt layer
    /// checks that it exists ([`crate::hunt::twins`]): the scenario layer does not know the catalogue.
    pub mutant: Option<String>,
    /// Where the mutant's name stands in the file (1-based line and column), for that check's error.
    pub mutant_at: Option<(usize, usize)>,
    /// The scenario as patched (the same as the original when there is no patch).
    pub scenario: Box<Scenario>,
    /// What the patch changes, for test names and reports.
    pub patch: Option<String>,
    /// The property that must fail.
    pub fails: crate::model::property::Property,
}

impl Twin {
    /// A short label: `mutant partial_send` or `patch {...}`.
    pub fn label(&self) -> String {
        match (&self.mutant, &self.patch) {
            (Some(m), Some(p)) => format!("mutant {m} with {p}"),
            (Some(m), None) => format!("mutant {m}"),
            (None, Some(p)) => format!("patch {p}"),
            (None, None) => "unchanged".into(),
        }
    }
}

/// The simulated network's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSpec {
    /// Each segment's delivery latency is drawn from this range (turmoil's exponential curve).
    pub latency: Range<Duration>,
    /// Segments in flight per connection direction (turmoil's `tcp_capacity`); also the listen backlog.
    pub tcp_capacity: usize,
}

/// The server under test's settings for this scenario.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Passed to the built-in server (other targets may ignore it).
    pub config: server::Config,
    /// Applied to every stream the server accepts: partial sends and short reads on the server's side.
    pub shaping: Shaping,
    /// What a correct reply is (`[server] reply`): upper-cased, or unchanged for a plain echo server that a
    /// black-box run explores with `--transform identity`. The oracles judge replies by it.
    pub reply: Transform,
}

/// Where a scenario is meant to run (`backend = "real"` in a file written by a black-box exploration): `run FILE`
/// uses it when no `--backend` is given, so the replay line of a real finding replays on real sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// turmoil's simulated network (every scenario of the suite).
    #[default]
    Sim,
    /// Real sockets on 127.0.0.1.
    Real,
}

/// One client's script.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSpec {
    /// Name of the turmoil host, e.g. `client-0`.
    pub name: String,
    /// When it starts, in simulated time.
    pub start: Duration,
    /// Starts `start` after every client without this has finished and the timeline has played out (a latecomer
    /// that shows the server survived what came before), instead of `start` after the run began.
    pub after_others: bool,
    /// Messages in the order it sends them (already repeated `rounds` times).
    pub messages: Vec<Payload>,
    /// Messages written together in one write before reading their replies (1: one at a time).
    pub pipeline: usize,
    /// Partial sends, short reads, pauses: applied to the client's own stream.
    pub shaping: Shaping,
    /// Whether a 0-byte write precedes every message (it must change nothing).
    pub zero_writes: bool,
    /// How it treats an empty message.
    pub empty: EmptyPolicy,
    /// How its conversation ends (`Close` for a client that expects the idle timeout's close, see [`Expect`]).
    pub end: End,
    /// Messages answered before an end other than `close` and `half_close`, or before a client that expects the
    /// idle timeout's close goes quiet.
    pub end_after: usize,
    /// Whether it reconnects and resends after its connection fails (for restarts and partitions).
    pub reconnect: bool,
    /// What its connect should meet, and who ends the connection.
    pub expect: Expect,
}

impl ClientSpec {
    /// Whether the client ends its conversation abruptly on purpose (a client that stops reading leaves with a RST).
    pub fn misbehaves(&self) -> bool {
        matches!(self.end, End::Fin | End::Reset | End::DieMidMessage) || self.quiet() == Some(Quiet::StopReading)
    }

    /// How it goes quiet, if it expects the server's idle timeout to close its connection.
    pub fn quiet(&self) -> Option<Quiet> {
        match self.expect {
            Expect::IdleClose(quiet) => Some(quiet),
            _ => None,
        }
    }

    /// Messages it means to get answered.
    pub fn planned(&self) -> usize {
        match self.expect {
            Expect::Refused => 0,
            Expect::IdleClose(_) => self.end_after,
            Expect::Served if self.misbehaves() => self.end_after,
            Expect::Served => self.messages.len(),
        }
    }
}

/// How a client treats an empty message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyPolicy {
    /// Sends nothing and expects nothing (the tutorial's fix, `if not msg: continue`).
    Skip,
    /// Writes 0 bytes and waits for a reply: the tutorial's hang, for a failing twin.
    Wait,
}

/// How a client's conversation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Half-close, read to EOF, expect nothing more.
    Close,
    /// Write every message without waiting, half-close, then read all the replies to EOF.
    HalfClose,
    /// Close abruptly with FIN after `end_after` messages (nothing left unread).
    Fin,
    /// After `end_after` messages send one more and close without reading its reply, so the close is a RST.
    Reset,
    /// After `end_after` messages write half of the next one and vanish.
    DieMidMessage,
}

/// What a client's connect should meet, and who ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A server that answers; the client ends the connection as its `end` says.
    Served,
    /// No listener: the connect must fail fast with ConnectionRefused.
    Refused,
    /// A server that answers `end_after` messages; then the client goes quiet as said and the server's idle timeout
    /// may close the connection (the file's `end = "silent"` and `end = "stop_reading"`).
    IdleClose(Quiet),
}

/// How a client goes quiet after `end_after` answered messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    /// It sends nothing more and waits, reading, for the server's idle timeout to close the connection (within
    /// `io_timeout`).
    Silent,
    /// It stops reading: sends the remaining messages, reads none of their replies, holds the connection for
    /// `io_timeout` (the server's idle timeout may cut it meanwhile), then leaves with the replies unread (a RST).
    StopReading,
}

/// The bytes of one message, as written in the file; random ones are drawn per seed.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// UTF-8 text.
    Text(String),
    /// Exact bytes.
    Bytes(Vec<u8>),
    /// This many random bytes (any value 0-255), drawn from the run's seed.
    Random(usize),
}

impl Payload {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Payload::Text(t) => t.len(),
            Payload::Bytes(b) => b.len(),
            Payload::Random(n) => *n,
        }
    }

    /// Whether it is the empty message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A network or server fault at a point in simulated time.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// When it happens.
    pub at: Duration,
    /// What happens.
    pub action: Action,
}

/// Which clients' links to the server a network fault touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Every client.
    All,
    /// These clients, by index.
    Clients(Vec<usize>),
}

impl Who {
    /// Whether client `index` is touched.
    pub fn includes(&self, index: usize) -> bool {
        match self {
            Who::All => true,
            Who::Clients(list) => list.contains(&index),
        }
    }
}

/// The direction a one-way partition or repair cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    Both,
    /// Client to server only.
    ToServer,
    /// Server to client only.
    FromServer,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Kill the server process and start it again at once.
    Bounce,
    /// Kill the server process; the machine stays up, so connects are refused until `start`.
    Stop,
    /// Start the server process again after `stop` or `crash`.
    Start,
    /// The server machine dies: nothing reaches it, nothing comes back, connects hang until `start`.
    Crash,
    /// Drop every segment between the server and these clients.
    Partition(Who, Direction),
    /// Undo a partition.
    Repair(Who, Direction),
    /// Hold segments (TCP stays reliable, just late) until `release`.
    Hold(Who),
    /// Deliver what `hold` kept.
    Release(Who),
    /// Fix the latency of these clients' links to the server.
    Latency(Who, Duration),
    /// Random link failures at this rate per step (0 stops them and repairs every link).
    FailRate(f64),
}

impl Action {
    /// A short name for traces.
    pub fn describe(&self) -> String {
        let who = |w: &Who| match w {
            Who::All => "all clients".to_string(),
            Who::Clients(list) => list.iter().map(|c| format!("client-{c}")).collect::<Vec<_>>().join(","),
        };
        let dir = |d: &Direction| match d {
            Direction::Both => "",
            Direction::ToServer => " (to server)",
            Direction::FromServer => " (from server)",
        };
        match self {
            Action::Bounce => "bounce".into(),
            Action::Stop => "stop".into(),
            Action::Start => "start".into(),
            Action::Crash => "crash".into(),
            Action::Partition(w, d) => format!("partition {}{}", who(w), dir(d)),
            Action::Repair(w, d) => format!("repair {}{}", who(w), dir(d)),
            Action::Hold(w) => format!("hold {}", who(w)),
            Action::Release(w) => format!("release {}", who(w)),
            Action::Latency(w, d) => format!("latency {} {}ms", who(w), d.as_millis()),
            Action::FailRate(r) => format!("fail-rate {r}"),
        }
    }

    /// Whether it kills the server process.
    pub fn kills_server(&self) -> bool {
        matches!(self, Action::Bounce | Action::Stop | Action::Crash)
    }

    /// Whether it (re)starts the server process.
    pub fn starts_server(&self) -> bool {
        matches!(self, Action::Bounce | Action::Start)
    }
}

/// Bounds on a run, in simulated time.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The whole run must end by then (turmoil's simulation duration); a client still busy then has hung.
    pub deadline: Duration,
    /// Client connect timeout.
    pub connect_timeout: Duration,
    /// Client per-step I/O timeout: a connection with no progress for this long has stalled.
    pub io_timeout: Duration,
    /// How long a reconnecting client keeps trying after its connection failed.
    pub reconnect_within: Duration,
    /// After a restart, a new connection must be served within this.
    pub restart_within: Duration,
    /// A connect to a down server must be refused within this.
    pub refused_within: Duration,
    /// After the last client left, the server must have closed every connection within this.
    pub drain: Duration,
    /// How long a cut link (partition, hold, a failure of a lossy link) only delays the bytes in flight, as TCP
    /// retransmission does; a cut that lasts longer ends the connections on it, as the kernel gives up
    /// retransmitting (Linux: about 15 minutes with `tcp_retries2 = 15`; shortened so that runs stay short).
    pub give_up: Duration,
}

/// The kernel's minimum retransmission timeout (Linux `TCP_RTO_MIN`, 200 ms): a segment a lossy link drops is
/// sent again that much later, so a failure of a `fail_rate` link delays what is in flight on it by this long.
pub const RETRANSMIT_AFTER: Duration = Duration::from_millis(200);

impl Scenario {
    /// The bytes every client sends under `seed`: `[client][message]`. Random payloads are drawn in client and
    /// message order from one generator, so the same seed always gives the same bytes.
    pub fn materialize(&self, seed: u64) -> Vec<Vec<Vec<u8>>> {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed ^ 0x6563_686f_2d68_6172); // "echo-har"
        self.clients
            .iter()
            .map(|c| {
                c.messages
                    .iter()
                    .map(|m| match m {
                        Payload::Text(s) => s.as_bytes().to_vec(),
                        Payload::Bytes(b) => b.clone(),
                        Payload::Random(n) => {
                            let mut bytes = vec![0u8; *n];
                            rng.fill_bytes(&mut bytes);
                            bytes
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Whether the timeline restarts the server.
    pub fn restarts_server(&self) -> bool {
        self.timeline.iter().any(|f| f.action.starts_server())
    }
}

/// Checks that the server's process is stopped or crashed only while it runs and started only while it is down;
/// on error, the index of the offending fault and why.
pub(super) fn check_server_states(timeline: &[Fault]) -> Result<(), (usize, String)> {
    let mut down = false;
    for (k, fault) in timeline.iter().enumerate() {
        let ms = fault.at.as_millis();
        match fault.action {
            Action::Stop | Action::Crash if down => {
                return Err((
                    k,
                    format!("`{}` at {ms} ms, but the server is already down then", fault.action.describe()),
                ))
            }
            Action::Bounce if down => {
                return Err((k, format!("`bounce` at {ms} ms, but the server is down then: use `start`")))
            }
            Action::Start if !down => {
                return Err((
                    k,
                    format!("`start` at {ms} ms, but the server is running then (use `bounce` to restart it)"),
                ))
            }
            Action::Stop | Action::Crash => down = true,
            Action::Start => down = false,
            _ => {}
        }
    }
    Ok(())
}

/// Checks that a silent client (`end = "silent"`) can see the server's idle timeout close its connection: the
/// scenario sets one, and the client waits for it longer than it plus a round trip (and 10 ms of slack).
pub(super) fn check_silent(server: &ServerSpec, network: &NetworkSpec, limits: &Limits) -> Result<(), String> {
    let Some(idle) = server.config.idle_timeout else {
        return Err(
            "`end = \"silent\"` waits for the server's idle timeout: set `idle_timeout_ms` in `[server]`".into()
        );
    };
    let needed = idle + network.latency.end * 2 + std::time::Duration::from_millis(10);
    if limits.io_timeout < needed {
        return Err(format!(
            "`end = \"silent\"` waits `io_timeout_ms` ({} ms) for the idle timeout's close: it needs at least {} ms (`idle_timeout_ms`, two latencies and 10 ms)",
            limits.io_timeout.as_millis(),
            needed.as_millis()
        ));
    }
    Ok(())
}

impl Scenario {
    /// Whether the timeline makes sense (see the file format); the shrinker skips candidates that do not.
    pub fn is_consistent(&self) -> bool {
        check_server_states(&self.timeline).is_ok()
    }
}
