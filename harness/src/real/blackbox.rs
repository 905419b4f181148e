//! Black-box mode: any uppercase (or plain) echo server, in any language, tested over real sockets on 127.0.0.1.
//!
//! The server is a command line (`python3 server.py {port}`: `{port}` becomes a free port the harness picks) that
//! the harness starts, waits for, kills and restarts, or an address of a server already running. Each property
//! starts from a fresh process when the harness manages it (so one failure does not cascade into the next), runs
//! within a time bound, and gives a verdict with evidence in the same report as the simulated suite.
//!
//! A managed server is started and killed through [`super::launch`]. This file owns the twelve properties and
//! their evidence; it never touches the simulator.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use socket2::SockRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::judge::tally::{Evidence, PropertyReport, SuiteReport};
use crate::model::property::Verdict;
use crate::sut::client::{Client, ClientError, Timeouts};
use crate::sut::net::Real;

use super::launch::{ensure_starts, free_port, LaunchError, Managed, Server, DEFAULT_STARTUP};
use super::proxy::{Proxy, Toxics};

pub use crate::model::transform::Transform;

/// Settings of a black-box run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The expected reply.
    pub transform: Transform,
    /// How long a started server may take to answer on its port.
    pub startup: Duration,
    /// The client's timeouts.
    pub timeouts: Timeouts,
    /// The bound on each property.
    pub property_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            transform: Transform::Upper,
            startup: DEFAULT_STARTUP,
            timeouts: Timeouts { connect: Duration::from_secs(2), io: Duration::from_secs(3) },
            property_timeout: Duration::from_secs(30),
        }
    }
}

/// What one property needs: where the server is, how to restart it, what a reply should be.
pub struct Ctx {
    /// The server's address.
    addr: SocketAddr,
    /// The managed process, if the harness started it.
    managed: Option<Managed>,
    /// The template, to restart it.
    template: Option<String>,
    /// Settings.
    options: Options,
}

impl Ctx {
    async fn connect(&self) -> Result<Client<TcpStream>, String> {
        self.connect_to(self.addr).await
    }

    async fn connect_to(&self, addr: SocketAddr) -> Result<Client<TcpStream>, String> {
        Client::connect::<Real>(addr, self.options.timeouts).await.map_err(|e| format!("connect failed: {e}"))
    }

    /// Echoes `message` on `client` and compares the reply with what is owed.
    async fn expect_echo(&self, client: &mut Client<TcpStream>, message: &[u8], what: &str) -> Result<(), String> {
        let owed = self.options.transform.apply(message);
        match client.echo(message).await {
            Ok(reply) if reply == owed => Ok(()),
            Ok(reply) => Err(mismatch(what, &owed, &reply)),
            Err(e) => Err(format!("{what}: {e}")),
        }
    }
}

/// Closes `client` cleanly: half-close, then nothing but EOF may come (a byte after the last reply is wrong).
async fn close(client: Client<TcpStream>, what: &str) -> Result<(), String> {
    match client.half_close().await {
        Ok(rest) if rest.is_empty() => Ok(()),
        Ok(rest) => Err(format!(
            "{what}: {} unexpected bytes after the last reply: {}",
            rest.len(),
            crate::model::trace::preview(&rest)
        )),
        Err(e) => Err(format!("{what}: closing (half-close, then read to EOF): {e}")),
    }
}

/// "first difference at byte K of N: expected .. got ..".
fn mismatch(what: &str, owed: &[u8], got: &[u8]) -> String {
    let at = owed.iter().zip(got).position(|(a, b)| a != b).unwrap_or(owed.len().min(got.len()));
    let show = |b: &[u8]| {
        let from = at.saturating_sub(4).min(b.len());
        crate::model::trace::preview(&b[from..(at + 12).min(b.len())])
    };
    format!("{what}: first difference at byte {at} of {}: expected {} got {}", owed.len(), show(owed), show(got))
}

type Outcome = Result<String, String>;

/// One black-box property.
pub struct Property {
    /// Its name in reports.
    pub name: &'static str,
    /// What it checks.
    pub description: &'static str,
    /// Whether it kills and restarts the server (only with a managed server).
    pub restarts: bool,
}

