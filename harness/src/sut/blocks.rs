//! The building blocks of a correct echo server, public so that a user's own variant (or a planted bug, see
//! `hunt::mutants`) starts from them instead of copying them: the accept loop, reads and complete writes bounded by
//! the idle timeout, and the whole echo conversation. Generic over the seam, like the server.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::sut::net::{Listener, Stream};
use crate::sut::server::{upper_in_place, Config};

/// The correct accept loop: accepts forever, running `conversation` for each connection on a task of its own, so
/// one slow or broken client never holds up another. With `config.max_connections` it holds a slot per
/// connection, taken before the accept (latecomers wait in the backlog) and given back however the task ends.
/// It ends when the listener fails.
pub async fn accept_loop<L, F, Fut>(mut listener: L, config: Config, conversation: F)
where
    L: Listener,
    F: Fn(L::Stream, Config) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let slots = config.max_connections.map(|n| Arc::new(Semaphore::new(n.max(1))));
    loop {
        let slot = match &slots {
            Some(slots) => Some(slots.clone().acquire_owned().await.expect("the semaphore is never closed")),
            None => None,
        };
        let Ok((stream, _)) = listener.accept().await else { return };
        let conversation = conversation(stream, config.clone());
        tokio::spawn(async move {
            conversation.await;
            drop(slot);
        });
    }
}

/// A read bounded by `config.idle_timeout`, as the built-in server's: silence for that long reads as EOF (0).
pub async fn read<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut [u8], config: &Config) -> io::Result<usize> {
    match config.idle_timeout {
        Some(idle) => tokio::time::timeout(idle, stream.read(buf)).await.unwrap_or(Ok(0)),
        None => stream.read(buf).await,
    }
}

/// A complete write (`sendall`, not `send`) that fails with `TimedOut` after `config.idle_timeout` without any
/// progress, as the built-in server's: a slow reader that keeps taking bytes is served however long it takes.
pub async fn write_all<S: AsyncWrite + Unpin>(stream: &mut S, buf: &[u8], config: &Config) -> io::Result<()> {
    let mut sent = 0;
    while sent < buf.len() {
        let written = match config.idle_timeout {
            Some(idle) => tokio::time::timeout(idle, stream.write(&buf[sent..]))
                .await
                .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
            None => stream.write(&buf[sent..]).await,
        };
        match written? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            k => sent += k,
        }
    }
    Ok(())
}

/// The correct conversation: read, upper-case, write it all, until EOF (then shut the write side down) or an
/// error. A variant whose difference is elsewhere (or a planted bug) starts from this.
pub async fn echo<S: Stream>(mut stream: S, config: &Config) -> io::Result<()> {
    let mut buf = vec![0u8; config.buffer_size];
    loop {
        let n = read(&mut stream, &mut buf, config).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        upper_in_place(&mut buf[..n]);
        write_all(&mut stream, &buf[..n], config).await?;
    }
}
