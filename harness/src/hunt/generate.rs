//! The generator of explored cases: proptest strategies for whole scenarios (clients, payloads, shaping, fault
//! episodes, the server's settings), and the simulated time a case may take. Case `i` of a run with seed `S` is
//! drawn from its own generator, seeded by `(S, i)`. It runs nothing: `explore` runs and judges the cases.

use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};

use crate::model::faults::{Chunk, Shaping};
use crate::model::scenario::bounds::MAX_MS;
use crate::model::scenario::{
    Action, ClientSpec, Direction, EmptyPolicy, End, Expect, Fault, Limits, NetworkSpec, Payload, Quiet, Scenario,
    ServerSpec, Who,
};
use crate::sim::target::{Policy, Target};
use crate::sut::server;

/// What a case may say in `[server]`, by what the target tells of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settings {
    /// The target takes no settings and declares no policy: cases set none, and generate nothing whose verdict
    /// would hang on an idle timeout the oracles do not know (slow readers, silent clients).
    Unknown,
    /// The target takes `[server]` settings: cases generate a connection limit and an idle timeout.
    Generated,
    /// The target declares its policy: every case states it, and may test it (slow readers, silent clients,
    /// clients that stop reading, more clients than the limit).
    Declared(Policy),
}

impl Settings {
    /// What `target` tells.
    pub fn of(target: &Target) -> Settings {
        let declared = target.declared();
        if declared != Policy::default() {
            Settings::Declared(declared)
        } else if target.takes_settings() {
            Settings::Generated
        } else {
            Settings::Unknown
        }
    }
}

/// The generator of case `case` under `seed`.
pub(super) fn case_runner(seed: u64, case: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&case.to_le_bytes());
    bytes[16..24].copy_from_slice(b"explore!");
    TestRunner::new_with_rng(ProptestConfig::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// The scenario case `case` of a run with `seed` explores.
pub fn generate(seed: u64, case: u64, settings: Settings) -> Scenario {
    let mut runner = case_runner(seed, case);
    scenario_strategy(seed, case, settings).new_tree(&mut runner).expect("the strategy never rejects").current()
}

// The strategies. Simple alternatives come first: proptest shrinks towards them.

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        3 => "[a-z ]{1,12}".prop_map(Payload::Text),
        1 => Just(Payload::Text(String::new())),
        2 => "[ -~]{1,40}".prop_map(Payload::Text),
        2 => prop::sample::select(vec!["straße", "ünïcödé", "ǆ ÿ Ω", "日本語 text", "\u{0}nul"])
            .prop_map(|s| Payload::Text(s.to_string())),
        2 => prop::collection::vec(any::<u8>(), 1..64).prop_map(Payload::Bytes),
        2 => (1usize..3000).prop_map(Payload::Random),
    ]
}

fn chunk() -> impl Strategy<Value = Chunk> {
    prop_oneof![(1usize..8).prop_map(Chunk::Fixed), (1usize..4, 4usize..64).prop_map(|(lo, hi)| Chunk::Between(lo, hi)),]
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        6 => Just(End::Close),
        1 => Just(End::HalfClose),
        1 => Just(End::Fin),
        1 => Just(End::Reset),
        1 => Just(End::DieMidMessage),
    ]
}

/// How a client goes quiet, when the server's idle timeout is known: silent after its messages, or it stops
/// reading after some of them (writing the rest whole).
fn quiet() -> impl Strategy<Value = (Quiet, usize)> {
    prop_oneof![Just(Quiet::Silent).prop_map(|q| (q, usize::MAX)), (0usize..3).prop_map(|k| (Quiet::StopReading, k))]
}

/// A generated client, before naming.
#[derive(Debug, Clone)]
struct ClientGen {
    messages: Vec<Payload>,
    /// A last message of 64 KiB to 1 MiB: volume on one connection (its client's shaping is then dropped, so the
    /// case stays fast).
    bulk: Option<usize>,
    pipeline: usize,
    write_chunk: Option<Chunk>,
    read_chunk: Option<Chunk>,
    read_pause: Option<u64>,
    end: End,
    /// Goes quiet instead of ending as `end` says (kept only when the server's idle timeout is known), after this
    /// many answered messages.
    quiet: Option<(Quiet, usize)>,
    start: u64,
    zero_writes: bool,
}

