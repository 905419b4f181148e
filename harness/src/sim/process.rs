//! A simulated server process's sockets, so that killing the process is deterministic.
//!
//! turmoil kills a host by dropping its tokio runtime, which drops the host's tasks in an order set by tokio's
//! process-wide task ids (the tasks sit in a list sharded by id). Each dropped socket sends a FIN or a RST, so
//! the order of those segments, and the latencies drawn for them, would depend on how many tasks the process
//! spawned before: the same seed would give another trace after another scenario ran in the same process.
//!
//! The runner therefore hands the target a [`ProcessListener`] whose streams are registered in accept order.
//! To kill the server it first closes every registered socket in that order, from inside the host, and only
//! then lets turmoil drop the runtime, when no socket is left to send anything.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::model::faults::{Shaped, Shaping};
use crate::model::script::Log;
use crate::model::trace::Event;
use crate::sut::net::Listener;

type Slot = Arc<Mutex<Option<turmoil::net::TcpStream>>>;

/// The open sockets of one server incarnation, in accept order.
#[derive(Clone, Default)]
pub struct Sockets {
    /// Slots of accepted streams; an emptied slot is a closed stream.
    slots: Arc<Mutex<Vec<Slot>>>,
    /// Set when the process is being killed: the closes that follow are the kill's, not the server's decisions.
    dying: Arc<AtomicBool>,
}

impl Sockets {
    fn register(&self, stream: turmoil::net::TcpStream) -> Slot {
        let slot = Arc::new(Mutex::new(Some(stream)));
        let mut slots = self.slots.lock().expect("sockets lock");
        slots.retain(|s| s.lock().expect("slot lock").is_some());
        slots.push(slot.clone());
        slot
    }

    /// Marks the process as dying, before its tasks are dropped: their streams' closes are then not recorded as
    /// the server's (see `Watch`).
    pub fn dying(&self) {
        self.dying.store(true, Ordering::Relaxed);
    }

    /// How many accepted streams the server still holds open.
    pub fn open(&self) -> usize {
        self.slots.lock().expect("sockets lock").iter().filter(|s| s.lock().expect("slot lock").is_some()).count()
    }

    /// Closes every open socket, oldest first, as the kernel does when a process dies: a socket with unread
    /// data sends RST, the others FIN. Must run inside the host.
    /// Returns how many were still open.
    pub fn kill_all(&self) -> usize {
        self.dying();
        let slots = std::mem::take(&mut *self.slots.lock().expect("sockets lock"));
        let mut open = 0;
        for slot in slots {
            open += usize::from(slot.lock().expect("slot lock").take().is_some());
        }
        open
    }
}

/// The listener a simulated target serves: turmoil's, with every accepted stream registered and shaped by the
/// scenario's server-side stream faults.
pub struct ProcessListener {
    /// turmoil's listener.
    inner: turmoil::net::TcpListener,
    /// Where accepted streams are registered.
    sockets: Sockets,
    /// Partial sends and short reads on the server's side.
    shaping: Shaping,
    /// Seeds each accepted stream's shaping, so chunk sizes follow the run's seed.
    seed: u64,
    /// Streams accepted so far, mixed into each stream's seed.
    accepted: u64,
    /// Where the server's closes are recorded (see [`Watch`]).
    log: Log,
}

impl ProcessListener {
    /// Wraps `inner`, registering its streams in `sockets`, shaping them with `shaping` under `seed`, and
    /// recording in `log` when the server closes one first.
    pub fn new(inner: turmoil::net::TcpListener, sockets: Sockets, shaping: Shaping, seed: u64, log: Log) -> Self {
        ProcessListener { inner, sockets, shaping, seed, accepted: 0, log }
    }
}

