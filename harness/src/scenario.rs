//! Scenarios: what the clients do and what the network does to them, loaded from TOML files in `scenarios/`.
//!
//! A scenario is data. It is validated when loaded, so a runner never meets a contradiction; a mistake is
//! reported as `file:line:column: what is wrong`. The format is documented in `scenarios/README.md`.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde::Deserialize;
use toml::Spanned;

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
    /// Every client, expanded (a `count = 3` block gives three).
    pub clients: Vec<ClientSpec>,
    /// Faults at fixed simulated times, sorted by time.
    pub timeline: Vec<Fault>,
    /// Bounds that turn a hang into a finding.
    pub limits: Limits,
}

/// The simulated network's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSpec {
    /// Each segment's delivery latency is drawn from this range (turmoil's exponential curve).
    pub latency: Range<Duration>,
    /// Segments in flight per connection direction (turmoil's `tcp_capacity`); also the listen backlog.
    pub tcp_capacity: usize,
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
    /// Whether it reconnects and resends after its connection fails (for restart scenarios).
    pub reconnect: bool,
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

/// A network or server fault at a point in simulated time.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// When it happens.
    pub at: Duration,
    /// What happens.
    pub action: Action,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Restart the server host: its process dies (connections go with it) and its factory runs again.
    Bounce,
}

impl Action {
    /// The name used in files and traces.
    pub fn name(self) -> &'static str {
        match self {
            Action::Bounce => "bounce",
        }
    }
}

/// Bounds on a run, in simulated time.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The whole run must end by then (turmoil's simulation duration); a client still busy then has hung.
    pub deadline: Duration,
    /// Client connect timeout.
    pub connect_timeout: Duration,
    /// Client per-step I/O timeout.
    pub io_timeout: Duration,
    /// How long a reconnecting client keeps trying after its connection failed.
    pub reconnect_within: Duration,
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
        let network = match file.network {
            Some(n) => n.resolve(&at)?,
            None => NetworkFile::default().resolve(&at)?,
        };
        if file.clients.is_empty() {
            return Err(at(0..0, "a scenario needs at least one `[[clients]]` block".into()));
        }
        let mut clients = Vec::new();
        for block in &file.clients {
            let count = *block.count.get_ref();
            if count == 0 || count > 1000 {
                return Err(at(block.count.span(), format!("`count` must be 1 to 1000, not {count}")));
            }
            let rounds = block.rounds.as_ref().map(|r| (*r.get_ref(), r.span())).unwrap_or((1, 0..0));
            if rounds.0 == 0 {
                return Err(at(rounds.1, "`rounds` must be at least 1".into()));
            }
            let mut messages = Vec::new();
            for m in &block.messages {
                messages.push(resolve_payload(m, &at)?);
            }
            let once = messages.clone();
            for _ in 1..rounds.0 {
                messages.extend(once.iter().cloned());
            }
            for _ in 0..count {
                clients.push(ClientSpec {
                    name: format!("client-{}", clients.len()),
                    start: Duration::from_millis(block.start_ms),
                    messages: messages.clone(),
                    reconnect: block.reconnect,
                });
            }
        }
        let limits = file.limits.unwrap_or_default().resolve();
        let mut timeline = Vec::new();
        for step in &file.timeline {
            let at_time = Duration::from_millis(*step.at_ms.get_ref());
            if at_time >= limits.deadline {
                return Err(at(
                    step.at_ms.span(),
                    format!("`at_ms` {} is not before the deadline of {:?}", step.at_ms.get_ref(), limits.deadline),
                ));
            }
            timeline.push(Fault { at: at_time, action: step.action.resolve() });
        }
        timeline.sort_by_key(|f| f.at);
        Ok(Scenario {
            name,
            path: path.to_owned(),
            description: file.description,
            seeds: file.seeds.into_inner(),
            network,
            clients,
            timeline,
            limits,
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
                        Payload::Random(n) => (0..*n).map(|_| rng.random::<u8>()).collect(),
                    })
                    .collect()
            })
            .collect()
    }

    /// Whether the timeline restarts the server.
    pub fn restarts_server(&self) -> bool {
        self.timeline.iter().any(|f| f.action == Action::Bounce)
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    description: String,
    seeds: Spanned<Vec<u64>>,
    network: Option<NetworkFile>,
    #[serde(default)]
    clients: Vec<ClientFile>,
    #[serde(default)]
    timeline: Vec<StepFile>,
    limits: Option<LimitsFile>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NetworkFile {
    latency_ms: Option<Spanned<[u64; 2]>>,
    tcp_capacity: Option<Spanned<usize>>,
}

type At<'a> = dyn Fn(Range<usize>, String) -> ScenarioError + 'a;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    #[serde(default = "one")]
    count: Spanned<usize>,
    #[serde(default)]
    start_ms: u64,
    messages: Vec<Spanned<PayloadFile>>,
    rounds: Option<Spanned<usize>>,
    #[serde(default)]
    reconnect: bool,
}

