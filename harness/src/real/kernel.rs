//! Kernel checks: what the simulator cannot show, observed on real sockets on 127.0.0.1.
//!
//! Each check drives the host kernel through one of the socket tutorial's traps and reports what it saw, with
//! figures: the reuse-address rule after a killed server (and whether the simulator's model of it,
//! [`crate::sut::net::rebind_allowed`], agrees), a `send` that writes only part where `sendall` delivers everything,
//! a 0-byte send that transmits nothing, and a connect to a dead port that is refused at once. Sockets are built
//! with socket2 where the options matter: std's and tokio's `bind` set SO_REUSEADDR themselves.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::model::property::Verdict;
use crate::sut::client::{Client, ClientError, Timeouts};
use crate::sut::net::rebind_allowed;
use crate::sut::net::{bind_real, Real};

/// One kernel check's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelCheck {
    /// Its name: `reuse-address`, `send-vs-sendall`, `empty-send`, `refused`.
    pub name: String,
    /// pass when the kernel behaved as the harness (and its simulator) assumes.
    pub verdict: Verdict,
    /// What was observed, in one line.
    pub detail: String,
    /// The observed figures, by name.
    pub figures: BTreeMap<String, serde_json::Value>,
}

impl KernelCheck {
    fn new(name: &str, verdict: Verdict, detail: String, figures: BTreeMap<String, serde_json::Value>) -> Self {
        KernelCheck { name: name.into(), verdict, detail, figures }
    }

    /// A check that could not run (no socket, say): reported as failed, with the reason.
    fn broken(name: &str, error: io::Error) -> Self {
        KernelCheck::new(name, Verdict::Fail, format!("could not run: {error}"), BTreeMap::new())
    }
}

/// Runs every kernel check, one after another (they time real sockets, so not in parallel with each other).
pub fn run_all() -> Vec<KernelCheck> {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return vec![KernelCheck::broken("kernel", e)],
    };
    rt.block_on(async {
        vec![
            reuse_address().await.unwrap_or_else(|e| KernelCheck::broken("reuse-address", e)),
            send_vs_sendall().await.unwrap_or_else(|e| KernelCheck::broken("send-vs-sendall", e)),
            empty_send().await.unwrap_or_else(|e| KernelCheck::broken("empty-send", e)),
            refused().await.unwrap_or_else(|e| KernelCheck::broken("refused", e)),
        ]
    })
}

const LOOPBACK: ([u8; 4], u16) = ([127, 0, 0, 1], 0);
/// Open connections of the killed server in the reuse-address check.
const CONNECTIONS: usize = 3;

/// What one kill-and-rebind sequence showed.
#[derive(Debug)]
pub struct Rebind {
    /// Sockets in TIME_WAIT on the port just before the rebind (`None` without `/proc/net/tcp`).
    pub time_wait: Option<usize>,
    /// The rebind's outcome: `None` when it succeeded, the error otherwise.
    pub error: Option<io::Error>,
}

/// A server with SO_REUSEADDR as `old_reuse` and `CONNECTIONS` open connections is killed (its side closes first,
/// so its sockets go to TIME_WAIT) and a new server binds the same port at once, with `new_reuse`.
pub async fn rebind(old_reuse: bool, new_reuse: bool) -> io::Result<Rebind> {
    let listener = bind_real(SocketAddr::from(LOOPBACK), old_reuse)?;
    let addr = listener.local_addr()?;
    let mut clients = Vec::new();
    let mut accepted = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(TcpStream::connect(addr).await?);
        accepted.push(listener.accept().await?.0);
    }
    for (client, server) in clients.iter_mut().zip(&mut accepted) {
        client.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await?;
        server.write_all(&crate::sut::server::upper(&buf)).await?;
        client.read_exact(&mut buf).await?;
    }
    // The process dies: the kernel closes its listener and connections, FIN first from the server's side.
    drop(accepted);
    drop(listener);
    // The clients read EOF and close, so the server's side moves through FIN_WAIT_2 to TIME_WAIT.
    for mut client in clients {
        let mut buf = [0u8; 1];
        let _ = tokio::time::timeout(Duration::from_secs(1), client.read(&mut buf)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let time_wait = count_time_wait(addr.port());
    let error = bind_real(addr, new_reuse).err();
    Ok(Rebind { time_wait, error })
}

/// Sockets in TIME_WAIT whose local port is `port`, from `/proc/net/tcp` and `/proc/net/tcp6`.
pub fn count_time_wait(port: u16) -> Option<usize> {
    sockets_on_port(port, &[TcpState::TimeWait])
}

/// TCP states as `/proc/net/tcp` writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    /// `01`
    Established,
    /// `06`
    TimeWait,
    /// `08`: the peer closed, this side has not yet.
    CloseWait,
    /// `0A`
    Listen,
}

