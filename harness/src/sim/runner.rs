//! The simulated runner: plays a scenario on turmoil's network under one seed and records what happened.
//!
//! The server under test is a [`Target`]; the clients are the scenario's scripts over turmoil's TCP. Every run
//! has an explicit seed and a fixed epoch, so the same seed gives the same trace. It judges nothing: the
//! [`Run`] it returns goes to the oracles.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::model::scenario::{Action, Scenario, Who};
use crate::model::script::{ClientScript, Log, Wire};
use crate::model::trace::{trace_hash, Event, Run};
use crate::sut::net::{self, Network};

use super::links::{ClientSocket, LinkFlags, Links};
use super::process::Sockets;
use super::target::{epoch, Binder, Port, Target, SERVER_HOST, SERVER_PORT};

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

/// A client's way to the server in the simulator: turmoil's TCP to `server:8081` (with the FIN fix of
/// [`ClientSocket`], and its link's cuts and give-ups), and the simulated clock.
struct SimWire {
    /// What the client's sockets see of its link.
    flags: Arc<LinkFlags>,
    /// The client's index.
    client: usize,
}

impl Wire for SimWire {
    type Stream = ClientSocket;

    async fn connect(&self) -> std::io::Result<ClientSocket> {
        // While the link is cut, a SYN would be retransmitted after the heal: wait for it here, so that an attempt
        // the client gives up meanwhile leaves no SYN behind (turmoil would deliver a held one later).
        while self.flags.cut(self.client) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let addr = SocketAddr::new(turmoil::lookup(SERVER_HOST), SERVER_PORT);
        let stream = net::Sim::connect(addr).await?;
        Ok(ClientSocket::new(stream, self.flags.clone(), self.client))
    }

    async fn peek(stream: &mut ClientSocket, buf: &mut [u8]) -> std::io::Result<usize> {
        stream.get_mut()?.peek(buf).await
    }

    fn now(&self) -> Duration {
        turmoil::sim_elapsed().unwrap_or_default()
    }

    fn local_port(stream: &ClientSocket) -> u16 {
        stream.local_port()
    }
}

/// Runs `scenario` under `seed` against `target`.
pub fn run(scenario: &Scenario, seed: u64, target: &Target) -> Run {
    run_within(scenario, seed, target, WALL_BUDGET)
}