/// The properties, in report order.
pub const PROPERTIES: [Property; 12] = [
    Property {
        name: "upper-cases",
        description: "replies with the message upper-cased exactly (or unchanged with --transform identity)",
        restarts: false,
    },
    Property {
        name: "binary-safe",
        description: "every byte value, NUL and UTF-8 come back as bytes.upper() gives them",
        restarts: false,
    },
    Property { name: "large-message", description: "a 1 MiB message comes back whole", restarts: false },
    Property {
        name: "split-and-joined",
        description: "a message split into 3-byte segments and three messages joined in one write are all answered",
        restarts: false,
    },
    Property {
        name: "empty-message",
        description: "an empty message (over TCP a 0-byte send, which carries nothing) leaves the conversation going: the messages before and after it are answered on the same connection",
        restarts: false,
    },
    Property {
        name: "survives-reset",
        description: "after a client resets its connection (RST), the next client is served",
        restarts: false,
    },
    Property {
        name: "survives-mid-message",
        description: "after a client dies in the middle of a message, the next client is served",
        restarts: false,
    },
    Property {
        name: "serves-next-client",
        description: "after one client leaves, the next one is served (a connection loop)",
        restarts: false,
    },
    Property {
        name: "concurrent-clients",
        description: "a second client is served while the first stays connected",
        restarts: false,
    },
    Property {
        name: "half-close",
        description: "after the client shuts its write side, every reply arrives, then EOF",
        restarts: false,
    },
    Property {
        name: "slow-reader",
        description: "no byte is lost when the client reads late during a 4 MiB transfer (sendall, not send)",
        restarts: false,
    },
    Property {
        name: "reuse-address",
        description: "a server killed with open connections can be restarted on its port at once (SO_REUSEADDR)",
        restarts: true,
    },
];

/// Runs every property against `server` and gathers them into a report like the simulated suite's.
pub async fn check(server: &Server, options: &Options) -> Result<SuiteReport, LaunchError> {
    check_with(server, options, &|_| {}, &std::sync::atomic::AtomicBool::new(false)).await
}