impl TcpState {
    fn code(self) -> &'static str {
        match self {
            TcpState::Established => "01",
            TcpState::TimeWait => "06",
            TcpState::CloseWait => "08",
            TcpState::Listen => "0A",
        }
    }
}

/// Sockets in one of `states` whose local port is `port`, from the kernel's tables (`None` where there are no
/// such tables).
pub fn sockets_on_port(port: u16, states: &[TcpState]) -> Option<usize> {
    sockets_where(port, |st| states.iter().any(|s| s.code() == st))
}

/// Sockets in any state (FIN_WAIT, SYN_SENT and the rest too) whose local port is `port` (`None` where there are
/// no such tables).
pub fn any_socket_on_port(port: u16) -> Option<usize> {
    sockets_where(port, |_| true)
}

fn sockets_where(port: u16, state: impl Fn(&str) -> bool) -> Option<usize> {
    let mut found = None;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        let count = text
            .lines()
            .skip(1)
            .filter(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = fields.get(1).and_then(|a| a.rsplit(':').next());
                local_port.and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port)
                    && fields.get(3).is_some_and(|st| state(st))
            })
            .count();
        *found.get_or_insert(0) += count;
    }
    found
}

fn outcome(error: &Option<io::Error>) -> String {
    match error {
        None => "bound".into(),
        Some(e) if e.kind() == io::ErrorKind::AddrInUse => "EADDRINUSE".into(),
        Some(e) => format!("failed: {e}"),
    }
}

/// The reuse-address rule, three ways: without the flag, with it on both servers, and with it on the new one
/// only. Passes when the kernel agrees with the simulator's model in all three.
async fn reuse_address() -> io::Result<KernelCheck> {
    let mut figures = BTreeMap::new();
    let mut parts = Vec::new();
    let mut agree = true;
    let mut time_wait_seen = 0;
    for (old, new, key) in [(false, false, "neither"), (true, true, "both"), (false, true, "new_only")] {
        let seen = rebind(old, new).await?;
        let in_time_wait = seen.time_wait.is_none_or(|n| n > 0);
        time_wait_seen = time_wait_seen.max(seen.time_wait.unwrap_or(0));
        let model = rebind_allowed(in_time_wait, old, new);
        agree &= model == seen.error.is_none();
        figures.insert(format!("rebind_{key}"), outcome(&seen.error).into());
        parts.push(format!(
            "{key}: {}{}",
            outcome(&seen.error),
            if model == seen.error.is_none() { "" } else { " (the simulator's model says otherwise)" }
        ));
    }
    figures.insert("time_wait_sockets".into(), time_wait_seen.into());
    figures.insert("connections".into(), CONNECTIONS.into());
    let detail = format!(
        "a server with {CONNECTIONS} open connections killed, {time_wait_seen} sockets in TIME_WAIT on its port, \
         rebound at once with SO_REUSEADDR on {}",
        parts.join(", ")
    );
    Ok(KernelCheck::new("reuse-address", if agree { Verdict::Pass } else { Verdict::Fail }, detail, figures))
}

/// Size of the message in the send check.
const BIG: usize = 1 << 20;
/// Socket buffers in the send check: small, so one write cannot take the whole message.
const SMALL_BUFFER: usize = 4096;