/// [`run`], ended with a failure once it has taken `budget` of wall-clock time.
pub fn run_within(scenario: &Scenario, seed: u64, target: &Target, budget: std::time::Duration) -> Run {
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
        let target = target.clone();
        let shaping = scenario.server.shaping;
        // The settings the target is judged by (a policy it declares overrides the scenario's).
        let config = target.judged_as(scenario).server.config.clone();
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
                let seed = seed ^ incarnation.wrapping_mul(0xa076_1d64_78bd_642f);
                let binder = Binder::new(sockets.clone(), shaping, seed, port.clone(), log.clone());
                target.start(binder, config.clone())
            });
            let (port, exited) = (port.clone(), process.exited.clone());
            async move {
                // A stopped process is not running: nothing to do until the runner starts it again.
                let Some(mut serving) = serving else {
                    std::future::pending::<()>().await;
                    return Ok(());
                };
                tokio::select! {
                    biased;
                    _ = &mut serving => exited.store(true, Ordering::Relaxed), // the process exited on its own
                    _ = kill.notified() => {}
                }
                // Exited or killed: the listener and the target's own sockets go first, then every accepted
                // stream in accept order (see `process`), as the kernel closes a dead process's sockets. The
                // connections the server's side closed first sit in TIME_WAIT. The runner then restarts the host
                // into a stopped process, so no task the target spawned lives on.
                sockets.dying(); // the closes that follow are the kill's, not the server's
                drop(serving);
                let closed = sockets.kill_all();
                port.lock().expect("port lock").killed(closed);
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    }

    let clients: Vec<&str> = scenario.clients.iter().map(|c| c.name.as_str()).collect();
    let mut links = Links::new(clients.iter().map(|c| c.to_string()).collect(), seed, scenario.limits.give_up);
    let conns = Arc::new(AtomicUsize::new(0));
    // A client that starts after the others joins the simulation only then: until it does, turmoil would step its
    // host every tick only for it to wait.
    let mut latecomers = Vec::new();
    for (index, (spec, messages)) in scenario.clients.iter().zip(scenario.materialize(seed)).enumerate() {
        let wire = SimWire { flags: links.flags(), client: index };
        let script = ClientScript::new(scenario, index, messages, seed, (log.clone(), conns.clone()), wire);
        if spec.after_others {
            sim.lookup(spec.name.as_str()); // its address, in the order the clients are listed
            links.set_present(index, false);
            latecomers.push(Latecomer { index, script: Some(script), latency: None });
        } else {
            sim.client(spec.name.as_str(), async move {
                script.play().await;
                Ok(())
            });
        }
    }
    let others = scenario.clients.iter().filter(|c| !c.after_others).count();
    let timeline_end = scenario.timeline.last().map_or(Duration::ZERO, |f| f.at);

    let mut faults = scenario.timeline.iter().peekable();
    let failed = |sim: &turmoil::Sim<'_>, reason| log.push(sim.elapsed(), Event::RunFailed { reason });
    STOP_AT.set(Some(std::time::Instant::now() + budget));
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
            if !links.apply(&fault.action, fault.at) {
                apply(&mut sim, &fault.action, &clients, &process, &mut latecomers);
            }
        }
        if log.clients_done() >= others && sim.elapsed() >= timeline_end {
            for latecomer in &mut latecomers {
                latecomer.arrive(&mut sim, clients[latecomer.index], &mut links);
            }
        }
        links.tick(&mut sim, &log);
        let stepped = step(&mut sim);
        if process.exited.swap(false, Ordering::Relaxed) {
            // The process ended on its own: its spawned tasks end with it.
            process.stopped.store(true, Ordering::Relaxed);
            sim.bounce(SERVER_HOST);
        }
        match stepped {
            // Every client is done; the run ends once the timeline has played out too.
            Ok(true) if faults.peek().is_none() && latecomers.iter().all(Latecomer::arrived) => break,
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
        links.tick(&mut sim, &log);
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

/// A client that starts after the others, before its host joins the simulation.
struct Latecomer {
    /// The client's index.
    index: usize,
    /// Its program, until its host joins.
    script: Option<ClientScript<SimWire>>,
    /// The latency the timeline set on its link before it joined.
    latency: Option<Duration>,
}

impl Latecomer {
    /// Whether its host has joined.
    fn arrived(&self) -> bool {
        self.script.is_none()
    }

    /// Its host joins the simulation (if it has not yet), with its link as the timeline left it.
    fn arrive(&mut self, sim: &mut turmoil::Sim<'_>, name: &str, links: &mut Links) {
        let Some(script) = self.script.take() else { return };
        sim.client(name, async move {
            script.play().await;
            Ok(())
        });
        if let Some(latency) = self.latency {
            sim.set_link_latency(SERVER_HOST, name, latency);
        }
        links.set_present(self.index, true);
    }
}

/// Applies a fault's effect on the simulation (the server's sockets are already closed for a kill); a latency
/// meant for a latecomer not yet in it waits for it.
fn apply(sim: &mut turmoil::Sim<'_>, action: &Action, clients: &[&str], process: &Process, late: &mut [Latecomer]) {
    let absent = |i: usize| late.iter().any(|l| l.index == i && !l.arrived());
    let each = |who: &Who| -> Vec<&str> {
        clients.iter().enumerate().filter(|(i, _)| who.includes(*i) && !absent(*i)).map(|(_, name)| *name).collect()
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
        Action::Latency(who, d) => {
            each(who).into_iter().for_each(|c| sim.set_link_latency(SERVER_HOST, c, *d));
            late.iter_mut().filter(|l| who.includes(l.index) && !l.arrived()).for_each(|l| l.latency = Some(*d));
        }
        // The links' own faults (see `links`).
        Action::Partition(..) | Action::Repair(..) | Action::Hold(..) | Action::Release(..) | Action::FailRate(_) => {}
    }
}

/// The wall-clock time one simulated run may take: a scenario whose work would take longer (a huge deadline with a
/// client waiting, say) ends with a verdict that says so instead of holding the machine. Read from the host
/// clock only to stop: a run that reaches it is reported, never judged on its timing.
pub const WALL_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

thread_local! {
    /// When the current run must stop, by the host clock.
    static STOP_AT: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// Steps the simulation one tick; a host's error or panic, or the run's wall-clock budget spent, becomes the
/// reason the run failed.
fn step(sim: &mut turmoil::Sim<'_>) -> Result<bool, String> {
    // The host clock is read every 64 steps (64 ms simulated): often enough to stop in time, rarely enough to cost
    // nothing beside a step.
    if sim.elapsed().as_millis() % 64 == 0 && STOP_AT.get().is_some_and(|at| std::time::Instant::now() > at) {
        return Err(format!(
            "the run used its wall-clock budget at simulated {:.3}s: lower the scenario's deadline_ms or its volume",
            sim.elapsed().as_secs_f64()
        ));
    }
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
