//! Scenarios: what the clients do and what the network and the server's process go through, loaded from TOML
//! files in `scenarios/`.
//!
//! A scenario is data. It is validated when loaded, so a runner never meets a contradiction; a mistake is
//! reported as `file:line:column: what is wrong`. The format is documented in `scenarios/README.md`.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::{RngCore, SeedableRng};
use serde::Deserialize;
use toml::Spanned;

use crate::faults::{Chunk, Shaping};
use crate::server;

/// A malformed scenario file, located to the line.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
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
    /// A mutant from [`crate::mutants`] to run instead of the built-in server, if any.
    pub mutant: Option<String>,
    /// The scenario as patched (the same as the original when there is no patch).
    pub scenario: Box<Scenario>,
    /// What the patch changes, for test names and reports.
    pub patch: Option<String>,
    /// The property that must fail.
    pub fails: crate::oracle::Property,
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
}

/// One client's script.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSpec {
    /// Name of the turmoil host, e.g. `client-0`.
    pub name: String,
    /// When it starts, in simulated time.
    pub start: Duration,
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
    /// How its conversation ends.
    pub end: End,
    /// Messages answered before a misbehaving end (`fin`, `reset`, `die_mid_message`).
    pub end_after: usize,
    /// Whether it reconnects and resends after its connection fails (for restarts and partitions).
    pub reconnect: bool,
    /// What its connect should meet.
    pub expect: Expect,
}

impl ClientSpec {
    /// Whether the client ends its conversation abruptly on purpose.
    pub fn misbehaves(&self) -> bool {
        matches!(self.end, End::Fin | End::Reset | End::DieMidMessage)
    }

