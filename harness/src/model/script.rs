//! The scenario clients' programs, written once for every runner.
//!
//! A [`ClientScript`] plays one `[[clients]]` entry of a scenario: connects, converses (batches of `pipeline`
//! messages, reconnecting if it may), ends as its `end` says, and records every step as an [`Event`]. It reaches
//! the server through a [`Wire`]: turmoil's network in the simulator, a fault proxy on loopback on real sockets.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::model::faults::Shaped;
use crate::model::scenario::{ClientSpec, EmptyPolicy, End, Expect, Limits, Quiet};
use crate::model::trace::{Event, Record};
use crate::sut::client::{Client, ClientError, Timeouts};
use crate::sut::net::Stream;

/// How a client reaches the server, and the run's clock.
pub trait Wire: Send + Sync + 'static {
    /// A connected stream.
    type Stream: Stream;

    /// Connects to the server. Unbounded in time: the script puts its timeout around it.
    fn connect(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Waits until `stream` has a byte to read, without reading it.
    fn peek(stream: &mut Self::Stream, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send;

    /// Time since the run began.
    fn now(&self) -> Duration;

    /// The port of `stream`'s own end: the server sees the connection come from it, which ties what the server's
    /// side observed to the client's connection.
    fn local_port(stream: &Self::Stream) -> u16;
}

/// The shared event log of one run.
#[derive(Clone, Default)]
pub struct Log {
    /// The records, in the order of recording.
    records: Arc<Mutex<Vec<Record>>>,
    /// How many clients have recorded that they are done (a client that starts after the others waits for it).
    done: Arc<AtomicUsize>,
}

impl Log {
    /// Records `event` at `at`.
    pub fn push(&self, at: Duration, event: Event) {
        if matches!(event, Event::ClientDone { .. }) {
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        self.records.lock().expect("log lock").push(Record { at, event });
    }

    /// Everything recorded, in the order of recording.
    pub fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *self.records.lock().expect("log lock"))
    }

    /// How many clients are done.
    pub fn clients_done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }
}

/// An open connection of a script: the client on it, its run-wide number, and when its connect began.
type Connection<W> = (Client<Shaped<<W as Wire>::Stream>>, usize, Duration);

/// How many times one message is resent on fresh connections before its client gives up on it.
const MAX_ATTEMPTS_PER_MESSAGE: usize = 4;
/// Pause between reconnect attempts.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// One client's program.
pub struct ClientScript<W: Wire> {
    /// Index of the client in the scenario.
    pub index: usize,
    /// Its part of the scenario.
    pub spec: ClientSpec,
    /// Its messages' bytes under this seed.
    pub messages: Vec<Vec<u8>>,
    /// Timeouts and the reconnect budget.
    pub limits: Limits,
    /// Where it reports.
    pub log: Log,
    /// The run-wide connection counter.
    pub conns: Arc<AtomicUsize>,
    /// Seeds its stream shaping.
    pub seed: u64,
    /// Its network.
    pub wire: W,
    /// How many clients do not start after the others (those an `after_others` client waits for).
    pub others: usize,
    /// When the scenario's last fault happens.
    pub timeline_end: Duration,
}

impl<W: Wire> ClientScript<W> {
    /// The program of client `index` of `scenario` under the run's `seed`, sending `messages` (its part of
    /// [`crate::model::scenario::Scenario::materialize`]) over `wire`.
    pub fn new(
        scenario: &crate::model::scenario::Scenario,
        index: usize,
        messages: Vec<Vec<u8>>,
        seed: u64,
        (log, conns): (Log, Arc<AtomicUsize>),
        wire: W,
    ) -> Self {
        ClientScript {
            index,
            spec: scenario.clients[index].clone(),
            messages,
            limits: scenario.limits.clone(),
            log,
            conns,
            seed: seed ^ (index as u64 + 1).wrapping_mul(0xe703_7ed1_a0b4_28db),
            wire,
            others: scenario.clients.iter().filter(|c| !c.after_others).count(),
            timeline_end: scenario.timeline.last().map_or(Duration::ZERO, |f| f.at),
        }
    }

