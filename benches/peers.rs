//! The built-in server beside its peers on the same work, measured by one client program (the load engine of
//! `echo-harness load`, every echoed byte verified), interleaved in rounds so that each figure is a ratio that
//! holds on a noisy, shared machine:
//!
//! - `builtin`: `server::run`, upper-casing;
//! - `plain`: the same code path without upper-casing (`server::run_with(.., |_| {})`): the echo ceiling of this code;
//! - `copy`: a plain copy loop (`tokio::io::copy` from each connection back into it);
//! - `python`: the tutorial's server (`harness/tests/servers/correct.py`: `recv(1024)`, blocking, a thread per
//!   connection), an external process; skipped with a message when `python3` is absent;
//!
//! on streaming and ping-pong, 1 and 16 connections, 1 KiB and 64 KiB writes. Beside them: the kernel's one-way
//! limit (clients only write, a server only reads), the upper-casing routine alone (GB/s), and `send` against
//! `sendall` to a slow reader (bytes delivered, not only time). The figures, the ratios and the targets of issue
//! 14 (each with its bound and `"met"`) go to `target/echo-harness-bench/throughput.json`.
//!
//! `cargo bench --bench peers` (about 2 minutes)

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use echo_harness::real::load::{self, Measured, Mode, Settings, Transform};
use echo_harness::sut::net::{Network, Real};
use echo_harness::sut::server::{self, Config};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long each measured run sends.
const RUN: Duration = Duration::from_millis(1000);
/// Rounds of the interleaved runs: each figure is the median of this many.
const ROUNDS: usize = 5;

/// The work of one row: mode, connections, bytes per write.
const ROWS: [(&str, Mode, usize, usize); 5] = [
    ("stream, 1 conn, 64 KiB", Mode::Stream, 1, 64 * 1024),
    ("stream, 16 conns, 64 KiB", Mode::Stream, 16, 64 * 1024),
    ("stream, 1 conn, 1 KiB", Mode::Stream, 1, 1024),
    ("stream, 16 conns, 1 KiB", Mode::Stream, 16, 1024),
    ("ping-pong, 1 conn, 1 KiB", Mode::Pingpong, 1, 1024),
];

/// A server under measurement.
struct Peer {
    name: &'static str,
    addr: SocketAddr,
    transform: Transform,
    /// An external process, killed on drop.
    child: Option<Child>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts an in-process server on `rt`: the built-in one with `transform`, or a copy loop.
fn in_process(rt: &tokio::runtime::Runtime, name: &'static str) -> Peer {
    let addr = rt.block_on(async {
        let listener = Real::bind("127.0.0.1:0".parse().unwrap()).await.expect("bind");
        let addr = listener.local_addr().unwrap();
        match name {
            "builtin" => drop(tokio::spawn(server::run(listener, Config::default(), std::future::pending::<()>()))),
            "plain" => {
                drop(tokio::spawn(server::run_with(listener, Config::default(), std::future::pending::<()>(), |_| {})))
            }
            "copy" => drop(tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        let (mut r, mut w) = tokio::io::split(stream);
                        let _ = tokio::io::copy(&mut r, &mut w).await;
                        let _ = w.shutdown().await;
                    });
                }
            })),
            "sink" => drop(tokio::spawn(async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 256 * 1024];
                        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                    });
                }
            })),
            other => unreachable!("{other}"),
        }
        addr
    });
    let transform = if name == "builtin" { Transform::Upper } else { Transform::Identity };
    Peer { name, addr, transform, child: None }
}

/// Starts a Python server from `harness/tests/servers`, or says why not.
fn python(script: &str, name: &'static str) -> Option<Peer> {
    let port = echo_harness::real::launch::free_port().ok()?;
    let path = format!("{}/harness/tests/servers/{script}", env!("CARGO_MANIFEST_DIR"));
    let child = match Command::new("python3").arg(&path).arg(port.to_string()).spawn() {
        Ok(child) => child,
        Err(e) => {
            println!("python3 is not available ({e}): the tutorial's server is left out");
            return None;
        }
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            println!("{script} did not listen within 10 s: left out");
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Peer { name, addr, transform: Transform::Upper, child: Some(child) })
}

