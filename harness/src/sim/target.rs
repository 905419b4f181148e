//! The server under test as a value ([`Target`]): how one incarnation of the server process binds and serves,
//! and the port it binds, which remembers the previous incarnation's TIME_WAIT ([`Binder`]). It knows nothing of
//! scenarios or clients; the runner starts incarnations through it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::model::faults::Shaping;
use crate::model::replay::Replay;
use crate::model::scenario::Scenario;
use crate::model::script::Log;
use crate::model::trace::Event;
use crate::sut::net::{self, rebind_allowed, Network};
use crate::sut::server;

use super::process::{ProcessListener, Sockets};

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
/// listener it hands over (wrapped, see [`crate::sim::process`]). A user's server that is generic over
/// [`net::Listener`] becomes a target in one line:
/// `Target::new("mine", |listener| Box::pin(my_server::run(listener)))`. A target that binds itself
/// ([`Target::binding`]) chooses its socket options, and meets the reuse-address rule (see [`Binder`]).
#[derive(Clone)]
pub struct Target {
    /// Shown in reports.
    name: Arc<str>,
    /// Starts one incarnation of the server process.
    serve: Arc<dyn Fn(Binder, server::Config) -> ServeFuture + Send + Sync>,
    /// Whether the server honours a scenario's `[server]` settings (connection limit, idle timeout): a scenario
    /// that depends on them is skipped, with the reason, for a target that does not.
    takes_settings: bool,
    /// Whether the binary can rebuild it from its name (`--target NAME`), which decides how a failure is
    /// replayed: the built-in server and the catalogue's mutants can; a user's server is replayed by their test.
    known_to_binary: bool,
    /// What the server does on its own (an idle timeout, a connection limit) whatever the scenario says: the
    /// oracles judge it by this, excusing exactly what it explains.
    declared: Policy,
}

/// A server's own rules, declared by its target ([`Target::idle_timeout`], [`Target::max_connections`]) so the
/// oracles judge the server by them: a close after at least the declared idle time without progress is the policy
/// at work, a close sooner is a failure, and a connection kept well past it without progress is a leak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// The server closes a connection on which it has moved no byte (read or written) for this long.
    pub idle_timeout: Option<Duration>,
    /// The server serves at most this many connections at once; the others wait.
    pub max_connections: Option<usize>,
}

