//! A fault-injecting TCP proxy on loopback, placed between each client and a real server: the real-socket
//! counterpart of turmoil's network faults, in the spirit of toxiproxy's toxics.
//!
//! Every connection accepted on the proxy's port is relayed to the upstream server by two pumps (one per
//! direction). What a pump does to the bytes is set by [`Toxics`], which can change at any moment: latency with
//! jitter, slicing into small segments with a delay between them (the server then sees short reads), a bandwidth
//! limit, and a stall (a partition: data held back, delivered on release). Actions on the live connections: a
//! reset (closed with SO_LINGER 0, so both peers get RST), a FIN mid-stream, and cutting them all. The proxy never
//! alters a byte on its own: whatever a toxic does, the bytes that arrive are the bytes that were sent, in order.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the pumps do to the bytes. The default passes them straight through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Toxics {
    /// Delay before each chunk read from one side is forwarded.
    pub latency: Duration,
    /// Up to this much more delay, drawn per chunk.
    pub jitter: Duration,
    /// Forward at most this many bytes per write, pausing `slice_delay` between writes: the receiver sees short
    /// reads and one message in many pieces.
    pub slice: Option<usize>,
    /// The pause between slices.
    pub slice_delay: Duration,
    /// At most this many bytes per second in each direction.
    pub bandwidth: Option<u64>,
    /// Hold back every byte from the client to the server (a partition that keeps the connection): forwarded
    /// again once lifted.
    pub hold_to_server: bool,
    /// Hold back every byte from the server to the client.
    pub hold_from_server: bool,
    /// Accept connections but connect them to the server only once lifted (a machine that does not answer).
    pub hold_connects: bool,
}

impl Toxics {
    /// Holds (or lifts the hold on) both directions.
    pub fn stall(&mut self, on: bool) {
        self.hold_to_server = on;
        self.hold_from_server = on;
    }
}

/// One relayed connection, registered when accepted (also while it waits to be connected to the server).
struct Link {
    /// Duplicates of its two sockets (client side, server side), to reset or close them from outside; filled
    /// once the server side is connected.
    sockets: Arc<Mutex<Vec<std::net::TcpStream>>>,
    /// The task that connects it and runs both pumps: aborting it drops the sockets without a shutdown.
    task: tokio::task::AbortHandle,
}

/// A running proxy. Dropping it stops accepting and closes every relayed connection.
pub struct Proxy {
    /// Where clients connect.
    addr: SocketAddr,
    /// Toxics for every connection, live.
    toxics: watch::Sender<Toxics>,
    /// Whether the proxy's port accepts connections.
    listening: watch::Sender<bool>,
    /// The relayed connections, in accept order.
    links: Arc<Mutex<Vec<Link>>>,
    /// The accept loop.
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy on an ephemeral loopback port relaying to `upstream`; `seed` draws the jitter.
    pub async fn start(upstream: SocketAddr, seed: u64) -> io::Result<Proxy> {
        let listener = crate::sut::net::bind_real(SocketAddr::from(([127, 0, 0, 1], 0)), true)?;
        let addr = listener.local_addr()?;
        let (toxics, watcher) = watch::channel(Toxics::default());
        let (listening, mut listen) = watch::channel(true);
        let links: Arc<Mutex<Vec<Link>>> = Arc::default();
        let accept = {
            let links = links.clone();
            tokio::spawn(async move {
                let mut listener = Some(listener);
                let mut n = 0u64;
                loop {
                    let Some(open) = listener.as_ref() else {
                        // Not listening (connects are refused) until told to listen again, on the same port.
                        if listen.changed().await.is_err() {
                            return;
                        }
                        if *listen.borrow() {
                            listener = rebind(addr).await;
                        }
                        continue;
                    };
                    tokio::select! {
                        changed = listen.changed() => {
                            if changed.is_err() {
                                return;
                            }
                            if !*listen.borrow() {
                                listener = None;
                            }
                        }
                        accepted = open.accept() => {
                            let client = match accepted {
                                Ok((client, _)) => client,
                                Err(e) => {
                                    // Out of descriptors, say: back off instead of spinning.
                                    tracing::warn!("proxy {addr}: accept failed: {e}");
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                    continue;
                                }
                            };
                            n += 1;
                            let seed = seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                            let sockets: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
                            let task = tokio::spawn(relay(client, upstream, watcher.clone(), sockets.clone(), seed));
                            let mut links = links.lock().expect("links lock");
                            links.retain(|l| !l.task.is_finished());
                            links.push(Link { sockets, task: task.abort_handle() });
                        }
                    }
                }
            })
        };
        Ok(Proxy { addr, toxics, listening, links, accept })
    }

