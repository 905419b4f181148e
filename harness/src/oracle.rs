//! Oracles: pure functions from a run's events to verdicts on named properties, with evidence.

use std::time::Duration;

use serde::Serialize;

use std::fmt::Write;

use crate::scenario::{Action, Direction, Expect, Scenario};
use crate::server::upper;
use crate::sim::Run;
use crate::trace::{preview, Event};

/// The outcome of checking one property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The property held.
    Pass,
    /// The property was broken: the evidence says where.
    Fail,
    /// The property does not apply (e.g. restart without a restart in the scenario).
    Skip,
}

/// A property the harness checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Property {
    /// Every reply is the upper-cased message, in order, on its own connection.
    EchoIntegrity,
    /// Every well-behaved client finishes, and nothing stalls or fails on a healthy network.
    Liveness,
    /// After a client misbehaves, a fresh client is served.
    Survival,
    /// After a restart, new connections are served within a bound.
    Restart,
    /// A connect to a down server fails fast with ConnectionRefused.
    Refusal,
    /// The server closes every connection once its client has left.
    NoLeak,
    /// The same seed gives the same trace.
    Determinism,
}

impl Property {
    /// Every property, in report order.
    pub const ALL: [Property; 7] = [
        Property::EchoIntegrity,
        Property::Liveness,
        Property::Survival,
        Property::Restart,
        Property::Refusal,
        Property::NoLeak,
        Property::Determinism,
    ];

    /// The stable name CI scripts read.
    pub fn name(self) -> &'static str {
        match self {
            Property::EchoIntegrity => "echo-integrity",
            Property::Liveness => "liveness",
            Property::Survival => "survival",
            Property::Restart => "restart",
            Property::Refusal => "refusal",
            Property::NoLeak => "no-leak",
            Property::Determinism => "determinism",
        }
    }

    /// One line saying what it means.
    pub fn description(self) -> &'static str {
        match self {
            Property::EchoIntegrity => "every byte echoed upper-cased, in order, on its own connection",
            Property::Liveness => "every well-behaved client finishes; nothing stalls or fails on a healthy link",
            Property::Survival => "after a client resets, vanishes or dies mid-message, a fresh client is served",
            Property::Restart => "after a server restart, new connections are served within a bound",
            Property::Refusal => "connecting to a down server fails fast with ConnectionRefused, never hangs",
            Property::NoLeak => "the server closes every connection after its client has left",
            Property::Determinism => "the same seed replays to the same trace hash",
        }
    }

    /// The property called `name`.
    pub fn from_name(name: &str) -> Option<Property> {
        Property::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// One property's verdict on one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// Which property.
    pub property: Property,
    /// What it came to.
    pub verdict: Verdict,
    /// Why: for a failure the first thing that broke it, located; otherwise a short summary.
    pub detail: String,
}

impl Judgement {
    fn pass(property: Property, detail: impl Into<String>) -> Self {
        Judgement { property, verdict: Verdict::Pass, detail: detail.into() }
    }
    fn fail(property: Property, detail: impl Into<String>) -> Self {
        Judgement { property, verdict: Verdict::Fail, detail: detail.into() }
    }
    fn skip(property: Property, detail: impl Into<String>) -> Self {
        Judgement { property, verdict: Verdict::Skip, detail: detail.into() }
    }
}

/// Judges a run on every property that one run can decide (all but determinism, see [`judge_determinism`]).
pub fn judge(scenario: &Scenario, run: &Run) -> Vec<Judgement> {
    let view = View::new(scenario, run);
    vec![
        echo_integrity_in(run, Some(&view)),
        liveness(&view),
        survival(&view),
        restart(&view),
        refusal(&view),
        no_leak(&view),
    ]
}

/// What the oracles share: the run, its scenario, and when each client's link to the server was cut.
struct View<'a> {
    scenario: &'a Scenario,
    run: &'a Run,
    /// Per client: intervals during which the scenario had cut its link to the server (partition, hold, fail
    /// rate) or the server process was down (stop, crash).
    cuts: Vec<Vec<Cut>>,
    /// When the server process was killed (bounce, stop, crash).
    kills: Vec<Duration>,
    /// When each connection was opened.
    opened: Vec<(usize, Duration)>,
}

