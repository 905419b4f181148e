//! The clients of a load run and the run itself. Every byte a client sends comes from one seeded pattern, so the
//! echo of byte `n` of a connection must be the transform of pattern byte `n`: the readers check each byte as it
//! arrives, with no copy of what was sent. Sending stops at the run's duration (or Ctrl-C, or a client's byte
//! budget); each client then waits, up to its I/O timeout, for what is still owed to it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{timeout, Instant};

use super::stats::{Measured, ServerProcess, Tally};
use super::{procfs, Mode, Settings, Transform};

/// How long after the clients are done the server is given to close its side before its descriptors are counted.
const SETTLE: Duration = Duration::from_millis(500);
/// How often the server's resident set is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Every this many churn cycles, a client closes with a reset instead of a FIN.
const RESET_EVERY: u64 = 10;
/// The bytes a client reads at once.
const READ_BUF: usize = 64 * 1024;

/// The bytes every client sends, and their echoes: byte `n` of a connection is `sent[n % len]`.
struct Pattern {
    /// The pattern, then its start again, so that any `span` bytes from any offset are one slice.
    sent: Vec<u8>,
    /// The same, transformed: what the echo must be.
    echo: Vec<u8>,
    /// The pattern's length.
    len: usize,
}

impl Pattern {
    fn new(span: usize, transform: Transform) -> Pattern {
        let len = 64 * 1024 + 13; // not a power of two: a server that repeats an earlier block is caught
        let mut rng = SmallRng::seed_from_u64(0x6c6f_6164); // "load"
                                                            // Mostly letters (so upper-casing has work to do), with any byte mixed in.
        let base: Vec<u8> =
            (0..len).map(|_| if rng.random_bool(0.8) { rng.random_range(b'a'..=b'z') } else { rng.random() }).collect();
        let sent: Vec<u8> = base.iter().copied().cycle().take(len + span).collect();
        let echo = sent.iter().map(|b| transform.byte(*b)).collect();
        Pattern { sent, echo, len }
    }

    /// The `n` bytes sent from offset `at`.
    fn sent(&self, at: u64, n: usize) -> &[u8] {
        let start = (at % self.len as u64) as usize;
        &self.sent[start..start + n]
    }

    /// Checks `got`, the echo of the bytes from offset `at`; on a mismatch, says how many bytes matched first,
    /// and where and what the first wrong one is.
    fn check(&self, at: u64, got: &[u8]) -> Result<(), (usize, String)> {
        let start = (at % self.len as u64) as usize;
        let want = &self.echo[start..start + got.len()];
        if want == got {
            return Ok(());
        }
        let i = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(0);
        Err((i, format!("byte {} of the connection: expected {:#04x}, got {:#04x}", at + i as u64, want[i], got[i])))
    }
}

/// What every client of a run shares.
struct Shared {
    addr: SocketAddr,
    settings: Settings,
    pattern: Pattern,
    /// Becomes `true` when clients must stop sending (the duration is over, or Ctrl-C).
    stop: watch::Receiver<bool>,
    /// Bytes verified so far, for the progress line.
    verified: Arc<AtomicU64>,
}

impl Shared {
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }
}