fn one() -> Spanned<usize> {
    Spanned::new(0..0, 1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum PayloadFile {
    Text(String),
    Hex(String),
    Random(usize),
}

fn resolve_payload(payload: &Spanned<PayloadFile>, at: &At) -> Result<Payload, ScenarioError> {
    Ok(match payload.get_ref() {
        PayloadFile::Text(s) => Payload::Text(s.clone()),
        PayloadFile::Hex(h) => Payload::Bytes(parse_hex(h).map_err(|m| at(payload.span(), m))?),
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
    action: ActionFile,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ActionFile {
    Bounce,
}

impl ActionFile {
    fn resolve(&self) -> Action {
        match self {
            ActionFile::Bounce => Action::Bounce,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    deadline_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    io_timeout_ms: Option<u64>,
    reconnect_within_ms: Option<u64>,
}

impl LimitsFile {
    fn resolve(self) -> Limits {
        let ms = Duration::from_millis;
        Limits {
            deadline: ms(self.deadline_ms.unwrap_or(30_000)),
            connect_timeout: ms(self.connect_timeout_ms.unwrap_or(1_000)),
            io_timeout: ms(self.io_timeout_ms.unwrap_or(2_000)),
            reconnect_within: ms(self.reconnect_within_ms.unwrap_or(2_000)),
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
        assert_eq!(s.network.latency, Duration::ZERO..Duration::ZERO);
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
    fn random_payloads_follow_the_seed() {
        let s = parse("seeds = [1]\n[[clients]]\ncount = 2\nmessages = [{ random = 64 }]\n").unwrap();
        assert_eq!(s.materialize(7), s.materialize(7));
        assert_ne!(s.materialize(7), s.materialize(8));
        assert_ne!(s.materialize(7)[0], s.materialize(7)[1]);
    }

    #[test]
    fn mistakes_are_located() {
        let cases = [
            ("seeds = [1]\n[[clients]]\nmessages = [{ txt = \"hi\" }]\n", "t.toml:3:", "unknown variant `txt`"),
            ("seeds = []\n[[clients]]\nmessages = []\n", "t.toml:1:9:", "at least one seed"),
            ("seeds = [1]\n[[clients]]\nmessages = [{ hex = \"0g\" }]\n", "t.toml:3:", "non-hex digit"),
            (
                "seeds = [1]\n[network]\nlatency_ms = [10, 1]\n[[clients]]\nmessages = []\n",
                "t.toml:3:14:",
                "minimum above",
            ),
            ("seeds = [1]\n[[clients]]\ncount = 0\nmessages = []\n", "t.toml:3:9:", "`count` must be"),
            ("seeds = [1]\nclients = 3\n", "t.toml:2:", "invalid type"),
            ("seeds = [1]\n[[clients]]\nmessages = []\nspeed = 3\n", "t.toml:4:", "unknown field `speed`"),
            ("seeds = [1]\n", "t.toml:1:1:", "at least one `[[clients]]`"),
            (
                "seeds = [1]\n[[clients]]\nmessages = []\n[[timeline]]\nat_ms = 5\naction = \"explode\"\n",
                "t.toml:6:",
                "unknown variant `explode`",
            ),
            (
                "seeds = [1]\n[[clients]]\nmessages = []\n[[timeline]]\nat_ms = 99999\naction = \"bounce\"\n",
                "t.toml:5:9:",
                "deadline",
            ),
            ("seeds = [1\n", "t.toml:1:", ""),
        ];
        for (text, location, message) in cases {
            let err = parse(text).expect_err(text);
            assert!(err.starts_with(&format!("scenarios/{location}")), "{err:?} should start with {location}");
            assert!(err.contains(message), "{err:?} should mention {message:?}");
            assert!(!err.contains('\n'), "{err:?} should be one line");
        }
    }
}
