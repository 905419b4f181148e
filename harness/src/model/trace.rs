//! Events: what a run observed, in order, stamped with simulated time. The oracles judge events; the trace
//! hash proves a seed replays to the byte.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::time::Duration;

/// One observation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// Simulated time since the run started.
    pub at: Duration,
    /// What happened.
    pub event: Event,
}

/// What a run can observe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Event {
    /// A client opened connection `conn` (numbered across the run, from 0).
    Connected {
        /// Index of the client in the scenario.
        client: usize,
        /// Run-wide connection number.
        conn: usize,
        /// How long the handshake took.
        waited: Duration,
        /// The client's port: the server's side of the connection sees it as the peer's.
        port: u16,
    },
    /// A client's connect failed.
    ConnectFailed {
        /// Index of the client.
        client: usize,
        /// [`crate::sut::client::ClientError::kind`].
        error: String,
        /// How long the attempt took.
        waited: Duration,
    },
    /// A client sent messages `message..message + count` on `conn` (joined when more than one) and read
    /// `received` back, completely or (with `error`) not.
    Exchange {
        /// Index of the client.
        client: usize,
        /// Connection it used.
        conn: usize,
        /// Index of the first message in the client's script.
        message: usize,
        /// How many messages were sent together.
        count: usize,
        /// The message's bytes.
        sent: Vec<u8>,
        /// The reply bytes that arrived (a prefix when the exchange failed).
        received: Vec<u8>,
        /// Why the exchange ended early, if it did.
        error: Option<String>,
        /// When the first reply byte arrived, if one did.
        first_reply: Option<Duration>,
    },
    /// A client half-closed `conn` and read to EOF.
    Closed {
        /// Index of the client.
        client: usize,
        /// Connection closed.
        conn: usize,
        /// Bytes that arrived after the last reply (there should be none).
        extra: Vec<u8>,
        /// Why the close did not end cleanly, if it did not.
        error: Option<String>,
    },
    /// A client ended its connection abruptly on purpose (`fin`, `reset`, `died mid-message`).
    Misbehaved {
        /// Index of the client.
        client: usize,
        /// Connection it ended.
        conn: usize,
        /// How.
        how: String,
    },
    /// A client that went quiet on purpose (`end = "silent"`, or `"stop_reading"` whose write failed) found `conn`
    /// closed by the server (`how`: `eof`, `reset`, `broken-pipe`, ...), or gave up waiting (`stalled`).
    IdleClosed {
        /// Index of the client.
        client: usize,
        /// Connection it was quiet on.
        conn: usize,
        /// When it last sent bytes on `conn` (when it began connecting, if it sent none): the server can have seen
        /// no progress from it since, so an idle timeout closes the connection that long after it, never sooner.
        quiet_since: Duration,
        /// How the connection ended, as the client saw it.
        how: String,
        /// Bytes that arrived while it was quiet (there should be none).
        extra: Vec<u8>,
    },
    /// The server process could not start (e.g. its bind failed).
    ServerFailed {
        /// Why.
        reason: String,
    },
    /// After the last client left (and the drain time), the server still held this many connections open.
    ServerConnections {
        /// Connections the server process has not closed.
        open: usize,
    },
    /// A client finished its script: every message answered, or it gave up.
    ClientDone {
        /// Index of the client.
        client: usize,
        /// Messages answered completely.
        answered: usize,
        /// Messages in its script.
        of: usize,
    },
    /// The server's side of a connection ended: the server closed it (shut its side, or dropped it), before the
    /// client closed its own (`first`) or after. Only the runner's view of the server process sees it; a killed
    /// process's connections are not reported.
    ServerClosed {
        /// The client whose connection it was.
        client: usize,
        /// The client's port ([`Event::Connected`]'s `port`).
        port: u16,
        /// How long the server had then moved no byte on it, read or written (since the accept, if none).
        quiet: Duration,
        /// Whether the server closed it before its client closed or reset its side.
        first: bool,
    },
    /// The scenario's timeline applied a fault.
    Fault {
        /// [`crate::model::scenario::Action::describe`].
        action: String,
    },
    /// A client's link had been cut (partitioned or held) since `since` for `[limits] give_up_ms`: the connections
    /// on it end, as the kernel gives up retransmitting.
    GaveUp {
        /// Index of the client.
        client: usize,
        /// When the cut began.
        since: Duration,
    },
    /// The run did not end by the deadline, or the simulator failed.
    RunFailed {
        /// What the simulator said.
        reason: String,
    },
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>7.3}s  ", self.at.as_secs_f64())?;
        match &self.event {
            Event::Connected { client, conn, waited, .. } => {
                write!(f, "client-{client} connected (conn {conn}) after {}ms", waited.as_millis())
            }
            Event::ConnectFailed { client, error, waited } => {
                write!(f, "client-{client} connect failed after {}ms: {error}", waited.as_millis())
            }
            Event::Exchange { client, conn, message, count, sent, received, error, .. } => {
                let msgs =
                    if *count == 1 { format!("msg {message}") } else { format!("msgs {message}..{}", message + count) };
                write!(
                    f,
                    "client-{client} conn {conn} {msgs}: sent {} {} got {} {}",
                    sent.len(),
                    preview(sent),
                    received.len(),
                    preview(received)
                )?;
                if let Some(e) = error {
                    write!(f, " error: {e}")?;
                }
                Ok(())
            }
            Event::Closed { client, conn, extra, error } => {
                write!(f, "client-{client} closed conn {conn}")?;
                if !extra.is_empty() {
                    write!(f, ", {} extra bytes {}", extra.len(), preview(extra))?;
                }
                if let Some(e) = error {
                    write!(f, " error: {e}")?;
                }
                Ok(())
            }
            Event::Misbehaved { client, conn, how } => write!(f, "client-{client} conn {conn}: {how}"),
            Event::IdleClosed { client, conn, quiet_since, how, extra } => {
                let quiet = self.at.saturating_sub(*quiet_since).as_millis();
                write!(f, "client-{client} conn {conn}: {how} after {quiet}ms without progress")?;
                if !extra.is_empty() {
                    write!(f, ", {} unasked bytes {}", extra.len(), preview(extra))?;
                }
                Ok(())
            }
            Event::ServerFailed { reason } => write!(f, "server process failed: {reason}"),
            Event::ServerConnections { open } => write!(f, "server holds {open} open connections"),
            Event::ClientDone { client, answered, of } => write!(f, "client-{client} done: {answered}/{of} answered"),
            Event::Fault { action } => write!(f, "fault: {action}"),
            Event::ServerClosed { client, port, quiet, first } => write!(
                f,
                "server closed client-{client}'s connection (port {port}){} after {}ms without progress",
                if *first { " first" } else { "" },
                quiet.as_millis()
            ),
            Event::GaveUp { client, since } => write!(
                f,
                "client-{client}'s link, cut since {:.3}s, is given up: its connections end",
                since.as_secs_f64()
            ),
            Event::RunFailed { reason } => write!(f, "run failed: {reason}"),
        }
    }
}