impl Listener for ProcessListener {
    type Stream = Shaped<ProcessStream>;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = self.inner.accept().await?;
        self.accepted += 1;
        let watch = Watch::new(self.log.clone(), peer, self.sockets.dying.clone());
        let stream = ProcessStream::new(self.sockets.register(stream), watch);
        let seed = self.seed ^ self.accepted.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Ok((Shaped::new(stream, self.shaping, seed), peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted stream of a simulated server process; after the process is killed every call fails.
pub struct ProcessStream {
    /// Shared with [`Sockets`], which empties it on a kill.
    slot: Slot,
    /// The shutdown's wait for room (see [`FinRoom`]).
    fin: FinRoom,
    /// What was read ahead while a write waited (see [`ProcessStream::poll_write`]), served to the next reads.
    ahead: ReadAhead,
    /// The tasks waiting on the read side: the reader's and the read-ahead's of a pending write.
    waiters: Arc<ReadWaiters>,
    /// Wakes every task in `waiters`: the one waker turmoil's read side is given.
    read_waker: Waker,
    /// What the server did with the connection, for the oracles.
    watch: Watch,
}

/// The server's side of one connection as the oracles need it: when the server last moved bytes on it (read or
/// written), and whether it closed it before its client did, recorded as [`Event::ServerClosed`] when the server
/// closes it (a server's idle timeout is judged by it).
struct Watch {
    /// Where the close is recorded.
    log: Log,
    /// The client host's index (from its name, `client-N`), if the peer is one.
    client: Option<usize>,
    /// The client's port.
    port: u16,
    /// When the server last read or wrote bytes (when it accepted the connection, before any).
    last_progress: Duration,
    /// The client closed or reset its side first: a close of the server's side now is no decision of its own.
    peer_closed: bool,
    /// The close was seen already.
    closed: bool,
    /// The process is being killed ([`Sockets::dying`]): a close now is not the server's.
    dying: Arc<AtomicBool>,
}

impl Watch {
    fn new(log: Log, peer: SocketAddr, dying: Arc<AtomicBool>) -> Watch {
        let client = turmoil::reverse_lookup(peer.ip())
            .and_then(|name| name.strip_prefix("client-").and_then(|n| n.parse().ok()));
        Watch { log, client, port: peer.port(), last_progress: now(), peer_closed: false, closed: false, dying }
    }

    /// The server read `n` bytes (0: EOF).
    fn read(&mut self, n: usize) {
        if n == 0 {
            self.peer_closed = true;
        } else {
            self.last_progress = now();
        }
    }

    /// The server wrote `n` bytes.
    fn wrote(&mut self, n: usize) {
        if n > 0 {
            self.last_progress = now();
        }
    }

    /// The server closed its side (a shutdown, or the stream dropped).
    fn close(&mut self, ahead: &ReadAhead) {
        let first = !(self.peer_closed || ahead.eof || ahead.error.is_some());
        // Outside the simulation (the simulation itself being dropped at the end of a run) nothing is recorded.
        let dying = self.dying.load(Ordering::Relaxed);
        if let (false, false, Some(client), Some(now)) = (self.closed, dying, self.client, turmoil::sim_elapsed()) {
            let quiet = now.saturating_sub(self.last_progress);
            self.log.push(now, Event::ServerClosed { client, port: self.port, quiet, first });
        }
        self.closed = true;
    }
}

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// The tasks that wait on one stream's read side.
///
/// A turmoil stream keeps one read waker, and the last `poll_read` replaces it. With `tokio::io::split` the
/// application's reads and a write's read-ahead (see [`ProcessStream::poll_write`]) come from different tasks,
/// so each would take the other's wake-up: the reader would never learn of new data, or a write waiting for
/// credit would never learn of a reset. turmoil is therefore always given a waker that wakes both tasks.
#[derive(Default)]
struct ReadWaiters {
    /// The application's read that pended, and the read-ahead of the write that pended, in that order.
    tasks: Mutex<[Option<Waker>; 2]>,
}

/// Which task waits on the read side.
#[derive(Clone, Copy)]
enum Waiter {
    /// The application's `poll_read`.
    Reader = 0,
    /// The read-ahead of a pending `poll_write`.
    Writer = 1,
}

impl ReadWaiters {
    /// Records that `waiter` waits, on the task of `waker`.
    fn wait(&self, waiter: Waiter, waker: &Waker) {
        let mut tasks = self.tasks.lock().expect("waiters lock");
        match &mut tasks[waiter as usize] {
            Some(known) if known.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    /// Records that `waiter` no longer waits.
    fn done(&self, waiter: Waiter) {
        self.tasks.lock().expect("waiters lock")[waiter as usize] = None;
    }
}

impl Wake for ReadWaiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Taken first, woken after: a woken task that polls again at once must find the lock free.
        let tasks = std::mem::take(&mut *self.tasks.lock().expect("waiters lock"));
        for waker in tasks.into_iter().flatten() {
            waker.wake();
        }
    }
}

/// Bytes read ahead of the application, and how the read side ended if it did.
#[derive(Default)]
struct ReadAhead {
    /// Data not yet handed to the application.
    bytes: std::collections::VecDeque<u8>,
    /// The peer's FIN was read.
    eof: bool,
    /// The read side failed (reset).
    error: Option<io::ErrorKind>,
}

impl Drop for ProcessStream {
    fn drop(&mut self) {
        // Close now (FIN or RST), not when the registry lets go of the slot.
        let Some(stream) = self.slot.lock().expect("slot lock").take() else { return };
        self.watch.close(&self.ahead);
        // turmoil parks a FIN that finds the peer's window full for good (see `FinRoom`), where a kernel sends it
        // behind the data: a stream dropped without a shutdown (the server's task simply ends) is closed once the
        // window has room, or after `FIN_ROOM_WAIT`, by a task of the process (it dies with the process).
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(FIN_ROOM_WAIT, stream.writable()).await;
                drop(stream);
            });
        }
    }
}

fn killed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the server process was killed")
}

impl ProcessStream {
    fn new(slot: Slot, watch: Watch) -> Self {
        let waiters = Arc::new(ReadWaiters::default());
        let read_waker = Waker::from(waiters.clone());
        ProcessStream { slot, fin: FinRoom::default(), ahead: ReadAhead::default(), waiters, read_waker, watch }
    }

