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
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::model::faults::{Shaped, Shaping};
use crate::sut::net::Listener;

type Slot = Arc<Mutex<Option<turmoil::net::TcpStream>>>;

/// The open sockets of one server incarnation, in accept order.
#[derive(Clone, Default)]
pub struct Sockets {
    /// Slots of accepted streams; an emptied slot is a closed stream.
    slots: Arc<Mutex<Vec<Slot>>>,
}

impl Sockets {
    fn register(&self, stream: turmoil::net::TcpStream) -> Slot {
        let slot = Arc::new(Mutex::new(Some(stream)));
        let mut slots = self.slots.lock().expect("sockets lock");
        slots.retain(|s| s.lock().expect("slot lock").is_some());
        slots.push(slot.clone());
        slot
    }

    /// How many accepted streams the server still holds open.
    pub fn open(&self) -> usize {
        self.slots.lock().expect("sockets lock").iter().filter(|s| s.lock().expect("slot lock").is_some()).count()
    }

    /// Closes every open socket, oldest first, as the kernel does when a process dies: a socket with unread
    /// data sends RST, the others FIN. Must run inside the host.
    /// Returns how many were still open.
    pub fn kill_all(&self) -> usize {
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
}

impl ProcessListener {
    /// Wraps `inner`, registering its streams in `sockets` and shaping them with `shaping` under `seed`.
    pub fn new(inner: turmoil::net::TcpListener, sockets: Sockets, shaping: Shaping, seed: u64) -> Self {
        ProcessListener { inner, sockets, shaping, seed, accepted: 0 }
    }
}

impl Listener for ProcessListener {
    type Stream = Shaped<ProcessStream>;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = self.inner.accept().await?;
        self.accepted += 1;
        let stream =
            ProcessStream { slot: self.sockets.register(stream), fin: FinRoom::default(), ahead: ReadAhead::default() };
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
        drop(self.slot.lock().expect("slot lock").take());
    }
}

fn killed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the server process was killed")
}

impl ProcessStream {
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
            return Poll::Ready(Ok(()));
        }
        if let Some(kind) = ahead.error {
            return Poll::Ready(Err(kind.into()));
        }
        if ahead.eof {
            return Poll::Ready(Ok(()));
        }
        self.with(|s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for ProcessStream {
    /// turmoil 0.7.2 never wakes a write that waits for flow-control credit when the peer resets the connection
    /// (a kernel fails it with ECONNRESET), so a server writing to a vanished client would wait forever. While
    /// a write waits, the read side is read ahead (keeping the bytes for later reads) to learn of a reset, and
    /// the write then fails as the kernel's would.
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let mut slot = this.slot.lock().expect("slot lock");
        let Some(stream) = slot.as_mut() else { return Poll::Ready(Err(killed())) };
        let written = Pin::new(&mut *stream).poll_write(cx, buf);
        if written.is_ready() {
            return written;
        }
        let ahead = &mut this.ahead;
        while !ahead.eof && ahead.error.is_none() {
            let mut chunk = [0u8; 4096];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut *stream).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => ahead.eof = true,
                Poll::Ready(Ok(())) => ahead.bytes.extend(read.filled()),
                Poll::Ready(Err(e)) => ahead.error = Some(e.kind()),
                Poll::Pending => break,
            }
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

/// A client's simulated stream: turmoil's, with the FIN fix of [`FinRoom`].
pub struct ClientSocket {
    /// turmoil's stream.
    inner: turmoil::net::TcpStream,
    /// The shutdown's wait for room.
    fin: FinRoom,
}

impl ClientSocket {
    /// Wraps a connected stream.
    pub fn new(inner: turmoil::net::TcpStream) -> Self {
        ClientSocket { inner, fin: FinRoom::default() }
    }

    /// The turmoil stream, for `peek`.
    pub fn get_mut(&mut self) -> &mut turmoil::net::TcpStream {
        &mut self.inner
    }
}

impl AsyncRead for ClientSocket {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientSocket {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.fin.poll_shutdown(Pin::new(&mut this.inner), cx)
    }
}