/// Runs the load of `settings` against `addr` until its duration is over or `interrupt` resolves (then it still
/// collects what is owed); `verified` counts verified bytes as they come, for a progress line.
pub async fn run(
    addr: SocketAddr,
    settings: Settings,
    interrupt: impl std::future::Future<Output = ()>,
    verified: Arc<AtomicU64>,
) -> Measured {
    let pid = if addr.ip().is_loopback() { procfs::listener_pid(addr.port()) } else { None };
    let fds_before = pid.and_then(procfs::open_fds);
    let span = settings.size.max(READ_BUF);
    let (stop_tx, stop) = watch::channel(false);
    let shared = Arc::new(Shared { addr, pattern: Pattern::new(span, settings.transform), settings, stop, verified });
    let started = Instant::now();

    let mut normal = Vec::new();
    for client in 0..shared.settings.clients {
        let shared = shared.clone();
        normal.push(tokio::spawn(async move {
            match (shared.settings.churn, shared.settings.mode) {
                (true, _) => churn(&shared, client as u64).await,
                (false, Mode::Stream) => stream(&shared).await,
                (false, Mode::Pingpong) => pingpong(&shared, client).await,
            }
        }));
    }
    let slow: Vec<_> = (0..shared.settings.slow_clients)
        .map(|_| {
            let shared = shared.clone();
            tokio::spawn(async move { slowloris(&shared).await })
        })
        .collect();

    // The server's resident set, sampled until the clients are done.
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = pid.map(|pid| {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Some(rss) = procfs::rss_bytes(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
        })
    });

    // The run ends at its duration, on Ctrl-C, or when every normal client is done (a byte budget spent).
    let waiting = async move {
        let mut out = Vec::new();
        for task in normal {
            out.push(task.await);
        }
        out
    };
    tokio::pin!(waiting);
    let mut finished = None;
    let interrupted = tokio::select! {
        _ = tokio::time::sleep(shared.settings.duration) => false,
        _ = interrupt => true,
        done = &mut waiting => {
            finished = Some(done);
            false
        }
    };
    let _ = stop_tx.send(true);
    let finished = match finished {
        Some(done) => done,
        None => waiting.await,
    };
    let (mut tally, mut slow_tally, mut unserved) = (Tally::default(), Tally::default(), 0);
    for (t, served) in finished.into_iter().flatten() {
        tally.merge(&t);
        unserved += u64::from(!served);
    }
    for task in slow {
        if let Ok((t, _)) = task.await {
            slow_tally.merge(&t);
        }
    }
    let elapsed = started.elapsed();
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    let fds_after = match pid {
        Some(pid) => {
            tokio::time::sleep(SETTLE).await;
            procfs::open_fds(pid)
        }
        None => None,
    };
    // The samples can miss a short peak; the kernel's high-water mark cannot (for a server started for this run it
    // is the run's peak; for one already running it may be older).
    let peak_rss_bytes = pid.map(|pid| peak.load(Ordering::Relaxed).max(procfs::peak_rss_bytes(pid).unwrap_or(0)));
    let server = ServerProcess { pid, peak_rss_bytes, fds_before, fds_after };
    let settings = shared.settings.clone();
    Measured { settings, elapsed, interrupted, tally, slow: slow_tally, unserved_clients: unserved, server }
}

/// Connects, counting a failure by kind.
async fn connect(shared: &Shared, tally: &mut Tally) -> Option<TcpStream> {
    match timeout(shared.settings.io_timeout, TcpStream::connect(shared.addr)).await {
        Ok(Ok(stream)) => {
            tally.connections += 1;
            let _ = stream.set_nodelay(true);
            Some(stream)
        }
        Ok(Err(e)) => {
            tally.error(kind(&e));
            None
        }
        Err(_) => {
            tally.error("connect_timeout");
            None
        }
    }
}

/// The kind of an I/O error.
fn kind(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "refused",
        ConnectionReset | ConnectionAborted | BrokenPipe => "reset",
        UnexpectedEof => "early_eof",
        TimedOut => "timeout",
        _ => "other",
    }
}