    /// Messages it means to get answered.
    pub fn planned(&self) -> usize {
        match self.expect {
            Expect::Refused => 0,
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

/// What a client's connect should meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A server that answers.
    Served,
    /// No listener: the connect must fail fast with ConnectionRefused.
    Refused,
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
}

impl Scenario {
    /// Loads and validates one scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { path: path.to_owned(), source })?;
        Scenario::parse(path, &text)
    }

    /// Loads every `*.toml` file of a directory, sorted by name. The first bad file is an error: a file is never
    /// skipped.
    pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
        let entries = std::fs::read_dir(dir).map_err(|source| ScenarioError::Read { path: dir.to_owned(), source })?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| ScenarioError::Read { path: dir.to_owned(), source })?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") {
                paths.push(path);
            }
        }
        paths.sort();
        paths.iter().map(|p| Scenario::load(p)).collect()
    }

    /// Parses and validates scenario text; `path` names it in errors and gives its name.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let mut scenario = Scenario::parse_one(path, text)?;
        let at = |span: Range<usize>, message: String| {
            let (line, column) = line_column(text, span.start);
            ScenarioError::Invalid { path: path.to_owned(), line, column, message }
        };
        let file: TwinsFile = toml::from_str(text).map_err(|e| at(e.span().unwrap_or(0..0), e.message().into()))?;
        if file.twins.is_empty() {
            return Ok(scenario);
        }
        let mut base: toml::Table = toml::from_str(text).map_err(|e| at(0..0, e.message().into()))?;
        base.remove("twins");
        for twin in file.twins {
            let span = twin.fails.span();
            let fails = crate::oracle::Property::from_name(twin.fails.get_ref())
                .ok_or_else(|| at(span.clone(), format!("`fails` names no property: \"{}\"", twin.fails.get_ref())))?;
            if let Some(m) = &twin.mutant {
                if crate::mutants::find(m.get_ref()).is_none() {
                    let names: Vec<&str> = crate::mutants::all().iter().map(|m| m.name).collect();
                    return Err(at(
                        m.span(),
                        format!("no mutant is called \"{}\" (known: {})", m.get_ref(), names.join(", ")),
                    ));
                }
            }
            let mut patched = base.clone();
            let patch = match &twin.patch {
                Some(p) => {
                    merge(&mut patched, p.get_ref());
                    Some(toml::Value::Table(p.get_ref().clone()).to_string())
                }
                None => None,
            };
            let patched_text = toml::to_string(&patched).map_err(|e| at(span.clone(), e.to_string()))?;
            let twin_scenario = Scenario::parse_one(path, &patched_text).map_err(|e| match e {
                ScenarioError::Invalid { message, .. } => {
                    at(twin.patch.as_ref().map_or(span.clone(), |p| p.span()), format!("the twin's patch: {message}"))
                }
                other => other,
            })?;
            scenario.twins.push(Twin {
                mutant: twin.mutant.map(|m| m.into_inner()),
                scenario: Box::new(twin_scenario),
                patch,
                fails,
            });
        }
        Ok(scenario)
    }

    /// Parses one scenario, ignoring its twins.
    fn parse_one(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let at = |span: Range<usize>, message: String| {
            let (line, column) = line_column(text, span.start);
            ScenarioError::Invalid { path: path.to_owned(), line, column, message }
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            at(span, e.message().trim().replace('\n', " "))
        })?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();

        if file.seeds.get_ref().is_empty() {
            return Err(at(file.seeds.span(), "`seeds` must list at least one seed".into()));
        }
        let capacity_span = file.network.as_ref().and_then(|n| n.tcp_capacity.as_ref()).map(|c| c.span());
        let network = file.network.unwrap_or_default().resolve(&at)?;
        let server = file.server.unwrap_or_default().resolve(&at)?;
        if file.clients.is_empty() {
            return Err(at(0..0, "a scenario needs at least one `[[clients]]` block".into()));
        }
        let mut clients = Vec::new();
        let mut over = None;
        for block in &file.clients {
            let spec = block.resolve(&at)?;
            for _ in 0..*block.count.get_ref() {
                clients.push(ClientSpec { name: format!("client-{}", clients.len()), ..spec.clone() });
            }
            if over.is_none() && clients.len() > network.tcp_capacity {
                over = Some(block.count.span());
            }
        }
        if let Some(count_span) = over {
            // turmoil panics when more connections wait to be accepted than its capacity.
            return Err(at(
                capacity_span.unwrap_or(count_span),
                format!(
                    "{} clients but `tcp_capacity` (also the server's backlog) is {}: raise it in `[network]`",
                    clients.len(),
                    network.tcp_capacity
                ),
            ));
        }
        let limits = file.limits.unwrap_or_default().resolve();
        let names: Vec<&str> = clients.iter().map(|c| c.name.as_str()).collect();
        let mut timeline = Vec::new();
        let mut spans = Vec::new();
        for step in &file.timeline {
            let before = timeline.len();
            step.resolve(&at, &names, limits.deadline, &mut timeline)?;
            spans.extend((before..timeline.len()).map(|_| step.action.span()));
        }
        let mut order: Vec<usize> = (0..timeline.len()).collect();
        order.sort_by_key(|&i| timeline[i].at);
        let timeline: Vec<Fault> = order.iter().map(|&i| timeline[i].clone()).collect();
        if let Err((k, message)) = check_server_states(&timeline) {
            return Err(at(spans[order[k]].clone(), message));
        }
        Ok(Scenario {
            name,
            path: path.to_owned(),
            description: file.description,
            seeds: file.seeds.into_inner(),
            network,
            server,
            clients,
            timeline,
            limits,
            twins: Vec::new(),
        })
    }

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

    /// The scenario as a scenario file (clients expanded one block each, repeats and rounds written out), so a
    /// generated or shrunk scenario can be saved, read and replayed. Loading the text gives back this scenario
    /// (twins aside).
    pub fn to_toml(&self) -> String {
        use toml::{Table, Value};
        let ms = |d: Duration| Value::Integer(d.as_millis() as i64);
        let int = |n: usize| Value::Integer(n as i64);
        let chunk = |c: Chunk| match c {
            Chunk::Fixed(k) => int(k),
            Chunk::Between(lo, hi) => Value::Array(vec![int(lo), int(hi)]),
        };
        let shaping = |t: &mut Table, s: &Shaping| {
            if let Some(c) = s.write_chunk {
                t.insert("write_chunk".into(), chunk(c));
            }
            if let Some(c) = s.read_chunk {
                t.insert("read_chunk".into(), chunk(c));
            }
            if let Some(p) = s.write_pause {
                t.insert("write_pause_ms".into(), ms(p));
            }
            if let Some(p) = s.read_pause {
                t.insert("read_pause_ms".into(), ms(p));
            }
        };
        let mut doc = Table::new();
        doc.insert("description".into(), Value::String(self.description.clone()));
        doc.insert("seeds".into(), Value::Array(self.seeds.iter().map(|&s| Value::Integer(s as i64)).collect()));
        let mut network = Table::new();
        network.insert(
            "latency_ms".into(),
            Value::Array(vec![ms(self.network.latency.start), ms(self.network.latency.end)]),
        );
        network.insert("tcp_capacity".into(), int(self.network.tcp_capacity));
        doc.insert("network".into(), Value::Table(network));
        let mut server = Table::new();
        server.insert("buffer".into(), int(self.server.config.buffer_size));
        if let Some(m) = self.server.config.max_connections {
            server.insert("max_connections".into(), int(m));
        }
        if let Some(t) = self.server.config.idle_timeout {
            server.insert("idle_timeout_ms".into(), ms(t));
        }
        shaping(&mut server, &self.server.shaping);
        doc.insert("server".into(), Value::Table(server));
        let clients = self
            .clients
            .iter()
            .map(|c| {
                let mut t = Table::new();
                if !c.start.is_zero() {
                    t.insert("start_ms".into(), ms(c.start));
                }
                let messages = c
                    .messages
                    .iter()
                    .map(|m| {
                        let mut p = Table::new();
                        match m {
                            Payload::Text(s) => p.insert("text".into(), Value::String(s.clone())),
                            Payload::Bytes(b) => p.insert(
                                "hex".into(),
                                Value::String(b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")),
                            ),
                            Payload::Random(n) => p.insert("random".into(), int(*n)),
                        };
                        Value::Table(p)
                    })
                    .collect();
                t.insert("messages".into(), Value::Array(messages));
                if c.pipeline > 1 {
                    t.insert("pipeline".into(), int(c.pipeline));
                }
                if c.reconnect {
                    t.insert("reconnect".into(), Value::Boolean(true));
                }
                if c.zero_writes {
                    t.insert("zero_writes".into(), Value::Boolean(true));
                }
                if c.empty == EmptyPolicy::Wait {
                    t.insert("empty".into(), Value::String("wait".into()));
                }
                let end = match c.end {
                    End::Close => None,
                    End::HalfClose => Some("half_close"),
                    End::Fin => Some("fin"),
                    End::Reset => Some("reset"),
                    End::DieMidMessage => Some("die_mid_message"),
                };
                if let Some(end) = end {
                    t.insert("end".into(), Value::String(end.into()));
                    if c.misbehaves() {
                        t.insert("end_after".into(), int(c.end_after));
                    }
                }
                if c.expect == Expect::Refused {
                    t.insert("expect".into(), Value::String("refused".into()));
                }
                shaping(&mut t, &c.shaping);
                Value::Table(t)
            })
            .collect();
        doc.insert("clients".into(), Value::Array(clients));
        let names = |w: &Who| match w {
            Who::All => None,
            Who::Clients(list) => {
                Some(Value::Array(list.iter().map(|i| Value::String(format!("client-{i}"))).collect()))
            }
        };
        let direction = |d: &Direction| match d {
            Direction::Both => None,
            Direction::ToServer => Some("to_server"),
            Direction::FromServer => Some("from_server"),
        };
        let timeline: Vec<Value> = self
            .timeline
            .iter()
            .map(|f| {
                let mut t = Table::new();
                t.insert("at_ms".into(), ms(f.at));
                let (action, who, dir) = match &f.action {
                    Action::Bounce => ("bounce", None, None),
                    Action::Stop => ("stop", None, None),
                    Action::Start => ("start", None, None),
                    Action::Crash => ("crash", None, None),
                    Action::Partition(w, d) => ("partition", names(w), direction(d)),
                    Action::Repair(w, d) => ("repair", names(w), direction(d)),
                    Action::Hold(w) => ("hold", names(w), None),
                    Action::Release(w) => ("release", names(w), None),
                    Action::Latency(w, d) => {
                        t.insert("ms".into(), ms(*d));
                        ("latency", names(w), None)
                    }
                    Action::FailRate(r) => {
                        t.insert("rate".into(), Value::Float(*r));
                        ("fail_rate", None, None)
                    }
                };
                t.insert("action".into(), Value::String(action.into()));
                if let Some(who) = who {
                    t.insert("clients".into(), who);
                }
                if let Some(dir) = dir {
                    t.insert("direction".into(), Value::String(dir.into()));
                }
                Value::Table(t)
            })
            .collect();
        if !timeline.is_empty() {
            doc.insert("timeline".into(), Value::Array(timeline));
        }
        let mut limits = Table::new();
        let l = &self.limits;
        for (key, value) in [
            ("deadline_ms", l.deadline),
            ("connect_timeout_ms", l.connect_timeout),
            ("io_timeout_ms", l.io_timeout),
            ("reconnect_within_ms", l.reconnect_within),
            ("restart_within_ms", l.restart_within),
            ("refused_within_ms", l.refused_within),
            ("drain_ms", l.drain),
        ] {
            limits.insert(key.into(), ms(value));
        }
        doc.insert("limits".into(), Value::Table(limits));
        emit(&doc)
    }

    /// Whether the timeline restarts the server.
    pub fn restarts_server(&self) -> bool {
        self.timeline.iter().any(|f| f.action.starts_server())
    }
}

