//! Stream faults that turmoil does not make itself: its writes are never short and its reads never merge or
//! split segments, so the harness shapes streams on both sides of a connection.
//!
//! [`Shaped`] wraps any stream and, per [`Shaping`]:
//! - accepts at most k bytes per write (partial sends; each write is one segment, so the peer sees the message
//!   split into k-byte pieces),
//! - returns at most k bytes per read (short reads),
//! - pauses between reads (a slow reader) or between writes (a message dribbled out),
//!
//! with k fixed or drawn per call from a generator seeded by the run's seed. partial-io's adapters do the first
//! two from an iterator; the pauses in simulated time are why this one is written by hand.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// How many bytes one call may move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Always this many (at least 1).
    Fixed(usize),
    /// Drawn uniformly from `lo..=hi` per call.
    Between(usize, usize),
}

impl Chunk {
    /// The fewest bytes a call may take.
    pub fn min(self) -> usize {
        match self {
            Chunk::Fixed(k) => k.max(1),
            Chunk::Between(lo, _) => lo.max(1),
        }
    }

    fn draw(self, rng: &mut SmallRng) -> usize {
        match self {
            Chunk::Fixed(k) => k.max(1),
            Chunk::Between(lo, hi) => rng.random_range(lo.max(1)..=hi.max(lo.max(1))),
        }
    }
}

/// What to do to one side's stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shaping {
    /// Bytes accepted per write; `None` passes writes through.
    pub write_chunk: Option<Chunk>,
    /// Bytes returned per read; `None` passes reads through.
    pub read_chunk: Option<Chunk>,
    /// Pause after each write that was cut short, before the next write is accepted.
    pub write_pause: Option<Duration>,
    /// Pause after each read, before the next read returns.
    pub read_pause: Option<Duration>,
}

impl Shaping {
    /// Whether it changes anything.
    pub fn is_identity(&self) -> bool {
        *self == Shaping::default()
    }
}

/// A stream with [`Shaping`] applied.
pub struct Shaped<S> {
    /// The real stream.
    inner: S,
    /// What to do.
    shaping: Shaping,
    /// Draws chunk sizes: seeded, so a run is reproducible.
    rng: SmallRng,
    /// A pending pause before the next read.
    read_wait: Option<Pin<Box<Sleep>>>,
    /// A pending pause before the next write.
    write_wait: Option<Pin<Box<Sleep>>>,
}

impl<S> Shaped<S> {
    /// Wraps `inner`; `seed` drives the chunk sizes.
    pub fn new(inner: S, shaping: Shaping, seed: u64) -> Self {
        Shaped { inner, shaping, rng: SmallRng::seed_from_u64(seed), read_wait: None, write_wait: None }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

fn wait(slot: &mut Option<Pin<Box<Sleep>>>, cx: &mut Context<'_>) -> Poll<()> {
    if let Some(sleep) = slot.as_mut() {
        ready!(sleep.as_mut().poll(cx));
        *slot = None;
    }
    Poll::Ready(())
}

impl<S: AsyncRead + Unpin> AsyncRead for Shaped<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(wait(&mut this.read_wait, cx));
        let Some(chunk) = this.shaping.read_chunk else {
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            if let Some(pause) = this.shaping.read_pause {
                this.read_wait = Some(Box::pin(tokio::time::sleep(pause)));
            }
            return Poll::Ready(Ok(()));
        };
        let limit = chunk.draw(&mut this.rng).min(buf.remaining());
        let mut small = ReadBuf::new(buf.initialize_unfilled_to(limit));
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut small))?;
        let n = small.filled().len();
        buf.advance(n);
        if let Some(pause) = this.shaping.read_pause.filter(|_| n > 0) {
            this.read_wait = Some(Box::pin(tokio::time::sleep(pause)));
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Shaped<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(wait(&mut this.write_wait, cx));
        let limit = match this.shaping.write_chunk {
            Some(chunk) => chunk.draw(&mut this.rng).min(buf.len()),
            None => buf.len(),
        };
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..limit]))?;
        if n < buf.len() {
            if let Some(pause) = this.shaping.write_pause {
                this.write_wait = Some(Box::pin(tokio::time::sleep(pause)));
            }
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_are_cut_and_reads_are_short_but_no_byte_changes() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let shaping = Shaping {
            write_chunk: Some(Chunk::Between(1, 7)),
            read_chunk: Some(Chunk::Fixed(3)),
            ..Shaping::default()
        };
        let mut a = Shaped::new(a, shaping, 42);
        let mut b = Shaped::new(b, shaping, 43);
        let message: Vec<u8> = (0..=255).collect();
        let n = a.write(&message).await.unwrap();
        assert!((1..=7).contains(&n), "one write takes 1 to 7 bytes, took {n}");
        a.write_all(&message[..]).await.unwrap();
        let mut first = [0u8; 64];
        assert_eq!(b.read(&mut first).await.unwrap(), 3, "one read gives at most 3 bytes");
        let mut rest = vec![0u8; n + message.len() - 3];
        b.read_exact(&mut rest).await.unwrap();
        let mut all = first[..3].to_vec();
        all.extend_from_slice(&rest);
        assert_eq!(&all[..n], &message[..n]);
        assert_eq!(&all[n..], &message[..], "the write_all copy arrives intact");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_pauses_between_reads() {
        let (mut a, b) = tokio::io::duplex(1 << 16);
        let shaping = Shaping {
            read_chunk: Some(Chunk::Fixed(1)),
            read_pause: Some(Duration::from_millis(10)),
            ..Shaping::default()
        };
        let mut b = Shaped::new(b, shaping, 1);
        a.write_all(b"abcd").await.unwrap();
        let start = tokio::time::Instant::now();
        let mut out = [0u8; 4];
        b.read_exact(&mut out).await.unwrap();
        assert_eq!(&out, b"abcd");
        assert_eq!(start.elapsed(), Duration::from_millis(30), "three pauses between four 1-byte reads");
    }
}