    /// Plays the client's part: waits for its start, converses, ends as the scenario says, reports it is done.
    pub async fn play(self) {
        if self.spec.after_others {
            // Once every client that does not wait so is done and the timeline has played out.
            let others = self.others;
            let timeline_end = self.timeline_end;
            while self.log.clients_done() < others || self.wire.now() < timeline_end {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        tokio::time::sleep(self.spec.start).await;
        let answered = match (self.spec.expect, self.spec.end) {
            (Expect::Refused, _) => {
                self.expect_refusal().await;
                0
            }
            (Expect::Served, End::HalfClose) => self.half_close_all().await,
            (Expect::Served | Expect::IdleClose(_), _) => self.converse().await,
        };
        self.log(Event::ClientDone { client: self.index, answered, of: self.spec.planned() });
    }

    /// Sends its messages (in batches of `pipeline`), then ends as the script says. Returns messages answered.
    async fn converse(&self) -> usize {
        let planned = self.spec.planned();
        let mut answered = 0;
        let mut current: Option<Connection<W>> = None;
        let mut attempts = 0;
        while answered < planned {
            let (client, conn, _) = match current.as_mut() {
                Some(c) => c,
                None => match self.connect().await {
                    Some(c) => current.insert(c),
                    None => break,
                },
            };
            let conn = *conn;
            let batch = answered..(answered + self.spec.pipeline).min(planned);
            let result = self.exchange(client, conn, batch.clone()).await;
            if result.is_ok() {
                answered = batch.end;
                attempts = 0;
                continue;
            }
            current = None;
            attempts += 1;
            if !self.spec.reconnect || attempts >= MAX_ATTEMPTS_PER_MESSAGE {
                break;
            }
        }
        if current.is_none() && planned == 0 && self.spec.expect != Expect::Refused {
            // Nothing to send before it ends (`end_after = 0`, no messages): it still connects, then ends.
            current = self.connect().await;
        }
        let Some((client, conn, opened)) = current else { return answered };
        if answered < planned {
            return answered;
        }
        if let Some(quiet) = self.spec.quiet() {
            self.go_quiet(quiet, client, conn, opened).await;
            return answered;
        }
        match self.spec.end {
            End::Close | End::HalfClose => {
                let (extra, error) = match client.half_close().await {
                    Ok(extra) => (extra, None),
                    Err(e) => (Vec::new(), Some(e.kind().to_string())),
                };
                self.log(Event::Closed { client: self.index, conn, extra, error });
            }
            End::Fin => {
                drop(client); // everything was read: a FIN
                self.misbehaved(conn, "closed abruptly (FIN)");
            }
            End::Reset => {
                let mut stream = client.into_inner();
                let last = &self.messages[self.spec.end_after];
                let _ = tokio::time::timeout(self.limits.io_timeout, stream.write_all(last)).await;
                // Wait until its reply is there, so closing with it unread is a RST.
                let mut probe = [0u8; 1];
                let _ = tokio::time::timeout(self.limits.io_timeout, W::peek(stream.get_mut(), &mut probe)).await;
                drop(stream);
                self.misbehaved(conn, "reset with a reply unread (RST)");
            }
            End::DieMidMessage => {
                let mut stream = client.into_inner();
                let next = &self.messages[self.spec.end_after];
                let _ = tokio::time::timeout(self.limits.io_timeout, stream.write_all(&next[..next.len() / 2])).await;
                // A process dying with the first echoed bytes unread: the kernel answers with RST.
                let mut probe = [0u8; 1];
                let _ = tokio::time::timeout(self.limits.io_timeout, W::peek(stream.get_mut(), &mut probe)).await;
                drop(stream);
                self.misbehaved(conn, &format!("died after {} of {} bytes of a message", next.len() / 2, next.len()));
            }
        }
        answered
    }

    /// Goes quiet on `conn` (opened at `opened`) after its answered messages, as `quiet` says, and records how the
    /// connection ended.
    async fn go_quiet(&self, quiet: Quiet, client: Client<Shaped<W::Stream>>, conn: usize, opened: Duration) {
        match quiet {
            Quiet::Silent => {
                // Quiet from its last write (or its connect): read, expecting the idle timeout's close and no byte.
                let quiet_since = self.at(client.last_sent()).unwrap_or(opened);
                let mut stream = client.into_inner();
                let (mut extra, mut chunk) = (Vec::new(), [0u8; 4096]);
                let how = loop {
                    match tokio::time::timeout(self.limits.io_timeout, stream.read(&mut chunk)).await {
                        Err(_) => break "stalled".to_string(),
                        Ok(Ok(0)) => break "eof".to_string(),
                        Ok(Ok(n)) => extra.extend_from_slice(&chunk[..n]),
                        Ok(Err(e)) => break io_kind(&e).to_string(),
                    }
                };
                self.log(Event::IdleClosed { client: self.index, conn, quiet_since, how, extra });
            }
            Quiet::StopReading => {
                let quiet_since = self.at(client.last_sent()).unwrap_or(opened);
                let mut stream = client.into_inner();
                let mut last_write = tokio::time::Instant::now();
                for message in &self.messages[self.spec.end_after..] {
                    // Written whole; none of its reply is read.
                    match tokio::time::timeout(self.limits.io_timeout, stream.write_all(message)).await {
                        Ok(Ok(())) => last_write = tokio::time::Instant::now(),
                        Ok(Err(e)) => {
                            // The server closed the connection: its idle timeout (judged against `quiet_since`).
                            let how = io_kind(&e).to_string();
                            self.log(Event::IdleClosed { client: self.index, conn, quiet_since, how, extra: vec![] });
                            return;
                        }
                        Err(_) => break, // the server stopped reading too: both windows are full
                    }
                }
                // Hold the connection without reading (the server's idle timeout may cut it), then leave.
                tokio::time::sleep_until(last_write + self.limits.io_timeout).await;
                drop(stream);
                let unread = self.messages.len() - self.spec.end_after;
                self.misbehaved(
                    conn,
                    &format!("stopped reading: left with the replies to {unread} messages unread (RST)"),
                );
            }
        }
    }

    /// Records an event at the run's current time.
    fn log(&self, event: Event) {
        self.log.push(self.wire.now(), event);
    }

    /// The run's time of an instant of the client's clock.
    fn at(&self, instant: Option<tokio::time::Instant>) -> Option<Duration> {
        instant.map(|i| self.wire.now().saturating_sub(i.elapsed()))
    }

    fn misbehaved(&self, conn: usize, how: &str) {
        self.log(Event::Misbehaved { client: self.index, conn, how: how.into() });
    }

    /// One batch on `conn`: logged, whatever happens.
    async fn exchange(
        &self,
        client: &mut Client<Shaped<W::Stream>>,
        conn: usize,
        batch: std::ops::Range<usize>,
    ) -> Result<(), ()> {
        if self.spec.zero_writes {
            // A 0-byte write sends nothing; it must not disturb the conversation.
            let _ = client.stream_mut().write(&[]).await;
        }
        let sent: Vec<u8> = self.messages[batch.clone()].concat();
        let mut received = Vec::new();
        let result = if sent.is_empty() && self.spec.empty == EmptyPolicy::Wait {
            // The tutorial's bug: send the empty message and wait for its reply.
            let _ = client.stream_mut().write(&[]).await;
            let mut one = [0u8; 1];
            match tokio::time::timeout(self.limits.io_timeout, client.stream_mut().read(&mut one)).await {
                Ok(Ok(0)) => Err("eof".to_string()),
                Ok(Ok(_)) => {
                    received.push(one[0]);
                    Err("reply to an empty message".to_string())
                }
                Ok(Err(_)) => Err("io-error".to_string()),
                Err(_) => Err("stalled".to_string()),
            }
        } else {
            client.echo_into(&sent, &mut received).await.map_err(|e| e.kind().to_string())
        };
        let first_reply = self.at(client.first_reply());
        self.log(Event::Exchange {
            client: self.index,
            conn,
            message: batch.start,
            count: batch.len(),
            sent,
            received,
            error: result.as_ref().err().cloned(),
            first_reply,
        });
        result.map_err(|_| ())
    }

    /// Writes every message without waiting, half-closes, reads all replies to EOF.
    async fn half_close_all(&self) -> usize {
        let Some((mut client, conn, _)) = self.connect().await else { return 0 };
        let sent = self.messages.concat();
        let mut received = Vec::new();
        let result = client.send_and_half_close(&sent, &mut received).await;
        let error = result.as_ref().err().map(|e| match e {
            // Everything sent, the write side shut, and the server closed too soon: not all of it came back.
            ClientError::Eof { .. } => "incomplete-at-eof".to_string(),
            e => e.kind().to_string(),
        });
        self.log(Event::Exchange {
            client: self.index,
            conn,
            message: 0,
            count: self.messages.len(),
            sent,
            received,
            error: error.clone(),
            first_reply: self.at(client.first_reply()),
        });
        if error.is_some() {
            return 0; // the exchange's event tells the failure
        }
        self.log(Event::Closed { client: self.index, conn, extra: Vec::new(), error: None });
        self.messages.len()
    }

    /// Connects to a server that should be down and records what happened.
    async fn expect_refusal(&self) {
        let started = tokio::time::Instant::now();
        match tokio::time::timeout(self.limits.connect_timeout, self.wire.connect()).await {
            Ok(Ok(stream)) => {
                let conn = self.conns.fetch_add(1, Ordering::Relaxed);
                let port = W::local_port(&stream);
                self.log(Event::Connected { client: self.index, conn, waited: started.elapsed(), port });
                let _ = Client::from_stream(stream, self.timeouts()).close().await;
            }
            Ok(Err(e)) => {
                let error = if e.kind() == std::io::ErrorKind::ConnectionRefused { "refused" } else { "connect-error" };
                self.log(Event::ConnectFailed { client: self.index, error: error.into(), waited: started.elapsed() })
            }
            Err(_) => self.log(Event::ConnectFailed {
                client: self.index,
                error: "connect-timeout".into(),
                waited: started.elapsed(),
            }),
        }
    }

    fn timeouts(&self) -> Timeouts {
        Timeouts { connect: self.limits.connect_timeout, io: self.limits.io_timeout }
    }

    /// Connects, retrying within the reconnect budget when the client reconnects. Returns the client, the
    /// connection's number and when its successful attempt began.
    async fn connect(&self) -> Option<Connection<W>> {
        let give_up = tokio::time::Instant::now() + self.limits.reconnect_within;
        loop {
            let (started, began) = (tokio::time::Instant::now(), self.wire.now());
            let connected = tokio::time::timeout(self.limits.connect_timeout, self.wire.connect()).await;
            let error = match connected {
                Ok(Ok(stream)) => {
                    let conn = self.conns.fetch_add(1, Ordering::Relaxed);
                    let port = W::local_port(&stream);
                    self.log(Event::Connected { client: self.index, conn, waited: started.elapsed(), port });
                    let seed = self.seed ^ (conn as u64).wrapping_mul(0x8ebc_6af0_9c88_c6e3);
                    let stream = Shaped::new(stream, self.spec.shaping, seed);
                    return Some((Client::from_stream(stream, self.timeouts()), conn, began));
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => "refused",
                Ok(Err(_)) => "connect-error",
                Err(_) => "connect-timeout",
            };
            self.log(Event::ConnectFailed { client: self.index, error: error.into(), waited: started.elapsed() });
            if !self.spec.reconnect || tokio::time::Instant::now() + RECONNECT_PAUSE > give_up {
                return None;
            }
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
}

/// The trace's word for an I/O error, as [`ClientError::kind`] says it.
fn io_kind(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionReset => "reset",
        io::ErrorKind::BrokenPipe => "broken-pipe",
        io::ErrorKind::TimedOut => "timed-out",
        _ => "io-error",
    }
}
