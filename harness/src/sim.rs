//! The simulated runner: plays a scenario on turmoil's network under one seed and records what happened.
//!
//! The server under test is a [`Target`]; the clients are the library's [`Client`] on [`net::Sim`]. Every run
//! has an explicit seed and a fixed epoch, so the same seed gives the same trace.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::client::{Client, Timeouts};
use crate::net::{self, Network};
use crate::process::{ProcessListener, Sockets};
use crate::scenario::{Action, ClientSpec, Limits, Scenario};
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

/// A future that serves a listener until the host dies.
pub type ServeFuture = Pin<Box<dyn Future<Output = ()>>>;

/// The server under test, as a value: how to serve a bound simulated listener.
///
/// The runner binds `server:8081` (again after each restart) and hands the listener over (wrapped, see
/// [`crate::process`]). A user's server that
/// is generic over [`net::Listener`] becomes a target in one line:
/// `Target::new("mine", |listener| Box::pin(my_server::run(listener)))`.
#[derive(Clone)]
pub struct Target {
    /// Shown in reports.
    name: Arc<str>,
    /// Serves one incarnation of the server.
    serve: Arc<dyn Fn(ProcessListener) -> ServeFuture + Send + Sync>,
}

impl Target {
    /// A target from a serving function.
    pub fn new(
        name: impl Into<Arc<str>>,
        serve: impl Fn(ProcessListener) -> ServeFuture + Send + Sync + 'static,
    ) -> Target {
        Target { name: name.into(), serve: Arc::new(serve) }
    }

    /// The built-in server with `config`, never shut down (it dies with its host).
    pub fn builtin(config: server::Config) -> Target {
        Target::new("builtin", move |listener| {
            Box::pin(server::run(listener, config.clone(), std::future::pending::<()>()))
        })
    }