fn client() -> impl Strategy<Value = ClientGen> {
    (
        (prop::collection::vec(payload(), 1..7), prop::option::weighted(0.06, BULK)),
        1usize..4,
        prop::option::weighted(0.3, chunk()),
        prop::option::weighted(0.2, chunk()),
        prop::option::weighted(0.15, 1u64..4),
        (end(), prop::option::weighted(0.12, quiet())),
        0u64..60,
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |((messages, bulk), pipeline, write_chunk, read_chunk, read_pause, (end, quiet), start, zero_writes)| {
                ClientGen {
                    messages,
                    bulk,
                    pipeline,
                    write_chunk,
                    read_chunk,
                    read_pause,
                    end,
                    quiet,
                    start,
                    zero_writes,
                }
            },
        )
}

/// The latecomer of a case with rude clients starts this long after the others, on top of two of the case's
/// largest one-way latencies (the rude clients' last segments reach the server, and its answer comes back).
const LATECOMER_SLACK: Duration = Duration::from_millis(20);

/// The sizes of a bulk message: past 64 KiB (where per-connection counters of 16 bits wrap), up to 1 MiB.
const BULK: std::ops::Range<usize> = 65_537..1_048_577;

/// The server settings of a case, for a target that takes them: a connection limit (with clients often above
/// it) and an idle timeout.
#[derive(Debug, Clone, Copy)]
struct SettingsGen {
    max_connections: Option<usize>,
    idle_timeout_ms: Option<u64>,
}

fn settings() -> impl Strategy<Value = SettingsGen> {
    (prop::option::weighted(0.3, 1usize..4), prop::option::weighted(0.25, 200u64..2000))
        .prop_map(|(max_connections, idle_timeout_ms)| SettingsGen { max_connections, idle_timeout_ms })
}

/// A fault episode: each leaves the network and the server as it found them.
#[derive(Debug, Clone)]
enum Episode {
    Bounce,
    Partition { mask: u8, direction: Direction, ms: u64 },
    Hold { ms: u64 },
    Latency { mask: u8, ms: u64 },
    StopStart { ms: u64 },
}

fn episode() -> impl Strategy<Value = Episode> {
    let direction = prop_oneof![Just(Direction::Both), Just(Direction::ToServer), Just(Direction::FromServer)];
    prop_oneof![
        Just(Episode::Bounce),
        (1u8..16, direction, 10u64..300).prop_map(|(mask, direction, ms)| Episode::Partition { mask, direction, ms }),
        (10u64..300).prop_map(|ms| Episode::Hold { ms }),
        (1u8..16, 0u64..60).prop_map(|(mask, ms)| Episode::Latency { mask, ms }),
        (10u64..300).prop_map(|ms| Episode::StopStart { ms }),
    ]
}

/// The whole scenario of case `case`, with the server settings `settings` allows.
pub fn scenario_strategy(seed: u64, case: u64, settings: Settings) -> impl Strategy<Value = Scenario> {
    let settings = match settings {
        Settings::Generated => self::settings().prop_map(Some).boxed(),
        Settings::Unknown => Just(None).boxed(),
        Settings::Declared(policy) => Just(Some(SettingsGen {
            max_connections: policy.max_connections,
            idle_timeout_ms: policy.idle_timeout.map(|t| t.as_millis() as u64),
        }))
        .boxed(),
    };
    (
        (prop::collection::vec(client(), 1..5), settings),
        prop::collection::vec((0u64..150, episode()), 0..4),
        (0u64..5, 0u64..20),
        prop::sample::select(vec![65_536usize, 1024, 64]),
        prop::sample::select(vec![256usize, 64, 8]),
        prop::option::weighted(0.3, chunk()),
        prop::option::weighted(0.2, chunk()),
        0..=i64::MAX as u64, // TOML integers are i64: a seed must fit a scenario file
    )
        .prop_map(
            move |((clients, settings), episodes, latency, buffer, capacity, server_write, server_read, sim_seed)| {
                let settings = settings.unwrap_or(SettingsGen { max_connections: None, idle_timeout_ms: None });
                let server = (server_write, server_read);
                build(seed, case, clients, settings, episodes, latency, buffer, capacity, server, sim_seed)
            },
        )
}

