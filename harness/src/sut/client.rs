//! The echo client: one code for real sockets and the simulator, like the server.
//!
//! It never assumes that one read is one message: a reply is read until it has exactly as many bytes as the
//! message (upper-casing keeps the length), however TCP splits or joins them, while the message is still being
//! written (so a big message cannot deadlock on full buffers). Every I/O step has a timeout.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::sut::net::{Network, Stream};

/// How long each step may take before the client gives up.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Bound on the whole connect handshake.
    pub connect: Duration,
    /// Bound on each single read or write making no progress: a stalled peer is reported, never waited on.
    pub io: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_secs(5), io: Duration::from_secs(10) }
    }
}

/// Why an exchange with the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the address (the tutorial's `connect_ex` returning ECONNREFUSED).
    #[error("connection refused by {addr}")]
    Refused {
        /// The address that refused.
        addr: SocketAddr,
    },
    /// The handshake did not finish in time.
    #[error("connect to {addr} timed out after {after:?}")]
    ConnectTimeout {
        /// The address being connected to.
        addr: SocketAddr,
        /// The timeout that expired.
        after: Duration,
    },
    /// The connect failed for another reason.
    #[error("connect to {addr} failed: {source}")]
    Connect {
        /// The address being connected to.
        addr: SocketAddr,
        /// The OS (or simulator) error.
        source: io::Error,
    },
    /// A read or write made no progress within the I/O timeout.
    #[error("{op} stalled: no progress for {after:?} after {sent} bytes sent and {received} received")]
    Stalled {
        /// "read" or "write".
        op: &'static str,
        /// The timeout that expired.
        after: Duration,
        /// Bytes of the current message written so far.
        sent: usize,
        /// Bytes of the current reply read so far.
        received: usize,
    },
    /// The server closed the connection before the whole reply arrived.
    #[error("server closed the connection after {received} of {expected} reply bytes")]
    Eof {
        /// Reply bytes received before EOF.
        received: usize,
        /// Reply bytes owed.
        expected: usize,
    },
    /// A read or write failed (reset, broken pipe, ...).
    #[error("{op} failed after {sent} bytes sent and {received} received: {source}")]
    Io {
        /// "read", "write" or "shutdown".
        op: &'static str,
        /// Bytes of the current message written so far.
        sent: usize,
        /// Bytes of the current reply read so far.
        received: usize,
        /// The OS (or simulator) error.
        source: io::Error,
    },
}

impl ClientError {
    /// Reply bytes received before the failure.
    pub fn received(&self) -> usize {
        match self {
            ClientError::Stalled { received, .. }
            | ClientError::Eof { received, .. }
            | ClientError::Io { received, .. } => *received,
            _ => 0,
        }
    }

    /// The error's kind, for a trace: stable words, no addresses.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Refused { .. } => "refused",
            ClientError::ConnectTimeout { .. } => "connect-timeout",
            ClientError::Connect { .. } => "connect-error",
            ClientError::Stalled { .. } => "stalled",
            ClientError::Eof { .. } => "eof",
            ClientError::Io { source, .. } => match source.kind() {
                io::ErrorKind::ConnectionReset => "reset",
                io::ErrorKind::BrokenPipe => "broken-pipe",
                // The kernel gave up retransmitting (ETIMEDOUT): the link was cut too long.
                io::ErrorKind::TimedOut => "timed-out",
                _ => "io-error",
            },
        }
    }
}

/// A connection to an echo server.
pub struct Client<S> {
    /// The connection itself.
    stream: S,
    /// Bounds on every step.
    timeouts: Timeouts,
    /// When the current (or last) exchange's first reply byte arrived: how fast the server answered.
    first_reply: Option<tokio::time::Instant>,
    /// When a write last took bytes: the server cannot have seen them before.
    last_sent: Option<tokio::time::Instant>,
}

impl<S: Stream> Client<S> {
    /// Connects to `addr` on network `N` within `timeouts.connect`.
    pub async fn connect<N: Network<Stream = S>>(addr: SocketAddr, timeouts: Timeouts) -> Result<Self, ClientError> {
        match tokio::time::timeout(timeouts.connect, N::connect(addr)).await {
            Ok(Ok(stream)) => Ok(Client { stream, timeouts, first_reply: None, last_sent: None }),
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => Err(ClientError::Refused { addr }),
            Ok(Err(source)) => Err(ClientError::Connect { addr, source }),
            Err(_) => Err(ClientError::ConnectTimeout { addr, after: timeouts.connect }),
        }
    }