/// Reads the echo of `want` more bytes from offset `*at`, checking each; `Ok` once all came.
async fn read_echo(
    shared: &Shared,
    reader: &mut (impl AsyncReadExt + Unpin),
    buf: &mut [u8],
    at: &mut u64,
    want: u64,
    tally: &mut Tally,
) -> Result<(), &'static str> {
    let end = *at + want;
    while *at < end {
        let room = buf.len().min((end - *at) as usize);
        let n = match timeout(shared.settings.io_timeout, reader.read(&mut buf[..room])).await {
            Ok(Ok(0)) => return Err("early_eof"),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(kind(&e)),
            Err(_) => return Err("timeout"),
        };
        if let Err((good, what)) = shared.pattern.check(*at, &buf[..n]) {
            tally.verified_bytes += good as u64;
            tally.first_corruption.get_or_insert(what);
            return Err("corrupt");
        }
        *at += n as u64;
        tally.verified_bytes += n as u64;
        shared.verified.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// A streaming client: one connection, a writer that never waits for echoes and a reader that checks them.
/// Returns its tally and whether any byte came back.
async fn stream(shared: &Shared) -> (Tally, bool) {
    let mut tally = Tally::default();
    let Some(socket) = connect(shared, &mut tally).await else { return (tally, false) };
    let (mut reader, mut writer) = socket.into_split();
    let size = shared.settings.size;
    let budget = shared.settings.bytes_per_client.unwrap_or(u64::MAX);
    // When each write ended, so that the reader can time its echo.
    let writes: Arc<Mutex<VecDeque<(u64, Instant)>>> = Arc::default();
    let sent = Arc::new(AtomicU64::new(0));
    let writing = {
        let (writes, sent) = (writes.clone(), sent.clone());
        async move {
            let mut at = 0u64;
            let mut error = None;
            while !shared.stopped() && at < budget {
                let n = (size as u64).min(budget - at) as usize;
                let end = at + n as u64;
                // Waiting on a full window is the server's backpressure, not an error: the stop ends the wait.
                // Every byte the kernel took is counted, a write cut short by the stop included.
                let mut stop = shared.stop.clone();
                while at < end && error.is_none() {
                    let wrote = tokio::select! {
                        biased;
                        r = writer.write(shared.pattern.sent(at, (end - at) as usize)) => r,
                        _ = stop.wait_for(|s| *s) => break,
                    };
                    match wrote {
                        Ok(0) => error = Some("other"),
                        Ok(k) => at += k as u64,
                        Err(e) => error = Some(kind(&e)),
                    }
                    sent.store(at, Ordering::Release);
                }
                if at < end {
                    break;
                }
                writes.lock().expect("writes").push_back((at, Instant::now()));
            }
            let _ = writer.shutdown().await;
            error
        }
    };
    let reading = async {
        if let Some(delay) = shared.settings.read_delay {
            tokio::time::sleep(delay).await;
        }
        let mut buf = vec![0u8; READ_BUF];
        let mut at = 0u64;
        let mut local = Tally::default();
        let outcome = loop {
            let n = match timeout(shared.settings.io_timeout, reader.read(&mut buf)).await {
                Ok(Ok(0)) => break None,
                Ok(Ok(n)) => n,
                Ok(Err(e)) => break Some(kind(&e)),
                Err(_) => break Some("timeout"),
            };
            if let Err((good, what)) = shared.pattern.check(at, &buf[..n]) {
                local.verified_bytes += good as u64;
                local.first_corruption.get_or_insert(what);
                break Some("corrupt");
            }
            at += n as u64;
            local.verified_bytes += n as u64;
            shared.verified.fetch_add(n as u64, Ordering::Relaxed);
            let mut writes = writes.lock().expect("writes");
            while writes.front().is_some_and(|(end, _)| *end <= at) {
                let (_, when) = writes.pop_front().expect("a write");
                local.round_trip(when.elapsed());
            }
        };
        (local, at, outcome)
    };
    let (write_error, (local, received, read_error)) = tokio::join!(writing, reading);
    // (`received` counts checked bytes; a corrupt read ends it early.)
    tally.merge(&local);
    let owed = sent.load(Ordering::Acquire);
    tally.sent_bytes = owed;
    match (write_error, read_error) {
        (Some(kind), _) | (None, Some(kind)) => tally.error(kind),
        // The server closed before echoing all it was sent.
        (None, None) if received < owed => tally.error("early_eof"),
        (None, None) => {}
    }
    let served = tally.verified_bytes > 0;
    (tally, served)
}

/// A ping-pong client: one message, its whole echo, the next; paced when a rate is set.
async fn pingpong(shared: &Shared, client: usize) -> (Tally, bool) {
    let mut tally = Tally::default();
    let Some(mut socket) = connect(shared, &mut tally).await else { return (tally, false) };
    let size = shared.settings.size;
    // Each client's share of the rate, its round trips spread evenly from a start staggered by client.
    let interval = shared.settings.rate.map(|r| Duration::from_secs_f64(shared.settings.clients as f64 / r));
    let mut due = Instant::now() + interval.map_or(Duration::ZERO, |i| i.mul_f64(client as f64 / 64.0 % 1.0));
    let mut buf = vec![0u8; READ_BUF];
    let (mut sent, mut at) = (0u64, 0u64);
    while !shared.stopped() {
        if interval.is_some() {
            tokio::time::sleep_until(due).await;
        }
        let began = if interval.is_some() { due } else { Instant::now() };
        if let Err(e) = socket.write_all(shared.pattern.sent(sent, size)).await {
            tally.error(kind(&e));
            break;
        }
        sent += size as u64;
        tally.sent_bytes = sent;
        if let Err(kind) = read_echo(shared, &mut socket, &mut buf, &mut at, size as u64, &mut tally).await {
            tally.error(kind);
            break;
        }
        tally.round_trip(began.elapsed());
        if let Some(interval) = interval {
            due += interval;
        }
    }
    let served = tally.verified_bytes > 0;
    (tally, served)
}

/// A churn client: connect, one message and its echo, close; every tenth close a reset.
async fn churn(shared: &Shared, client: u64) -> (Tally, bool) {
    let mut tally = Tally::default();
    let size = shared.settings.size;
    let mut buf = vec![0u8; READ_BUF];
    let mut cycle = client; // staggered, so the resets are spread over the clients
    while !shared.stopped() {
        let began = Instant::now();
        let Some(mut socket) = connect(shared, &mut tally).await else { break };
        let mut at = 0u64;
        if let Err(e) = socket.write_all(shared.pattern.sent(0, size)).await {
            tally.error(kind(&e));
            break;
        }
        tally.sent_bytes += size as u64;
        if let Err(kind) = read_echo(shared, &mut socket, &mut buf, &mut at, size as u64, &mut tally).await {
            tally.error(kind);
            break;
        }
        tally.round_trip(began.elapsed());
        cycle += 1;
        if cycle.is_multiple_of(RESET_EVERY) {
            let _ = socket.set_zero_linger(); // the close sends RST
        } else {
            let _ = socket.shutdown().await;
        }
        drop(socket);
    }
    let served = tally.verified_bytes > 0;
    (tally, served)
}

/// A slowloris client: one byte a second, and its echo, until the run stops sending.
async fn slowloris(shared: &Shared) -> (Tally, bool) {
    let mut tally = Tally::default();
    let Some(mut socket) = connect(shared, &mut tally).await else { return (tally, false) };
    let mut buf = [0u8; 1];
    let mut at = 0u64;
    let mut stop = shared.stop.clone();
    while !shared.stopped() {
        if let Err(e) = socket.write_all(shared.pattern.sent(at, 1)).await {
            tally.error(kind(&e));
            break;
        }
        tally.sent_bytes += 1;
        let began = Instant::now();
        if let Err(kind) = read_echo(shared, &mut socket, &mut buf, &mut at, 1, &mut tally).await {
            tally.error(kind);
            break;
        }
        tally.round_trip(began.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    let served = tally.verified_bytes > 0;
    (tally, served)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_checks_echoes_from_any_offset_and_locates_a_wrong_byte() {
        let p = Pattern::new(100, Transform::Upper);
        let at = 3 * p.len as u64 - 7; // across the pattern's end
        let mut echo: Vec<u8> = p.sent(at, 100).iter().map(u8::to_ascii_uppercase).collect();
        assert_eq!(p.check(at, &echo), Ok(()));
        echo[42] ^= 0x01;
        let (good, err) = p.check(at, &echo).unwrap_err();
        assert_eq!(good, 42);
        assert!(err.starts_with(&format!("byte {} of the connection", at + 42)), "{err}");
        // Identity: the bytes sent are their own echo, and upper-cased ones are not.
        let id = Pattern::new(100, Transform::Identity);
        assert_eq!(id.check(5, id.sent(5, 100)), Ok(()));
        assert!(p.check(5, p.sent(5, 100)).is_err(), "the pattern has letters to upper-case");
    }
}
