//! The links between the server and each client, played as TCP lives through faults, on top of turmoil.
//!
//! turmoil drops every segment of a partitioned or randomly failed link for good, and nothing retransmits them:
//! a 10 ms partition would kill a connection that real TCP carries on after a short delay. So the runner never
//! uses turmoil's partitions or random failures for the timeline's cuts. A cut link (partitioned either way, or
//! held) is *held* in turmoil: its segments wait and are delivered, in order, when it heals, as retransmission
//! would deliver them. A cut that lasts past `[limits] give_up_ms` is given up, as the kernel gives up
//! retransmitting: turmoil drops what the link held, so the connections on it are dead (logged as
//! [`Event::GaveUp`]), and holds what comes next until the cut heals. A `fail_rate` link fails at random, per tick; each failure delays what is
//! in flight on it by the retransmission timeout ([`RETRANSMIT_AFTER`]).
//!
//! turmoil holds a link in both directions at once, so a one-way cut delays both directions here (through the
//! real backend's proxy, only the cut one).

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::model::scenario::{Action, LinkState, RETRANSMIT_AFTER};
use crate::model::script::Log;
use crate::model::trace::Event;

use super::target::SERVER_HOST;

/// The runner's view of every client's link to the server.
pub(super) struct Links {
    /// The clients' host names, by index.
    names: Vec<String>,
    /// Each client's link.
    links: Vec<Link>,
    /// The `fail_rate` in force.
    fail_rate: f64,
    /// Draws the random failures: seeded by the run's seed, so a run replays.
    rng: SmallRng,
    /// `[limits] give_up_ms`.
    give_up: Duration,
}

/// One client's link.
#[derive(Default)]
struct Link {
    /// What the timeline's faults have done to it.
    state: LinkState,
    /// Until when a random failure delays it.
    failed_until: Duration,
    /// Since when it is cut, while it is.
    since: Option<Duration>,
    /// What turmoil has been told.
    mode: Mode,
}

/// What turmoil does to a link.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Delivers.
    #[default]
    Open,
    /// Holds every segment.
    Held,
    /// Holds every segment, after dropping what it held when the cut outlasted the give-up time.
    GivenUp,
}

impl Links {
    pub(super) fn new(names: Vec<String>, seed: u64, give_up: Duration) -> Links {
        let links = names.iter().map(|_| Link::default()).collect();
        let rng = SmallRng::seed_from_u64(seed ^ 0x6c69_6e6b_735f_7463); // "links_tc"
        Links { names, links, fail_rate: 0.0, rng, give_up }
    }

    /// Takes a timeline action that concerns links (partition, repair, hold, release, fail rate); returns
    /// whether it was one.
    pub(super) fn apply(&mut self, action: &Action) -> bool {
        if let Action::FailRate(rate) = action {
            self.fail_rate = *rate;
            return true;
        }
        let mut touched = false;
        for (i, link) in self.links.iter_mut().enumerate() {
            touched |= link.state.apply(action, i);
        }
        touched
    }

    /// Brings turmoil's links in line with the cuts at `now`, before the tick at `now` is stepped.
    pub(super) fn tick(&mut self, sim: &mut turmoil::Sim<'_>, log: &Log) {
        let now = sim.elapsed();
        for (i, link) in self.links.iter_mut().enumerate() {
            let name = self.names[i].as_str();
            if self.fail_rate > 0.0
                && !link.state.cut()
                && now >= link.failed_until
                && self.rng.random_bool(self.fail_rate.min(1.0))
            {
                link.failed_until = now + RETRANSMIT_AFTER;
            }
            let cut = link.state.cut() || now < link.failed_until;
            match (link.mode, cut) {
                (Mode::Open, true) => {
                    sim.hold(SERVER_HOST, name);
                    link.since = Some(now);
                    link.mode = Mode::Held;
                }
                (Mode::Held, true) => {
                    let since = link.since.unwrap_or(now);
                    if now.saturating_sub(since) >= self.give_up {
                        // Dropping what is held kills the connections (turmoil's TCP never resends a lost
                        // segment: what follows one waits for it for good); new segments are held again, so a
                        // connect waits for the repair, as a SYN is retransmitted.
                        sim.partition(SERVER_HOST, name);
                        sim.hold(SERVER_HOST, name);
                        link.mode = Mode::GivenUp;
                        log.push(now, Event::GaveUp { client: i, since });
                    }
                }
                (Mode::Held, false) => {
                    sim.release(SERVER_HOST, name);
                    link.mode = Mode::Open;
                    link.since = None;
                }
                (Mode::GivenUp, false) => {
                    sim.release(SERVER_HOST, name);
                    link.mode = Mode::Open;
                    link.since = None;
                }
                (Mode::Open, false) | (Mode::GivenUp, true) => {}
            }
        }
    }
}