impl Target {
    /// A target from a serving function, given a listener bound with SO_REUSEADDR.
    pub fn new(
        name: impl Into<Arc<str>>,
        serve: impl Fn(ProcessListener) -> ServeFuture + Send + Sync + 'static,
    ) -> Target {
        let serve = Arc::new(serve);
        let target = Target::binding(name, move |binder, _config| {
            let serve = serve.clone();
            Box::pin(async move {
                if let Ok(listener) = binder.bind(true).await {
                    serve(listener).await
                }
            })
        });
        Target { takes_settings: false, ..target }
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

    /// A target that binds its listener itself, through `binder`, and is handed the scenario's `[server]` settings.
    pub fn binding(
        name: impl Into<Arc<str>>,
        serve: impl Fn(Binder, server::Config) -> ServeFuture + Send + Sync + 'static,
    ) -> Target {
        Target {
            name: name.into(),
            serve: Arc::new(serve),
            takes_settings: true,
            known_to_binary: false,
            declared: Policy::default(),
        }
    }

    /// Declares that the server closes a connection after `timeout` without progress on it, no byte read or
    /// written (the common defence against vanished clients and clients that stop reading). The oracles then
    /// excuse such a close (evidence: "closed by the server after 612 ms without progress: the idle timeout of
    /// 500 ms"), fail one that comes sooner, and fail a server that keeps a connection without progress well past
    /// it (no-leak); exploration generates slow readers, silent clients and clients that stop reading against
    /// it. Without it, a server's own idle timeout makes liveness fail, with a hint to declare it.
    pub fn idle_timeout(self, timeout: Duration) -> Target {
        Target { declared: Policy { idle_timeout: Some(timeout), ..self.declared }, ..self }
    }

    /// Declares that the server serves at most `limit` connections at once (the others wait to be accepted): the
    /// scenario files that set another limit are skipped, and explored cases give clients the time to wait for a
    /// slot (no oracle needs it otherwise: a limit that starves a client fails liveness whatever was declared).
    pub fn max_connections(self, limit: usize) -> Target {
        Target { declared: Policy { max_connections: Some(limit), ..self.declared }, ..self }
    }

    /// The policy the target declared.
    pub fn declared(&self) -> Policy {
        self.declared
    }

    /// The policy `scenario` runs this target under: the declared one, else the scenario's `[server]` settings
    /// when the target takes them.
    pub fn policy(&self, scenario: &Scenario) -> Policy {
        let config = &scenario.server.config;
        let (idle, limit) =
            if self.takes_settings { (config.idle_timeout, config.max_connections) } else { (None, None) };
        Policy {
            idle_timeout: self.declared.idle_timeout.or(idle),
            max_connections: self.declared.max_connections.or(limit),
        }
    }

    /// `scenario` as this target is judged by it: its `[server]` idle timeout and connection limit are the
    /// target's [`Target::policy`] (see [`Target::unsupported`] for a scenario that asks for other ones).
    pub fn judged_as<'a>(&self, scenario: &'a Scenario) -> std::borrow::Cow<'a, Scenario> {
        let policy = self.policy(scenario);
        let config = &scenario.server.config;
        if config.idle_timeout == policy.idle_timeout && config.max_connections == policy.max_connections {
            return std::borrow::Cow::Borrowed(scenario);
        }
        let mut judged = scenario.clone();
        judged.server.config.idle_timeout = policy.idle_timeout;
        judged.server.config.max_connections = policy.max_connections;
        std::borrow::Cow::Owned(judged)
    }

    /// The built-in server, configured by each scenario's `[server]` table, never shut down (it dies with its
    /// process).
    pub fn builtin() -> Target {
        Target::configurable("builtin", |listener, config| {
            Box::pin(server::run(listener, config, std::future::pending::<()>()))
        })
        .known_to_binary()
    }

    /// Marks a target the `echo-harness` binary can rebuild from its name (`--target NAME`): the built-in
    /// server and the catalogue's planted bugs. Failures then print a replay through the binary.
    pub(crate) fn known_to_binary(self) -> Target {
        Target { known_to_binary: true, ..self }
    }

    /// Whether it honours a scenario's `[server]` settings (exploration generates them only then).
    pub fn takes_settings(&self) -> bool {
        self.takes_settings
    }

    /// How a failure against this target is replayed.
    pub fn replay(&self) -> Replay {
        if self.known_to_binary {
            Replay::Binary { target: self.name.to_string(), backend: "sim".into() }
        } else {
            Replay::Library { target: self.name.to_string() }
        }
    }

    /// Why `scenario` cannot judge this target (it is then skipped and the report says why): it sets a
    /// connection limit or an idle timeout in `[server]` that the target neither receives (made with
    /// [`Target::new`]) nor declares, or that differs from the one it declares.
    pub fn unsupported(&self, scenario: &Scenario) -> Option<String> {
        let config = &scenario.server.config;
        let mut problems = Vec::new();
        let mut check = |key: &str, asked: Option<u128>, declared: Option<u128>, how: &str| match (asked, declared) {
            (Some(a), Some(d)) if a != d => {
                problems.push(format!("it sets [server] {key} = {a} and `{}` declares {d} ({how})", self.name))
            }
            (Some(a), None) if !self.takes_settings => problems.push(format!(
                "it sets [server] {key} = {a} and `{}` does not take [server] settings (make it with \
                 Target::configurable, or declare it with {how})",
                self.name
            )),
            _ => {}
        };
        check(
            "idle_timeout_ms",
            config.idle_timeout.map(|t| t.as_millis()),
            self.declared.idle_timeout.map(|t| t.as_millis()),
            "Target::idle_timeout",
        );
        check(
            "max_connections",
            config.max_connections.map(|n| n as u128),
            self.declared.max_connections.map(|n| n as u128),
            "Target::max_connections",
        );
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    /// Starts one incarnation: binding through `binder`, serving until it returns.
    pub(super) fn start(&self, binder: Binder, config: server::Config) -> ServeFuture {
        (self.serve)(binder, config)
    }

    /// The name reports use.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// How long a connection closed first by the server stays in TIME_WAIT on its side (Linux: 60 s).
pub const TIME_WAIT: Duration = Duration::from_secs(60);

/// What the server's port remembers of the previous incarnation: the reuse-address rule of Linux.
#[derive(Debug, Default)]
pub(super) struct Port {
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

impl Port {
    /// Records that the process died with `closed` connections open: those its side closed first now sit in
    /// TIME_WAIT, with the socket options they had.
    pub(super) fn killed(&mut self, closed: usize) {
        if closed > 0 {
            self.time_wait_until = turmoil::sim_elapsed().unwrap_or_default() + TIME_WAIT;
            self.time_wait_count = closed;
            self.old_reuse = self.reuse;
        }
    }
}

impl Binder {
    /// The binder of one incarnation.
    pub(super) fn new(sockets: Sockets, shaping: Shaping, seed: u64, port: Arc<Mutex<Port>>, log: Log) -> Binder {
        Binder { sockets, shaping, seed, port, log }
    }

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
        Ok(ProcessListener::new(listener, self.sockets, self.shaping, self.seed, self.log))
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("name", &self.name).finish()
    }
}