/// Writes a document the way scenario files are written by hand: plain keys first, then `[tables]`, then
/// `[[arrays of tables]]`, with arrays (of messages, say) inline.
fn emit(doc: &toml::Table) -> String {
    use toml::Value;
    let mut out = String::new();
    let plain = |t: &toml::Table, out: &mut String| {
        for (key, value) in t {
            let inline = matches!(value, Value::Table(_))
                || matches!(value, Value::Array(a) if !a.is_empty() && a.iter().all(|v| matches!(v, Value::Table(_))));
            if !inline || key == "messages" {
                out.push_str(&format!("{key} = {value}\n"));
            }
        }
    };
    plain(doc, &mut out);
    for (key, value) in doc {
        match value {
            Value::Table(t) => {
                out.push_str(&format!("\n[{key}]\n"));
                plain(t, &mut out);
            }
            Value::Array(items) if !items.is_empty() && items.iter().all(|v| matches!(v, Value::Table(_))) => {
                for item in items {
                    if let Value::Table(t) = item {
                        out.push_str(&format!("\n[[{key}]]\n"));
                        plain(t, &mut out);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Checks that the server's process is stopped or crashed only while it runs and started only while it is down;
/// on error, the index of the offending fault and why.
fn check_server_states(timeline: &[Fault]) -> Result<(), (usize, String)> {
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

impl Scenario {
    /// Whether the timeline makes sense (see the file format); the shrinker skips candidates that do not.
    pub fn is_consistent(&self) -> bool {
        check_server_states(&self.timeline).is_ok()
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

// The file's shape, as serde reads it. Spans are kept where validation needs to point at a value.

type At<'a> = dyn Fn(Range<usize>, String) -> ScenarioError + 'a;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    description: String,
    seeds: Spanned<Vec<u64>>,
    network: Option<NetworkFile>,
    server: Option<ServerFile>,
    #[serde(default)]
    clients: Vec<ClientFile>,
    #[serde(default)]
    timeline: Vec<StepFile>,
    limits: Option<LimitsFile>,
    /// Read separately by [`TwinsFile`].
    #[allow(dead_code)]
    twins: Option<toml::Value>,
}

/// The `[[twins]]` blocks, read apart from the rest (they patch the rest).
#[derive(Deserialize)]
struct TwinsFile {
    #[serde(default)]
    twins: Vec<TwinFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TwinFile {
    mutant: Option<Spanned<String>>,
    patch: Option<Spanned<toml::Table>>,
    fails: Spanned<String>,
}

/// Merges `patch` into `base`: tables key by key, arrays element by element (a longer patch appends), anything
/// else replaced.
fn merge(base: &mut toml::Table, patch: &toml::Table) {
    for (key, value) in patch {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(p)) => merge(b, p),
            (Some(toml::Value::Array(b)), toml::Value::Array(p)) => {
                for (i, item) in p.iter().enumerate() {
                    match (b.get_mut(i), item) {
                        (Some(toml::Value::Table(bt)), toml::Value::Table(pt)) => merge(bt, pt),
                        (Some(slot), _) => *slot = item.clone(),
                        (None, _) => b.push(item.clone()),
                    }
                }
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NetworkFile {
    latency_ms: Option<Spanned<[u64; 2]>>,
    tcp_capacity: Option<Spanned<usize>>,
}

impl NetworkFile {
    fn resolve(self, at: &At) -> Result<NetworkSpec, ScenarioError> {
        let (lo, hi) = match &self.latency_ms {
            Some(l) => {
                let [lo, hi] = *l.get_ref();
                if lo > hi {
                    return Err(at(
                        l.span(),
                        format!("`latency_ms` range [{lo}, {hi}] has its minimum above its maximum"),
                    ));
                }
                (lo, hi)
            }
            None => (0, 0),
        };
        let tcp_capacity = match &self.tcp_capacity {
            Some(c) if *c.get_ref() == 0 => return Err(at(c.span(), "`tcp_capacity` must be at least 1".into())),
            Some(c) => *c.get_ref(),
            None => 256,
        };
        Ok(NetworkSpec { latency: Duration::from_millis(lo)..Duration::from_millis(hi), tcp_capacity })
    }
}

/// `write_chunk = 3` or `write_chunk = [1, 7]`.
#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
enum ChunkFile {
    Fixed(usize),
    Between([usize; 2]),
}

fn chunk(value: &Option<Spanned<ChunkFile>>, key: &str, at: &At) -> Result<Option<Chunk>, ScenarioError> {
    let Some(value) = value else { return Ok(None) };
    match *value.get_ref() {
        ChunkFile::Fixed(0) => Err(at(value.span(), format!("`{key}` must be at least 1"))),
        ChunkFile::Fixed(k) => Ok(Some(Chunk::Fixed(k))),
        ChunkFile::Between([lo, hi]) if lo == 0 || lo > hi => {
            Err(at(value.span(), format!("`{key}` range [{lo}, {hi}] must have 1 <= min <= max")))
        }
        ChunkFile::Between([lo, hi]) => Ok(Some(Chunk::Between(lo, hi))),
    }
}

/// The stream shaping keys `[server]` and `[[clients]]` share (serde's `flatten` would lose the spans).
macro_rules! shaping {
    ($file:expr, $at:expr) => {
        Shaping {
            write_chunk: chunk(&$file.write_chunk, "write_chunk", $at)?,
            read_chunk: chunk(&$file.read_chunk, "read_chunk", $at)?,
            write_pause: $file.write_pause_ms.map(Duration::from_millis),
            read_pause: $file.read_pause_ms.map(Duration::from_millis),
        }
    };
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    buffer: Option<Spanned<usize>>,
    max_connections: Option<Spanned<usize>>,
    idle_timeout_ms: Option<Spanned<u64>>,
    write_chunk: Option<Spanned<ChunkFile>>,
    read_chunk: Option<Spanned<ChunkFile>>,
    write_pause_ms: Option<u64>,
    read_pause_ms: Option<u64>,
}

impl ServerFile {
    fn resolve(self, at: &At) -> Result<ServerSpec, ScenarioError> {
        let mut config = server::Config::default();
        if let Some(b) = &self.buffer {
            if *b.get_ref() == 0 {
                return Err(at(b.span(), "`buffer` must be at least 1 byte".into()));
            }
            config.buffer_size = *b.get_ref();
        }
        if let Some(m) = &self.max_connections {
            if *m.get_ref() == 0 {
                return Err(at(m.span(), "`max_connections` must be at least 1".into()));
            }
            config.max_connections = Some(*m.get_ref());
        }
        if let Some(t) = &self.idle_timeout_ms {
            if *t.get_ref() == 0 {
                return Err(at(t.span(), "`idle_timeout_ms` must be at least 1".into()));
            }
            config.idle_timeout = Some(Duration::from_millis(*t.get_ref()));
        }
        Ok(ServerSpec { config, shaping: shaping!(self, at) })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    #[serde(default = "one")]
    count: Spanned<usize>,
    #[serde(default)]
    start_ms: u64,
    #[serde(default)]
    messages: Vec<Spanned<PayloadFile>>,
    rounds: Option<Spanned<usize>>,
    #[serde(default)]
    reconnect: bool,
    pipeline: Option<Spanned<usize>>,
    #[serde(default)]
    zero_writes: bool,
    #[serde(default)]
    empty: EmptyFile,
    end: Option<Spanned<EndFile>>,
    end_after: Option<Spanned<usize>>,
    #[serde(default)]
    expect: ExpectFile,
    write_chunk: Option<Spanned<ChunkFile>>,
    read_chunk: Option<Spanned<ChunkFile>>,
    write_pause_ms: Option<u64>,
    read_pause_ms: Option<u64>,
}

fn one() -> Spanned<usize> {
    Spanned::new(0..0, 1)
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum EmptyFile {
    #[default]
    Skip,
    Wait,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum EndFile {
    Close,
    HalfClose,
    Fin,
    Reset,
    DieMidMessage,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum ExpectFile {
    #[default]
    Served,
    Refused,
}

impl ClientFile {
    fn resolve(&self, at: &At) -> Result<ClientSpec, ScenarioError> {
        let count = *self.count.get_ref();
        if count == 0 || count > 1000 {
            return Err(at(self.count.span(), format!("`count` must be 1 to 1000, not {count}")));
        }
        let rounds = self.rounds.as_ref().map(|r| (*r.get_ref(), r.span())).unwrap_or((1, 0..0));
        if rounds.0 == 0 {
            return Err(at(rounds.1, "`rounds` must be at least 1".into()));
        }
        let once = self.messages.iter().map(|m| resolve_payload(m, at)).collect::<Result<Vec<_>, _>>()?;
        if once.len().saturating_mul(rounds.0) > MAX_MESSAGES {
            let span = if rounds.1.is_empty() { self.messages[0].span() } else { rounds.1.clone() };
            return Err(at(
                span,
                format!("{} messages x {} rounds is above the limit of {MAX_MESSAGES} messages", once.len(), rounds.0),
            ));
        }
        let messages: Vec<Payload> = (0..rounds.0).flat_map(|_| once.iter().cloned()).collect();
        let pipeline = match &self.pipeline {
            Some(p) if *p.get_ref() == 0 => return Err(at(p.span(), "`pipeline` must be at least 1".into())),
            Some(p) => *p.get_ref(),
            None => 1,
        };
        let end = match self.end.as_ref().map(|e| *e.get_ref()) {
            None | Some(EndFile::Close) => End::Close,
            Some(EndFile::HalfClose) => End::HalfClose,
            Some(EndFile::Fin) => End::Fin,
            Some(EndFile::Reset) => End::Reset,
            Some(EndFile::DieMidMessage) => End::DieMidMessage,
        };
        let expect = match self.expect {
            ExpectFile::Served => Expect::Served,
            ExpectFile::Refused => Expect::Refused,
        };
        if expect == Expect::Refused && !messages.is_empty() {
            let span = self.messages.first().map_or(0..0, |m| m.span());
            return Err(at(span, "a client with `expect = \"refused\"` sends no `messages`".into()));
        }
        let end_after = match (&self.end_after, end) {
            (Some(a), End::Fin | End::Reset | End::DieMidMessage) => {
                let needs_next = usize::from(end != End::Fin);
                if *a.get_ref() + needs_next > messages.len() {
                    return Err(at(
                        a.span(),
                        format!(
                            "`end_after = {}` needs {} messages, the client has {}",
                            a.get_ref(),
                            a.get_ref() + needs_next,
                            messages.len()
                        ),
                    ));
                }
                *a.get_ref()
            }
            (Some(a), _) => {
                return Err(at(
                    a.span(),
                    "`end_after` goes with `end = \"fin\"`, \"reset\" or \"die_mid_message\"".into(),
                ))
            }
            (None, End::Fin) => messages.len(),
            (None, End::Reset | End::DieMidMessage) => {
                let span = self.end.as_ref().map_or(0..0, |e| e.span());
                if messages.is_empty() {
                    return Err(at(span, "this `end` needs a message to send last".into()));
                }
                messages.len() - 1
            }
            (None, _) => messages.len(),
        };
        Ok(ClientSpec {
            name: String::new(),
            start: Duration::from_millis(self.start_ms),
            messages,
            pipeline,
            shaping: shaping!(self, at),
            zero_writes: self.zero_writes,
            empty: match self.empty {
                EmptyFile::Skip => EmptyPolicy::Skip,
                EmptyFile::Wait => EmptyPolicy::Wait,
            },
            end,
            end_after,
            reconnect: self.reconnect,
            expect,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum PayloadFile {
    Text(String),
    Hex(String),
    Random(usize),
}

/// The largest message a scenario may hold (64 MiB): every message is kept in memory, sent and echoed.
const MAX_MESSAGE: usize = 64 << 20;
/// The most messages one client may send (after `rounds`): bounds a run's memory and time.
const MAX_MESSAGES: usize = 100_000;

fn resolve_payload(payload: &Spanned<PayloadFile>, at: &At) -> Result<Payload, ScenarioError> {
    Ok(match payload.get_ref() {
        PayloadFile::Text(s) => Payload::Text(s.clone()),
        PayloadFile::Hex(h) => Payload::Bytes(parse_hex(h).map_err(|m| at(payload.span(), m))?),
        PayloadFile::Random(n) if *n > MAX_MESSAGE => {
            return Err(at(payload.span(), format!("`random = {n}` is above the limit of {MAX_MESSAGE} bytes")))
        }
        PayloadFile::Random(n) => Payload::Random(*n),
    })
}

fn parse_hex(h: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = h.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("`hex` \"{h}\" has an odd number of digits"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).unwrap_or("??");
            u8::from_str_radix(s, 16).map_err(|_| format!("`hex` \"{h}\" has a non-hex digit in \"{s}\""))
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    at_ms: Spanned<u64>,
    action: Spanned<ActionFile>,
    clients: Option<Vec<Spanned<String>>>,
    direction: Option<DirectionFile>,
    ms: Option<Spanned<u64>>,
    rate: Option<Spanned<f64>>,
    repeat: Option<Spanned<usize>>,
    every_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum ActionFile {
    Bounce,
    Stop,
    Start,
    Crash,
    Partition,
    Repair,
    Hold,
    Release,
    Latency,
    FailRate,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum DirectionFile {
    Both,
    ToServer,
    FromServer,
}

impl StepFile {
    fn resolve(&self, at: &At, names: &[&str], deadline: Duration, out: &mut Vec<Fault>) -> Result<(), ScenarioError> {
        let action = *self.action.get_ref();
        let network = matches!(
            action,
            ActionFile::Partition | ActionFile::Repair | ActionFile::Hold | ActionFile::Release | ActionFile::Latency
        );
        let who = match &self.clients {
            None => Who::All,
            Some(_) if !network => {
                return Err(at(self.action.span(), "`clients` only goes with network actions".into()));
            }
            Some(list) => {
                let mut indexes = Vec::new();
                for name in list {
                    match names.iter().position(|n| n == name.get_ref()) {
                        Some(i) => indexes.push(i),
                        None => {
                            return Err(at(
                                name.span(),
                                format!(
                                    "no client is called \"{}\" (they are client-0 to client-{})",
                                    name.get_ref(),
                                    names.len() - 1
                                ),
                            ))
                        }
                    }
                }
                Who::Clients(indexes)
            }
        };
        let direction = match (self.direction, action) {
            (None, _) => Direction::Both,
            (Some(d), ActionFile::Partition | ActionFile::Repair) => match d {
                DirectionFile::Both => Direction::Both,
                DirectionFile::ToServer => Direction::ToServer,
                DirectionFile::FromServer => Direction::FromServer,
            },
            (Some(_), _) => {
                return Err(at(self.action.span(), "`direction` only goes with \"partition\" and \"repair\"".into()))
            }
        };
        if self.ms.is_some() != (action == ActionFile::Latency) {
            return Err(at(self.action.span(), "`ms` is required with \"latency\" and only goes with it".into()));
        }
        if self.rate.is_some() != (action == ActionFile::FailRate) {
            return Err(at(self.action.span(), "`rate` is required with \"fail_rate\" and only goes with it".into()));
        }
        let action = match action {
            ActionFile::Bounce => Action::Bounce,
            ActionFile::Stop => Action::Stop,
            ActionFile::Start => Action::Start,
            ActionFile::Crash => Action::Crash,
            ActionFile::Partition => Action::Partition(who, direction),
            ActionFile::Repair => Action::Repair(who, direction),
            ActionFile::Hold => Action::Hold(who),
            ActionFile::Release => Action::Release(who),
            ActionFile::Latency => Action::Latency(who, Duration::from_millis(*self.ms.as_ref().unwrap().get_ref())),
            ActionFile::FailRate => {
                let rate = self.rate.as_ref().unwrap();
                if !(0.0..=1.0).contains(rate.get_ref()) {
                    return Err(at(rate.span(), format!("`rate` {} is not between 0 and 1", rate.get_ref())));
                }
                Action::FailRate(*rate.get_ref())
            }
        };
        let repeat = self.repeat.as_ref().map_or(1, |r| *r.get_ref());
        if repeat == 0 {
            return Err(at(self.repeat.as_ref().unwrap().span(), "`repeat` must be at least 1".into()));
        }
        let every = match (&self.every_ms, repeat) {
            (Some(e), _) if *e.get_ref() == 0 => return Err(at(e.span(), "`every_ms` must be at least 1".into())),
            (Some(e), _) => *e.get_ref(),
            (None, 1) => 0,
            (None, _) => {
                return Err(at(self.repeat.as_ref().unwrap().span(), "`repeat` needs `every_ms`".into()));
            }
        };
        for i in 0..repeat as u64 {
            let when = i.checked_mul(every).and_then(|t| t.checked_add(*self.at_ms.get_ref())).unwrap_or(u64::MAX);
            if Duration::from_millis(when) >= deadline {
                return Err(at(
                    self.at_ms.span(),
                    format!("this step happens at {when} ms, not before the deadline of {} ms", deadline.as_millis()),
                ));
            }
            out.push(Fault { at: Duration::from_millis(when), action: action.clone() });
        }
        Ok(())
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    deadline_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    io_timeout_ms: Option<u64>,
    reconnect_within_ms: Option<u64>,
    restart_within_ms: Option<u64>,
    refused_within_ms: Option<u64>,
    drain_ms: Option<u64>,
}

impl LimitsFile {
    fn resolve(self) -> Limits {
        let ms = Duration::from_millis;
        Limits {
            deadline: ms(self.deadline_ms.unwrap_or(30_000)),
            connect_timeout: ms(self.connect_timeout_ms.unwrap_or(1_000)),
            io_timeout: ms(self.io_timeout_ms.unwrap_or(2_000)),
            reconnect_within: ms(self.reconnect_within_ms.unwrap_or(2_000)),
            restart_within: ms(self.restart_within_ms.unwrap_or(1_000)),
            refused_within: ms(self.refused_within_ms.unwrap_or(50)),
            drain: ms(self.drain_ms.unwrap_or(1_000)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, String> {
        Scenario::parse(Path::new("scenarios/t.toml"), text).map_err(|e| e.to_string())
    }

    const MINIMAL: &str = "seeds = [1]\n[[clients]]\nmessages = [{ text = \"hi\" }]\n";

    #[test]
    fn minimal_file_gets_defaults() {
        let s = parse(MINIMAL).unwrap();
        assert_eq!(s.name, "t");
        assert_eq!(s.clients.len(), 1);
        assert_eq!(s.clients[0].messages, vec![Payload::Text("hi".into())]);
        assert_eq!(s.clients[0].end, End::Close);
        assert_eq!(s.clients[0].planned(), 1);
        assert_eq!(s.network.latency, Duration::ZERO..Duration::ZERO);
        assert!(s.server.shaping.is_identity());
        assert!(s.timeline.is_empty());
    }

    #[test]
    fn count_and_rounds_expand() {
        let s = parse(
            "seeds = [1]\n[[clients]]\ncount = 3\nrounds = 4\nmessages = [{ text = \"a\" }, { hex = \"00 ff\" }]\n",
        )
        .unwrap();
        assert_eq!(s.clients.len(), 3);
        assert_eq!(s.clients[2].name, "client-2");
        assert_eq!(s.clients[0].messages.len(), 8);
        assert_eq!(s.clients[0].messages[1], Payload::Bytes(vec![0, 255]));
    }

    #[test]
    fn behaviours_faults_and_repeats_resolve() {
        let s = parse(concat!(
            "seeds = [1]\n[server]\nbuffer = 1024\nwrite_chunk = [1, 7]\n",
            "[[clients]]\ncount = 2\nmessages = [{ text = \"a\" }, { text = \"b\" }]\nend = \"reset\"\nend_after = 1\n",
            "read_chunk = 1\nread_pause_ms = 5\n",
            "[[timeline]]\nat_ms = 10\naction = \"partition\"\nclients = [\"client-1\"]\ndirection = \"to_server\"\n",
            "[[timeline]]\nat_ms = 100\naction = \"bounce\"\nrepeat = 3\nevery_ms = 50\n",
        ))
        .unwrap();
        assert_eq!(s.server.config.buffer_size, 1024);
        assert_eq!(s.server.shaping.write_chunk, Some(Chunk::Between(1, 7)));
        assert_eq!(s.clients[1].end, End::Reset);
        assert_eq!(s.clients[1].planned(), 1);
        assert_eq!(s.clients[0].shaping.read_pause, Some(Duration::from_millis(5)));
        assert_eq!(s.timeline[0].action, Action::Partition(Who::Clients(vec![1]), Direction::ToServer));
        let bounces: Vec<u128> = s.timeline[1..].iter().map(|f| f.at.as_millis()).collect();
        assert_eq!(bounces, vec![100, 150, 200]);
    }

    #[test]
    fn twins_patch_the_scenario_and_name_real_mutants_and_properties() {
        let s = parse(concat!(
            "seeds = [1]\n[[clients]]\nmessages = [{ text = \"a\" }]\n",
            "[[twins]]\nmutant = \"serial\"\nfails = \"liveness\"\n",
            "[[twins]]\npatch = { clients = [{ empty = \"wait\" }], server = { buffer = 7 } }\nfails = \"liveness\"\n",
        ))
        .unwrap();
        assert_eq!(s.twins.len(), 2);
        assert_eq!(s.twins[0].mutant.as_deref(), Some("serial"));
        assert_eq!(s.twins[1].scenario.clients[0].empty, EmptyPolicy::Wait);
        assert_eq!(s.twins[1].scenario.server.config.buffer_size, 7);
        assert_eq!(s.clients[0].empty, EmptyPolicy::Skip, "the original is untouched");
        let base = "seeds = [1]\n[[clients]]\nmessages = [{ text = \"a\" }]\n[[twins]]\n";
        for (twin, location, message) in [
            ("mutant = \"nope\"\nfails = \"liveness\"\n", "t.toml:5:10:", "no mutant is called \"nope\""),
            ("fails = \"speed\"\n", "t.toml:5:9:", "names no property"),
            (
                "patch = { server = { buffer = 0 } }\nfails = \"liveness\"\n",
                "t.toml:5:9:",
                "the twin's patch: `buffer` must be",
            ),
        ] {
            let err = parse(&format!("{base}{twin}")).unwrap_err();
            assert!(err.starts_with(&format!("scenarios/{location}")), "{err:?} should start with {location}");
            assert!(err.contains(message), "{err:?} should mention {message:?}");
        }
    }

    #[test]
    fn every_scenario_file_round_trips_through_to_toml() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        for original in Scenario::load_dir(&dir).unwrap() {
            let text = original.to_toml();
            let again = Scenario::parse(&original.path, &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(again.to_toml(), text, "{}", original.name);
            assert_eq!(again.clients, original.clients, "{}", original.name);
            assert_eq!(again.timeline, original.timeline, "{}", original.name);
            assert_eq!(again.limits, original.limits, "{}", original.name);
            assert_eq!(again.network, original.network, "{}", original.name);
            assert_eq!(again.server.shaping, original.server.shaping, "{}", original.name);
        }
    }

    #[test]
    fn random_payloads_follow_the_seed() {
        let s = parse("seeds = [1]\n[[clients]]\ncount = 2\nmessages = [{ random = 64 }]\n").unwrap();
        assert_eq!(s.materialize(7), s.materialize(7));
        assert_ne!(s.materialize(7), s.materialize(8));
        assert_ne!(s.materialize(7)[0], s.materialize(7)[1]);
    }

    #[test]
    fn mistakes_are_located() {
        let c = "seeds = [1]\n[[clients]]\nmessages = [{ text = \"a\" }]\n";
        let cases = [
            (
                "seeds = [1]\n[[clients]]\nmessages = [{ txt = \"hi\" }]\n".to_string(),
                "t.toml:3:",
                "unknown variant `txt`",
            ),
            ("seeds = []\n[[clients]]\nmessages = []\n".into(), "t.toml:1:9:", "at least one seed"),
            ("seeds = [1]\n[[clients]]\nmessages = [{ hex = \"0g\" }]\n".into(), "t.toml:3:", "non-hex digit"),
            (
                "seeds = [1]\n[network]\nlatency_ms = [10, 1]\n[[clients]]\nmessages = []\n".into(),
                "t.toml:3:14:",
                "minimum above",
            ),
            ("seeds = [1]\n[[clients]]\ncount = 0\nmessages = []\n".into(), "t.toml:3:9:", "`count` must be"),
            ("seeds = [1]\nclients = 3\n".into(), "t.toml:2:", "invalid type"),
            ("seeds = [1]\n[[clients]]\nmessages = []\nspeed = 3\n".into(), "t.toml:4:1:", "unknown field `speed`"),
            ("seeds = [1]\n".into(), "t.toml:1:1:", "at least one `[[clients]]`"),
            (format!("{c}[[timeline]]\nat_ms = 5\naction = \"explode\"\n"), "t.toml:6:", "unknown variant `explode`"),
            (format!("{c}[[timeline]]\nat_ms = 99999\naction = \"bounce\"\n"), "t.toml:5:9:", "deadline"),
            (
                format!("{c}[[timeline]]\nat_ms = 5\naction = \"hold\"\nclients = [\"client-9\"]\n"),
                "t.toml:7:12:",
                "no client is called \"client-9\"",
            ),
            (format!("{c}[[timeline]]\nat_ms = 5\naction = \"latency\"\n"), "t.toml:6:", "`ms` is required"),
            (
                format!("{c}[[timeline]]\nat_ms = 5\naction = \"fail_rate\"\nrate = 2.0\n"),
                "t.toml:7:8:",
                "not between 0 and 1",
            ),
            (format!("{c}[[timeline]]\nat_ms = 5\naction = \"bounce\"\nrepeat = 3\n"), "t.toml:7:", "needs `every_ms`"),
            (
                format!("{c}[[timeline]]\nat_ms = 5\naction = \"bounce\"\ndirection = \"to_server\"\n"),
                "t.toml:6:",
                "`direction` only goes",
            ),
            (format!("{c}end = \"fin\"\nend_after = 5\n"), "t.toml:5:", "needs 5 messages"),
            (
                format!(
                    "{c}[[timeline]]\nat_ms = 5\naction = \"stop\"\n[[timeline]]\nat_ms = 9\naction = \"bounce\"\n"
                ),
                "t.toml:9:10:",
                "the server is down then",
            ),
            (format!("{c}[[timeline]]\nat_ms = 5\naction = \"start\"\n"), "t.toml:6:10:", "the server is running then"),
            (format!("{c}end_after = 1\n"), "t.toml:4:", "`end_after` goes with"),
            (format!("{c}write_chunk = 0\n"), "t.toml:4:", "at least 1"),
            (format!("{c}read_chunk = [5, 2]\n"), "t.toml:4:", "1 <= min <= max"),
            (
                "seeds = [1]\n[[clients]]\nexpect = \"refused\"\nmessages = [{ text = \"a\" }]\n".into(),
                "t.toml:4:",
                "sends no `messages`",
            ),
            (
                "seeds = [1]\n[server]\nbuffer = 0\n[[clients]]\nmessages = []\n".into(),
                "t.toml:3:10:",
                "`buffer` must be",
            ),
            ("seeds = [1\n".into(), "t.toml:1:", ""),
            (
                "seeds = [1]\n[network]\ntcp_capacity = 4\n[[clients]]\ncount = 5\nmessages = []\n".into(),
                "t.toml:3:16:",
                "5 clients but `tcp_capacity`",
            ),
            (format!("{c}count = 300\n"), "t.toml:4:9:", "300 clients"),
            (format!("{c}rounds = 1000000\n"), "t.toml:4:10:", "above the limit of 100000 messages"),
            (
                "seeds = [1]\n[[clients]]\nmessages = [{ random = 99999999999 }]\n".into(),
                "t.toml:3:",
                "above the limit",
            ),
            (
                format!(
                    "{c}[[timeline]]\nat_ms = 5\naction = \"bounce\"\nrepeat = 3\nevery_ms = 18446744073709551615\n"
                ),
                "t.toml:5:9:",
                "deadline",
            ),
        ];
        for (text, location, message) in cases {
            let err = parse(&text).expect_err(&text);
            assert!(err.starts_with(&format!("scenarios/{location}")), "{err:?} should start with {location}");
            assert!(err.contains(message), "{err:?} should mention {message:?}");
            assert!(!err.contains('\n'), "{err:?} should be one line");
        }
    }
}