    /// Wraps an already connected stream.
    pub fn from_stream(stream: S, timeouts: Timeouts) -> Self {
        Client { stream, timeouts, first_reply: None, last_sent: None }
    }

    /// When the last exchange's first reply byte arrived, if one did.
    pub fn first_reply(&self) -> Option<tokio::time::Instant> {
        self.first_reply
    }

    /// When a write on this connection last took bytes, if one did: the server's last progress with this client
    /// (reading those bytes, writing their reply) cannot come before it.
    pub fn last_sent(&self) -> Option<tokio::time::Instant> {
        self.last_sent
    }

    /// Sends `message` and returns its reply, exactly `message.len()` bytes. An empty message returns an empty
    /// reply at once without touching the socket: a 0-byte send transmits nothing, so waiting for its reply
    /// would hang forever (the tutorial's `if not msg: continue`).
    pub async fn echo(&mut self, message: &[u8]) -> Result<Vec<u8>, ClientError> {
        let mut reply = Vec::new();
        self.echo_into(message, &mut reply).await?;
        Ok(reply)
    }

    /// [`Client::echo`], keeping in `reply` whatever part of the reply arrived when the exchange fails, so an
    /// oracle can still check that the part is right.
    pub async fn echo_into(&mut self, message: &[u8], reply: &mut Vec<u8>) -> Result<(), ClientError> {
        reply.clear();
        reply.resize(message.len(), 0);
        self.first_reply = None;
        if message.is_empty() {
            return Ok(());
        }
        let result = self.exchange(message, reply).await;
        if let Err(e) = &result {
            reply.truncate(e.received());
        }
        result
    }

    async fn exchange(&mut self, message: &[u8], reply: &mut [u8]) -> Result<(), ClientError> {
        let io_timeout = self.timeouts.io;
        let (mut rd, mut wr) = tokio::io::split(&mut self.stream);
        let mut sent = 0;
        let mut received = 0;
        // Write and read in one task: progress on either side is what the timeout watches. Never read more than
        // was sent: an echo cannot be ahead of its request, so bytes beyond it belong to what follows (and are
        // judged there), and with nothing owed the server has nothing to send, so not reading cannot deadlock.
        while received < reply.len() {
            let step = tokio::time::timeout(io_timeout, async {
                match (sent < message.len(), received < sent) {
                    // Biased, reads first: the same choice on every run whatever the build (an unbiased `select!`
                    // draws from an RNG that only `--cfg tokio_unstable` seeds), and a reply taken frees the server.
                    (true, true) => tokio::select! {
                        biased;
                        r = rd.read(&mut reply[received..sent]) => Step::Read(r),
                        w = wr.write(&message[sent..]) => Step::Wrote(w),
                    },
                    (true, false) => Step::Wrote(wr.write(&message[sent..]).await),
                    (false, _) => Step::Read(rd.read(&mut reply[received..]).await),
                }
            })
            .await;
            match step {
                Err(_) => {
                    let op = if sent < message.len() { "write" } else { "read" };
                    return Err(ClientError::Stalled { op, after: io_timeout, sent, received });
                }
                Ok(Step::Wrote(Ok(0))) => return Err(write_zero(sent, received)),
                Ok(Step::Wrote(Ok(n))) => {
                    sent += n;
                    self.last_sent = Some(tokio::time::Instant::now());
                }
                Ok(Step::Wrote(Err(source))) => return Err(ClientError::Io { op: "write", sent, received, source }),
                Ok(Step::Read(Ok(0))) => return Err(ClientError::Eof { received, expected: reply.len() }),
                Ok(Step::Read(Ok(n))) => {
                    if received == 0 {
                        self.first_reply = Some(tokio::time::Instant::now());
                    }
                    received += n
                }
                Ok(Step::Read(Err(source))) => return Err(ClientError::Io { op: "read", sent, received, source }),
            }
        }
        Ok(())
    }

