//! A bank of correct upper-casing echo servers, written in the styles people really use, each generic over the
//! seam's `Listener` and run through every scenario file and a bounded exploration. A correct server that fails
//! here is a false alarm of the harness (as the split reader and writer once were: a read-ahead in the simulated
//! stream's `poll_write` took the reader task's waker).
//!
//! Every style echoes every byte upper-cased (ASCII only), shuts its write side down after the last reply once
//! the client has sent EOF, ends a connection on a reset or an error without disturbing the others, and serves
//! clients concurrently. None has an idle timeout or a connection limit of its own, so in the scenario files that
//! set an idle timeout in `[server]` (they count on it to close connections the network cut) only no-leak may
//! fail, and their silent clients (`end = "silent"`, which wait for that timeout to close them) are left out. A
//! connection limit the styles ignore only lets every client in at once, which fails nothing.
//!
//! `SERVER_STYLES_CASES=5000 cargo test --release --test server_styles -- --nocapture` explores more cases per
//! style (the default is [`DEFAULT_CASES`]); each style prints its cases, findings and seconds.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use echo_harness::hunt::check;
use echo_harness::hunt::explore::{self, Options};
use echo_harness::model::property::Verdict;
use echo_harness::model::scenario::{Action, Quiet, Scenario, Who};
use echo_harness::report::table;
use echo_harness::sim::target::Target;
use echo_harness::sut::net::{Listener, Stream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::bytes::Bytes;
use tokio_util::codec::{BytesCodec, Framed};

/// Cases explored per style unless `SERVER_STYLES_CASES` says otherwise.
const DEFAULT_CASES: u64 = 500;

/// Accepts forever, serving each connection on its own task with `serve`. An accept error (out of descriptors
/// and the like) is waited out, not fatal.
async fn accept_loop<L, F, Fut>(mut listener: L, serve: F)
where
    L: Listener,
    F: Fn(L::Stream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// The upper-cased copy of `bytes`.
fn upper(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out.make_ascii_uppercase();
    out
}

// 1. `tokio::io::split`: the connection's task reads, a spawned writer task writes what a channel brings.

async fn split_channel<L: Listener>(listener: L, buffer: usize) {
    accept_loop(listener, move |stream| split_channel_connection(stream, buffer)).await
}

async fn split_channel_connection<S: Stream>(stream: S, buffer: usize) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(8);
    let write_task = tokio::spawn(async move {
        while let Some(reply) = rx.recv().await {
            if writer.write_all(&reply).await.is_err() {
                return; // the client is gone: dropping `rx` stops the reader's sends
            }
        }
        let _ = writer.shutdown().await; // every reply is written: EOF
    });
    let mut buf = vec![0u8; buffer];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx.send(upper(&buf[..n])).await.is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = write_task.await;
}

// 2. Two spawned tasks, a reader and a writer, joined by the connection's task.

async fn split_tasks<L: Listener>(listener: L, buffer: usize) {
    accept_loop(listener, move |stream| split_tasks_connection(stream, buffer)).await
}

async fn split_tasks_connection<S: Stream>(stream: S, buffer: usize) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(8);
    let read_task = tokio::spawn(async move {
        let mut buf = vec![0u8; buffer];
        while let Ok(n @ 1..) = reader.read(&mut buf).await {
            if tx.send(upper(&buf[..n])).await.is_err() {
                break;
            }
        }
    });
    let write_task = tokio::spawn(async move {
        while let Some(reply) = rx.recv().await {
            if writer.write_all(&reply).await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    let _ = tokio::join!(read_task, write_task);
}

// 3. `BufReader` and `BufWriter`, flushed after each chunk.

async fn buffered<L: Listener>(listener: L, buffer: usize) {
    accept_loop(listener, move |stream| buffered_connection(stream, buffer)).await
}

async fn buffered_connection<S: Stream>(stream: S, buffer: usize) {
    let (reader, writer) = tokio::io::split(stream);
    let (mut reader, mut writer) = (BufReader::with_capacity(buffer, reader), BufWriter::with_capacity(buffer, writer));
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let (reply, n) = (upper(chunk), chunk.len());
        reader.consume(n);
        if writer.write_all(&reply).await.is_err() || writer.flush().await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await; // flushes, then EOF
}

// 4. `Framed` with `BytesCodec`: a stream of `BytesMut` in, a sink of upper-cased `Bytes` out.

async fn framed<L: Listener>(listener: L, buffer: usize) {
    accept_loop(listener, move |stream| framed_connection(stream, buffer)).await
}

async fn framed_connection<S: Stream>(stream: S, buffer: usize) {
    let mut frames = Framed::with_capacity(stream, BytesCodec::new(), buffer);
    while let Some(Ok(mut chunk)) = frames.next().await {
        chunk.make_ascii_uppercase();
        if frames.send(chunk.freeze()).await.is_err() {
            return;
        }
    }
    let _ = SinkExt::<Bytes>::close(&mut frames).await; // flushes, then shuts the write side
}

// 5. One task, `select!` over read and write readiness, with a bounded buffer of pending output.

/// Output a connection holds before it stops reading.
const PENDING_LIMIT: usize = 16 * 1024;

async fn select_loop<L: Listener>(listener: L, buffer: usize) {
    accept_loop(listener, move |stream| select_loop_connection(stream, buffer)).await
}

async fn select_loop_connection<S: Stream>(stream: S, buffer: usize) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut pending: VecDeque<u8> = VecDeque::new();
    let mut buf = vec![0u8; buffer];
    let mut eof = false;
    while !(eof && pending.is_empty()) {
        let out = pending.as_slices().0;
        tokio::select! {
            read = reader.read(&mut buf), if !eof && pending.len() < PENDING_LIMIT => match read {
                Ok(0) => eof = true,
                Ok(n) => pending.extend(buf[..n].iter().map(u8::to_ascii_uppercase)),
                Err(_) => return,
            },
            written = writer.write(out), if !out.is_empty() => match written {
                Ok(0) | Err(_) => return,
                Ok(n) => drop(pending.drain(..n)),
            },
        }
    }
    let _ = writer.shutdown().await;
}

// 6. The accept loop holds every connection in a `JoinSet` and reaps the finished ones.

async fn join_set<L: Listener>(mut listener: L, buffer: usize) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(plain_connection(stream, buffer));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_finished) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// The tutorial's communication loop: read, upper-case, write it all, until EOF or an error.
async fn plain_connection<S: Stream>(mut stream: S, buffer: usize) {
    let mut buf = vec![0u8; buffer];
    while let Ok(n @ 1..) = stream.read(&mut buf).await {
        buf[..n].make_ascii_uppercase();
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
    let _ = stream.shutdown().await;
}

// 7. `tokio::io::copy` from an upper-casing reader into the write half.

/// Upper-cases whatever its reader yields.
struct Upper<R>(R);

impl<R: AsyncRead + Unpin> AsyncRead for Upper<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.0).poll_read(cx, buf))?;
        buf.filled_mut()[before..].make_ascii_uppercase();
        Poll::Ready(Ok(()))
    }
}

