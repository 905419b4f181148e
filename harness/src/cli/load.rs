//! `load`: the verifying load engine against a server on 127.0.0.1: the built-in server in its own process (no
//! `--target` or `--addr`), a command line (`--target "CMD {port}"`), or a running server (`--addr`). Prints what
//! it measured (or one JSON document with `--json`); exit 0 when every byte came back verified and no client met
//! an error, 1 otherwise, 2 for a bad flag or a server that will not start.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use echo_harness::exit;
use echo_harness::real::launch::{self, Managed, DEFAULT_STARTUP};
use echo_harness::real::load::{self, Measured, Mode, Settings, Transform};

use super::shared::{grouped, parse_duration, runtime};

/// At most this many connections (clients and slow clients together): every run is bounded.
const MAX_CONNECTIONS: usize = 20_000;

/// `load`'s flags.
#[derive(Args)]
pub struct LoadArgs {
    /// A command line that serves on {port} (started, measured and stopped by the harness).
    #[arg(long, conflicts_with = "addr")]
    pub target: Option<String>,
    /// A running server to load (127.0.0.1 or ::1 only).
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// How long the clients send, e.g. 500ms, 30s, 2m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// stream: write without waiting and read at the same time; pingpong: one message, its echo, the next.
    #[arg(long, value_enum, default_value_t = ModeArg::Stream)]
    pub mode: ModeArg,
    /// Bytes per write (stream) or per message (pingpong, churn): 1024, 64KiB, 1MiB.
    #[arg(long, default_value = "16KiB", value_parser = parse_size)]
    pub size: u64,
    /// Round trips per second over all pingpong clients (latency then counts from when each was due).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Extra clients that send one byte a second (slowloris), beside the others.
    #[arg(long, default_value_t = 0)]
    pub slow_clients: usize,
    /// Clients connect, exchange one message and close, over and over; every tenth close is a reset.
    #[arg(long)]
    pub churn: bool,
    /// Stop each streaming client after this many bytes: 1GiB.
    #[arg(long, value_parser = parse_size)]
    pub bytes: Option<u64>,
    /// Streaming clients start reading this long after they start writing (backpressure), e.g. 5s.
    #[arg(long, value_parser = parse_duration)]
    pub read_delay: Option<Duration>,
    /// What the server does to the bytes: upper (the tutorial's server) or identity (a plain echo).
    #[arg(long, value_enum, default_value_t = TransformArg::Upper)]
    pub transform: TransformArg,
    /// How long a client waits for any progress before it counts a timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub io_timeout: Duration,
    /// Print one JSON document with stable keys instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// `--mode`.
#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Stream,
    Pingpong,
}

/// `--transform`.
#[derive(Clone, Copy, ValueEnum)]
pub enum TransformArg {
    Upper,
    Identity,
}

/// A byte count: `1024`, `64KiB`, `1MiB`, `1GiB` (also `k`, `M`, `G` as powers of 1024), at least 1.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("`{s}` is not a byte count (1024, 64KiB, 1GiB)"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "k" | "K" | "KiB" | "KB" => 1 << 10,
        "M" | "MiB" | "MB" => 1 << 20,
        "G" | "GiB" | "GB" => 1 << 30,
        other => return Err(format!("`{s}`: unknown unit `{other}` (use KiB, MiB or GiB)")),
    };
    match n.checked_mul(scale) {
        Some(0) => Err(format!("`{s}` must be at least 1 byte")),
        Some(v) if v <= 1 << 40 => Ok(v),
        _ => Err(format!("`{s}` is more than 1 TiB")),
    }
}

/// Runs the load and prints what it measured.
pub fn run(args: LoadArgs) -> anyhow::Result<u8> {
    let settings = settings(&args)?;
    raise_fd_limit();
    let rt = runtime()?;
    rt.block_on(async {
        // The server: started here (built-in or --target), or already running (--addr).
        let (mut managed, what) = match (&args.target, args.addr) {
            (_, Some(addr)) => (None, format!("{addr}")),
            (Some(template), None) => (Some(start(template).await?), template.clone()),
            (None, None) => {
                let exe = std::env::current_exe().context("cannot find the echo-harness binary")?;
                let template = format!("'{}' serve --addr 127.0.0.1:{{port}}", exe.display());
                (Some(start(&template).await?), "the built-in server".to_string())
            }
        };
        let addr = args.addr.or(managed.as_ref().map(Managed::addr)).expect("an address");
        if !args.json {
            eprintln!("{}", intro(&settings, addr, &what));
        }
        let verified = Arc::new(AtomicU64::new(0));
        let progress = progress_line(verified.clone(), args.json);
        let interrupt = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let measured = load::run(addr, settings, interrupt, verified).await;
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        if let Some(m) = managed.as_mut() {
            m.kill();
        }
        if args.json {
            println!("{}", serde_json::to_string_pretty(&measured.to_json())?);
        } else {
            print!("{}", summary(&measured));
        }
        Ok(if measured.clean() { exit::HELD } else { exit::FAILED })
    })
}

