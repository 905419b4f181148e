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

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::faults::{Shaped, Shaping};
use crate::net::Listener;

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
        let stream = ProcessStream { slot: self.sockets.register(stream) };
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
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for ProcessStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.with(|s| s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_shutdown(cx))
    }
}