#[allow(clippy::too_many_arguments)]
fn build(
    seed: u64,
    case: u64,
    generated: Vec<ClientGen>,
    settings: SettingsGen,
    episodes: Vec<(u64, Episode)>,
    (latency_lo, latency_extra): (u64, u64),
    buffer: usize,
    tcp_capacity: usize,
    (server_write, server_read): (Option<Chunk>, Option<Chunk>),
    sim_seed: u64,
) -> Scenario {
    let ms = Duration::from_millis;
    let idle = settings.idle_timeout_ms.map(ms);
    let any_bulk = generated.iter().any(|g| g.bulk.is_some());
    let mut clients: Vec<ClientSpec> = generated
        .into_iter()
        .enumerate()
        .map(|(i, mut g)| {
            if let Some(bulk) = g.bulk {
                // Volume, fast: a megabyte through 1-byte chunks would take minutes to simulate.
                g.messages.push(Payload::Random(bulk));
                (g.write_chunk, g.read_chunk, g.read_pause) = (None, None, None);
            }
            // A slow reader may rightly meet the server's idle timeout (it sends nothing while it drains its
            // replies), and a quiet client waits for it: they are generated only when the oracles know the timeout
            // (the target's declared policy, or the settings it takes), and judged by it.
            let quiet = g.quiet.filter(|_| idle.is_some());
            let n = g.messages.len();
            ClientSpec {
                name: format!("client-{i}"),
                start: ms(g.start),
                after_others: false,
                pipeline: g.pipeline,
                shaping: Shaping {
                    write_chunk: g.write_chunk,
                    read_chunk: g.read_chunk,
                    write_pause: None,
                    read_pause: g.read_pause.map(ms),
                },
                zero_writes: g.zero_writes,
                empty: EmptyPolicy::Skip,
                end: if quiet.is_some() { End::Close } else { g.end },
                end_after: match (quiet, g.end) {
                    (Some((_, after)), _) => after.min(n),
                    (None, End::Reset | End::DieMidMessage) => n - 1,
                    _ => n,
                },
                reconnect: true,
                expect: quiet.map_or(Expect::Served, |(q, _)| Expect::IdleClose(q)),
                messages: g.messages,
            }
        })
        .collect();
    if clients.iter().any(ClientSpec::misbehaves) {
        // A latecomer to show the server survived the rude ones: it starts once they are all done and the timeline
        // has played out, after a settle time for their last segments (set below, from the case's latencies),
        // not at a fixed time with idle seconds before it.
        let i = clients.len();
        clients.push(ClientSpec {
            name: format!("client-{i}"),
            start: Duration::ZERO, // the settle time, once the case's latencies are known
            after_others: true,
            messages: vec![Payload::Text("still there?".into())],
            pipeline: 1,
            shaping: Shaping::default(),
            zero_writes: false,
            empty: EmptyPolicy::Skip,
            end: End::Close,
            end_after: 1,
            reconnect: true,
            expect: Expect::Served,
        });
    }
    let who = |mask: u8| {
        let list: Vec<usize> = (0..clients.len()).filter(|i| *i < 8 && mask & (1 << i) != 0).collect();
        if list.is_empty() {
            Who::Clients(vec![0])
        } else {
            Who::Clients(list)
        }
    };
    let mut timeline = Vec::new();
    let mut t = 20;
    // A client that gives up on a stalled connection closes it (FIN) and turmoil then takes the rest of a bulk
    // reply into the closed socket, where a kernel would answer with RST: the server's writes would wait forever
    // for credit. Until faults behave like TCP, volume is explored on a quiet network.
    let episodes = if any_bulk { Vec::new() } else { episodes };
    for (gap, episode) in episodes {
        t += gap;
        let (first, second, length) = match episode {
            Episode::Bounce => (Action::Bounce, None, 0),
            Episode::Partition { mask, direction, ms: d } => {
                (Action::Partition(who(mask), direction), Some(Action::Repair(who(mask), direction)), d)
            }
            Episode::Hold { ms: d } => (Action::Hold(Who::All), Some(Action::Release(Who::All)), d),
            Episode::Latency { mask, ms: d } => (Action::Latency(who(mask), ms(d)), None, 0),
            Episode::StopStart { ms: d } => (Action::Stop, Some(Action::Start), d),
        };
        timeline.push(Fault { at: ms(t), action: first });
        if let Some(second) = second {
            t += length;
            timeline.push(Fault { at: ms(t), action: second });
        }
        t += 1;
    }
    let (server_write, server_read, buffer) =
        if any_bulk { (None, None, buffer.max(1024)) } else { (server_write, server_read, buffer) };
    let server_shaping = Shaping { write_chunk: server_write, read_chunk: server_read, ..Shaping::default() };
    let latency = ms(latency_lo)..ms(latency_lo + latency_extra);
    let deadline = deadline(&clients, &server_shaping, buffer, tcp_capacity, &latency, &timeline);
    // Under a connection limit a client may wait for a slot as long as the others take (turmoil completes a
    // connect only when the server accepts it): its connect may take the case's whole estimated work.
    let wait = if settings.max_connections.is_some() { deadline / 2 } else { Duration::ZERO };
    // A quiet client waits this long for the idle timeout's close (two of the largest latencies, the timeline's
    // included, and some slack past it); one that stops reading holds its connection that long, twice the idle
    // timeout, so a server that never cuts it has kept it well past its timeout.
    let slowest = timeline.iter().filter_map(|f| match f.action {
        Action::Latency(_, d) => Some(d),
        _ => None,
    });
    let slowest = slowest.chain([latency.end]).max().unwrap_or_default();
    for latecomer in clients.iter_mut().filter(|c| c.after_others) {
        latecomer.start = slowest * 2 + LATECOMER_SLACK;
    }
    let io_timeout = idle.map_or(ms(500), |t| ms(500).max(t * 2 + slowest * 2 + ms(20)));
    Scenario {
        name: format!("explore-{seed}-{case}"),
        path: PathBuf::from(format!("explore-{seed}-{case}.toml")),
        description: format!("generated by `echo-harness explore --seed {seed}`, case {case}"),
        backend: Default::default(),
        seeds: vec![sim_seed],
        network: NetworkSpec { latency, tcp_capacity },
        server: ServerSpec {
            config: server::Config {
                buffer_size: buffer,
                max_connections: settings.max_connections,
                idle_timeout: idle,
            },
            shaping: server_shaping,
            reply: Default::default(),
        },
        clients,
        timeline,
        limits: Limits {
            deadline,
            connect_timeout: ms(300).max(wait),
            io_timeout,
            reconnect_within: ms(2000) + wait,
            // Under a limit the first clients after a restart may take every slot for a while.
            restart_within: ms(1000) + wait,
            refused_within: ms(50),
            drain: ms(1000),
            give_up: ms(5000),
        },
        twins: Vec::new(),
    }
}