/// A short, printable view of bytes: text where printable, `\xNN` otherwise, cut after 24 bytes.
pub fn preview(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes.iter().take(24) {
        out.extend(std::ascii::escape_default(b).map(char::from));
    }
    out.push('"');
    if bytes.len() > 24 {
        out.push('…');
    }
    out
}

/// A stable 64-bit hash of a trace (XXH3 over the derived `Hash` of every record): equal for equal traces,
/// across processes and runs. XXH3 is a specified algorithm, so the value does not change with a std release
/// the way `DefaultHasher`'s may.
pub fn trace_hash(records: &[Record]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    records.hash(&mut h);
    h.finish()
}

/// One finished run.
#[derive(Debug, Clone)]
pub struct Run {
    /// The scenario's name.
    pub scenario: String,
    /// The seed it ran under.
    pub seed: u64,
    /// Everything observed, in order.
    pub records: Vec<Record>,
    /// [`trace_hash`] of `records`.
    pub hash: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_sensitive() {
        let r = |b: u8| Record {
            at: Duration::from_millis(3),
            event: Event::Exchange {
                client: 0,
                conn: 0,
                message: 0,
                count: 1,
                sent: vec![b],
                received: vec![b],
                error: None,
                first_reply: None,
            },
        };
        assert_eq!(trace_hash(&[r(1)]), trace_hash(&[r(1)]));
        assert_ne!(trace_hash(&[r(1)]), trace_hash(&[r(2)]));
        assert_ne!(trace_hash(&[r(1), r(2)]), trace_hash(&[r(2), r(1)]));
    }

    #[test]
    fn preview_escapes_and_cuts() {
        assert_eq!(preview(b"ab\x00\xff"), "\"ab\\x00\\xff\"");
        assert_eq!(preview(&[b'a'; 30]), format!("\"{}\"…", "a".repeat(24)));
    }
}