/// One `write` of 1 MiB to a peer that does not read returns a partial count (the tutorial's `send`); `write_all`
/// delivers every byte once the peer reads (`sendall`).
async fn send_vs_sendall() -> io::Result<KernelCheck> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_recv_buffer_size(SMALL_BUFFER)?; // inherited by the accepted socket
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::from(LOOPBACK).into())?;
    socket.listen(8)?;
    let listener = tokio::net::TcpListener::from_std(socket.into())?;
    let addr = listener.local_addr()?;

    let client = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    client.set_send_buffer_size(SMALL_BUFFER)?;
    client.connect(&addr.into())?;
    client.set_nonblocking(true)?;
    let sndbuf = client.send_buffer_size()?;
    let mut client = TcpStream::from_std(client.into())?;
    let (mut peer, _) = listener.accept().await?;

    let message: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    client.writable().await?;
    let first = match client.try_write(&message) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    // Now the peer reads; `write_all` sends the rest.
    let reader = tokio::spawn(async move {
        let mut received = Vec::with_capacity(BIG);
        let mut buf = vec![0u8; 64 * 1024];
        while received.len() < BIG {
            match peer.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
        received
    });
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), client.write_all(&message[first..]))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write_all made no progress in 10 s"))??;
    let received = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer did not receive everything in 10 s"))?
        .map_err(io::Error::other)?;
    let whole = received == message;
    let mut figures = BTreeMap::new();
    figures.insert("message_bytes".into(), BIG.into());
    figures.insert("send_buffer_bytes".into(), sndbuf.into());
    figures.insert("one_write_bytes".into(), first.into());
    figures.insert("write_all_bytes".into(), received.len().into());
    figures.insert("write_all_ms".into(), (started.elapsed().as_millis() as u64).into());
    let verdict = if first < BIG && whole { Verdict::Pass } else { Verdict::Fail };
    let detail = format!(
        "one write of {BIG} bytes to a peer that does not read took {first} (SO_SNDBUF {sndbuf}); write_all \
         delivered {} of {BIG}{} once the peer read",
        received.len(),
        if whole { ", byte for byte," } else { ", not the same bytes," }
    );
    Ok(KernelCheck::new("send-vs-sendall", verdict, detail, figures))
}

/// How long the empty-send check waits for a byte that never comes.
const EMPTY_WAIT: Duration = Duration::from_millis(300);

/// A 0-byte write transmits nothing (the peer's read keeps waiting: the tutorial's hang), while a shutdown makes
/// the peer's read return 0 (EOF).
async fn empty_send() -> io::Result<KernelCheck> {
    let listener = bind_real(SocketAddr::from(LOOPBACK), true)?;
    let mut client = TcpStream::connect(listener.local_addr()?).await?;
    let (mut peer, _) = listener.accept().await?;
    let wrote = client.write(&[]).await?;
    let mut buf = [0u8; 16];
    let waited = tokio::time::timeout(EMPTY_WAIT, peer.read(&mut buf)).await;
    let hung = waited.is_err();
    client.shutdown().await?;
    let eof = tokio::time::timeout(Duration::from_secs(2), peer.read(&mut buf)).await;
    let eof_read = matches!(eof, Ok(Ok(0)));
    let mut figures = BTreeMap::new();
    figures.insert("write_returned".into(), wrote.into());
    figures.insert("peer_waited_ms".into(), (EMPTY_WAIT.as_millis() as u64).into());
    figures.insert("peer_got_data".into(), (!hung).into());
    figures.insert("read_after_shutdown".into(), if eof_read { 0.into() } else { serde_json::Value::Null });
    let verdict = if wrote == 0 && hung && eof_read { Verdict::Pass } else { Verdict::Fail };
    let detail = format!(
        "a 0-byte write returned {wrote} and the peer's read {} after {} ms; after shutdown its read {}",
        if hung { "was still waiting" } else { "returned" },
        EMPTY_WAIT.as_millis(),
        if eof_read { "returned 0 (EOF)" } else { "did not return EOF" }
    );
    Ok(KernelCheck::new("empty-send", verdict, detail, figures))
}

/// A connect to a port with no listener fails at once with ConnectionRefused (the tutorial's `connect_ex` code).
async fn refused() -> io::Result<KernelCheck> {
    let port = {
        let probe = bind_real(SocketAddr::from(LOOPBACK), true)?;
        probe.local_addr()?
    };
    let started = Instant::now();
    let result =
        Client::connect::<Real>(port, Timeouts { connect: Duration::from_secs(2), io: Duration::from_secs(2) })
            .await
            .map(|_| ());
    let elapsed = started.elapsed();
    let mut figures = BTreeMap::new();
    figures.insert("connect_us".into(), (elapsed.as_micros() as u64).into());
    let (verdict, what) = match result {
        Err(ClientError::Refused { .. }) => (Verdict::Pass, "ConnectionRefused (ECONNREFUSED)".to_string()),
        Err(e) => (Verdict::Fail, format!("another error: {e}")),
        Ok(()) => (Verdict::Fail, "a connection (something listens there)".into()),
    };
    figures.insert("error".into(), what.clone().into());
    let detail = format!("a connect to {port} with no listener gave {what} after {} µs", elapsed.as_micros());
    Ok(KernelCheck::new("refused", verdict, detail, figures))
}
