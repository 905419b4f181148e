//! Bugs that show only under a connection limit, an idle timeout or volume: a connection slot not given back on
//! an error, a reply write the idle timeout does not bound, an idle timer that measures whole writes or the
//! whole connection instead of progress, and a per-connection u16 position that goes wrong past 64 KiB. Each is
//! the correct server (`sut::blocks`, whose accept loop honours `max_connections`) with that one bug.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::sut::blocks::{accept_loop, echo, read, write_all};
use crate::sut::net::{Listener, Stream};
use crate::sut::server::{upper_in_place, Config};

/// [`echo`], except that silence for the idle timeout is an error (`TimedOut`), as a stalled write already is.
async fn echo_or_time_out<S: Stream>(mut stream: S, config: &Config) -> io::Result<()> {
    let mut buf = vec![0u8; config.buffer_size];
    loop {
        let n = match config.idle_timeout {
            Some(idle) => tokio::time::timeout(idle, stream.read(&mut buf))
                .await
                .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))?,
            None => stream.read(&mut buf).await?,
        };
        if n == 0 {
            return stream.shutdown().await;
        }
        upper_in_place(&mut buf[..n]);
        write_all(&mut stream, &buf[..n], config).await?;
    }
}

pub(super) async fn slot_leak_on_error<L: Listener>(mut listener: L, config: Config) {
    let slots = Arc::new(Semaphore::new(config.max_connections.unwrap_or(Semaphore::MAX_PERMITS)));
    loop {
        // A slot is taken by hand before each accept and given back by hand when the conversation is over.
        slots.acquire().await.expect("the semaphore is never closed").forget();
        let Ok((stream, _)) = listener.accept().await else { return };
        let (slots, config) = (slots.clone(), config.clone());
        tokio::spawn(async move {
            if let Err(error) = echo_or_time_out(stream, &config).await {
                tracing::debug!(%error, "connection ended with an error");
                return; // BUG: returns before giving the slot back
            }
            slots.add_permits(1);
        });
    }
}

pub(super) async fn unbounded_write<L: Listener>(listener: L, config: Config) {
    accept_loop(listener, config, |mut stream, config| async move {
        let mut buf = vec![0u8; config.buffer_size];
        while let Ok(n @ 1..) = read(&mut stream, &mut buf, &config).await {
            upper_in_place(&mut buf[..n]);
            // BUG: `sendall` without the idle timeout: a client that stops reading blocks it forever.
            if stream.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
        let _ = stream.shutdown().await;
    })
    .await
}

pub(super) async fn idle_whole_write<L: Listener>(listener: L, config: Config) {
    accept_loop(listener, config, |mut stream, config| async move {
        let mut buf = vec![0u8; config.buffer_size];
        while let Ok(n @ 1..) = read(&mut stream, &mut buf, &config).await {
            upper_in_place(&mut buf[..n]);
            // BUG: the idle timeout bounds the whole reply, however steadily the client takes it.
            let whole = stream.write_all(&buf[..n]);
            let written = match config.idle_timeout {
                Some(idle) => {
                    tokio::time::timeout(idle, whole).await.unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
                }
                None => whole.await,
            };
            if written.is_err() {
                return;
            }
        }
        let _ = stream.shutdown().await;
    })
    .await
}

pub(super) async fn idle_deadline<L: Listener>(listener: L, config: Config) {
    accept_loop(listener, config, |stream, config| async move {
        match config.idle_timeout {
            // BUG: one timer for the whole conversation, armed at the accept and never reset by progress.
            Some(idle) => drop(tokio::time::timeout(idle, echo(stream, &config)).await),
            None => drop(echo(stream, &config).await),
        }
    })
    .await
}

/// The ring's size: 64 KiB, so a u16 position "wraps at its end by itself".
const RING: usize = 1 << 16;

pub(super) async fn ring_u16<L: Listener>(listener: L, config: Config) {
    accept_loop(listener, config, |mut stream, config| async move {
        let mut buf = vec![0u8; config.buffer_size];
        // The connection's last 64 KiB, kept for a debug dump; replies are sent from it, saving a copy.
        let mut ring = vec![0u8; RING];
        let mut head: u16 = 0;
        while let Ok(n @ 1..) = read(&mut stream, &mut buf, &config).await {
            upper_in_place(&mut buf[..n]);
            let at = usize::from(head);
            // BUG: copies only up to the ring's end; the part of a read that crosses it (past every 65,536 bytes
            // of the connection) is lost. `head` itself wraps correctly.
            let fit = n.min(RING - at);
            ring[at..at + fit].copy_from_slice(&buf[..fit]);
            head = head.wrapping_add(n as u16);
            if write_all(&mut stream, &ring[at..at + fit], &config).await.is_err() {
                return;
            }
        }
        let _ = stream.shutdown().await;
    })
    .await
}

pub(super) async fn early_idle<L: Listener>(listener: L, config: Config) {
    // BUG: the timer it runs is a fifth of the idle timeout it declares (a unit slip, ms read as 5 ms ticks).
    let declared = config.idle_timeout;
    let config = Config { idle_timeout: declared.map(|t| t / 5), ..config };
    accept_loop(listener, config, |stream, config| async move {
        let _ = echo(stream, &config).await;
    })
    .await
}
