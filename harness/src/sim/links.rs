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

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::model::scenario::{Action, LinkState, RETRANSMIT_AFTER};
use crate::model::script::Log;
use crate::model::trace::Event;

use super::process::FinRoom;
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
    /// What the clients' sockets see of their links.
    flags: Arc<LinkFlags>,
    /// Per client: its host is in the simulation (a latecomer's joins when it starts); turmoil has no link to an
    /// absent one, so its cuts reach turmoil when it arrives.
    present: Vec<bool>,
}

/// What a client's sockets need to know of its link, shared with them (see [`ClientSocket`]): whether it is cut now
/// (a connect then waits for the heal, as a SYN is retransmitted, instead of leaving a SYN behind that turmoil
/// would deliver after the client gave up on it), and how often its connections were given up (a socket opened
/// before a give-up is dead: its calls fail with `TimedOut`, as the kernel's do after it gave up retransmitting).
pub struct LinkFlags {
    /// Per client: the link holds segments back.
    cut: Vec<AtomicBool>,
    /// Per client: give-ups so far.
    given_up: Vec<AtomicUsize>,
}

impl LinkFlags {
    /// Whether client `client`'s link is cut now.
    pub(super) fn cut(&self, client: usize) -> bool {
        self.cut[client].load(Ordering::Relaxed)
    }

    /// How many times client `client`'s connections were given up so far.
    pub(super) fn given_up(&self, client: usize) -> usize {
        self.given_up[client].load(Ordering::Relaxed)
    }
}

/// One client's link.
#[derive(Default)]
struct Link {
    /// What the timeline's faults have done to it.
    state: LinkState,
    /// Until when a random failure delays it.
    failed_until: Duration,
    /// Since when the timeline cuts it, while it does (the fault's time): the give-up counts from it. Random
    /// failures never add up to a give-up (each is one retransmission timeout).
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
        let flags = Arc::new(LinkFlags {
            cut: names.iter().map(|_| AtomicBool::new(false)).collect(),
            given_up: names.iter().map(|_| AtomicUsize::new(0)).collect(),
        });
        let present = names.iter().map(|_| true).collect();
        Links { names, links, fail_rate: 0.0, rng, give_up, flags, present }
    }

    /// Client `client`'s host is (`true`) or is not yet (`false`) in the simulation.
    pub(super) fn set_present(&mut self, client: usize, present: bool) {
        self.present[client] = present;
    }

    /// What the clients' sockets see.
    pub(super) fn flags(&self) -> Arc<LinkFlags> {
        self.flags.clone()
    }

    /// Takes a timeline action at `at` that concerns links (partition, repair, hold, release, fail rate); returns
    /// whether it was one.
    pub(super) fn apply(&mut self, action: &Action, at: Duration) -> bool {
        if let Action::FailRate(rate) = action {
            self.fail_rate = *rate;
            return true;
        }
        let mut touched = false;
        for (i, link) in self.links.iter_mut().enumerate() {
            let was = link.state.cut();
            touched |= link.state.apply(action, i);
            match (was, link.state.cut()) {
                (false, true) => link.since = Some(at),
                (true, false) => link.since = None,
                _ => {}
            }
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
            if !self.present[i] {
                continue;
            }
            match (link.mode, cut) {
                (Mode::Open, true) => {
                    sim.hold(SERVER_HOST, name);
                    link.mode = Mode::Held;
                }
                (Mode::Held, true) => {
                    // Only the timeline's cut gives up (`since` is its start); a random failure never does.
                    if let Some(since) = link.since.filter(|since| now.saturating_sub(*since) >= self.give_up) {
                        // Dropping what is held kills the connections (turmoil's TCP never resends a lost
                        // segment: what follows one waits for it for good); new segments are held again, so a
                        // connect waits for the repair, as a SYN is retransmitted.
                        sim.partition(SERVER_HOST, name);
                        sim.hold(SERVER_HOST, name);
                        link.mode = Mode::GivenUp;
                        self.flags.given_up[i].fetch_add(1, Ordering::Relaxed);
                        log.push(now, Event::GaveUp { client: i, since });
                    }
                }
                (Mode::Held | Mode::GivenUp, false) => {
                    sim.release(SERVER_HOST, name);
                    link.mode = Mode::Open;
                }
                (Mode::Open, false) | (Mode::GivenUp, true) => {}
            }
            self.flags.cut[i].store(link.mode != Mode::Open, Ordering::Relaxed);
        }
    }
}

/// A client's simulated stream: turmoil's, with the FIN fix of [`FinRoom`], dead once its link was given up.
pub struct ClientSocket {
    /// turmoil's stream.
    inner: turmoil::net::TcpStream,
    /// The shutdown's wait for room.
    fin: FinRoom,
    /// Its client's link.
    flags: Arc<LinkFlags>,
    /// The client's index.
    client: usize,
    /// The link's give-ups when it connected: after another one, the connection is dead.
    born: usize,
}

impl ClientSocket {
    /// Wraps a stream client `client` connected.
    pub(super) fn new(inner: turmoil::net::TcpStream, flags: Arc<LinkFlags>, client: usize) -> Self {
        let born = flags.given_up(client);
        ClientSocket { inner, fin: FinRoom::default(), flags, client, born }
    }

    /// The port of the client's end.
    pub fn local_port(&self) -> u16 {
        self.inner.local_addr().map_or(0, |a| a.port())
    }

    /// The turmoil stream, for `peek`; fails once the connection was given up.
    pub fn get_mut(&mut self) -> io::Result<&mut turmoil::net::TcpStream> {
        self.alive()?;
        Ok(&mut self.inner)
    }

    /// Fails once the connection was given up.
    fn alive(&self) -> io::Result<()> {
        if self.flags.given_up(self.client) == self.born {
            return Ok(());
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, "the connection was given up: its link was cut for give_up_ms"))
    }
}

impl AsyncRead for ClientSocket {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.alive()?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientSocket {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.alive()?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.alive()?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.alive()?;
        let this = &mut *self;
        this.fin.poll_shutdown(Pin::new(&mut this.inner), cx)
    }
}