/// `tokio::io::copy` has a buffer of its own (8 KiB): the scenario's buffer size is not used.
async fn copy_upper<L: Listener>(listener: L, _buffer: usize) {
    accept_loop(listener, copy_upper_connection).await
}

async fn copy_upper_connection<S: Stream>(stream: S) {
    let (reader, mut writer) = tokio::io::split(stream);
    if tokio::io::copy(&mut Upper(reader), &mut writer).await.is_ok() {
        let _ = writer.shutdown().await;
    }
}

/// Every style, as a simulator target. A style reads with the scenario's `[server] buffer` (many small segments
/// are how a scenario makes the server's writes wait for a slow reader) and ignores the rest of `[server]`.
fn styles() -> Vec<Target> {
    macro_rules! target {
        ($name:ident) => {
            Target::configurable(stringify!($name), |listener, config| Box::pin($name(listener, config.buffer_size)))
        };
    }
    vec![
        target!(split_channel),
        target!(split_tasks),
        target!(buffered),
        target!(framed),
        target!(select_loop),
        target!(join_set),
        target!(copy_upper),
    ]
}

fn style(name: &str) -> Target {
    styles().into_iter().find(|t| t.name() == name).unwrap_or_else(|| panic!("no style {name}"))
}

/// `scenario` without its silent clients (`end = "silent"`): each waits for the server's idle timeout to close its
/// connection, which these styles do not have, so it would wait in vain (a liveness failure that only says the
/// style ignores `idle_timeout_ms`). Everything else in the scenario still runs against the style.
fn without_silent_clients(mut scenario: Scenario) -> Scenario {
    let names_a_client = |action: &Action| match action {
        Action::Partition(who, _) | Action::Repair(who, _) => *who != Who::All,
        Action::Hold(who) | Action::Release(who) | Action::Latency(who, _) => *who != Who::All,
        _ => false,
    };
    let silent = scenario.clients.iter().any(|c| c.quiet() == Some(Quiet::Silent));
    // Dropping clients would renumber those a timeline step names; no scenario with silent clients has one.
    assert!(!silent || !scenario.timeline.iter().any(|f| names_a_client(&f.action)), "{}", scenario.name);
    scenario.clients.retain(|c| c.quiet() != Some(Quiet::Silent));
    for (i, client) in scenario.clients.iter_mut().enumerate() {
        client.name = format!("client-{i}");
    }
    scenario
}