    /// The name reports use.
    pub fn name(&self) -> &str {
        &self.name
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

/// The shared, ordered event log of one run. All hosts of a simulation step on one thread, so the order of
/// pushes is the order of the simulation.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Record>>>);

impl Log {
    fn push(&self, at: Duration, event: Event) {
        self.0.lock().expect("log lock").push(Record { at, event });
    }

    /// Pushes from inside a host, stamped with the simulation's clock.
    fn host(&self, event: Event) {
        self.push(turmoil::sim_elapsed().unwrap_or_default(), event);
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

    let serve = target.serve.clone();
    let kill = Arc::new(tokio::sync::Notify::new());
    let kill_signal = kill.clone();
    sim.host(SERVER_HOST, move || {
        let serve = serve.clone();
        let kill = kill_signal.clone();
        async move {
            let sockets = Sockets::default();
            let listener = net::Sim::bind(SocketAddr::from(([0, 0, 0, 0], SERVER_PORT))).await?;
            tokio::select! {
                _ = serve(ProcessListener::new(listener, sockets.clone())) => {}
                _ = kill.notified() => {
                    sockets.kill_all();
                    // Dead until the runner restarts the host.
                    std::future::pending::<()>().await;
                }
            }
            Ok(())
        }
    });

    let conns = Arc::new(AtomicUsize::new(0));
    for (index, (spec, messages)) in scenario.clients.iter().zip(scenario.materialize(seed)).enumerate() {
        let script = ClientScript {
            index,
            spec: spec.clone(),
            messages,
            limits: scenario.limits.clone(),
            log: log.clone(),
            conns: conns.clone(),
        };
        sim.client(spec.name.as_str(), async move {
            script.play().await;
            Ok(())
        });
    }

    let mut faults = scenario.timeline.iter().peekable();
    'run: loop {
        while let Some(fault) = faults.next_if(|f| f.at <= sim.elapsed()) {
            log.push(sim.elapsed(), Event::Fault { action: fault.action.name().to_string() });
            match fault.action {
                Action::Bounce => {
                    // Close the process's sockets in a fixed order first (see `process`), then restart it.
                    kill.notify_one();
                    if let Err(reason) = step(&mut sim) {
                        log.push(sim.elapsed(), Event::RunFailed { reason });
                        break 'run;
                    }
                    sim.bounce(SERVER_HOST);
                }
            }
        }
        match step(&mut sim) {
            Ok(true) => break,
            Ok(false) => {}
            Err(reason) => {
                log.push(sim.elapsed(), Event::RunFailed { reason });
                break;
            }
        }
    }
    drop(sim);
    let records = std::mem::take(&mut *log.0.lock().expect("log lock"));
    let hash = trace_hash(&records);
    Run { scenario: scenario.name.clone(), seed, records, hash }
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

/// How many times one message is resent on fresh connections before its client gives up on it.
const MAX_ATTEMPTS_PER_MESSAGE: usize = 4;
/// Pause between reconnect attempts.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// One client host's program.
struct ClientScript {
    /// Index of the client in the scenario.
    index: usize,
    /// Its part of the scenario.
    spec: ClientSpec,
    /// Its messages' bytes under this seed.
    messages: Vec<Vec<u8>>,
    /// Timeouts and the reconnect budget.
    limits: Limits,
    /// Where it reports.
    log: Log,
    /// The run-wide connection counter.
    conns: Arc<AtomicUsize>,
}

type SimClient = Client<<net::Sim as Network>::Stream>;

impl ClientScript {
    async fn play(self) {
        tokio::time::sleep(self.spec.start).await;
        let mut answered = 0;
        let mut current: Option<(SimClient, usize)> = None;
        let mut attempts = 0;
        let mut index = 0;
        while index < self.messages.len() {
            let (client, conn) = match current.as_mut() {
                Some(c) => c,
                None => match self.connect().await {
                    Some(c) => current.insert(c),
                    None => break,
                },
            };
            let conn = *conn;
            let mut reply = Vec::new();
            let result = client.echo_into(&self.messages[index], &mut reply).await;
            let error = result.as_ref().err().map(|e| e.kind().to_string());
            self.log.host(Event::Exchange {
                client: self.index,
                conn,
                message: index,
                sent: self.messages[index].clone(),
                received: reply,
                error: error.clone(),
            });
            if error.is_none() {
                answered += 1;
                index += 1;
                attempts = 0;
                continue;
            }
            current = None;
            attempts += 1;
            if !self.spec.reconnect || attempts >= MAX_ATTEMPTS_PER_MESSAGE {
                break;
            }
        }
        if let Some((client, conn)) = current {
            let (extra, error) = match client.half_close().await {
                Ok(extra) => (extra, None),
                Err(e) => (Vec::new(), Some(e.kind().to_string())),
            };
            self.log.host(Event::Closed { client: self.index, conn, extra, error });
        }
        self.log.host(Event::ClientDone { client: self.index, answered, of: self.messages.len() });
    }

    /// Connects, retrying within the reconnect budget when the client reconnects.
    async fn connect(&self) -> Option<(SimClient, usize)> {
        let addr = SocketAddr::new(turmoil::lookup(SERVER_HOST), SERVER_PORT);
        let timeouts = Timeouts { connect: self.limits.connect_timeout, io: self.limits.io_timeout };
        let give_up = tokio::time::Instant::now() + self.limits.reconnect_within;
        loop {
            match Client::connect::<net::Sim>(addr, timeouts).await {
                Ok(client) => {
                    let conn = self.conns.fetch_add(1, Ordering::Relaxed);
                    self.log.host(Event::Connected { client: self.index, conn });
                    return Some((client, conn));
                }
                Err(e) => {
                    self.log.host(Event::ConnectFailed { client: self.index, error: e.kind().to_string() });
                    if !self.spec.reconnect || tokio::time::Instant::now() + RECONNECT_PAUSE > give_up {
                        return None;
                    }
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
            }
        }
    }
}
