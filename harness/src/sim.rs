//! The simulated runner: plays a scenario on turmoil's network under one seed and records what happened.
//!
//! The server under test is a [`Target`]; the clients are the library's [`Client`] on [`net::Sim`]. Every run
//! has an explicit seed and a fixed epoch, so the same seed gives the same trace.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::faults::Shaping;
use crate::net::{self, Network};
use crate::process::{ClientSocket, ProcessListener, Sockets};
use crate::scenario::{Action, Direction, Scenario, Who};
use crate::script::{ClientScript, Log, Wire};
use crate::server;
use crate::trace::{trace_hash, Event, Record};

/// The server host's name in every simulation.
pub const SERVER_HOST: &str = "server";
/// The port the server listens on in every simulation.
pub const SERVER_PORT: u16 = 8081;

/// The simulated wall clock's start, fixed so that nothing depends on when a run happens.
pub fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600) // 2026-01-01T00:00:00Z
}

/// A future that serves a listener until the server process dies.
pub type ServeFuture = Pin<Box<dyn Future<Output = ()>>>;

/// The server under test, as a value: how one incarnation of the server process binds and serves.
///
/// Most targets let the runner bind `server:8081` with SO_REUSEADDR (again after each restart) and serve the
/// listener it hands over (wrapped, see [`crate::process`]). A user's server that is generic over
/// [`net::Listener`] becomes a target in one line:
/// `Target::new("mine", |listener| Box::pin(my_server::run(listener)))`. A target that binds itself
/// ([`Target::binding`]) chooses its socket options, and meets the reuse-address rule (see [`Binder`]).
#[derive(Clone)]
pub struct Target {
    /// Shown in reports.
    name: Arc<str>,
    /// Starts one incarnation of the server process.
    serve: Arc<dyn Fn(Binder, server::Config) -> ServeFuture + Send + Sync>,
}

impl Target {
    /// A target from a serving function, given a listener bound with SO_REUSEADDR.
    pub fn new(
        name: impl Into<Arc<str>>,
        serve: impl Fn(ProcessListener) -> ServeFuture + Send + Sync + 'static,
    ) -> Target {
        let serve = Arc::new(serve);
        Target::binding(name, move |binder, _config| {
            let serve = serve.clone();
            Box::pin(async move {
                if let Ok(listener) = binder.bind(true).await {
                    serve(listener).await
                }
            })
        })
    }

    /// A target that takes the scenario's `[server]` settings (buffer, connection limit, idle timeout).
    pub fn configurable(
        name: impl Into<Arc<str>>,
        serve: impl Fn(ProcessListener, server::Config) -> ServeFuture + Send + Sync + 'static,
    ) -> Target {
        let serve = Arc::new(serve);
        Target::binding(name, move |binder, config| {
            let serve = serve.clone();
            Box::pin(async move {
                if let Ok(listener) = binder.bind(true).await {
                    serve(listener, config).await
                }
            })
        })
    }

    /// A target that binds its listener itself, through `binder`.
    pub fn binding(
        name: impl Into<Arc<str>>,
        serve: impl Fn(Binder, server::Config) -> ServeFuture + Send + Sync + 'static,
    ) -> Target {
        Target { name: name.into(), serve: Arc::new(serve) }
    }

    /// The built-in server, configured by each scenario's `[server]` table, never shut down (it dies with its
    /// process).
    pub fn builtin() -> Target {
        Target::configurable("builtin", |listener, config| {
            Box::pin(server::run(listener, config, std::future::pending::<()>()))
        })
    }

