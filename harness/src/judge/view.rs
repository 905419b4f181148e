//! What the oracles share: a run seen with its scenario, when each client's link was cut or the server was down,
//! and the connection attempts each client made. Read-only over the events; it gives no verdict itself.

use std::time::Duration;

use crate::model::scenario::{Action, Expect, Scenario, RETRANSMIT_AFTER};
use crate::model::trace::{Event, Run};

/// What the oracles share: the run, its scenario, and when each client's link to the server was cut.
pub(super) struct View<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) run: &'a Run,
    /// Per client: intervals during which the scenario had cut its link to the server (partition, hold, fail
    /// rate; given up past the give-up time) or the server process was down (stop, crash).
    pub(super) cuts: Vec<Vec<Cut>>,
    /// When the server process was killed (bounce, stop, crash).
    pub(super) kills: Vec<Duration>,
    /// When each connection was opened.
    pub(super) opened: Vec<(usize, Duration)>,
}

impl<'a> View<'a> {
    pub(super) fn new(scenario: &'a Scenario, run: &'a Run) -> Self {
        let end = run.records.last().map_or(Duration::ZERO, |r| r.at) + Duration::from_secs(3600);
        let cuts = (0..scenario.clients.len()).map(|i| cut_intervals(scenario, run, i, end)).collect();
        let kills = scenario.timeline.iter().filter(|f| f.action.kills_server()).map(|f| f.at).collect();
        let opened = run
            .records
            .iter()
            .filter_map(|r| match r.event {
                Event::Connected { conn, .. } => Some((conn, r.at)),
                _ => None,
            })
            .collect();
        View { scenario, run, cuts, kills, opened }
    }

    /// A (re)start so recent at `[from, to]` that the new process may not be listening yet (a round trip and a
    /// few ticks): a refusal then is the restart's. Later refusals, and how long the server takes to serve
    /// again, are the restart oracle's business.
    pub(super) fn restarting(&self, from: Duration, to: Duration) -> Option<String> {
        let bound = self.scenario.network.latency.end * 2 + Duration::from_millis(5);
        self.scenario
            .timeline
            .iter()
            .filter(|f| f.action.starts_server())
            .find(|f| f.at <= to && from <= f.at + bound)
            .map(|f| format!("the server was restarting at {}", secs(f.at)))
    }

    /// Whether the timeline has the server process stopped or crashed at `at`.
    pub(super) fn server_down_at(&self, at: Duration) -> bool {
        let mut down = false;
        for fault in self.scenario.timeline.iter().take_while(|f| f.at <= at) {
            match fault.action {
                Action::Stop | Action::Crash => down = true,
                Action::Start => down = false,
                _ => {}
            }
        }
        down
    }

    /// Whether `client`'s link to the server was cut (or held) at `at`.
    pub(super) fn cut_at(&self, client: usize, at: Duration) -> bool {
        self.cuts[client].iter().any(|c| c.start <= at && at <= c.end)
    }

    /// When the server closed connection `conn` before its client did, and how long it had then moved no byte on
    /// it (the server's side, [`Event::ServerClosed`], tied to the connection by the client's port).
    pub(super) fn server_closed(&self, conn: usize) -> Option<(Duration, Duration)> {
        self.server_end(conn).filter(|end| end.2).map(|(at, quiet, _)| (at, quiet))
    }

    /// Whether the server closed connection `conn` first under its idle timeout: after at least that long without
    /// progress (the server's timer and the simulator's tick may differ by a tick).
    pub(super) fn closed_idle(&self, conn: usize) -> bool {
        let idle = self.scenario.server.config.idle_timeout;
        match (idle, self.server_closed(conn)) {
            (Some(t), Some((_, quiet))) => quiet + Duration::from_millis(1) >= t,
            _ => false,
        }
    }

    /// When the server's side of connection `conn` ended, how long it had then moved no byte on it, and whether
    /// the server closed it first.
    pub(super) fn server_end(&self, conn: usize) -> Option<(Duration, Duration, bool)> {
        let (opened, client, port) = self.run.records.iter().find_map(|r| match r.event {
            Event::Connected { conn: c, client, port, .. } if c == conn => Some((r.at, client, port)),
            _ => None,
        })?;
        // The first close of that client's port after the connection opened (before, a port may have served an
        // earlier connection; the server may record its close before the client's connect returns).
        let from = opened.saturating_sub(self.scenario.network.latency.end * 2 + Duration::from_millis(2));
        self.run.records.iter().filter(|r| r.at >= from).find_map(|r| match r.event {
            Event::ServerClosed { client: c, port: p, quiet, first } if c == client && p == port => {
                Some((r.at, quiet, first))
            }
            _ => None,
        })
    }

    pub(super) fn opened_at(&self, conn: usize) -> Duration {
        self.opened.iter().find(|(c, _)| *c == conn).map_or(Duration::ZERO, |(_, t)| *t)
    }

    /// Why a failure of `client` in `[from, to]` on a connection opened at `opened` is the scenario's doing, if
    /// it is. A delay (hold) excuses only a stall.
    pub(super) fn excuse(
        &self,
        client: usize,
        opened: Option<Duration>,
        from: Duration,
        to: Duration,
        stalled: bool,
    ) -> Option<String> {
        // A fault is applied at the first tick at or after its time: allow that tick.
        let slack = Duration::from_millis(1);
        if let Some(cut) =
            self.cuts[client].iter().find(|c| (c.lossy || stalled) && c.start <= to + slack && from <= c.end + slack)
        {
            return Some(format!("{} at {}", cut.what, secs(cut.start)));
        }
        let opened = opened?;
        self.kills
            .iter()
            .find(|&&k| opened <= k + slack && k <= to + slack)
            .map(|k| format!("the server was killed at {}", secs(*k)))
    }
}