/// [`check`], telling `progress` the name of each property as it starts (for a progress bar), and running no
/// further property once `interrupt` is set (a Ctrl-C handler sets it): those are skipped, and say so.
pub async fn check_with(
    server: &Server,
    options: &Options,
    progress: &(dyn Fn(&str) + Sync),
    interrupt: &std::sync::atomic::AtomicBool,
) -> Result<SuiteReport, LaunchError> {
    if let Server::Command(template) = server {
        ensure_starts(template, options.startup).await?;
    }
    let started = Instant::now();
    let mut properties = Vec::new();
    for property in &PROPERTIES {
        let (verdict, detail) = if interrupt.load(std::sync::atomic::Ordering::Relaxed) {
            (Verdict::Skip, "not run: interrupted (Ctrl-C)".to_string())
        } else {
            progress(property.name);
            run_property(property, server, options).await?
        };
        tracing::debug!(property = property.name, ?verdict, %detail);
        properties.push(PropertyReport {
            name: property.name.into(),
            description: property.description.into(),
            verdict,
            runs: usize::from(verdict != Verdict::Skip),
            failures: usize::from(verdict == Verdict::Fail),
            evidence: Evidence { scenario: None, seed: None, detail, replay: None, trace_tail: Vec::new() },
        });
    }
    let verdict = if properties.iter().any(|p| p.verdict == Verdict::Fail) { Verdict::Fail } else { Verdict::Pass };
    Ok(SuiteReport {
        target: server.name(),
        backend: "real".into(),
        verdict,
        runs: properties.iter().map(|p| p.runs).sum(),
        properties,
        scenarios: Vec::new(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn run_property(
    property: &Property,
    server: &Server,
    options: &Options,
) -> Result<(Verdict, String), LaunchError> {
    let ctx = match server {
        Server::Addr(_) if property.restarts => {
            return Ok((Verdict::Skip, "skipped: the harness did not start the server, so it cannot restart it".into()))
        }
        Server::Addr(addr) => Ctx { addr: *addr, managed: None, template: None, options: options.clone() },
        Server::Command(template) => {
            let started = async { Managed::start(template, free_port()?, options.startup).await };
            match started.await {
                Ok(managed) => Ctx {
                    addr: managed.addr(),
                    managed: Some(managed),
                    template: Some(template.clone()),
                    options: options.clone(),
                },
                // It started for the first property: failing to start now is this property's failure.
                Err(e) => return Ok((Verdict::Fail, format!("the server did not start for this property: {e}"))),
            }
        }
    };
    let mut ctx = ctx;
    let outcome = tokio::time::timeout(options.property_timeout, run(property.name, &mut ctx)).await;
    let stderr = ctx.managed.as_ref().map(Managed::stderr_tail);
    drop(ctx); // kills a managed server
    Ok(match outcome {
        Ok(Ok(detail)) => (Verdict::Pass, detail),
        Ok(Err(detail)) => {
            let stderr = stderr
                .filter(|s| s != "(empty)" && !detail.contains(s.as_str()))
                .map_or(String::new(), |s| format!(" (server stderr: {s})"));
            (Verdict::Fail, format!("{detail}{stderr}"))
        }
        Err(_) => (Verdict::Fail, format!("did not finish within {:?}", options.property_timeout)),
    })
}

async fn run(name: &str, ctx: &mut Ctx) -> Outcome {
    match name {
        "upper-cases" => upper_cases(ctx).await,
        "binary-safe" => binary_safe(ctx).await,
        "large-message" => large_message(ctx).await,
        "split-and-joined" => split_and_joined(ctx).await,
        "empty-message" => empty_message(ctx).await,
        "survives-reset" => survives_reset(ctx).await,
        "survives-mid-message" => survives_mid_message(ctx).await,
        "serves-next-client" => serves_next_client(ctx).await,
        "concurrent-clients" => concurrent_clients(ctx).await,
        "half-close" => half_close(ctx).await,
        "slow-reader" => slow_reader(ctx).await,
        "reuse-address" => reuse_address(ctx).await,
        other => Err(format!("no property is called {other}")),
    }
}

async fn upper_cases(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect().await?;
    let message = b"Hello, World! abc xyz 0123";
    ctx.expect_echo(&mut c, message, "the reply").await?;
    close(c, "after the reply").await?;
    Ok(format!("{} came back as owed", crate::model::trace::preview(message)))
}

async fn binary_safe(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect().await?;
    let all: Vec<u8> = (0..=255u8).collect();
    ctx.expect_echo(&mut c, &all, "all 256 byte values").await?;
    ctx.expect_echo(&mut c, "straße ünïcödé ǆ".as_bytes(), "UTF-8 text").await?;
    ctx.expect_echo(&mut c, b"\x00nul\x00", "NUL bytes").await?;
    close(c, "after the replies").await?;
    Ok("256 byte values, UTF-8 and NUL came back byte for byte".into())
}

async fn large_message(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect().await?;
    let message: Vec<u8> =
        (0..1 << 20).map(|i: u32| b"abcdefghijklmnopqrstuvwxyz0123456789 \x00\xff"[i as usize % 39]).collect();
    ctx.expect_echo(&mut c, &message, "a 1 MiB message").await?;
    close(c, "after the reply").await?;
    Ok("1048576 bytes came back whole".into())
}

async fn split_and_joined(ctx: &Ctx) -> Outcome {
    let proxy = Proxy::start(ctx.addr, 1).await.map_err(|e| format!("cannot start the proxy: {e}"))?;
    proxy.set(Toxics { slice: Some(3), slice_delay: Duration::from_millis(1), ..Toxics::default() });
    let mut c = ctx.connect_to(proxy.addr()).await?;
    ctx.expect_echo(&mut c, b"one message, in three-byte segments", "a split message").await?;
    proxy.set(Toxics::default());
    // Three messages in one write: the replies may come back in any split; all of them are owed.
    ctx.expect_echo(&mut c, b"first;second;third;", "three joined messages").await?;
    close(c, "after the replies").await?;
    Ok("answered a message sent in 3-byte segments (through a slicing proxy) and three messages joined in one write"
        .into())
}

async fn empty_message(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect().await?;
    ctx.expect_echo(&mut c, b"before", "the message before").await?;
    // A 0-byte send transmits nothing: the server must simply go on.
    c.stream_mut().write(&[]).await.map_err(|e| format!("0-byte write failed: {e}"))?;
    ctx.expect_echo(&mut c, b"after an empty send", "the message after the empty send").await?;
    close(c, "after the replies").await?;
    Ok("the conversation went on after a 0-byte send".into())
}

/// Closes `stream` with SO_LINGER 0: the peer gets RST.
fn reset(stream: TcpStream) {
    let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

async fn next_client_served(ctx: &Ctx, after: &str) -> Outcome {
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut c = ctx.connect().await.map_err(|e| format!("after {after}, a new client's {e}"))?;
    ctx.expect_echo(&mut c, b"still serving?", &format!("after {after}, a new client")).await?;
    close(c, &format!("after {after}, a new client")).await?;
    Ok(format!("a new client was served after {after}"))
}

async fn survives_reset(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect().await?;
    ctx.expect_echo(&mut c, b"hello", "the first exchange").await?;
    let mut stream = c.into_inner();
    stream.write_all(&vec![b'x'; 64 * 1024]).await.map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    reset(stream);
    next_client_served(ctx, "a client reset its connection with replies unread").await
}

async fn survives_mid_message(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect().await?;
    ctx.expect_echo(&mut c, b"hello", "the first exchange").await?;
    let mut stream = c.into_inner();
    // Half of a message, then the process dies: its unread echo makes the kernel send RST.
    stream.write_all(&vec![b'y'; 8 * 1024]).await.map_err(|e| e.to_string())?;
    let mut one = [0u8; 1];
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.peek(&mut one)).await;
    drop(stream);
    next_client_served(ctx, "a client died in the middle of a message").await
}

async fn serves_next_client(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect().await?;
    ctx.expect_echo(&mut c, b"first client", "the first client").await?;
    close(c, "the first client").await?;
    next_client_served(ctx, "the first client left").await
}

async fn concurrent_clients(ctx: &Ctx) -> Outcome {
    let mut first = ctx.connect().await?;
    ctx.expect_echo(&mut first, b"first, staying", "the first client").await?;
    let mut second = ctx.connect().await.map_err(|e| format!("with the first client connected, the second's {e}"))?;
    let started = Instant::now();
    ctx.expect_echo(&mut second, b"second, meanwhile", "with the first client still connected, the second client")
        .await?;
    let waited = started.elapsed();
    ctx.expect_echo(&mut first, b"first, again", "the first client, afterwards").await?;
    close(second, "the second client").await?;
    close(first, "the first client").await?;
    Ok(format!("the second client was answered in {} ms while the first stayed connected", waited.as_millis()))
}

async fn half_close(ctx: &Ctx) -> Outcome {
    let mut c = ctx.connect().await?;
    let messages = b"one\ntwo\nthree\n".repeat(100);
    let mut reply = Vec::new();
    let result = c.send_and_half_close(&messages, &mut reply).await;
    let owed = ctx.options.transform.apply(&messages);
    match result {
        Ok(()) if reply == owed => Ok(format!("all {} reply bytes arrived after the half-close, then EOF", owed.len())),
        Ok(()) => Err(mismatch("the replies after the half-close", &owed, &reply)),
        Err(ClientError::Eof { received, expected }) => {
            Err(format!("after the half-close the server closed with {received} of {expected} reply bytes sent"))
        }
        Err(e) => Err(format!("after the half-close: {e} ({} of {} reply bytes arrived)", reply.len(), owed.len())),
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The bulk transfer of the slow-reader property.
const BULK: usize = 4 << 20;

/// The slow reader's receive buffer: a small window, so the server's side fills up instead of the client's.
const SLOW_RCVBUF: usize = 8 * 1024;

async fn slow_reader(ctx: &Ctx) -> Outcome {
    let socket = if ctx.addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() };
    let socket = socket.map_err(|e| e.to_string())?;
    socket.set_recv_buffer_size(SLOW_RCVBUF as u32).map_err(|e| e.to_string())?;
    let stream = match tokio::time::timeout(ctx.options.timeouts.connect, socket.connect(ctx.addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(format!("connect failed: {e}")),
        Err(_) => return Err(format!("connect timed out after {:?}", ctx.options.timeouts.connect)),
    };
    // Bytes that do not repeat with a short period, so a loss shows where it happened.
    let message: Vec<u8> = (0..BULK as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let owed = ctx.options.transform.apply(&message);
    let (mut rd, mut wr) = stream.into_split();
    // Aborted however the property ends (a timeout drops this future, and the guard with it).
    let writer = AbortOnDrop(tokio::spawn(async move {
        let _ = wr.write_all(&message).await;
    }));
    // Read nothing for a while: the server's send buffer fills, and a `send` writes only part.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut reply = Vec::with_capacity(BULK);
    let mut buf = vec![0u8; 64 * 1024];
    let io = ctx.options.timeouts.io;
    let mut reads = 0u64;
    while reply.len() < BULK {
        match tokio::time::timeout(io, rd.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                reply.extend_from_slice(&buf[..n]);
                reads += 1;
                if reads.is_multiple_of(8) {
                    tokio::time::sleep(Duration::from_millis(1)).await; // and keep reading slowly
                }
            }
            Ok(Err(e)) => return Err(format!("read failed after {} of {BULK} bytes: {e}", reply.len())),
            Err(_) => {
                if reply.iter().zip(&owed).any(|(a, b)| a != b) {
                    return Err(mismatch("the bulk reply (bytes were lost or changed)", &owed, &reply));
                }
                return Err(format!(
                    "stalled at byte {} of {BULK} for {} ms: bytes were lost (a `send` that wrote only part?)",
                    reply.len(),
                    io.as_millis()
                ));
            }
        }
    }
    drop(writer);
    if reply != owed {
        return Err(mismatch("the bulk reply", &owed, &reply));
    }
    Ok(format!("{BULK} bytes came back whole to a reader with an {} KiB window, 500 ms late", SLOW_RCVBUF / 1024))
}

async fn reuse_address(ctx: &mut Ctx) -> Outcome {
    let (Some(managed), Some(template)) = (ctx.managed.as_mut(), ctx.template.clone()) else {
        return Err("needs a server the harness started".into());
    };
    let addr = managed.addr();
    let mut clients = Vec::new();
    for i in 0..3 {
        let mut c =
            Client::connect::<Real>(addr, ctx.options.timeouts).await.map_err(|e| format!("connect failed: {e}"))?;
        let message = format!("connection {i}");
        let owed = ctx.options.transform.apply(message.as_bytes());
        match c.echo(message.as_bytes()).await {
            Ok(r) if r == owed => {}
            Ok(r) => return Err(mismatch("before the kill", &owed, &r)),
            // A server that serves one client at a time leaves the others waiting: keep them connected.
            Err(_) => {}
        }
        clients.push(c.into_inner());
    }
    // Kill it: the kernel closes its sockets, FIN first from the server's side (so they go to TIME_WAIT).
    managed.kill();
    for mut stream in clients {
        let mut one = [0u8; 1];
        let _ = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut one)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let time_wait =
        crate::real::kernel::count_time_wait(addr.port()).map_or("an unknown number of".into(), |n| n.to_string());
    match Managed::start(&template, addr.port(), ctx.options.startup).await {
        Ok(again) => {
            ctx.managed = Some(again);
            let mut c = ctx.connect().await?;
            ctx.expect_echo(&mut c, b"after the restart", "the restarted server").await?;
            close(c, "the restarted server").await?;
            Ok(format!("restarted on port {} at once ({time_wait} sockets in TIME_WAIT) and served", addr.port()))
        }
        Err(e) => {
            let what = match e {
                LaunchError::NotReady { exited, waited, stderr, .. } if !exited.is_empty() => {
                    format!("gave up after {} ms{exited}; its stderr: {stderr}", waited.as_millis())
                }
                LaunchError::NotReady { stderr, .. } => {
                    format!("did not listen within {} s; its stderr: {stderr}", ctx.options.startup.as_secs())
                }
                other => format!("could not be started: {other}"),
            };
            Err(format!(
                "restarted at once on port {} with {time_wait} sockets of the killed one in TIME_WAIT, the server {what}",
                addr.port()
            ))
        }
    }
}