    /// The name reports use.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The server process as the runner drives it, shared with the host factory.
#[derive(Clone, Default)]
struct Process {
    /// The running incarnation's sockets.
    sockets: Arc<Mutex<Sockets>>,
    /// The running incarnation's kill signal.
    kill: Arc<Mutex<Arc<tokio::sync::Notify>>>,
    /// Whether the process is stopped (a host restarted while this is set runs nothing).
    stopped: Arc<AtomicBool>,
    /// Set by an incarnation whose target returned: the process exited on its own.
    exited: Arc<AtomicBool>,
}

/// How long a connection closed first by the server stays in TIME_WAIT on its side (Linux: 60 s).
pub const TIME_WAIT: Duration = Duration::from_secs(60);

/// The reuse-address rule of Linux, as the simulator models it: may a new listener bind a port whose previous
/// listener's connections are (`in_time_wait`) or are not in TIME_WAIT? Only if both the old sockets and the new
/// one set SO_REUSEADDR. `kernel::reuse_address` checks it against the host kernel.
pub fn rebind_allowed(in_time_wait: bool, old_reuse: bool, new_reuse: bool) -> bool {
    !in_time_wait || (old_reuse && new_reuse)
}

/// What the server's port remembers of the previous incarnation: the reuse-address rule of Linux.
#[derive(Debug, Default)]
struct Port {
    /// Until when connections of a killed incarnation sit in TIME_WAIT (the server's side closed first).
    time_wait_until: Duration,
    /// How many there were.
    time_wait_count: usize,
    /// Whether those sockets had SO_REUSEADDR.
    old_reuse: bool,
    /// Whether the running incarnation's listener has it.
    reuse: bool,
}

/// Binds one incarnation's listener, applying the reuse-address rule turmoil does not model: while the previous
/// incarnation's connections are in TIME_WAIT, a bind fails with AddrInUse unless both the old sockets and the
/// new one set SO_REUSEADDR (verified on Linux 6.x; see the real-socket checks).
pub struct Binder {
    /// The incarnation's socket registry.
    sockets: Sockets,
    /// Server-side stream shaping.
    shaping: Shaping,
    /// Seeds the shaping.
    seed: u64,
    /// The port's memory.
    port: Arc<Mutex<Port>>,
    /// Where a failed bind is reported.
    log: Log,
}

impl Binder {
    /// Binds `0.0.0.0:8081`, with or without SO_REUSEADDR.
    pub async fn bind(self, reuse_address: bool) -> std::io::Result<ProcessListener> {
        let now = turmoil::sim_elapsed().unwrap_or_default();
        {
            let mut port = self.port.lock().expect("port lock");
            if !rebind_allowed(now < port.time_wait_until, port.old_reuse, reuse_address) {
                let reason = format!(
                    "bind failed: address in use ({} connections of the previous process in TIME_WAIT{})",
                    port.time_wait_count,
                    if reuse_address { ", which did not set SO_REUSEADDR" } else { "; SO_REUSEADDR not set" }
                );
                self.log
                    .push(turmoil::sim_elapsed().unwrap_or_default(), Event::ServerFailed { reason: reason.clone() });
                return Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, reason));
            }
            port.reuse = reuse_address;
        }
        let listener = net::Sim::bind(SocketAddr::from(([0, 0, 0, 0], SERVER_PORT))).await?;
        Ok(ProcessListener::new(listener, self.sockets, self.shaping, self.seed))
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("name", &self.name).finish()
    }
}

/// One finished run.
#[derive(Debug, Clone)]
pub struct Run {
    /// The scenario's name.
    pub scenario: String,
    /// The seed it ran under.
    pub seed: u64,
    /// Everything observed, in order.
    pub records: Vec<Record>,
    /// [`trace_hash`] of `records`.
    pub hash: u64,
}

/// A client's way to the server in the simulator: turmoil's TCP to `server:8081` (with the FIN fix of
/// [`ClientSocket`]), and the simulated clock.
struct SimWire;

impl Wire for SimWire {
    type Stream = ClientSocket;

    async fn connect(&self) -> std::io::Result<ClientSocket> {
        let addr = SocketAddr::new(turmoil::lookup(SERVER_HOST), SERVER_PORT);
        net::Sim::connect(addr).await.map(ClientSocket::new)
    }