/// One verified load run against `peer`.
fn measure(rt: &tokio::runtime::Runtime, peer: &Peer, mode: Mode, clients: usize, size: usize) -> Measured {
    let settings = Settings { clients, duration: RUN, mode, size, transform: peer.transform, ..Settings::default() };
    let m = rt.block_on(load::run(peer.addr, settings, std::future::pending::<()>(), Arc::new(AtomicU64::new(0))));
    assert!(m.clean(), "{} on {mode:?} x{clients} {size} B: {}", peer.name, m.to_json());
    m
}

/// The figure a row is judged by: MB/s verified (stream) or round trips/s (ping-pong).
fn figure(mode: Mode, m: &Measured) -> f64 {
    match mode {
        Mode::Stream => m.mb_per_s(),
        Mode::Pingpong => m.round_trips_per_s(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// MB/s that `clients` connections write into a server that only reads: the kernel's one-way limit.
fn one_way(rt: &tokio::runtime::Runtime, sink: &Peer, clients: usize, size: usize) -> f64 {
    rt.block_on(async {
        let written = Arc::new(AtomicU64::new(0));
        let stop = Instant::now() + RUN;
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (addr, written) = (sink.addr, written.clone());
                tokio::spawn(async move {
                    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect to the sink");
                    let block = vec![b'x'; size];
                    while Instant::now() < stop {
                        s.write_all(&block).await.expect("the sink reads");
                        written.fetch_add(size as u64, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("a writer");
        }
        written.load(Ordering::Relaxed) as f64 / 1e6 / RUN.as_secs_f64()
    })
}

/// GB/s of the server's upper-casing routine over a 1 MiB buffer (median of 5 runs of about 0.3 s).
fn upper_gb_per_s() -> f64 {
    let mut buf: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    median(
        (0..5)
            .map(|_| {
                let started = Instant::now();
                let mut bytes = 0u64;
                while started.elapsed() < Duration::from_millis(300) {
                    server::upper_in_place(std::hint::black_box(&mut buf));
                    bytes += buf.len() as u64;
                }
                bytes as f64 / 1e9 / started.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// A target of issue 14: its figure, its bound and whether it is met.
fn target(name: &str, value: f64, min: f64) -> Value {
    json!({ "name": name, "value": value, "min": min, "met": value >= min })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and the like: nothing to list
    }
    let servers = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let clients = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut peers = vec![in_process(&servers, "builtin"), in_process(&servers, "plain"), in_process(&servers, "copy")];
    peers.extend(python("correct.py", "python"));

    // Interleaved: every round runs every row on every peer, so a slow moment hits all of them alike.
    let mut figures: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); peers.len()]; ROWS.len()];
    for round in 0..ROUNDS {
        for (r, (_, mode, conns, size)) in ROWS.iter().enumerate() {
            for (p, peer) in peers.iter().enumerate() {
                let m = measure(&clients, peer, *mode, *conns, *size);
                figures[r][p].push(figure(*mode, &m));
            }
        }
        println!("round {} of {ROUNDS} done", round + 1);
    }
    let at = |r: usize, name: &str| -> Option<f64> {
        peers.iter().position(|p| p.name == name).map(|p| median(figures[r][p].clone()))
    };

    println!(
        "\n{:<28} {:>12} {:>12} {:>12} {:>12}   (MB/s echoed, verified; ping-pong: round trips/s)",
        "work", "builtin", "plain", "copy", "python"
    );
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for (r, (work, _, conns, size)) in ROWS.iter().enumerate() {
        let cell = |name| at(r, name).map_or("-".to_string(), |v| format!("{v:.0}"));
        println!(
            "{work:<28} {:>12} {:>12} {:>12} {:>12}",
            cell("builtin"),
            cell("plain"),
            cell("copy"),
            cell("python")
        );
        let (builtin, plain) = (at(r, "builtin").unwrap(), at(r, "plain").unwrap());
        let vs_python = at(r, "python").map(|py| builtin / py);
        rows.push(json!({
            "work": work,
            "builtin": builtin, "plain": plain, "copy": at(r, "copy"), "python": at(r, "python"),
            "builtin_vs_plain": builtin / plain, "builtin_vs_python": vs_python,
            "runs": peers.iter().enumerate().map(|(p, peer)| (peer.name.to_string(), json!(figures[r][p]))).collect::<serde_json::Map<_, _>>(),
        }));
        let floor = match (r, *size) {
            (4, _) => 0.95,
            (_, s) if s >= 64 * 1024 => 0.95,
            _ => 0.90,
        };
        targets.push(target(&format!("builtin_vs_plain: {work}"), builtin / plain, floor));
        if let Some(ratio) = vs_python {
            let min = if *size >= 64 * 1024 && *conns == 1 { 5.0 } else { 1.0 };
            targets.push(target(&format!("builtin_vs_python: {work}"), ratio, min));
        }
    }

    let sink = in_process(&servers, "sink");
    let one_way: Vec<Value> = [(1usize, 64 * 1024usize), (16, 64 * 1024)]
        .iter()
        .map(|&(conns, size)| {
            let mbs = median((0..ROUNDS).map(|_| one_way(&clients, &sink, conns, size)).collect());
            println!("kernel one-way limit, {conns} conn(s), {} KiB writes: {mbs:.0} MB/s", size / 1024);
            json!({ "conns": conns, "size": size, "mb_per_s": mbs })
        })
        .collect();

    let upper = upper_gb_per_s();
    println!("upper-casing alone: {upper:.1} GB/s");
    targets.push(target("upper_gb_per_s", upper, 5.0));

    // `send` against `sendall` to a reader that waits a second before reading 1 MiB writes.
    let slow_reader: Vec<Value> = [("correct.py", "sendall"), ("send_not_sendall.py", "send")]
        .iter()
        .filter_map(|(script, call)| {
            let peer = python(script, "python")?;
            let settings = Settings {
                clients: 1,
                duration: Duration::from_secs(2),
                size: 1 << 20,
                read_delay: Some(Duration::from_secs(1)),
                io_timeout: Duration::from_secs(2),
                ..Settings::default()
            };
            let m = clients.block_on(load::run(peer.addr, settings, std::future::pending::<()>(), Arc::new(AtomicU64::new(0))));
            println!(
                "slow reader, {call}: {} of {} bytes delivered intact, {} error(s){}",
                m.tally.verified_bytes,
                m.tally.sent_bytes,
                m.tally.error_count(),
                m.tally.first_corruption.as_ref().map_or(String::new(), |c| format!(" (first wrong {c})"))
            );
            Some(json!({ "call": call, "verified_bytes": m.tally.verified_bytes, "sent_bytes": m.tally.sent_bytes, "errors": m.tally.error_count() }))
        })
        .collect();

    for t in &targets {
        println!(
            "target {:<48} {:>8.2} (at least {}) {}",
            t["name"].as_str().unwrap(),
            t["value"].as_f64().unwrap(),
            t["min"],
            if t["met"] == true { "met" } else { "NOT MET" }
        );
    }
    let summary = json!({
        "targets": targets,
        "rows": rows,
        "one_way": one_way,
        "upper_gb_per_s": upper,
        "slow_reader": slow_reader,
        "rounds": ROUNDS,
        "run_s": RUN.as_secs_f64(),
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/echo-harness-bench");
    std::fs::create_dir_all(&dir).expect("the bench directory");
    let path = dir.join("throughput.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary).unwrap()).expect("the summary is written");
    println!("summary: {}", path.display());
}
