//! The bank of correct upper-casing echo servers, in the styles people really use, each generic over the seam's
//! `Listener`: shared by `server_styles.rs` (the styles as they are) and `idle_styles.rs` (the same styles behind
//! an idle deadline, declared to the harness).

#![allow(dead_code)] // each test crate uses its part

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use echo_harness::hunt::explore::{self, Options};
use echo_harness::sim::target::Target;
use echo_harness::sut::net::{Listener, Stream};
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::bytes::Bytes;
use tokio_util::codec::{BytesCodec, Framed};

/// Accepts forever, serving each connection on its own task with `serve`. An accept error (out of descriptors
/// and the like) is waited out, not fatal.
pub async fn accept_loop<L, F, Fut>(mut listener: L, serve: F)
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

pub async fn split_channel<L: Listener>(listener: L, buffer: usize) {
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

pub async fn split_tasks<L: Listener>(listener: L, buffer: usize) {
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

pub async fn buffered<L: Listener>(listener: L, buffer: usize) {
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

pub async fn framed<L: Listener>(listener: L, buffer: usize) {
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

pub async fn select_loop<L: Listener>(listener: L, buffer: usize) {
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

pub async fn join_set<L: Listener>(mut listener: L, buffer: usize) {
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
pub async fn plain_connection<S: Stream>(mut stream: S, buffer: usize) {
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
pub async fn copy_upper<L: Listener>(listener: L, _buffer: usize) {
    accept_loop(listener, copy_upper_connection).await
}

async fn copy_upper_connection<S: Stream>(stream: S) {
    let (reader, mut writer) = tokio::io::split(stream);
    if tokio::io::copy(&mut Upper(reader), &mut writer).await.is_ok() {
        let _ = writer.shutdown().await;
    }
}

// 8. One task drives every connection: the accept loop and the conversations in a `FuturesUnordered`, no spawn
//    (the connections live inside the server's future, and die with it).

pub async fn unordered<L: Listener>(mut listener: L, buffer: usize) {
    let mut connections = FuturesUnordered::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => connections.push(plain_connection(stream, buffer)),
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(()) = connections.next(), if !connections.is_empty() => {}
        }
    }
}

/// Reads per call in the styles that take a buffer size.
pub const BUFFER: usize = 4096;

/// Every style, as a simulator target that declares nothing and takes no `[server]` settings.
pub fn styles() -> Vec<Target> {
    macro_rules! target {
        ($name:ident) => {
            Target::new(stringify!($name), |listener| Box::pin($name(listener, BUFFER)))
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
        target!(unordered),
    ]
}

pub fn style(name: &str) -> Target {
    styles().into_iter().find(|t| t.name() == name).unwrap_or_else(|| panic!("no style {name}"))
}

/// Explores `target` with `seed` for the case count in the environment variable `env` (default `default`) and
/// asserts that nothing was found, printing the style's cases, findings and seconds.
pub fn explores_clean(target: &Target, env: &str, default: u64, seed: u64) {
    // The suite's own variable first, then proptest's, then the default.
    let cases = match std::env::var(env) {
        Ok(text) => text.parse().unwrap_or_else(|_| panic!("{env}={text:?} is not a case count")),
        Err(_) => explore::cases_from_env().unwrap_or_else(|e| panic!("{e}")).unwrap_or(default),
    };
    let options =
        Options { cases, time: None, seed, jobs: 2, check_determinism: false, stop_at_first: true, shard: None };
    let report = explore::explore(&options, target, &|_, _| {});
    let name = target.name();
    println!("{name}: {} cases, {} findings, {:.1} s", report.cases, report.findings.len(), report.seconds);
    let first = report.findings.first().map(|f| {
        format!("{name}: case {}: {} failed: {}\n{}", f.case, f.property.name(), f.detail, f.scenario.to_toml())
    });
    assert!(first.is_none(), "{}", first.unwrap_or_default());
    assert_eq!(report.cases, cases);
}