/// The flags, checked and resolved.
fn settings(args: &LoadArgs) -> anyhow::Result<Settings> {
    if let Some(addr) = args.addr {
        if !addr.ip().is_loopback() {
            bail!("--addr {addr}: the load engine sends traffic to 127.0.0.1 (or ::1) only");
        }
    }
    if args.clients == 0 && args.slow_clients == 0 {
        bail!("--clients 0 and no --slow-clients: nobody to send anything");
    }
    if args.clients + args.slow_clients > MAX_CONNECTIONS {
        bail!("--clients {} with --slow-clients {}: at most {MAX_CONNECTIONS} in all", args.clients, args.slow_clients);
    }
    if args.size > 16 << 20 {
        bail!("--size {}: at most 16 MiB per write", args.size);
    }
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0 && rate <= 10_000_000.0) {
            bail!("--rate {rate}: must be more than 0 and at most 10,000,000 round trips a second");
        }
        if !matches!(args.mode, ModeArg::Pingpong) || args.churn {
            bail!("--rate paces ping-pong round trips: add --mode pingpong (without --churn)");
        }
    }
    Ok(Settings {
        clients: args.clients,
        duration: args.duration,
        mode: match args.mode {
            ModeArg::Stream => Mode::Stream,
            ModeArg::Pingpong => Mode::Pingpong,
        },
        size: args.size as usize,
        rate: args.rate,
        slow_clients: args.slow_clients,
        churn: args.churn,
        bytes_per_client: args.bytes,
        read_delay: args.read_delay,
        transform: match args.transform {
            TransformArg::Upper => Transform::Upper,
            TransformArg::Identity => Transform::Identity,
        },
        io_timeout: args.io_timeout,
    })
}

/// Starts a server command on a free port and waits until it listens.
async fn start(template: &str) -> anyhow::Result<Managed> {
    let port = launch::free_port().context("cannot find a free port")?;
    Managed::start(template, port, DEFAULT_STARTUP).await.map_err(|e| anyhow::anyhow!("--target `{template}`: {e}"))
}

/// Many clients need many descriptors: the soft limit goes up to the hard one (the started server inherits it).
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The line that says what is about to happen.
fn intro(s: &Settings, addr: SocketAddr, what: &str) -> String {
    let work = match (s.churn, s.mode) {
        (true, _) => format!("connect/echo/close cycles of {} B", s.size),
        (false, Mode::Stream) => format!("streaming {} B writes", s.size),
        (false, Mode::Pingpong) => format!("ping-pong of {} B", s.size),
    };
    let slow = if s.slow_clients > 0 { format!(" + {} slow clients", s.slow_clients) } else { String::new() };
    format!(
        "load: {} client{}{slow}, {work}, for {} against {what} ({addr})",
        s.clients,
        if s.clients == 1 { "" } else { "s" },
        humantime::format_duration(s.duration)
    )
}

/// A live line on a terminal: verified bytes and the rate of the last half second.
fn progress_line(verified: Arc<AtomicU64>, quiet: bool) -> Option<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"));
    let ticker = bar.clone();
    tokio::spawn(async move {
        let mut last = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = verified.load(Ordering::Relaxed);
            ticker.set_message(format!("{} verified, {} MB/s", bytes(now), grouped(((now - last) * 2) / 1_000_000)));
            ticker.tick();
            last = now;
        }
    });
    Some(bar)
}

/// The summary people read.
fn summary(m: &Measured) -> String {
    let t = &m.tally;
    let us = |q| m.percentile_us(q).map_or("-".into(), micros);
    let errors = |t: &load::stats::Tally| {
        if t.errors.is_empty() {
            "none".to_string()
        } else {
            t.errors.iter().map(|(k, n)| format!("{k} {}", grouped(*n))).collect::<Vec<_>>().join(", ")
        }
    };
    let mut out = String::new();
    if m.interrupted {
        out.push_str("interrupted (Ctrl-C): what was measured until then\n");
    }
    out.push_str(&format!(
        "verified     {} of {} sent (each byte checked as it came back), over {:.2} s\n",
        bytes(t.verified_bytes),
        bytes(t.sent_bytes),
        m.elapsed.as_secs_f64()
    ));
    out.push_str(&format!(
        "throughput   {} MB/s, {} round trips/s ({} connection{})\n",
        grouped(m.mb_per_s() as u64),
        grouped(m.round_trips_per_s() as u64),
        grouped(t.connections),
        if t.connections == 1 { "" } else { "s" }
    ));
    out.push_str(&format!("latency      p50 {}  p99 {}  p99.9 {}  max {}\n", us(0.5), us(0.99), us(0.999), us(1.0)));
    out.push_str(&format!("errors       {}\n", errors(t)));
    if let Some(what) = &t.first_corruption {
        out.push_str(&format!("corruption   first at {what}\n"));
    }
    if m.settings.slow_clients > 0 {
        out.push_str(&format!("slow clients {} verified, errors {}\n", bytes(m.slow.verified_bytes), errors(&m.slow)));
    }
    if m.unserved_clients > 0 {
        out.push_str(&format!("unserved     {} client(s) never got a byte back\n", m.unserved_clients));
    }
    let s = &m.server;
    match s.pid {
        Some(pid) => out.push_str(&format!(
            "server       pid {pid}: peak RSS {}, descriptors {} before and {} after\n",
            s.peak_rss_bytes.map_or("-".into(), bytes),
            s.fds_before.map_or("-".into(), |n| n.to_string()),
            s.fds_after.map_or("-".into(), |n| n.to_string()),
        )),
        None => out.push_str("server       not readable in /proc (not this user's, or not local)\n"),
    }
    out
}

/// `12.3 MB`, `1.02 GB` (powers of 1000).
fn bytes(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2} GB", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} kB", n as f64 / 1e3),
        n => format!("{n} B"),
    }
}

/// `850 µs`, `12.3 ms`, `1.20 s`.
fn micros(us: u64) -> String {
    match us {
        us if us >= 1_000_000 => format!("{:.2} s", us as f64 / 1e6),
        us if us >= 1_000 => format!("{:.1} ms", us as f64 / 1e3),
        us => format!("{us} µs"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_as_people_write_them() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").unwrap_err().contains("unknown unit"));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
