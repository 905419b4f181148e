//! The scenario file's sections as serde reads them, each resolved into its validated type with its own
//! checks and limits. Parsing only: nothing here runs a scenario.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::model::faults::{Chunk, Shaping};
use crate::sut::server;

use super::bounds::*;
use super::steps::StepFile;
use super::types::*;

/// Parses one scenario, ignoring its twins.
pub(super) fn parse_one(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
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
    let (mut total_bytes, mut total_messages) = (0usize, 0usize);
    for block in &file.clients {
        let spec = block.resolve(&at)?;
        let count = *block.count.get_ref();
        total_bytes =
            total_bytes.saturating_add(spec.messages.iter().map(Payload::len).sum::<usize>().saturating_mul(count));
        total_messages = total_messages.saturating_add(spec.messages.len().saturating_mul(count));
        if total_bytes > MAX_TOTAL_BYTES || total_messages > MAX_TOTAL_MESSAGES {
            return Err(at(
                block.count.span(),
                format!(
                    "the clients so far send {total_bytes} bytes in {total_messages} messages, above the limits of \
                     {MAX_TOTAL_BYTES} bytes and {MAX_TOTAL_MESSAGES} messages a scenario may send"
                ),
            ));
        }
        for _ in 0..count {
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
    let limits = file.limits.unwrap_or_default().resolve(&at)?;
    for end in file.clients.iter().filter_map(|c| c.end.as_ref()).filter(|e| *e.get_ref() == EndFile::Silent) {
        check_silent(&server, &network, &limits).map_err(|message| at(end.span(), message))?;
    }
    let names: Vec<&str> = clients.iter().map(|c| c.name.as_str()).collect();
    let mut timeline = Vec::new();
    let mut spans = Vec::new();
    for step in &file.timeline {
        let before = timeline.len();
        step.resolve(&at, &names, limits.deadline, &mut timeline)?;
        spans.extend((before..timeline.len()).map(|_| step.span()));
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
        backend: file.backend,
        seeds: file.seeds.into_inner(),
        network,
        server,
        clients,
        timeline,
        limits,
        twins: Vec::new(),
    })
}

/// 1-based line and column of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
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
    #[serde(default)]
    backend: Backend,
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NetworkFile {
    latency_ms: Option<Spanned<Vec<u64>>>,
    tcp_capacity: Option<Spanned<usize>>,
}

impl NetworkFile {
    fn resolve(self, at: &At) -> Result<NetworkSpec, ScenarioError> {
        let (lo, hi) = match &self.latency_ms {
            Some(l) => {
                let [lo, hi] = l.get_ref()[..] else {
                    return Err(at(
                        l.span(),
                        format!("`latency_ms` is [min, max]: two numbers, not {}", l.get_ref().len()),
                    ));
                };
                if hi > MAX_MS {
                    return Err(at(l.span(), format!("`latency_ms` {hi} is above the limit of {MAX_MS} ms")));
                }
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
            Some(c) if *c.get_ref() == 0 || *c.get_ref() > MAX_TCP_CAPACITY => {
                return Err(at(
                    c.span(),
                    format!("`tcp_capacity` must be 1 to {MAX_TCP_CAPACITY}, not {}", c.get_ref()),
                ))
            }
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
    #[serde(default)]
    reply: crate::model::transform::Transform,
}

impl ServerFile {
    fn resolve(self, at: &At) -> Result<ServerSpec, ScenarioError> {
        let mut config = server::Config::default();
        if let Some(b) = &self.buffer {
            if *b.get_ref() == 0 || *b.get_ref() > MAX_BUFFER {
                return Err(at(b.span(), format!("`buffer` must be 1 to {MAX_BUFFER} bytes, not {}", b.get_ref())));
            }
            config.buffer_size = *b.get_ref();
        }
        if let Some(m) = &self.max_connections {
            if *m.get_ref() == 0 || *m.get_ref() > MAX_CONNECTIONS {
                return Err(at(
                    m.span(),
                    format!("`max_connections` must be 1 to {MAX_CONNECTIONS}, not {}", m.get_ref()),
                ));
            }
            config.max_connections = Some(*m.get_ref());
        }
        if let Some(t) = &self.idle_timeout_ms {
            if *t.get_ref() == 0 || *t.get_ref() > MAX_MS {
                return Err(at(t.span(), format!("`idle_timeout_ms` must be 1 to {MAX_MS}, not {}", t.get_ref())));
            }
            config.idle_timeout = Some(Duration::from_millis(*t.get_ref()));
        }
        Ok(ServerSpec { config, shaping: shaping!(self, at), reply: self.reply })
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
    after_others: bool,
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
    Silent,
    StopReading,
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
        let once_bytes: usize = once.iter().map(Payload::len).sum();
        if once_bytes.saturating_mul(rounds.0) > MAX_TOTAL_BYTES {
            let span = if rounds.1.is_empty() { self.messages[0].span() } else { rounds.1.clone() };
            return Err(at(
                span,
                format!(
                    "{once_bytes} bytes x {} rounds is above the limit of {MAX_TOTAL_BYTES} bytes a scenario may send",
                    rounds.0
                ),
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
            // Ended by the server's idle timeout: `expect` says so.
            Some(EndFile::Silent | EndFile::StopReading) => End::Close,
        };
        let file_end = self.end.as_ref().map(|e| *e.get_ref());
        let expect = match (self.expect, file_end) {
            (ExpectFile::Refused, Some(EndFile::Silent | EndFile::StopReading)) => {
                let span = self.end.as_ref().map_or(0..0, |e| e.span());
                return Err(at(span, "a client with `expect = \"refused\"` never goes quiet on a connection".into()));
            }
            (ExpectFile::Served, Some(EndFile::Silent)) => Expect::IdleClose(Quiet::Silent),
            (ExpectFile::Served, Some(EndFile::StopReading)) => Expect::IdleClose(Quiet::StopReading),
            (ExpectFile::Served, _) => Expect::Served,
            (ExpectFile::Refused, _) => Expect::Refused,
        };
        if expect == Expect::Refused && !messages.is_empty() {
            let span = self.messages.first().map_or(0..0, |m| m.span());
            return Err(at(span, "a client with `expect = \"refused\"` sends no `messages`".into()));
        }
        let end_after = match (&self.end_after, file_end) {
            (
                Some(a),
                Some(EndFile::Fin | EndFile::Reset | EndFile::DieMidMessage | EndFile::Silent | EndFile::StopReading),
            ) => {
                let needs_next = usize::from(matches!(file_end, Some(EndFile::Reset | EndFile::DieMidMessage)));
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
            (Some(a), _) => return Err(at(
                a.span(),
                "`end_after` goes with `end = \"fin\"`, \"reset\", \"die_mid_message\", \"silent\" or \"stop_reading\""
                    .into(),
            )),
            (None, Some(EndFile::Fin | EndFile::Silent)) => messages.len(),
            // A client that stops reading does so from its first message unless `end_after` says otherwise.
            (None, Some(EndFile::StopReading)) => 0,
            (None, Some(EndFile::Reset | EndFile::DieMidMessage)) => {
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
            after_others: self.after_others,
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    deadline_ms: Option<Spanned<u64>>,
    connect_timeout_ms: Option<Spanned<u64>>,
    io_timeout_ms: Option<Spanned<u64>>,
    reconnect_within_ms: Option<Spanned<u64>>,
    restart_within_ms: Option<Spanned<u64>>,
    refused_within_ms: Option<Spanned<u64>>,
    drain_ms: Option<Spanned<u64>>,
    give_up_ms: Option<Spanned<u64>>,
}

impl LimitsFile {
    fn resolve(self, at: &At) -> Result<Limits, ScenarioError> {
        let ms = |value: &Option<Spanned<u64>>, key: &str, default: u64| match value {
            Some(v) if *v.get_ref() > MAX_MS => {
                Err(at(v.span(), format!("`{key}` {} is above the limit of {MAX_MS} ms", v.get_ref())))
            }
            Some(v) => Ok(Duration::from_millis(*v.get_ref())),
            None => Ok(Duration::from_millis(default)),
        };
        Ok(Limits {
            deadline: ms(&self.deadline_ms, "deadline_ms", 30_000)?,
            connect_timeout: ms(&self.connect_timeout_ms, "connect_timeout_ms", 1_000)?,
            io_timeout: ms(&self.io_timeout_ms, "io_timeout_ms", 2_000)?,
            reconnect_within: ms(&self.reconnect_within_ms, "reconnect_within_ms", 2_000)?,
            restart_within: ms(&self.restart_within_ms, "restart_within_ms", 1_000)?,
            refused_within: ms(&self.refused_within_ms, "refused_within_ms", 50)?,
            drain: ms(&self.drain_ms, "drain_ms", 1_000)?,
            give_up: match &self.give_up_ms {
                Some(v) if Duration::from_millis(*v.get_ref()) <= RETRANSMIT_AFTER => {
                    return Err(at(
                        v.span(),
                        format!(
                            "`give_up_ms` {} must be above the retransmission timeout ({} ms)",
                            v.get_ref(),
                            RETRANSMIT_AFTER.as_millis()
                        ),
                    ))
                }
                _ => ms(&self.give_up_ms, "give_up_ms", 5_000)?,
            },
        })
    }
}