    /// Half-closes: shuts the write side (the server reads EOF), then reads whatever the server still sends
    /// until it closes its side. Returns those bytes.
    pub async fn half_close(mut self) -> Result<Vec<u8>, ClientError> {
        let io_timeout = self.timeouts.io;
        match tokio::time::timeout(io_timeout, self.stream.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(source)) => return Err(ClientError::Io { op: "shutdown", sent: 0, received: 0, source }),
            Err(_) => return Err(ClientError::Stalled { op: "shutdown", after: io_timeout, sent: 0, received: 0 }),
        }
        let mut rest = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match tokio::time::timeout(io_timeout, self.stream.read(&mut chunk)).await {
                Err(_) => {
                    return Err(ClientError::Stalled { op: "read", after: io_timeout, sent: 0, received: rest.len() })
                }
                Ok(Ok(0)) => return Ok(rest),
                Ok(Ok(n)) => rest.extend_from_slice(&chunk[..n]),
                Ok(Err(source)) => return Err(ClientError::Io { op: "read", sent: 0, received: rest.len(), source }),
            }
        }
    }

    /// Closes the connection: half-closes and waits for the server's EOF, so neither side is left with unread
    /// data (which would turn the close into a reset).
    pub async fn close(self) -> Result<(), ClientError> {
        let rest = self.half_close().await?;
        if rest.is_empty() {
            Ok(())
        } else {
            Err(ClientError::Io {
                op: "close",
                sent: 0,
                received: rest.len(),
                source: io::Error::new(io::ErrorKind::InvalidData, "unexpected bytes after the last reply"),
            })
        }
    }

    /// Writes `message` while reading, half-closes once it is all written, and reads to EOF: the way to send a
    /// last batch and collect every reply (the server sees EOF and must still answer what it read). `reply`
    /// holds what arrived, also when it fails.
    pub async fn send_and_half_close(&mut self, message: &[u8], reply: &mut Vec<u8>) -> Result<(), ClientError> {
        reply.clear();
        self.first_reply = None;
        let io_timeout = self.timeouts.io;
        let (mut rd, mut wr) = tokio::io::split(&mut self.stream);
        let mut sent = 0;
        let mut shut = false;
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let step = tokio::time::timeout(io_timeout, async {
                if !shut {
                    tokio::select! {
                        biased;
                        r = rd.read(&mut chunk) => Step::Read(r),
                        w = async {
                            if sent < message.len() { wr.write(&message[sent..]).await } else { wr.shutdown().await.map(|()| 0) }
                        } => Step::Wrote(w),
                    }
                } else {
                    Step::Read(rd.read(&mut chunk).await)
                }
            })
            .await;
            let received = reply.len();
            match step {
                Err(_) => {
                    let op = if shut { "read" } else { "write" };
                    return Err(ClientError::Stalled { op, after: io_timeout, sent, received });
                }
                Ok(Step::Wrote(Ok(_))) if sent == message.len() => shut = true,
                Ok(Step::Wrote(Ok(0))) => return Err(write_zero(sent, received)),
                Ok(Step::Wrote(Ok(n))) => {
                    sent += n;
                    self.last_sent = Some(tokio::time::Instant::now());
                }
                Ok(Step::Wrote(Err(source))) => return Err(ClientError::Io { op: "write", sent, received, source }),
                // EOF: an echo owes exactly as many bytes as it was sent.
                Ok(Step::Read(Ok(0))) if sent == message.len() && received >= message.len() => return Ok(()),
                Ok(Step::Read(Ok(0))) => return Err(ClientError::Eof { received, expected: message.len() }),
                Ok(Step::Read(Ok(n))) => {
                    if reply.is_empty() {
                        self.first_reply = Some(tokio::time::Instant::now());
                    }
                    reply.extend_from_slice(&chunk[..n])
                }
                Ok(Step::Read(Err(source))) => return Err(ClientError::Io { op: "read", sent, received, source }),
            }
        }
    }

    /// The underlying stream, for scenarios that misbehave on purpose.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The underlying stream, for scenarios that misbehave on purpose.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

fn write_zero(sent: usize, received: usize) -> ClientError {
    let source = io::Error::new(io::ErrorKind::WriteZero, "the stream accepted no bytes");
    ClientError::Io { op: "write", sent, received, source }
}

enum Step {
    Wrote(io::Result<usize>),
    Read(io::Result<usize>),
}
