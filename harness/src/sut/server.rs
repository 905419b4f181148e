//! The system under test: a correct uppercase echo server.
//!
//! It is the finished server of the classic socket tutorial: a connection loop that accepts forever, a
//! communication loop per connection on its own task, an EOF check, errors that end one connection only, and
//! replies written completely. It takes its listener and a shutdown future, so the same function serves real
//! sockets and turmoil's simulated ones (see [`crate::sut::net`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::sut::buffer::{Budget, ReadBuffer};
use crate::sut::net::{Listener, Stream};

/// The default read buffer: chosen by `cargo bench --bench throughput` (see README, "Choosing the buffer").
pub const DEFAULT_BUFFER: usize = 64 * 1024;

/// How the server behaves; every field has a safe default.
#[derive(Debug, Clone)]
pub struct Config {
    /// The most bytes one `read` call takes, and so the most memory a connection holds, whatever the client
    /// sends. A connection starts with a smaller buffer and grows it towards this while reads fill it, drawing on
    /// one budget for the whole server (see [`crate::sut::buffer`]): few connections stream with full buffers, a
    /// crowd shares the budget.
    pub buffer_size: usize,
    /// Connections served at once. Further clients wait in the listen backlog until one leaves, so the server
    /// never runs out of memory or descriptors because of a crowd. `None` is unbounded.
    pub max_connections: Option<usize>,
    /// A connection with no progress (nothing read, or a reply not taken by the client) for this long is closed,
    /// so a vanished client cannot hold a slot forever. `None` waits forever.
    pub idle_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config { buffer_size: DEFAULT_BUFFER, max_connections: None, idle_timeout: None }
    }
}

/// Upper-cases bytes exactly as Python's `bytes.upper()`: ASCII a-z become A-Z, every other byte is unchanged.
pub fn upper_in_place(bytes: &mut [u8]) {
    bytes.make_ascii_uppercase();
}

/// The reply the server owes for `bytes`.
pub fn upper(bytes: &[u8]) -> Vec<u8> {
    bytes.to_ascii_uppercase()
}

/// Serves connections from `listener` until `shutdown` completes, then closes every connection cleanly (each
/// client reads EOF after the replies already owed) and returns once all of them have ended.
pub async fn run<L: Listener>(listener: L, config: Config, shutdown: impl Future) {
    run_with(listener, config, shutdown, upper_in_place).await
}

/// [`run`], with `transform` applied to the bytes of each reply instead of upper-casing: the same code path as a
/// plain echo (`|_| {}`), the ceiling the benchmarks compare the server with.
pub async fn run_with<L: Listener>(mut listener: L, config: Config, shutdown: impl Future, transform: fn(&mut [u8])) {
    let config = Arc::new(config);
    let budget = Arc::new(Budget::default());
    let limit = config.max_connections.map(|n| Arc::new(Semaphore::new(n.max(1))));
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();

    let accept_loop = async {
        let mut backoff = Duration::from_millis(1);
        loop {
            // Wait for a free slot before accepting, so extra clients stay in the backlog.
            let permit = match &limit {
                Some(sem) => Some(sem.clone().acquire_owned().await.expect("semaphore is never closed")),
                None => None,
            };
            match listener.accept().await {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(1);
                    tracing::debug!(%peer, "accepted");
                    let config = config.clone();
                    let buf = ReadBuffer::new(config.buffer_size, budget.clone());
                    let stop = stop.clone();
                    tasks.spawn(async move {
                        if let Err(error) = serve_connection(stream, buf, &config, &stop, transform).await {
                            tracing::debug!(%peer, %error, "connection ended with an error");
                        } else {
                            tracing::debug!(%peer, "connection closed");
                        }
                        drop(permit);
                    });
                }
                Err(error) => {
                    // Out of descriptors and the like: the listener itself is fine, so wait and try again.
                    tracing::warn!(%error, ?backoff, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    };

    // Every `select!` here is biased (shutdown first): the same choice on every run, in any build.
    tokio::select! {
        biased;
        _ = shutdown => tracing::info!("shutting down"),
        _ = accept_loop => {}
    }
    drop(listener);
    stop.cancel();
    tasks.close();
    tasks.wait().await;
}

/// The communication loop of one connection: read, upper-case, write it all, until EOF, an error, the idle
/// timeout or shutdown.
async fn serve_connection<S: Stream>(
    mut stream: S,
    mut buf: ReadBuffer,
    config: &Config,
    stop: &CancellationToken,
    transform: fn(&mut [u8]),
) -> std::io::Result<()> {
    loop {
        // After a short read, let the runtime poll its I/O driver before reading again: what arrived meanwhile is
        // then read in one call, where reading at once would find nothing, park the task and wake it for each small
        // segment. Measured with `echo-harness load` on 1 KiB writes: 1.6x the bytes on one streaming connection
        // and 1.5x the ping-pong round trips; no change at 64 KiB (README, "Throughput beside its peers").
        if buf.drained() {
            tokio::task::yield_now().await;
        }
        let n = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            read = idle_bounded(config.idle_timeout, stream.read(buf.space())) => match read? {
                Some(n) => n,
                None => break, // idle
            },
        };
        if n == 0 {
            break; // EOF: the client has closed its side.
        }
        let data = &mut buf.space()[..n];
        transform(data);
        // Write it all (a write may take only part), giving up only when the client takes nothing for the idle
        // timeout: a slow reader that keeps taking bytes is served, however long the reply takes.
        let mut sent = 0;
        while sent < n {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return stream.shutdown().await,
                written = idle_bounded(config.idle_timeout, stream.write(&data[sent..])) => match written? {
                    Some(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                    Some(k) => sent += k,
                    None => return stream.shutdown().await, // the client stopped taking its replies
                },
            }
        }
        buf.after_read(n);
    }
    stream.shutdown().await
}

/// Runs `io`, giving up (`Ok(None)`) after `idle` when one is set.
async fn idle_bounded<T>(
    idle: Option<Duration>,
    io: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<Option<T>> {
    match idle {
        Some(limit) => match tokio::time::timeout(limit, io).await {
            Ok(result) => result.map(Some),
            Err(_) => Ok(None),
        },
        None => io.await.map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_matches_python_bytes_upper() {
        // Python: b"hello\x00\xff ok \xc3\x9f az{`@[".upper() == b"HELLO\x00\xff OK \xc3\x9f AZ{`@["
        assert_eq!(upper(b"hello\x00\xff ok \xc3\x9f az{`@["), b"HELLO\x00\xff OK \xc3\x9f AZ{`@[".to_vec());
        let all: Vec<u8> = (0..=255).collect();
        let up = upper(&all);
        for (b, u) in all.iter().zip(&up) {
            let expected = if b.is_ascii_lowercase() { b - 32 } else { *b };
            assert_eq!(*u, expected, "byte {b:#04x}");
        }
    }
}
