//! When the timeline cuts a client's link to the server, read as TCP lives through it: a cut (a partition either
//! way, a hold) only delays the bytes in flight, which are retransmitted once it heals, unless it lasts longer
//! than `[limits] give_up_ms`, when the connections on it end. Both runners play cuts by these spans and the
//! oracles judge by them, so the three agree on what a cut did.

use std::time::Duration;

use super::types::{Action, Direction, Scenario};

/// A span during which the timeline keeps one client's link to the server cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkCut {
    /// When the first fault of the span cut the link.
    pub start: Duration,
    /// When the last one healed it (`None`: never, within the timeline).
    pub end: Option<Duration>,
    /// The fault that began it, for evidence.
    pub what: String,
}

impl LinkCut {
    /// When the connections on the link end because the cut outlasted `give_up` (`None`: it heals first).
    pub fn given_up_at(&self, give_up: Duration) -> Option<Duration> {
        let at = self.start + give_up;
        match self.end {
            Some(end) if end <= at => None,
            _ => Some(at),
        }
    }
}

/// Whether one client's link is cut, as the timeline's faults so far have left it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkState {
    /// Partitioned towards the server.
    pub to_server: bool,
    /// Partitioned towards the client.
    pub from_server: bool,
    /// Held.
    pub held: bool,
}

impl LinkState {
    /// Applies `action` to client `client`'s link; returns whether it touched the link.
    pub fn apply(&mut self, action: &Action, client: usize) -> bool {
        let set = |d: &Direction, to: &mut bool, from: &mut bool, value: bool| match d {
            Direction::Both => (*to, *from) = (value, value),
            Direction::ToServer => *to = value,
            Direction::FromServer => *from = value,
        };
        match action {
            Action::Partition(who, d) if who.includes(client) => {
                set(d, &mut self.to_server, &mut self.from_server, true)
            }
            Action::Repair(who, d) if who.includes(client) => set(d, &mut self.to_server, &mut self.from_server, false),
            Action::Hold(who) if who.includes(client) => self.held = true,
            Action::Release(who) if who.includes(client) => self.held = false,
            _ => return false,
        }
        true
    }

    /// Whether the link carries nothing.
    pub fn cut(&self) -> bool {
        self.to_server || self.from_server || self.held
    }
}

impl Scenario {
    /// The spans during which the timeline cuts client `client`'s link (random failures of `fail_rate` are not
    /// in them: see [`Scenario::lossy_periods`]).
    pub fn link_cuts(&self, client: usize) -> Vec<LinkCut> {
        let mut state = LinkState::default();
        let mut out: Vec<LinkCut> = Vec::new();
        for fault in &self.timeline {
            let was = state.cut();
            if !state.apply(&fault.action, client) {
                continue;
            }
            match (was, state.cut()) {
                (false, true) => out.push(LinkCut { start: fault.at, end: None, what: fault.action.describe() }),
                (true, false) => {
                    if let Some(last) = out.last_mut() {
                        last.end = Some(fault.at);
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The spans during which links fail at random (`fail_rate` above 0): each failure delays what is in flight
    /// by [`super::RETRANSMIT_AFTER`].
    pub fn lossy_periods(&self) -> Vec<(Duration, Option<Duration>)> {
        let mut out: Vec<(Duration, Option<Duration>)> = Vec::new();
        let mut failing = false;
        for fault in &self.timeline {
            if let Action::FailRate(rate) = fault.action {
                match (failing, rate > 0.0) {
                    (false, true) => out.push((fault.at, None)),
                    (true, false) => {
                        if let Some(last) = out.last_mut() {
                            last.1 = Some(fault.at);
                        }
                    }
                    _ => {}
                }
                failing = rate > 0.0;
            }
        }
        out
    }
}
