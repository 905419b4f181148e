//! The seam between the echo server (and client) and the network they run on.
//!
//! The server and the client are written once, generic over [`Network`]. Two networks implement it:
//! [`Real`], tokio's sockets on the host kernel, and [`Sim`], turmoil's simulated network. No code of the
//! server or client knows which one it runs on.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

/// A connected byte stream, as the server and the client need it.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A bound, listening socket: the one thing the server needs from a network.
///
/// The server takes its listener instead of binding one (as mini-redis's `server::run` does), so the caller
/// decides the address, the socket options and the network.
pub trait Listener: Send + 'static {
    /// The stream an accepted connection yields.
    type Stream: Stream;

    /// Waits for the next connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// The address the listener is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A network: how to listen and how to connect.
pub trait Network: Send + Sync + 'static {
    /// The stream both sides of a connection use.
    type Stream: Stream;
    /// The listener `bind` returns.
    type Listener: Listener<Stream = Self::Stream>;

    /// Binds a listener with SO_REUSEADDR set (the socket tutorial's fix for "Address already in use").
    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// Opens a connection. Unbounded in time: callers put a timeout around it.
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// The host kernel's TCP through tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct Real;

/// The backlog of a real listener: connects beyond it wait in SYN-SENT, so it only has to absorb bursts.
pub const REAL_BACKLOG: i32 = 1024;

impl Network for Real {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    async fn bind(addr: SocketAddr) -> io::Result<Self::Listener> {
        bind_real(addr, true)
    }

    async fn connect(addr: SocketAddr) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        // An echo is a request-reply exchange: Nagle would add a delayed-ACK wait to every small message.
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Binds a real listener, setting SO_REUSEADDR before bind only when `reuse_address` is true.
///
/// std and tokio set the flag themselves, so socket2 is used to control it: the kernel checks need a listener
/// without it.
pub fn bind_real(addr: SocketAddr, reuse_address: bool) -> io::Result<tokio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(reuse_address)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(REAL_BACKLOG)?;
    tokio::net::TcpListener::from_std(socket.into())
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = tokio::net::TcpListener::accept(self).await?;
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

/// turmoil's simulated TCP. Only usable from inside a turmoil host or client.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sim;

impl Network for Sim {
    type Stream = turmoil::net::TcpStream;
    type Listener = turmoil::net::TcpListener;

    async fn bind(addr: SocketAddr) -> io::Result<Self::Listener> {
        turmoil::net::TcpListener::bind(addr).await
    }

    async fn connect(addr: SocketAddr) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect(addr).await
    }
}

impl Listener for turmoil::net::TcpListener {
    type Stream = turmoil::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        turmoil::net::TcpListener::accept(self).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        turmoil::net::TcpListener::local_addr(self)
    }
}

/// The reuse-address rule of Linux, as the simulator models it: may a new listener bind a port whose previous
/// listener's connections are (`in_time_wait`) or are not in TIME_WAIT? Only if both the old sockets and the new
/// one set SO_REUSEADDR. `kernel::reuse_address` checks it against the host kernel.
pub fn rebind_allowed(in_time_wait: bool, old_reuse: bool, new_reuse: bool) -> bool {
    !in_time_wait || (old_reuse && new_reuse)
}