impl<'a> View<'a> {
    fn new(scenario: &'a Scenario, run: &'a Run) -> Self {
        let end = run.records.last().map_or(Duration::ZERO, |r| r.at) + Duration::from_secs(3600);
        let cuts = (0..scenario.clients.len()).map(|i| cut_intervals(scenario, i, end)).collect();
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
    fn restarting(&self, from: Duration, to: Duration) -> Option<String> {
        let bound = self.scenario.network.latency.end * 2 + Duration::from_millis(5);
        self.scenario
            .timeline
            .iter()
            .filter(|f| f.action.starts_server())
            .find(|f| f.at <= to && from <= f.at + bound)
            .map(|f| format!("the server was restarting at {}", secs(f.at)))
    }

    /// Whether the timeline has the server process stopped or crashed at `at`.
    fn server_down_at(&self, at: Duration) -> bool {
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
    fn cut_at(&self, client: usize, at: Duration) -> bool {
        self.cuts[client].iter().any(|c| c.start <= at && at <= c.end)
    }

    fn opened_at(&self, conn: usize) -> Duration {
        self.opened.iter().find(|(c, _)| *c == conn).map_or(Duration::ZERO, |(_, t)| *t)
    }

    /// Why a failure of `client` in `[from, to]` on a connection opened at `opened` is the scenario's doing, if
    /// it is. A delay (hold) excuses only a stall.
    fn excuse(
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
struct Cut {
    start: Duration,
    end: Duration,
    /// The fault that began it.
    what: String,
    /// Whether data was lost (partition, fail rate, server down) rather than only delayed (hold): a delay
    /// excuses a stall, never an error.
    lossy: bool,
}

/// The intervals during which client `i` could not reach a live server, by the scenario's timeline.
fn cut_intervals(scenario: &Scenario, i: usize, end: Duration) -> Vec<Cut> {
    let mut out = Vec::new();
    for lossy in [true, false] {
        let (mut to_server, mut from_server, mut held, mut down, mut failing) = (false, false, false, false, false);
        let mut open: Option<(Duration, String)> = None;
        for fault in &scenario.timeline {
            let set = |d: &Direction, to: &mut bool, from: &mut bool, value: bool| match d {
                Direction::Both => (*to, *from) = (value, value),
                Direction::ToServer => *to = value,
                Direction::FromServer => *from = value,
            };
            match &fault.action {
                Action::Partition(who, d) if who.includes(i) => set(d, &mut to_server, &mut from_server, true),
                Action::Repair(who, d) if who.includes(i) => set(d, &mut to_server, &mut from_server, false),
                Action::Hold(who) if who.includes(i) => held = true,
                Action::Release(who) if who.includes(i) => held = false,
                Action::Stop | Action::Crash => down = true,
                Action::Start | Action::Bounce => down = false,
                Action::FailRate(rate) => failing = *rate > 0.0,
                _ => continue,
            }
            let cut = if lossy { to_server || from_server || down || failing } else { held };
            match (&open, cut) {
                (None, true) => open = Some((fault.at, fault.action.describe())),
                (Some((start, what)), false) => {
                    out.push(Cut { start: *start, end: fault.at, what: what.clone(), lossy });
                    open = None;
                }
                _ => {}
            }
        }
        if let Some((start, what)) = open {
            out.push(Cut { start, end, what, lossy });
        }
    }
    out
}

#[cfg(test)]
fn echo_integrity(run: &Run) -> Judgement {
    echo_integrity_in(run, None)
}

/// Echo integrity; with the view, an early close that a kill or a cut link explains is not held against it.
fn echo_integrity_in(run: &Run, view: Option<&View>) -> Judgement {
    let mut exchanges = 0;
    for record in &run.records {
        match &record.event {
            Event::Exchange { client, conn, message, count, sent, received, error, .. } => {
                exchanges += 1;
                let what =
                    if *count == 1 { format!("msg {message}") } else { format!("msgs {message}..{}", message + count) };
                let expected = upper(sent);
                if let Some(offset) = first_difference(&expected, received) {
                    return Judgement::fail(
                        Property::EchoIntegrity,
                        format!(
                            "client-{client} conn {conn} {what}: first difference at byte {offset} of {}: expected {} got {}",
                            sent.len(),
                            preview(around(&expected, offset)),
                            preview(around(received, offset)),
                        ),
                    );
                }
                let explained = || {
                    view.is_some_and(|v| {
                        let opened = v.opened_at(*conn);
                        v.excuse(*client, Some(opened), opened, record.at, false).is_some()
                    })
                };
                if error.as_deref() == Some("incomplete-at-eof") && !explained() {
                    return Judgement::fail(
                        Property::EchoIntegrity,
                        format!(
                            "client-{client} conn {conn} {what}: the server closed after the client's half-close with {} of {} reply bytes sent",
                            received.len(),
                            sent.len()
                        ),
                    );
                }
                if error.is_none() && received.len() != expected.len() {
                    return Judgement::fail(
                        Property::EchoIntegrity,
                        format!(
                            "client-{client} conn {conn} {what}: reply has {} of {} bytes",
                            received.len(),
                            sent.len()
                        ),
                    );
                }
            }
            Event::Closed { client, conn, extra, .. } if !extra.is_empty() => {
                return Judgement::fail(
                    Property::EchoIntegrity,
                    format!(
                        "client-{client} conn {conn}: {} bytes after the last reply: {}",
                        extra.len(),
                        preview(extra)
                    ),
                );
            }
            _ => {}
        }
    }
    Judgement::pass(Property::EchoIntegrity, format!("{exchanges} exchanges checked byte for byte"))
}

/// The offset of the first byte where `actual` is not a prefix of `expected`.
fn first_difference(expected: &[u8], actual: &[u8]) -> Option<usize> {
    if actual.len() > expected.len() {
        return Some(expected.len());
    }
    actual.iter().zip(expected).position(|(a, e)| a != e)
}

/// A few bytes starting a little before `offset`, for evidence.
fn around(bytes: &[u8], offset: usize) -> &[u8] {
    let start = offset.saturating_sub(4).min(bytes.len());
    &bytes[start..(offset + 12).min(bytes.len())]
}

fn liveness(view: &View) -> Judgement {
    let run = view.run;
    if let Some((at, reason)) = run.records.iter().find_map(|r| match &r.event {
        Event::RunFailed { reason } => Some((r.at, reason)),
        _ => None,
    }) {
        let busy = clients_not_done(run);
        return Judgement::fail(Property::Liveness, format!("at {}: {reason}; clients still busy: {busy}", secs(at)));
    }
    let io_timeout = view.scenario.limits.io_timeout;
    let mut excused = Vec::new();
    let mut excused_clients = Vec::new();
    for record in &run.records {
        let at = record.at;
        // A wait that timed out (a stalled exchange or handshake) may be the scenario's delay; an error may not.
        let stalled = matches!(&record.event, Event::Exchange { error: Some(e), .. } | Event::Closed { error: Some(e), .. } if e == "stalled")
            || matches!(&record.event, Event::ConnectFailed { error, .. } if error == "connect-timeout");
        let (client, failure, window, opened) = match &record.event {
            Event::Exchange { client, conn, error: Some(error), sent, received, .. } => {
                let from = if error == "stalled" { at.saturating_sub(io_timeout) } else { at };
                let failure = if error == "stalled" {
                    format!(
                        "connection {conn} (client-{client}) stalled at byte {} of {} since {}",
                        received.len(),
                        sent.len(),
                        secs(from)
                    )
                } else {
                    format!(
                        "connection {conn} (client-{client}) failed ({error}) at byte {} of {}",
                        received.len(),
                        sent.len()
                    )
                };
                // A segment lost in a cut is never sent again: a stall may show long after the loss, so any
                // lossy cut during the connection's life explains it.
                let window = if error == "stalled" { view.opened_at(*conn) } else { from };
                (*client, failure, window, Some(view.opened_at(*conn)))
            }
            Event::ConnectFailed { client, error, waited } => {
                if view.scenario.clients[*client].expect == Expect::Refused {
                    continue; // the refusal oracle's business
                }
                (*client, format!("client-{client}'s connect failed ({error})"), at.saturating_sub(*waited), None)
            }
            Event::Closed { client, conn, error: Some(error), .. } => (
                *client,
                format!("connection {conn} (client-{client}) did not close cleanly ({error})"),
                if error == "stalled" { view.opened_at(*conn) } else { at },
                Some(view.opened_at(*conn)),
            ),
            _ => continue,
        };
        let restarting = matches!(&record.event, Event::ConnectFailed { error, .. } if error == "refused")
            .then(|| view.restarting(window, at))
            .flatten();
        match restarting.or_else(|| view.excuse(client, opened, window, at, stalled)) {
            Some(reason) => {
                excused.push(format!("{failure}: {reason}"));
                excused_clients.push(client);
            }
            None => {
                return Judgement::fail(
                    Property::Liveness,
                    format!("{failure} at {} on a healthy link with a live server", secs(at)),
                )
            }
        }
    }
    for record in &run.records {
        if let Event::ClientDone { client, answered, of } = record.event {
            // Giving up is fine only for a client the scenario cut off (its failures were all excused).
            if answered < of && !excused_clients.contains(&client) {
                let last = last_error(run, client).unwrap_or_else(|| "no error recorded".into());
                return Judgement::fail(
                    Property::Liveness,
                    format!(
                        "client-{client} gave up at {} with {answered} of {of} messages answered: {last}",
                        secs(record.at)
                    ),
                );
            }
        }
    }
    let end = run.records.last().map_or(Duration::ZERO, |r| r.at);
    let mut detail = format!("every client finished by {}", secs(end));
    if let Some(first) = excused.first() {
        let _ = write!(detail, "; {} failures during cut links or restarts, e.g. {first}", excused.len());
    }
    Judgement::pass(Property::Liveness, detail)
}

fn clients_not_done(run: &Run) -> String {
    let mut seen = Vec::new();
    let mut done = Vec::new();
    for r in &run.records {
        match r.event {
            Event::Connected { client, .. } | Event::ConnectFailed { client, .. } | Event::Exchange { client, .. }
                if !seen.contains(&client) =>
            {
                seen.push(client)
            }
            Event::ClientDone { client, .. } => done.push(client),
            _ => {}
        }
    }
    let busy: Vec<String> = seen.iter().filter(|c| !done.contains(c)).map(|c| format!("client-{c}")).collect();
    if busy.is_empty() {
        "none".into()
    } else {
        busy.join(", ")
    }
}

fn last_error(run: &Run, who: usize) -> Option<String> {
    run.records.iter().rev().find_map(|r| match &r.event {
        Event::Exchange { client, conn, message, error: Some(e), received, .. } if *client == who => {
            Some(format!("msg {message} on conn {conn} failed ({e}) after {} reply bytes", received.len()))
        }
        Event::ConnectFailed { client, error, .. } if *client == who => Some(format!("connect failed ({error})")),
        _ => None,
    })
}

/// One connection attempt of a client and what came of it.
struct Attempt {
    /// When it began.
    start: Duration,
    /// When its first exchange was answered in full (or the connection opened, when it had none).
    served: Option<Duration>,
    /// Whether its first exchange worked (or it had none); otherwise why not.
    outcome: Result<(), String>,
    /// Whether a failure is the scenario's doing: a cut link or a kill of the server.
    cut: bool,
    /// Whether it was refused while the server was (re)starting, before it could be listening.
    restarting: bool,
}

impl View<'_> {
    /// Every connection attempt, in the order the trace recorded their outcome.
    fn attempts(&self) -> Vec<Attempt> {
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
                Event::Connected { client, conn, waited } => {
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
                            let cut = self.cut_at(*client, r.at)
                                || self.excuse(*client, Some(r.at), from, at, stalled).is_some();
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

fn survival(view: &View) -> Judgement {
    let run = view.run;
    let attempts = view.attempts();
    let mut checked = 0;
    let mut unjudged = 0;
    for record in &run.records {
        let Event::Misbehaved { client: rude, how, .. } = &record.event else { continue };
        let since = record.at;
        // The first attempt after the misbehaviour that the scenario did not spoil, and what came of it.
        match attempts.iter().find(|a| a.start >= since && (a.outcome.is_ok() || !(a.cut || a.restarting))) {
            Some(Attempt { outcome: Ok(()), .. }) => checked += 1,
            Some(Attempt { outcome: Err(why), .. }) => {
                return Judgement::fail(
                    Property::Survival,
                    format!("after client-{rude} {how} at {}, {why}", secs(since)),
                )
            }
            None => unjudged += 1, // no client came after it: nothing to judge by
        }
    }
    if checked == 0 {
        let why = if unjudged == 0 {
            "no client misbehaves in this scenario".to_string()
        } else {
            format!("no client connected after any of the {unjudged} misbehaving clients")
        };
        return Judgement::skip(Property::Survival, why);
    }
    Judgement::pass(
        Property::Survival,
        format!("a fresh client was served after each of {checked} misbehaving clients"),
    )
}

fn restart(view: &View) -> Judgement {
    let (scenario, run) = (view.scenario, view.run);
    if !scenario.restarts_server() {
        return Judgement::skip(Property::Restart, "the scenario does not restart the server");
    }
    let applied: Vec<Duration> = run
        .records
        .iter()
        .filter(|r| matches!(&r.event, Event::Fault { action } if action == "bounce" || action == "start"))
        .map(|r| r.at)
        .collect();
    let scheduled: Vec<Duration> =
        scenario.timeline.iter().filter(|f| f.action.starts_server()).map(|f| f.at).collect();
    if applied.len() < scheduled.len() {
        return Judgement::fail(
            Property::Restart,
            format!(
                "the run ended before the restart at {} happened ({} of {} restarts applied)",
                secs(scheduled[applied.len()]),
                applied.len(),
                scheduled.len()
            ),
        );
    }
    let attempts = view.attempts();
    let bound = scenario.limits.restart_within;
    let mut worst = Duration::ZERO;
    let mut unjudged = 0;
    for &t in &applied {
        let next_kill = view.kills.iter().copied().find(|&k| k > t).unwrap_or(Duration::MAX);
        // Attempts after this restart (and before the next kill) that the scenario did not spoil.
        let mut window = attempts.iter().filter(|a| a.start >= t && a.start < next_kill && !a.cut && !a.restarting);
        let Some(first) = window.next() else {
            unjudged += 1; // no client came after it: nothing to judge by
            continue;
        };
        let served = std::iter::once(first).chain(window).find(|a| a.outcome.is_ok()).and_then(|a| a.served);
        match served {
            Some(at) if at.saturating_sub(first.start) <= bound => worst = worst.max(at.saturating_sub(first.start)),
            Some(at) => {
                return Judgement::fail(
                    Property::Restart,
                    format!(
                        "after the restart at {}, clients tried to connect from {} but were first answered at {} (bound {})",
                        secs(t),
                        secs(first.start),
                        secs(at),
                        secs(bound)
                    ),
                )
            }
            None => {
                let why = run.records.iter().find_map(|r| match &r.event {
                    Event::ServerFailed { reason } if r.at >= t => Some(format!(": the {reason}")),
                    _ => None,
                });
                let first_failure = first.outcome.as_ref().err().cloned().unwrap_or_default();
                return Judgement::fail(
                    Property::Restart,
                    format!(
                        "no connection opened after the restart at {} was served{} (first: {first_failure})",
                        secs(t),
                        why.unwrap_or_default()
                    ),
                );
            }
        }
    }
    if unjudged == applied.len() {
        return Judgement::skip(Property::Restart, "no client connected after any restart");
    }
    Judgement::pass(
        Property::Restart,
        format!(
            "served again after each of {} restarts, at worst {} after the first attempt",
            applied.len() - unjudged,
            secs(worst)
        ),
    )
}

fn refusal(view: &View) -> Judgement {
    let mut checked = 0;
    let bound = view.scenario.limits.refused_within;
    for (i, spec) in view.scenario.clients.iter().enumerate() {
        if spec.expect != Expect::Refused {
            continue;
        }
        let seen = view.run.records.iter().find_map(|r| match &r.event {
            Event::Connected { client, conn, .. } if *client == i => Some(Err(format!(
                "client-{i} connected (conn {conn}) at {} to a server that should be down",
                secs(r.at)
            ))),
            Event::ConnectFailed { client, waited, .. }
                if *client == i && !view.server_down_at(r.at.saturating_sub(*waited)) =>
            {
                Some(Err(format!(
                    "client-{i} expected a refusal but the timeline has the server up at {}: fix the scenario",
                    secs(r.at.saturating_sub(*waited))
                )))
            }
            Event::ConnectFailed { client, error, waited } if *client == i => Some(if error != "refused" {
                Err(format!(
                    "client-{i}'s connect to a down server ended after {}ms with {error}, not a refusal",
                    waited.as_millis()
                ))
            } else if *waited > bound {
                Err(format!(
                    "client-{i} was refused only after {}ms (bound {}ms)",
                    waited.as_millis(),
                    bound.as_millis()
                ))
            } else {
                Ok(())
            }),
            _ => None,
        });
        match seen {
            Some(Ok(())) => checked += 1,
            Some(Err(why)) => return Judgement::fail(Property::Refusal, why),
            None => return Judgement::fail(Property::Refusal, format!("client-{i} never finished its connect")),
        }
    }
    if checked == 0 {
        return Judgement::skip(Property::Refusal, "no client connects to a down server");
    }
    Judgement::pass(
        Property::Refusal,
        format!("{checked} connects to a down server refused within {}ms", bound.as_millis()),
    )
}

fn no_leak(view: &View) -> Judgement {
    let run = view.run;
    if run.records.iter().any(|r| matches!(r.event, Event::RunFailed { .. })) {
        return Judgement::skip(Property::NoLeak, "the run did not finish");
    }
    let left = run.records.iter().rev().find_map(|r| match r.event {
        Event::ServerConnections { open } => Some((r.at, open)),
        _ => None,
    });
    // Without an idle timeout (within the drain time) a server cannot learn that a client vanished behind a
    // cut link: its FIN was lost with the link (turmoil does not retransmit). Those connections are allowed.
    let idle = view.scenario.server.config.idle_timeout;
    let abandoned = if idle.is_some_and(|t| t <= view.scenario.limits.drain) { 0 } else { abandoned(view) };
    match left {
        Some((_, 0)) => Judgement::pass(Property::NoLeak, "the server closed every connection"),
        Some((_, open)) if open <= abandoned => Judgement::pass(
            Property::NoLeak,
            format!("the server holds only the {open} connections whose clients vanished behind a cut link"),
        ),
        Some((at, open)) => Judgement::fail(
            Property::NoLeak,
            format!(
                "the server still held {open} connections at {}, {} after the last client left",
                secs(at),
                secs(view.scenario.limits.drain)
            ),
        ),
        None => Judgement::skip(Property::NoLeak, "the run recorded no connection count"),
    }
}

/// Connections a lossy cut (partition, fail rate) may have orphaned: the cut overlapped the connection's life
/// or caught its last segments (a FIN) in flight.
fn abandoned(view: &View) -> usize {
    // How long a client's last segment may be in flight: the network's latency or one the timeline set.
    let in_flight = |client: usize| {
        let set = view.scenario.timeline.iter().filter_map(|f| match &f.action {
            Action::Latency(who, d) if who.includes(client) => Some(*d),
            _ => None,
        });
        set.chain([view.scenario.network.latency.end]).max().unwrap_or_default() + Duration::from_millis(2)
    };
    view.opened
        .iter()
        .filter(|&&(conn, opened)| {
            let mut last = None;
            for r in &view.run.records {
                match &r.event {
                    Event::Exchange { client, conn: c, .. }
                    | Event::Closed { client, conn: c, .. }
                    | Event::Misbehaved { client, conn: c, .. }
                    | Event::Connected { client, conn: c, .. }
                        if *c == conn =>
                    {
                        last = Some((*client, r.at))
                    }
                    _ => {}
                }
            }
            let Some((client, ended)) = last else { return false };
            view.cuts[client].iter().any(|c| {
                c.lossy
                    && !c.what.starts_with("stop")
                    && !c.what.starts_with("crash")
                    && c.start <= ended + in_flight(client)
                    && opened <= c.end
            })
        })
        .count()
}

/// Judges determinism from two runs of the same scenario and seed.
pub fn judge_determinism(first: &Run, second: &Run) -> Judgement {
    if first.hash == second.hash {
        return Judgement::pass(Property::Determinism, format!("trace hash {:016x} twice", first.hash));
    }
    let diverged = first.records.iter().zip(&second.records).position(|(a, b)| a != b);
    let at = diverged.unwrap_or(first.records.len().min(second.records.len()));
    Judgement::fail(
        Property::Determinism,
        format!(
            "trace hashes {:016x} and {:016x} differ from event {at}: {} / {}",
            first.hash,
            second.hash,
            first.records.get(at).map_or("(end)".into(), |r| r.to_string()),
            second.records.get(at).map_or("(end)".into(), |r| r.to_string()),
        ),
    )
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{trace_hash, Record};
    use std::path::Path;

    fn scenario(extra: &str) -> Scenario {
        let text = format!("seeds = [1]\n[[clients]]\nmessages = [{{ text = \"a\" }}]\n{extra}");
        Scenario::parse(Path::new("t.toml"), &text).unwrap()
    }

    fn run_of(events: Vec<(u64, Event)>) -> Run {
        let records: Vec<Record> =
            events.into_iter().map(|(ms, event)| Record { at: Duration::from_millis(ms), event }).collect();
        Run { scenario: "t".into(), seed: 1, hash: trace_hash(&records), records }
    }

    fn verdict(scenario: &Scenario, events: Vec<(u64, Event)>, property: Property) -> Judgement {
        let run = run_of(events);
        judge(scenario, &run).into_iter().find(|j| j.property == property).unwrap()
    }

    fn exchange(conn: usize, sent: &[u8], received: &[u8], error: Option<&str>) -> Event {
        Event::Exchange {
            client: 0,
            conn,
            message: 0,
            count: 1,
            sent: sent.to_vec(),
            received: received.to_vec(),
            error: error.map(String::from),
            first_reply: None,
        }
    }

    fn connected(conn: usize) -> Event {
        Event::Connected { client: 0, conn, waited: Duration::ZERO }
    }

    #[test]
    fn integrity_locates_the_first_wrong_byte() {
        let j = echo_integrity(&run_of(vec![(1, exchange(0, b"hello world", b"HELLO_WORLD", None))]));
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.detail.contains("first difference at byte 5 of 11"), "{}", j.detail);
        assert!(j.detail.contains("expected \"ELLO WORLD\" got \"ELLO_WORLD\""), "{}", j.detail);
    }

    #[test]
    fn integrity_accepts_a_correct_prefix_only_when_the_exchange_failed() {
        let ok = |e| echo_integrity(&run_of(vec![(1, e)])).verdict;
        assert_eq!(ok(exchange(0, b"abc\xff", b"AB", Some("reset"))), Verdict::Pass);
        assert_eq!(ok(exchange(0, b"abc", b"AB", None)), Verdict::Fail);
        assert_eq!(ok(exchange(0, b"\xc3\x9fa", b"\xc3\x9fA", None)), Verdict::Pass);
        let extra = Event::Closed { client: 0, conn: 0, extra: b"X".to_vec(), error: None };
        assert_eq!(ok(extra), Verdict::Fail);
    }

    #[test]
    fn liveness_blames_a_stall_on_a_healthy_link_and_excuses_one_during_a_partition() {
        let stall = vec![(1, connected(0)), (2500, exchange(0, b"abcd", b"AB", Some("stalled")))];
        let healthy = verdict(&scenario(""), stall.clone(), Property::Liveness);
        assert_eq!(healthy.verdict, Verdict::Fail);
        assert!(
            healthy.detail.contains("connection 0 (client-0) stalled at byte 2 of 4 since 0.500s"),
            "{}",
            healthy.detail
        );
        let cut = scenario("[[timeline]]\nat_ms = 100\naction = \"partition\"\n");
        let excused = verdict(&cut, stall, Property::Liveness);
        assert_eq!(excused.verdict, Verdict::Pass, "{}", excused.detail);
        assert!(excused.detail.contains("partition all clients at 0.100s"), "{}", excused.detail);
    }

    #[test]
    fn a_hold_excuses_a_stall_but_not_an_eof() {
        let hold =
            scenario("[[timeline]]\nat_ms = 100\naction = \"hold\"\n[[timeline]]\nat_ms = 300\naction = \"release\"\n");
        let stalled = vec![(1, connected(0)), (2200, exchange(0, b"ab", b"", Some("stalled")))];
        assert_eq!(verdict(&hold, stalled, Property::Liveness).verdict, Verdict::Pass);
        let eof = vec![(1, connected(0)), (301, exchange(0, b"ab", b"", Some("eof")))];
        assert_eq!(verdict(&hold, eof, Property::Liveness).verdict, Verdict::Fail);
    }

    #[test]
    fn liveness_fails_on_a_deadline() {
        let hung = verdict(
            &scenario(""),
            vec![(1, connected(0)), (30000, Event::RunFailed { reason: "Ran for duration: 30s".into() })],
            Property::Liveness,
        );
        assert_eq!(hung.verdict, Verdict::Fail);
        assert!(hung.detail.contains("clients still busy: client-0"), "{}", hung.detail);
    }

    #[test]
    fn survival_needs_a_served_client_after_the_misbehaviour() {
        let s = scenario("");
        let rude = Event::Misbehaved { client: 0, conn: 0, how: "reset".into() };
        let served = vec![
            (10, rude.clone()),
            (20, Event::Connected { client: 1, conn: 1, waited: Duration::ZERO }),
            (30, exchange(1, b"a", b"A", None)),
        ];
        assert_eq!(verdict(&s, served, Property::Survival).verdict, Verdict::Pass);
        let refused = vec![
            (10, rude.clone()),
            (20, Event::ConnectFailed { client: 0, error: "refused".into(), waited: Duration::ZERO }),
        ];
        let j = verdict(&s, refused, Property::Survival);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(
            j.detail.contains("after client-0 reset at 0.010s, client-0's connect at 0.020s failed (refused)"),
            "{}",
            j.detail
        );
        assert_eq!(verdict(&s, vec![(10, rude)], Property::Survival).verdict, Verdict::Skip, "nobody came after");
        assert_eq!(verdict(&s, vec![], Property::Survival).verdict, Verdict::Skip);
    }

    #[test]
    fn refusal_must_be_fast_and_a_refusal() {
        let text = "seeds = [1]\n[[clients]]\nexpect = \"refused\"\nstart_ms = 10\n[[timeline]]\nat_ms = 5\naction = \"stop\"\n";
        let s = Scenario::parse(Path::new("t.toml"), text).unwrap();
        let failed = |error: &str, ms| {
            vec![(10 + ms, Event::ConnectFailed { client: 0, error: error.into(), waited: Duration::from_millis(ms) })]
        };
        assert_eq!(verdict(&s, failed("refused", 2), Property::Refusal).verdict, Verdict::Pass);
        assert_eq!(verdict(&s, failed("refused", 500), Property::Refusal).verdict, Verdict::Fail);
        assert_eq!(verdict(&s, failed("connect-timeout", 1000), Property::Refusal).verdict, Verdict::Fail);
        assert_eq!(verdict(&s, vec![(11, connected(0))], Property::Refusal).verdict, Verdict::Fail);
        // A refusal while the server is up (a partition makes turmoil refuse) proves nothing.
        let up = Scenario::parse(Path::new("t.toml"), "seeds = [1]\n[[clients]]\nexpect = \"refused\"\n").unwrap();
        let j = verdict(&up, failed("refused", 2), Property::Refusal);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.detail.contains("the timeline has the server up"), "{}", j.detail);
    }

    #[test]
    fn no_leak_reads_the_final_connection_count() {
        let s = scenario("");
        assert_eq!(
            verdict(&s, vec![(5, Event::ServerConnections { open: 0 })], Property::NoLeak).verdict,
            Verdict::Pass
        );
        let leak = verdict(&s, vec![(5, Event::ServerConnections { open: 2 })], Property::NoLeak);
        assert_eq!(leak.verdict, Verdict::Fail);
        assert!(leak.detail.contains("still held 2 connections"), "{}", leak.detail);
    }

    #[test]
    fn no_leak_allows_a_fin_lost_in_flight_on_a_slowed_link() {
        // The client closes at 20 ms; its FIN takes the 30 ms the timeline set, and a partition at 45 ms drops it.
        let cut = "[[timeline]]\nat_ms = 45\naction = \"partition\"\n[[timeline]]\nat_ms = 55\naction = \"repair\"\n";
        let slowed = scenario(&format!("[[timeline]]\nat_ms = 10\naction = \"latency\"\nms = 30\n{cut}"));
        let events = || {
            vec![
                (1, connected(0)),
                (5, exchange(0, b"a", b"A", None)),
                (20, Event::Closed { client: 0, conn: 0, extra: Vec::new(), error: None }),
                (2000, Event::ServerConnections { open: 1 }),
            ]
        };
        let j = verdict(&slowed, events(), Property::NoLeak);
        assert_eq!(j.verdict, Verdict::Pass, "{}", j.detail);
        // With no latency the FIN had arrived long before the cut: the open connection is a leak.
        let j = verdict(&scenario(cut), events(), Property::NoLeak);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.detail);
    }

    #[test]
    fn restart_must_be_served_within_the_bound() {
        let s = scenario("[[timeline]]\nat_ms = 100\naction = \"bounce\"\n");
        let bounce = Event::Fault { action: "bounce".into() };
        let quick = vec![(100, bounce.clone()), (120, connected(1)), (130, exchange(1, b"a", b"A", None))];
        assert_eq!(verdict(&s, quick, Property::Restart).verdict, Verdict::Pass);
        let slow = vec![(100, bounce.clone()), (120, connected(1)), (1500, exchange(1, b"a", b"A", None))];
        assert_eq!(verdict(&s, slow, Property::Restart).verdict, Verdict::Fail);
        let refused = |ms| (ms, Event::ConnectFailed { client: 0, error: "refused".into(), waited: Duration::ZERO });
        let back_soon =
            vec![(100, bounce.clone()), refused(101), (130, connected(1)), (140, exchange(1, b"a", b"A", None))];
        assert_eq!(verdict(&s, back_soon, Property::Restart).verdict, Verdict::Pass);
        let never_back = vec![(100, bounce.clone()), refused(150), refused(1200)];
        let j = verdict(&s, never_back, Property::Restart);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.detail.contains("(first: client-0's connect at 0.150s failed (refused))"), "{}", j.detail);
        let nobody = vec![(100, bounce)];
        assert_eq!(verdict(&s, nobody, Property::Restart).verdict, Verdict::Skip);
    }

    #[test]
    fn determinism_points_at_the_divergence() {
        let a = run_of(vec![(1, exchange(0, b"a", b"A", None)), (2, exchange(0, b"b", b"B", None))]);
        let b = run_of(vec![(1, exchange(0, b"a", b"A", None)), (2, exchange(0, b"c", b"C", None))]);
        assert_eq!(judge_determinism(&a, &a.clone()).verdict, Verdict::Pass);
        let j = judge_determinism(&a, &b);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.detail.contains("differ from event 1"), "{}", j.detail);
    }
}