/// A span of time during which the scenario cut a client off from a live server.
pub(super) struct Cut {
    pub(super) start: Duration,
    pub(super) end: Duration,
    /// When the link was cut: before `start` for a cut given up later, whose bytes held since are lost with it.
    pub(super) since: Duration,
    /// The fault that began it.
    pub(super) what: String,
    /// Whether connections were lost (a cut given up, the server down) rather than their bytes only delayed (a
    /// cut TCP outlasts): a delay excuses a stall, never an error.
    pub(super) lossy: bool,
}

/// The intervals during which client `i` could not reach a live server: the timeline's cuts of its link and
/// its random failures (delays: TCP retransmits what they held back), the part of a cut after its connections
/// were given up (`GaveUp` in the run), and the server process down (both lossy).
pub(super) fn cut_intervals(scenario: &Scenario, run: &Run, i: usize, end: Duration) -> Vec<Cut> {
    let mut out = Vec::new();
    let cuts = scenario.link_cuts(i);
    for cut in &cuts {
        out.push(Cut {
            start: cut.start,
            since: cut.start,
            end: cut.end.unwrap_or(end),
            what: cut.what.clone(),
            lossy: false,
        });
    }
    for (start, stop) in scenario.lossy_periods() {
        let end = stop.map_or(end, |s| s + RETRANSMIT_AFTER);
        out.push(Cut { start, since: start, end, what: "random link failures".into(), lossy: false });
    }
    for r in &run.records {
        if let Event::GaveUp { client, since } = r.event {
            if client == i {
                // Dead until the cut that began at `since` heals (a random failure's cut heals at once).
                let heal = cuts
                    .iter()
                    .find(|c| c.start <= since && c.end.is_none_or(|e| since < e))
                    .map_or(r.at, |c| c.end.unwrap_or(end));
                let what = format!("the link cut at {} was given up at {}", secs(since), secs(r.at));
                out.push(Cut { start: r.at, since, end: heal, what, lossy: true });
            }
        }
    }
    let mut down: Option<(Duration, String)> = None;
    for fault in &scenario.timeline {
        match (&fault.action, &down) {
            (Action::Stop | Action::Crash, None) => down = Some((fault.at, fault.action.describe())),
            (Action::Start | Action::Bounce, Some((start, what))) => {
                out.push(Cut { start: *start, since: *start, end: fault.at, what: what.clone(), lossy: true });
                down = None;
            }
            _ => {}
        }
    }
    if let Some((start, what)) = down {
        out.push(Cut { start, since: start, end, what, lossy: true });
    }
    out
}

/// One connection attempt of a client and what came of it.
pub(super) struct Attempt {
    /// When it began.
    pub(super) start: Duration,
    /// When its first exchange was answered in full (or the connection opened, when it had none).
    pub(super) served: Option<Duration>,
    /// Whether its first exchange worked (or it had none); otherwise why not.
    pub(super) outcome: Result<(), String>,
    /// Whether a failure is the scenario's doing: a cut link or a kill of the server.
    pub(super) cut: bool,
    /// Whether it was refused while the server was (re)starting, before it could be listening.
    pub(super) restarting: bool,
}

impl View<'_> {
    /// Every connection attempt, in the order the trace recorded their outcome.
    pub(super) fn attempts(&self) -> Vec<Attempt> {
        let mut out = Vec::new();
        for r in &self.run.records {
            match &r.event {
                Event::ConnectFailed { client, error, waited } => {
                    if self.scenario.clients[*client].expect == Expect::Refused {
                        continue;
                    }
                    let start = r.at.saturating_sub(*waited);
                    out.push(Attempt {
                        start,
                        served: None,
                        outcome: Err(format!("client-{client}'s connect at {} failed ({error})", secs(start))),
                        cut: self.excuse(*client, None, start, r.at, error == "connect-timeout").is_some(),
                        restarting: error == "refused" && self.restarting(start, r.at).is_some(),
                    });
                }
                Event::Connected { client, conn, waited, .. } => {
                    let first = self.run.records.iter().find_map(|x| match &x.event {
                        Event::Exchange { conn: c, error, received, sent, first_reply, .. } if c == conn => {
                            Some((x.at, error.clone(), received.len(), sent.len(), *first_reply))
                        }
                        _ => None,
                    });
                    // Answered when its first reply byte came (an empty message's exchange has none).
                    let served = match &first {
                        None => Some(r.at),
                        Some((at, None, _, _, first_reply)) => Some(first_reply.unwrap_or(*at)),
                        Some(_) => None,
                    };
                    let (outcome, cut) = match first {
                        None | Some((_, None, ..)) => (Ok(()), false),
                        Some((at, Some(error), got, of, _)) => {
                            let stalled = error == "stalled";
                            let from = if stalled { r.at } else { at };
                            // A cut, a kill, or the server's idle timeout (a policy, not a failure to serve).
                            let cut = self.cut_at(*client, r.at)
                                || self.excuse(*client, Some(r.at), from, at, stalled).is_some()
                                || self.closed_idle(*conn);
                            let why = format!(
                                "client-{client} (conn {conn}, opened at {}) was not served: {error} after {got} of {of} bytes",
                                secs(r.at)
                            );
                            (Err(why), cut)
                        }
                    };
                    let start = r.at.saturating_sub(*waited);
                    out.push(Attempt { start, served, outcome, cut, restarting: false });
                }
                _ => {}
            }
        }
        out.sort_by_key(|a| a.start);
        out
    }
}

pub(super) fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}
