//! The real-socket runner (`--backend real`): the same scenario files, clients and oracles as the simulator, on
//! the host kernel's TCP on 127.0.0.1.
//!
//! Each client reaches the server through its own [`Proxy`], which plays the scenario's network faults:
//! `latency_ms` and `latency` become the proxy's latency and jitter, `partition` and `hold` hold bytes back in the
//! cut direction, and a cut that outlasts `[limits] give_up_ms` is given up at `start + give_up_ms` on the run's
//! clock, as by the simulator: the client's proxy resets both ends of its connections (logged as
//! [`Event::GaveUp`]) and holds the bytes of the connections opened after it until the heal. `stop` makes the
//! proxy refuse connects as a down server does, `crash` also makes the network stop answering until `start`. The
//! server is a process the runner kills and starts again on the same port: the built-in server in its own runtime
//! (dropping the runtime closes its sockets as process exit does) or a command line. Time is real, so a run is not
//! reproducible to the byte (the determinism property is skipped) and `fail_rate` has no equivalent (such
//! scenarios are skipped).
//!
//! A busy machine must not fail a correct server. The oracles read the timeline's faults at their scheduled
//! times, and the simulator applies them in no time; a real run stamps its events on a clock (`clock::Clock`) that stops while
//! a fault is applied (a kill, or a server process starting: a Python interpreter takes 50 ms to listen on an idle
//! machine, 100-300 ms with two CPU hogs on the 2-core machine), never runs past a fault not yet applied (a timer
//! that fires late), and starts each client at its time on that clock. So the restart bound counts from when the
//! restarted process listens (the interpreter's start is not the server's restart), and a client is not counted
//! as failing on a "live server" that is still starting. The scenario's bounds themselves are kept: measured with
//! two CPU hogs, no other slack was needed. And a run that fails is run again: its failure is reported only when
//! the second run fails too ([`run`]).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use super::clock::Clock;
use super::launch::{free_port, Managed, Server};
use crate::judge::oracles::judge;
use crate::model::faults::{Shaped, Shaping};
use crate::model::property::Verdict;
use crate::model::replay::Replay;
use crate::model::scenario::{Action, Expect, LinkState, Scenario};
use crate::model::script::{ClientScript, Log, Wire};
use crate::model::trace::Run;
use crate::model::trace::{trace_hash, Event};
use crate::real::proxy::Proxy;
use crate::sut::net::{bind_real, Listener};
use crate::sut::server;

/// The server a real run drives.
#[derive(Debug, Clone, PartialEq)]
pub enum RealTarget {
    /// The built-in server, in this process, configured by the scenario's `[server]` table.
    Builtin,
    /// A server outside the process (black-box mode).
    External(Server),
}

impl RealTarget {
    /// How reports name it.
    pub fn name(&self) -> String {
        match self {
            RealTarget::Builtin => "builtin".into(),
            RealTarget::External(s) => s.name(),
        }
    }

    /// How a failure against it is replayed: through the binary, on real sockets.
    pub fn replay(&self) -> Replay {
        Replay::Binary { target: self.name(), backend: "real".into() }
    }
}