/// The whole scenario suite, every seed, passes; the scenarios that rely on the server's idle timeout may fail
/// no-leak only, and run without their silent clients (see [`without_silent_clients`]).
fn passes_the_suite(name: &str) {
    let target = style(name);
    let scenarios: Vec<Scenario> = Scenario::suite().into_iter().map(without_silent_clients).collect();
    // These styles have no idle timeout. turmoil never retransmits, so a connection cut by a partition or a lossy
    // link never delivers its FIN: only an idle timeout closes it, and the scenarios that set one in `[server]`
    // count on it for no-leak.
    let (timed, untimed): (Vec<Scenario>, Vec<Scenario>) =
        scenarios.into_iter().partition(|s| s.server.config.idle_timeout.is_some());
    let report = check::check(&untimed, &target, 2);
    assert_eq!(report.verdict, Verdict::Pass, "{}", table::suite_table(&report));
    let report = check::check(&timed, &target, 2);
    let broken = report.properties.iter().filter(|p| p.verdict == Verdict::Fail && p.name != "no-leak");
    let broken: Vec<&str> = broken.map(|p| p.name.as_str()).collect();
    assert!(broken.is_empty(), "{broken:?} failed\n{}", table::suite_table(&report));
}

/// A bounded exploration finds nothing.
fn explores_clean(name: &str) {
    let cases = match std::env::var("SERVER_STYLES_CASES") {
        Ok(text) => text.parse().unwrap_or_else(|_| panic!("SERVER_STYLES_CASES={text:?} is not a case count")),
        Err(_) => DEFAULT_CASES,
    };
    let options = Options { cases, time: None, seed: 2026, jobs: 2, check_determinism: false, stop_at_first: true };
    let report = explore::explore(&options, &style(name), &|_, _| {});
    println!("{name}: {} cases, {} findings, {:.1} s", report.cases, report.findings.len(), report.seconds);
    let first = report.findings.first().map(|f| {
        format!("{name}: case {}: {} failed: {}\n{}", f.case, f.property.name(), f.detail, f.scenario.to_toml())
    });
    assert!(first.is_none(), "{}", first.unwrap_or_default());
    assert_eq!(report.cases, cases);
}

macro_rules! bank {
    ($($name:ident),* $(,)?) => {
        mod suite {
            $(#[test] fn $name() { super::passes_the_suite(stringify!($name)) })*
        }
        mod exploration {
            $(#[test] fn $name() { super::explores_clean(stringify!($name)) })*
        }
        #[test]
        fn every_style_is_tested() {
            let mut tested = vec![$(stringify!($name)),*];
            let mut styles: Vec<String> = styles().iter().map(|t| t.name().to_string()).collect();
            tested.sort_unstable();
            styles.sort_unstable();
            assert_eq!(tested, styles);
        }
    };
}

bank!(split_channel, split_tasks, buffered, framed, select_loop, join_set, copy_upper);