/// The simulated time a generated case may take: 30 s, or twice a pessimistic estimate of its work when
/// that is longer. Shaping can make a correct run slow without making it wrong: 1-byte chunks on a link with
/// 60 ms of latency and 8 segments in flight move about 130 bytes a second, so a few kilobytes need more than
/// 30 s. The estimate serializes every client's bytes through the smallest chunk in play, `tcp_capacity`
/// segments per latency, plus the clients' read pauses and the whole timeline.
fn deadline(
    clients: &[ClientSpec],
    server: &Shaping,
    buffer: usize,
    tcp_capacity: usize,
    latency: &std::ops::Range<Duration>,
    timeline: &[Fault],
) -> Duration {
    let bytes: usize = clients.iter().flat_map(|c| &c.messages).map(Payload::len).sum();
    let chunks = clients.iter().flat_map(|c| [c.shaping.write_chunk, c.shaping.read_chunk]);
    let chunk = chunks
        .chain([server.write_chunk, server.read_chunk])
        .flatten()
        .map(Chunk::min)
        .chain([buffer])
        .min()
        .unwrap_or(buffer);
    let episode_latency = timeline.iter().filter_map(|f| match f.action {
        Action::Latency(_, d) => Some(d),
        _ => None,
    });
    let link = episode_latency.chain([latency.end, Duration::from_millis(1)]).max().unwrap_or_default();
    // A reconnecting client may send a message again.
    let segments = (2 * bytes).div_ceil(chunk) as u32;
    let transfer = link * segments.div_ceil(tcp_capacity.max(1) as u32);
    let pauses: Duration = clients
        .iter()
        .filter_map(|c| {
            let pause = c.shaping.read_pause?;
            let reads = c
                .messages
                .iter()
                .map(Payload::len)
                .sum::<usize>()
                .div_ceil(c.shaping.read_chunk.map_or(chunk, Chunk::min));
            Some(pause * (2 * reads) as u32)
        })
        .sum();
    let end = timeline.last().map_or(Duration::ZERO, |f| f.at);
    let estimate = transfer + pauses + end + Duration::from_secs(4);
    // Within what a scenario file may say, so that every case can be written out and replayed.
    (2 * estimate).clamp(Duration::from_secs(30), Duration::from_millis(MAX_MS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_same_seed_and_case_generate_the_same_scenario() {
        for case in 0..20 {
            assert_eq!(
                generate(7, case, Settings::Generated).to_toml(),
                generate(7, case, Settings::Generated).to_toml()
            );
        }
        assert_ne!(generate(7, 0, Settings::Generated).to_toml(), generate(8, 0, Settings::Generated).to_toml());
    }

    #[test]
    fn cases_reach_limits_idle_timeouts_and_volume_often_and_only_for_targets_that_take_settings() {
        let cases: Vec<Scenario> = (0..1000).map(|case| generate(5, case, Settings::Generated)).collect();
        let share = |f: &dyn Fn(&Scenario) -> bool| cases.iter().filter(|s| f(s)).count();
        let over_limit = share(&|s| s.server.config.max_connections.is_some_and(|m| s.clients.len() > m));
        let idle = share(&|s| s.server.config.idle_timeout.is_some());
        let bulk = share(&|s| s.clients.iter().any(|c| c.messages.iter().any(|m| m.len() > 64 * 1024)));
        let megabyte = share(&|s| s.clients.iter().any(|c| c.messages.iter().any(|m| m.len() > 900 * 1024)));
        assert!(over_limit >= 150, "more clients than the connection limit in only {over_limit} of 1000");
        assert!(idle >= 150, "an idle timeout in only {idle} of 1000");
        assert!(bulk >= 100, "more than 64 KiB on a connection in only {bulk} of 1000");
        assert!(megabyte >= 5, "close to 1 MiB on a connection in only {megabyte} of 1000");
        let plain = (0..200).map(|case| generate(5, case, Settings::Unknown));
        assert!(plain
            .into_iter()
            .all(|s| s.server.config.max_connections.is_none() && s.server.config.idle_timeout.is_none()));
    }

    #[test]
    fn generated_scenarios_are_valid_scenario_files() {
        for case in 0..200 {
            let s = generate(1, case, if case % 2 == 0 { Settings::Generated } else { declared() });
            assert!(s.is_consistent(), "case {case}");
            let text = s.to_toml();
            let again = Scenario::parse(Path::new("generated.toml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(again.clients, s.clients, "case {case}");
            assert_eq!(again.timeline, s.timeline, "case {case}");
        }
    }

    fn declared() -> Settings {
        Settings::Declared(Policy { idle_timeout: Some(Duration::from_millis(500)), max_connections: None })
    }

    #[test]
    fn a_declared_policy_is_stated_and_tested_by_every_case_and_an_unknown_one_never() {
        let cases: Vec<Scenario> = (0..1000).map(|case| generate(3, case, declared())).collect();
        assert!(cases.iter().all(|s| s.server.config.idle_timeout == Some(Duration::from_millis(500))));
        let share = |f: &dyn Fn(&ClientSpec) -> bool| cases.iter().filter(|s| s.clients.iter().any(f)).count();
        let silent = share(&|c| c.quiet() == Some(Quiet::Silent));
        let stop_reading = share(&|c| c.quiet() == Some(Quiet::StopReading));
        let slow = share(&|c| c.shaping.read_pause.is_some());
        assert!(silent >= 100 && stop_reading >= 100 && slow >= 150, "{silent} {stop_reading} {slow} of 1000");
        let unknown: Vec<Scenario> = (0..300).map(|case| generate(3, case, Settings::Unknown)).collect();
        assert!(unknown.iter().all(|s| s.clients.iter().all(|c| c.quiet().is_none())));
    }
}