/// Why a scenario cannot run on real sockets (it is then skipped, and the report says why).
pub fn unsupported(scenario: &Scenario, target: &RealTarget) -> Option<String> {
    if scenario.timeline.iter().any(|f| matches!(f.action, Action::FailRate(_))) {
        return Some("`fail_rate` has no real-socket equivalent".into());
    }
    if matches!(target, RealTarget::External(Server::Addr(_))) && scenario.restarts_server() {
        return Some("it restarts the server, and the harness did not start this one".into());
    }
    // The oracles judge a server by the policy those settings give it; an outside server was not given them and
    // its policy is unknown, so its idle closes and its backlog would be blamed on it (a false alarm on a
    // correct server, e.g. connection_limit against the tutorial's server).
    let config = &scenario.server.config;
    let settings: Vec<String> = [
        config.idle_timeout.map(|t| format!("idle_timeout_ms = {}", t.as_millis())),
        config.max_connections.map(|n| format!("max_connections = {n}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if matches!(target, RealTarget::External(_)) && !settings.is_empty() {
        return Some(format!(
            "it sets [server] {}, and a server outside the harness takes no [server] settings",
            settings.join(", ")
        ));
    }
    None
}

/// A client's way to the server on real sockets: its proxy (or the server itself), and the run's clock.
struct RealWire {
    /// Where it connects.
    addr: SocketAddr,
    /// The run's clock.
    clock: Clock,
}

impl Wire for RealWire {
    type Stream = TcpStream;

    async fn connect(&self) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn peek(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        stream.peek(buf).await
    }

    fn now(&self) -> Duration {
        self.clock.now()
    }

    fn local_port(stream: &TcpStream) -> u16 {
        stream.local_addr().map_or(0, |a| a.port())
    }
}

/// A real listener whose accepted streams get the scenario's server-side shaping.
struct ShapedListener {
    /// The kernel's listener.
    inner: tokio::net::TcpListener,
    /// What to do to each accepted stream.
    shaping: Shaping,
    /// Seeds the shaping, per connection.
    seed: u64,
    /// Connections accepted.
    accepted: u64,
}

impl Listener for ShapedListener {
    type Stream = Shaped<TcpStream>;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = Listener::accept(&mut self.inner).await?;
        self.accepted += 1;
        Ok((Shaped::new(stream, self.shaping, self.seed ^ self.accepted.wrapping_mul(0x2545_f491_4f6c_dd1d)), peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// One incarnation of the server process.
enum Process {
    /// The built-in server on its own runtime, on its own thread; dropping the sender ends it.
    InProcess { stop: Option<std::sync::mpsc::Sender<()>>, thread: Option<std::thread::JoinHandle<()>> },
    /// A command line's process group.
    External(Managed),
}

impl Process {
    /// Starts an incarnation listening on `port`; waits until it answers.
    async fn start(target: &RealTarget, port: u16, scenario: &Scenario, seed: u64) -> Result<Process, String> {
        match target {
            RealTarget::Builtin => {
                let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
                let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
                let (config, shaping) = (scenario.server.config.clone(), scenario.server.shaping);
                let thread = std::thread::spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        Ok(rt) => rt,
                        Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
                    };
                    rt.block_on(async move {
                        let listener = match bind_real(SocketAddr::from(([127, 0, 0, 1], port)), true) {
                            Ok(l) => l,
                            Err(e) => return drop(ready_tx.send(Err(format!("bind failed: {e}")))),
                        };
                        let _ = ready_tx.send(Ok(()));
                        let listener = ShapedListener { inner: listener, shaping, seed, accepted: 0 };
                        let stopped = tokio::task::spawn_blocking(move || {
                            let _ = stop_rx.recv();
                        });
                        tokio::select! {
                            _ = server::run(listener, config, std::future::pending::<()>()) => {}
                            _ = stopped => {}
                        }
                    });
                    // Dropping the runtime drops every connection task: the process's sockets close.
                    rt.shutdown_background();
                });
                let ready = tokio::task::spawn_blocking(move || ready_rx.recv()).await;
                match ready {
                    Ok(Ok(Ok(()))) => Ok(Process::InProcess { stop: Some(stop_tx), thread: Some(thread) }),
                    Ok(Ok(Err(e))) => Err(e),
                    _ => Err("the server thread did not start".into()),
                }
            }
            RealTarget::External(Server::Command(template)) => {
                let within = super::launch::DEFAULT_STARTUP;
                Managed::start(template, port, within).await.map(Process::External).map_err(|e| e.to_string())
            }
            RealTarget::External(Server::Addr(_)) => Err("a server the harness did not start cannot be started".into()),
        }
    }

    /// Kills the incarnation: its sockets close.
    fn kill(&mut self) {
        match self {
            Process::InProcess { stop, thread } => {
                drop(stop.take());
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
            }
            Process::External(managed) => managed.kill(),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Connections the server holds open on `port` (established, or closed by the client and not yet by the server),
/// read from the kernel's tables: the same count for any server, in any language.
pub fn server_connections(port: u16) -> usize {
    use crate::real::kernel::{sockets_on_port, TcpState};
    sockets_on_port(port, &[TcpState::Established, TcpState::CloseWait]).unwrap_or(0)
}

/// Runs `scenario` under `seed` against `target` on real sockets. `seed` draws the payloads, the stream shaping
/// and the proxies' jitter; the timing is the machine's. A run that fails a property is run once more, and the
/// second run is returned: a failure is reported only when confirmed (a busy machine makes a one-off failure
/// more likely than a server that is right every other time). Whether a run held is judged by the same oracles
/// as the caller's.
pub async fn run(scenario: &Scenario, seed: u64, target: &RealTarget) -> Run {
    let first = run_once(scenario, seed, target).await;
    let failed = failures(scenario, &first);
    if failed.is_empty() {
        return first;
    }
    let second = run_once(scenario, seed, target).await;
    if failures(scenario, &second).is_empty() {
        tracing::warn!(
            "{} seed {seed} on real sockets failed once, then held on a second run (not reported): {}",
            scenario.name,
            failed.join("; ")
        );
    }
    second
}

/// What a failure of a real run adds to its evidence (the binary's reports do): it was confirmed, and its replay
/// cannot be exact.
pub const FAILURE_NOTE: &str = " (confirmed on a second run; real runs are not replayable byte for byte: the \
                                replay line reruns the scenario and seed on real sockets, not the same timing)";

/// What a run fails: "property: detail" for each property it fails.
fn failures(scenario: &Scenario, run: &Run) -> Vec<String> {
    judge(scenario, run)
        .into_iter()
        .filter(|j| j.verdict == Verdict::Fail)
        .map(|j| format!("{}: {}", j.property.name(), j.detail))
        .collect()
}

/// Runs `scenario` under `seed` against `target` on real sockets, once (see [`run`]).
pub async fn run_once(scenario: &Scenario, seed: u64, target: &RealTarget) -> Run {
    // The run's clock starts once the server and the proxies are up (a server may take a while to start).
    let setup = tokio::time::Instant::now();
    let log = Log::default();
    let stamp = |event: Event| log.push(setup.elapsed(), event);
    let (port, mut process) = match target {
        RealTarget::External(Server::Addr(addr)) => (addr.port(), None),
        _ => {
            let port = match free_port() {
                Ok(p) => p,
                Err(e) => {
                    stamp(Event::RunFailed { reason: format!("no free port: {e}") });
                    return finish(scenario, seed, log);
                }
            };
            match Process::start(target, port, scenario, seed).await {
                Ok(p) => (port, Some(p)),
                Err(reason) => {
                    stamp(Event::ServerFailed { reason });
                    stamp(Event::RunFailed { reason: "the server did not start".into() });
                    return finish(scenario, seed, log);
                }
            }
        }
    };
    let server_addr = match target {
        RealTarget::External(Server::Addr(addr)) => *addr,
        _ => SocketAddr::from(([127, 0, 0, 1], port)),
    };

    // One proxy per client, so that faults can pick clients.
    let mut proxies = Vec::new();
    for i in 0..scenario.clients.len() {
        match Proxy::start(server_addr, seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)).await {
            Ok(p) => proxies.push(p),
            Err(e) => {
                stamp(Event::RunFailed { reason: format!("cannot start a proxy: {e}") });
                return finish(scenario, seed, log);
            }
        }
    }
    let latency = &scenario.network.latency;
    for p in &proxies {
        p.update(|t| {
            t.latency = latency.start;
            t.jitter = latency.end.saturating_sub(latency.start);
        });
    }

    let steps = schedule(scenario);
    let clock = Clock::start(steps.first().map(|s| s.0));
    let stamp = |event: Event| log.push(clock.now(), event);
    let conns = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for (index, (spec, messages)) in scenario.clients.iter().zip(scenario.materialize(seed)).enumerate() {
        let addr = if spec.expect == Expect::Refused { server_addr } else { proxies[index].addr() };
        let shared = (log.clone(), conns.clone());
        let wire = RealWire { addr, clock: clock.clone() };
        let mut script = ClientScript::new(scenario, index, messages, seed, shared, wire);
        // The client starts at its time on the run's clock, after the faults before it (not after as much real
        // time, which a stopped clock does not count).
        let begin = std::mem::take(&mut script.spec.start);
        let clock = clock.clone();
        clients.push(tokio::spawn(async move {
            clock.reached(begin).await;
            script.play().await
        }));
    }

    // The run waits for every fault of the timeline; a give-up after the last one (a cut never healed) comes only
    // while clients still run, as in the simulator.
    let last_fault = steps.iter().rposition(|s| matches!(s.1, Step::Fault(_))).map_or(0, |i| i + 1);
    let mut play = Play {
        steps: &steps,
        proxies: &proxies,
        process: &mut process,
        target,
        port,
        seed,
        log: &log,
        scenario,
        clock: &clock,
        links: vec![LinkState::default(); proxies.len()],
        crashed: false,
    };
    let everyone = async {
        play.steps(0..last_fault).await;
        let done = async {
            for c in &mut clients {
                let _ = c.await;
            }
        };
        tokio::pin!(done);
        tokio::select! {
            biased;
            () = &mut done => {}
            () = play.steps(last_fault..steps.len()) => done.await,
        }
    };
    let deadline = scenario.limits.deadline;
    let late = tokio::select! {
        biased;
        () = everyone => false,
        () = clock.reached(deadline) => true,
    };
    if late {
        stamp(Event::RunFailed { reason: format!("still running at the deadline of {deadline:?}") });
        clients.iter().for_each(|c| c.abort());
    }

    // Every client has left: give the server the drain time to close its side of every connection.
    let drained_by = tokio::time::Instant::now() + scenario.limits.drain;
    drop(proxies);
    while server_connections(port) > 0 && tokio::time::Instant::now() < drained_by {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    clock.resume(None); // a give-up left unplayed no longer holds the clock back
    stamp(Event::ServerConnections { open: server_connections(port) });
    drop(process);
    finish(scenario, seed, log)
}

fn finish(scenario: &Scenario, seed: u64, log: Log) -> Run {
    let mut records = log.take();
    records.sort_by_key(|r| r.at); // tasks on several threads log in nearly, not exactly, time order
    let hash = trace_hash(&records);
    Run { scenario: scenario.name.clone(), seed, records, hash }
}

/// One step of a real run's schedule.
enum Step<'a> {
    /// A fault of the timeline.
    Fault(&'a Action),
    /// A cut of `client`'s link, since `since`, outlasted `[limits] give_up_ms`.
    GiveUp { client: usize, since: Duration },
}

/// The timeline's faults and the give-ups of the cuts that outlast `[limits] give_up_ms`, in time order (at the
/// same time, a fault first: the simulator applies a tick's faults before it looks at its links).
fn schedule(scenario: &Scenario) -> Vec<(Duration, Step<'_>)> {
    let mut steps: Vec<_> = scenario.timeline.iter().map(|f| (f.at, Step::Fault(&f.action))).collect();
    for client in 0..scenario.clients.len() {
        for cut in scenario.link_cuts(client) {
            if let Some(at) = cut.given_up_at(scenario.limits.give_up) {
                steps.push((at, Step::GiveUp { client, since: cut.start }));
            }
        }
    }
    steps.sort_by_key(|s| s.0); // stable: the timeline's order, then the give-ups
    steps
}

/// A run's schedule and what it is played on.
struct Play<'a> {
    /// [`schedule`].
    steps: &'a [(Duration, Step<'a>)],
    /// One per client.
    proxies: &'a [Proxy],
    /// The server's incarnation, if one runs.
    process: &'a mut Option<Process>,
    /// What a restart starts, on `port`, with `seed`.
    target: &'a RealTarget,
    port: u16,
    seed: u64,
    /// The run's trace, stamped on `clock`.
    log: &'a Log,
    scenario: &'a Scenario,
    clock: &'a Clock,
    /// Per client: what the timeline's cuts have done to its link (the proxy's holds follow it, with a crash).
    links: Vec<LinkState>,
    /// The server machine is down (a crash until `start`): nothing passes either way.
    crashed: bool,
}

impl Play<'_> {
    /// Plays the steps in `range`, each at its time on the run's clock, which stops while it is applied.
    async fn steps(&mut self, range: std::ops::Range<usize>) {
        let clock = self.clock;
        for i in range {
            let (at, step) = &self.steps[i];
            clock.reached(*at).await;
            clock.stop(*at);
            match step {
                Step::Fault(action) => {
                    self.log.push(clock.now(), Event::Fault { action: action.describe() });
                    self.apply(action).await;
                }
                Step::GiveUp { client, since } => {
                    // The kernel gives up retransmitting: both ends of every connection on the link are reset.
                    // The link stays cut: the bytes of a connection opened through it now wait for the heal.
                    self.log.push(clock.now(), Event::GaveUp { client: *client, since: *since });
                    self.proxies[*client].reset_all();
                }
            }
            clock.resume(self.steps.get(i + 1).map(|s| s.0));
        }
    }

    /// Applies one fault of the timeline, then sets every proxy's holds from the links' cuts and the crash, so
    /// that a restart or a release lifts only what it should.
    async fn apply(&mut self, action: &Action) {
        for (i, link) in self.links.iter_mut().enumerate() {
            link.apply(action, i);
        }
        match action {
            Action::Crash => self.crashed = true,
            Action::Bounce | Action::Start => self.crashed = false,
            _ => {}
        }
        self.play(action).await;
        for (proxy, link) in self.proxies.iter().zip(&self.links) {
            let down = self.crashed;
            proxy.update(|t| {
                t.hold_to_server = link.to_server || link.held || down;
                t.hold_from_server = link.from_server || link.held || down;
            });
        }
    }

    /// What one fault does to the server process and the proxies (the holds are set after, by [`Play::apply`]).
    async fn play(&mut self, action: &Action) {
        let (proxies, target, port, seed, log, clock) =
            (self.proxies, self.target, self.port, self.seed, self.log, self.clock);
        let scenario = self.scenario;
        let process = &mut *self.process;
        fn each<'a>(
            proxies: &'a [Proxy],
            who: &'a crate::model::scenario::Who,
        ) -> impl Iterator<Item = &'a Proxy> + 'a {
            proxies.iter().enumerate().filter(move |(i, _)| who.includes(*i)).map(|(_, p)| p)
        }
        let restart = |process: &mut Option<Process>| {
            if let Some(p) = process.as_mut() {
                p.kill();
            }
            *process = None;
        };
        match action {
            Action::Bounce | Action::Start => {
                // Connects that arrive while the process (re)starts wait for it, as in a kernel's backlog: the
                // simulator starts a server in no time, a real one (a Python interpreter, say) takes a while. After a
                // crash the network answers again once the server is back.
                for p in proxies {
                    p.update(|t| t.hold_connects = true);
                    p.listen(true);
                }
                restart(process);
                match Process::start(target, port, scenario, seed).await {
                    Ok(p) => *process = Some(p),
                    Err(reason) => log.push(clock.now(), Event::ServerFailed { reason }),
                }
                for p in proxies {
                    p.update(|t| t.hold_connects = false);
                }
            }
            Action::Stop => {
                // Down: connects are refused.
                proxies.iter().for_each(|p| p.listen(false));
                restart(process);
            }
            Action::Crash => {
                // The machine is gone: nothing it had in flight arrives (the holds, set after), and connects go
                // unanswered until `start`.
                proxies.iter().for_each(|p| p.update(|t| t.hold_connects = true));
                restart(process);
            }
            // The cuts: the holds are set from the links after each fault.
            Action::Partition(..) | Action::Repair(..) | Action::Hold(..) | Action::Release(..) => {}
            Action::Latency(who, d) => each(proxies, who).for_each(|p| {
                p.update(|t| {
                    t.latency = *d;
                    t.jitter = Duration::ZERO;
                })
            }),
            Action::FailRate(_) => {} // excluded by `unsupported`
        }
    }
}