    /// Stops or resumes listening: while it does not listen, connects to it are refused, as to a server that is
    /// down.
    pub fn listen(&self, on: bool) {
        self.listening.send_replace(on);
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets the toxics of every connection, present and future.
    pub fn set(&self, toxics: Toxics) {
        self.toxics.send_replace(toxics);
    }

    /// Changes the toxics in place.
    pub fn update(&self, change: impl FnOnce(&mut Toxics)) {
        self.toxics.send_modify(change);
    }

    /// Connections open through the proxy now (waiting for the server included).
    pub fn connections(&self) -> usize {
        let mut links = self.links.lock().expect("links lock");
        links.retain(|l| !l.task.is_finished());
        links.len()
    }

    /// Resets every live connection: both sides are closed with SO_LINGER 0 and no shutdown first, so both peers
    /// get RST and nothing else.
    pub fn reset_all(&self) {
        for link in self.links.lock().expect("links lock").drain(..) {
            for socket in link.sockets.lock().expect("sockets lock").iter() {
                let _ = socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO));
            }
            // The task's streams drop without a shutdown; the last close of each socket (whichever descriptor
            // goes last) sends the RST.
            link.task.abort();
        }
    }

    /// Closes every live connection with a FIN to both peers (mid-stream, whatever was in flight is dropped).
    pub fn fin_all(&self) {
        for link in self.links.lock().expect("links lock").drain(..) {
            for socket in link.sockets.lock().expect("sockets lock").iter() {
                let _ = socket.shutdown(std::net::Shutdown::Both);
            }
            link.task.abort();
        }
    }
}

/// Binds the proxy's port again after a pause in listening; a failure is retried for a second, then logged (the
/// proxy then refuses connects, which the run's evidence shows).
async fn rebind(addr: SocketAddr) -> Option<tokio::net::TcpListener> {
    for _ in 0..100 {
        match crate::sut::net::bind_real(addr, true) {
            Ok(l) => return Some(l),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => {
                tracing::warn!("proxy {addr}: cannot listen again: {e}");
                return None;
            }
        }
    }
    tracing::warn!("proxy {addr}: cannot listen again: address in use for 1 s");
    None
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.fin_all();
    }
}

/// Connects an accepted client to the server (once connects are no longer held) and runs the two pumps.
async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut toxics: watch::Receiver<Toxics>,
    sockets: Arc<Mutex<Vec<std::net::TcpStream>>>,
    seed: u64,
) {
    while toxics.borrow().hold_connects {
        if toxics.changed().await.is_err() {
            return;
        }
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        // The server is down: the client sees its connection closed at once.
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let keep = |s: &TcpStream| socket2::SockRef::from(s).try_clone().ok().map(std::net::TcpStream::from);
    sockets.lock().expect("sockets lock").extend([keep(&client), keep(&server)].into_iter().flatten());
    // Borrowed halves: unlike owned ones, they do not shut the socket down when dropped, so an abort (a reset)
    // closes without a FIN.
    let (client_read, client_write) = client.split();
    let (server_read, server_write) = server.split();
    let up = pump(client_read, server_write, toxics.clone(), seed, true);
    let down = pump(server_read, client_write, toxics, seed ^ 1, false);
    tokio::pin!(up, down);
    // A reset ends the whole connection (both sockets close with a zero linger); an EOF only its direction.
    let (end, up_ended) = tokio::select! {
        end = &mut up => (end, true),
        end = &mut down => (end, false),
    };
    if end == End::Eof {
        if up_ended {
            down.await;
        } else {
            up.await;
        }
    }
}

/// How a pump ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Its source reached EOF (passed on as a FIN), or its destination went away.
    Eof,
    /// Its source was reset (passed on as a RST).
    Reset,
}

/// Relays `from` to `to` under the live toxics until EOF (then half-closes `to`) or an error.
async fn pump(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    mut toxics: watch::Receiver<Toxics>,
    seed: u64,
    to_server: bool,
) -> End {
    let held = |t: &Toxics| if to_server { t.hold_to_server } else { t.hold_from_server };
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut buf = vec![0u8; 64 * 1024];
    let mut owed = Duration::ZERO;
    loop {
        let read = from.read(&mut buf).await;
        // A stall holds everything until it is lifted: bytes, the end of the stream, a reset.
        while held(&toxics.borrow()) {
            if toxics.changed().await.is_err() {
                return End::Eof;
            }
        }
        let n = match read {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) => {
                // The other side was reset (or failed): pass a reset on, closing this side with a zero linger
                // and no FIN when the relay ends.
                let _ = socket2::SockRef::from(to.as_ref()).set_linger(Some(Duration::ZERO));
                return End::Reset;
            }
        };
        let t = toxics.borrow().clone();
        let delay =
            t.latency + if t.jitter.is_zero() { Duration::ZERO } else { rng.random_range(Duration::ZERO..=t.jitter) };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut sent = 0;
        while sent < n {
            let take = t.slice.map_or(n - sent, |k| k.max(1).min(n - sent));
            if to.write_all(&buf[sent..sent + take]).await.is_err() {
                return End::Eof;
            }
            sent += take;
            if let Some(rate) = t.bandwidth {
                // Pay for the bytes sent; sleep once the debt reaches the timer's 1 ms resolution.
                owed += Duration::from_secs_f64(take as f64 / rate.max(1) as f64);
                if owed >= Duration::from_millis(1) {
                    tokio::time::sleep(std::mem::take(&mut owed)).await;
                }
            }
            if t.slice.is_some() && sent < n {
                if t.slice_delay.is_zero() {
                    tokio::task::yield_now().await; // let the receiver read each slice on its own
                } else {
                    tokio::time::sleep(t.slice_delay).await;
                }
            }
        }
    }
    let _ = to.shutdown().await;
    End::Eof
}