    fn with<T>(&self, f: impl FnOnce(Pin<&mut turmoil::net::TcpStream>) -> Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match self.slot.lock().expect("slot lock").as_mut() {
            Some(stream) => f(Pin::new(stream)),
            None => Poll::Ready(Err(killed())),
        }
    }
}

impl AsyncRead for ProcessStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let ahead = &mut this.ahead;
        if !ahead.bytes.is_empty() {
            let n = ahead.bytes.len().min(buf.remaining());
            let (front, back) = ahead.bytes.as_slices();
            let from_front = n.min(front.len());
            buf.put_slice(&front[..from_front]);
            buf.put_slice(&back[..n - from_front]);
            ahead.bytes.drain(..n);
            this.watch.read(n);
            return Poll::Ready(Ok(()));
        }
        if let Some(kind) = ahead.error {
            return Poll::Ready(Err(kind.into()));
        }
        if ahead.eof {
            return Poll::Ready(Ok(()));
        }
        self.waiters.wait(Waiter::Reader, cx.waker());
        let before = buf.filled().len();
        let read = self.with(|s| s.poll_read(&mut Context::from_waker(&self.read_waker), buf));
        match &read {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                self.watch.read(n);
            }
            Poll::Ready(Err(_)) => self.watch.peer_closed = true,
            Poll::Pending => {}
        }
        if read.is_ready() {
            self.waiters.done(Waiter::Reader);
        }
        read
    }
}

impl AsyncWrite for ProcessStream {
    /// turmoil 0.7.2 never wakes a write that waits for flow-control credit when the peer resets the connection
    /// (a kernel fails it with ECONNRESET), so a server writing to a vanished client would wait forever. While
    /// a write waits, the read side is read ahead (keeping the bytes for later reads) to learn of a reset, and
    /// the write then fails as the kernel's would. The read-ahead may run on another task than the reads (a split
    /// stream), so turmoil is given the waker of both (see `ReadWaiters`).
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let mut slot = this.slot.lock().expect("slot lock");
        let Some(stream) = slot.as_mut() else { return Poll::Ready(Err(killed())) };
        let written = Pin::new(&mut *stream).poll_write(cx, buf);
        if written.is_ready() {
            if let Poll::Ready(Ok(n)) = written {
                this.watch.wrote(n);
            }
            this.waiters.done(Waiter::Writer);
            return written;
        }
        let ahead = &mut this.ahead;
        if !ahead.eof && ahead.error.is_none() {
            this.waiters.wait(Waiter::Writer, cx.waker());
        }
        let mut both = Context::from_waker(&this.read_waker);
        while !ahead.eof && ahead.error.is_none() {
            let mut chunk = [0u8; 4096];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut *stream).poll_read(&mut both, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => ahead.eof = true,
                Poll::Ready(Ok(())) => ahead.bytes.extend(read.filled()),
                Poll::Ready(Err(e)) => ahead.error = Some(e.kind()),
                Poll::Pending => break,
            }
        }
        if ahead.eof || ahead.error.is_some() {
            this.waiters.done(Waiter::Writer);
        }
        match ahead.error {
            Some(kind) => Poll::Ready(Err(kind.into())),
            None => Poll::Pending,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.watch.closed && this.slot.lock().expect("slot lock").is_some() {
            this.watch.close(&this.ahead);
        }
        match this.slot.lock().expect("slot lock").as_mut() {
            Some(stream) => this.fin.poll_shutdown(Pin::new(stream), cx),
            None => Poll::Ready(Err(killed())),
        }
    }
}

/// How long a shutdown waits for room for its FIN before sending it anyway (the peer may be gone, and then no
/// room ever comes).
pub const FIN_ROOM_WAIT: Duration = Duration::from_millis(200);

/// Shuts a simulated stream's write side once the peer's receive queue has room for the FIN.
///
/// turmoil 0.7.2 counts data segments against `tcp_capacity` but not the FIN: a FIN that arrives while the
/// peer holds `tcp_capacity` unread segments is parked in its reorder buffer and never delivered (nothing
/// retries it), so the peer never reads EOF. Waiting for a write credit first (one exists only when fewer than
/// `tcp_capacity` segments are queued or in flight) makes room for it, as a kernel's window would; after
/// [`FIN_ROOM_WAIT`] without one (a reset peer returns no credit) the FIN goes anyway.
#[derive(Default)]
pub struct FinRoom {
    /// When to stop waiting, once a shutdown has begun.
    give_up: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl FinRoom {
    /// Polls a shutdown of `stream`.
    pub fn poll_shutdown(
        &mut self,
        mut stream: Pin<&mut turmoil::net::TcpStream>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let give_up = self.give_up.get_or_insert_with(|| Box::pin(tokio::time::sleep(FIN_ROOM_WAIT)));
        if give_up.as_mut().poll(cx).is_pending() {
            let writable = stream.as_ref().get_ref().writable();
            let mut writable = std::pin::pin!(writable);
            match writable.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
        }
        stream.as_mut().poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