    async fn peek(stream: &mut ClientSocket, buf: &mut [u8]) -> std::io::Result<usize> {
        stream.get_mut().peek(buf).await
    }

    fn now(&self) -> Duration {
        turmoil::sim_elapsed().unwrap_or_default()
    }
}

/// Runs `scenario` under `seed` against `target`.
pub fn run(scenario: &Scenario, seed: u64, target: &Target) -> Run {
    let log = Log::default();
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(epoch())
        .simulation_duration(scenario.limits.deadline)
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(scenario.network.latency.start)
        .max_message_latency(scenario.network.latency.end)
        .tcp_capacity(scenario.network.tcp_capacity)
        .build();

    // The server process: the target binding and serving, until it exits or the runner kills it.
    let process = Process::default();
    {
        let process = process.clone();
        let serve = target.serve.clone();
        let shaping = scenario.server.shaping;
        let config = scenario.server.config.clone();
        let incarnations = Arc::new(AtomicUsize::new(0));
        let port = Arc::new(Mutex::new(Port::default()));
        let log = log.clone();
        sim.host(SERVER_HOST, move || {
            let sockets = Sockets::default();
            *process.sockets.lock().expect("process sockets") = sockets.clone();
            // Each incarnation gets its own kill signal, so one meant for a dead incarnation cannot linger.
            let kill = Arc::new(tokio::sync::Notify::new());
            *process.kill.lock().expect("process kill") = kill.clone();
            let serving = (!process.stopped.load(Ordering::Relaxed)).then(|| {
                let incarnation = incarnations.fetch_add(1, Ordering::Relaxed) as u64;
                let binder = Binder {
                    sockets: sockets.clone(),
                    shaping,
                    seed: seed ^ incarnation.wrapping_mul(0xa076_1d64_78bd_642f),
                    port: port.clone(),
                    log: log.clone(),
                };
                serve(binder, config.clone())
            });
            let (port, exited) = (port.clone(), process.exited.clone());
            async move {
                // A stopped process is not running: nothing to do until the runner starts it again.
                let Some(mut serving) = serving else {
                    std::future::pending::<()>().await;
                    return Ok(());
                };
                tokio::select! {
                    _ = &mut serving => exited.store(true, Ordering::Relaxed), // the process exited on its own
                    _ = kill.notified() => {}
                }
                // Exited or killed: the listener and the target's own sockets go first, then every accepted
                // stream in accept order (see `process`), as the kernel closes a dead process's sockets. The
                // connections the server's side closed first sit in TIME_WAIT. The runner then restarts the host
                // into a stopped process, so no task the target spawned lives on.
                drop(serving);
                let closed = sockets.kill_all();
                if closed > 0 {
                    let mut port = port.lock().expect("port lock");
                    port.time_wait_until = turmoil::sim_elapsed().unwrap_or_default() + TIME_WAIT;
                    port.time_wait_count = closed;
                    port.old_reuse = port.reuse;
                }
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    }

    let conns = Arc::new(AtomicUsize::new(0));
    for (index, (spec, messages)) in scenario.clients.iter().zip(scenario.materialize(seed)).enumerate() {
        let script = ClientScript::new(scenario, index, messages, seed, (log.clone(), conns.clone()), SimWire);
        sim.client(spec.name.as_str(), async move {
            script.play().await;
            Ok(())
        });
    }

    let clients: Vec<&str> = scenario.clients.iter().map(|c| c.name.as_str()).collect();
    let mut faults = scenario.timeline.iter().peekable();
    let failed = |sim: &turmoil::Sim<'_>, reason| log.push(sim.elapsed(), Event::RunFailed { reason });
    'run: loop {
        while let Some(fault) = faults.next_if(|f| f.at <= sim.elapsed()) {
            log.push(sim.elapsed(), Event::Fault { action: fault.action.describe() });
            if fault.action.kills_server() {
                // Close the process's sockets in a fixed order first (see `process`), within one tick.
                process.kill.lock().expect("process kill").notify_one();
                if let Err(reason) = step(&mut sim) {
                    failed(&sim, reason);
                    break 'run;
                }
            }
            apply(&mut sim, &fault.action, &clients, &process);
        }
        let stepped = step(&mut sim);
        if process.exited.swap(false, Ordering::Relaxed) {
            // The process ended on its own: its spawned tasks end with it.
            process.stopped.store(true, Ordering::Relaxed);
            sim.bounce(SERVER_HOST);
        }
        match stepped {
            // Every client is done; the run ends once the timeline has played out too.
            Ok(true) if faults.peek().is_none() => break,
            Ok(_) => {}
            Err(reason) => {
                failed(&sim, reason);
                break 'run;
            }
        }
    }
    // Every client has left: give the server the drain time to close its side of every connection.
    let drained_by = sim.elapsed() + scenario.limits.drain;
    let open = |process: &Process| process.sockets.lock().expect("process sockets").open();
    while open(&process) > 0 && sim.elapsed() < drained_by {
        if let Err(reason) = step(&mut sim) {
            failed(&sim, reason);
            break;
        }
    }
    log.push(sim.elapsed(), Event::ServerConnections { open: open(&process) });
    drop(sim);
    let records = log.take();
    let hash = trace_hash(&records);
    Run { scenario: scenario.name.clone(), seed, records, hash }
}

/// Applies a fault's effect on the simulation (the server's sockets are already closed for a kill).
fn apply(sim: &mut turmoil::Sim<'_>, action: &Action, clients: &[&str], process: &Process) {
    let each = |who: &Who| -> Vec<&str> {
        clients.iter().enumerate().filter(|(i, _)| who.includes(*i)).map(|(_, name)| *name).collect()
    };
    match action {
        Action::Bounce | Action::Start => {
            process.stopped.store(false, Ordering::Relaxed);
            sim.bounce(SERVER_HOST)
        }
        Action::Stop => {
            // Restart the host into a stopped process: every task of the old one ends.
            process.stopped.store(true, Ordering::Relaxed);
            sim.bounce(SERVER_HOST)
        }
        Action::Crash => sim.crash(SERVER_HOST),
        Action::Partition(who, direction) => {
            for c in each(who) {
                match direction {
                    Direction::Both => sim.partition(SERVER_HOST, c),
                    Direction::ToServer => sim.partition_oneway(c, SERVER_HOST),
                    Direction::FromServer => sim.partition_oneway(SERVER_HOST, c),
                }
            }
        }
        Action::Repair(who, direction) => {
            for c in each(who) {
                match direction {
                    Direction::Both => sim.repair(SERVER_HOST, c),
                    Direction::ToServer => sim.repair_oneway(c, SERVER_HOST),
                    Direction::FromServer => sim.repair_oneway(SERVER_HOST, c),
                }
            }
        }
        Action::Hold(who) => each(who).into_iter().for_each(|c| sim.hold(SERVER_HOST, c)),
        Action::Release(who) => each(who).into_iter().for_each(|c| sim.release(SERVER_HOST, c)),
        Action::Latency(who, d) => each(who).into_iter().for_each(|c| sim.set_link_latency(SERVER_HOST, c, *d)),
        // turmoil heals a randomly failed link at its next message (repair rate 1.0), so 0 ends the failures.
        Action::FailRate(rate) => sim.set_fail_rate(*rate),
    }
}

/// Steps the simulation one tick; a host's error or panic becomes the reason the run failed.
fn step(sim: &mut turmoil::Sim<'_>) -> Result<bool, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.step())) {
        Ok(Ok(finished)) => Ok(finished),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a host panicked".into());
            Err(format!("panic: {reason}"))
        }
    }
}
