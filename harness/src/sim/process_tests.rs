//! Tests of the simulated process's streams: wake-ups shared by split halves, resets of waiting writes, reads
//! ahead, FINs behind the data.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

use super::*;

type Halves = (ReadHalf<Shaped<ProcessStream>>, WriteHalf<Shaped<ProcessStream>>);

/// A simulation whose receive windows hold 2 segments, so a third unread write waits for credit.
fn sim<'a>() -> turmoil::Sim<'a> {
    turmoil::Builder::new()
        .rng_seed(1)
        .epoch(crate::sim::target::epoch())
        .simulation_duration(Duration::from_secs(5))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1))
        .tcp_capacity(2)
        .build()
}

/// Accepts one connection on `server:8081` as the runner does, split into a read half and a write half.
async fn accept_split() -> io::Result<Halves> {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", 8081)).await?;
    let mut listener = ProcessListener::new(listener, Sockets::default(), Shaping::default(), 0, Log::default());
    let (stream, _) = listener.accept().await?;
    Ok(tokio::io::split(stream))
}

/// Fills the client's window: the third 1-byte write waits for credit (the client reads nothing), reading
/// ahead meanwhile. Returns the third write's outcome, if it ever ends.
async fn fill_window(writer: &mut WriteHalf<Shaped<ProcessStream>>, full: &AtomicBool) -> io::Result<()> {
    writer.write_all(b"a").await?;
    writer.write_all(b"b").await?;
    full.store(true, Ordering::SeqCst);
    writer.write_all(b"c").await
}

/// Waits up to a second of simulated time for `flag`.
async fn eventually(flag: &AtomicBool, what: &str) -> turmoil::Result {
    for _ in 0..1000 {
        if flag.load(Ordering::SeqCst) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Err(what.into())
}

#[test]
fn a_write_waiting_for_credit_leaves_the_reader_its_wake_up() {
    let (full, read) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let mut sim = sim();
    let (f, r) = (full.clone(), read.clone());
    sim.host("server", move || {
        let (full, read) = (f.clone(), r.clone());
        async move {
            let (mut reader, mut writer) = accept_split().await?;
            tokio::spawn(async move {
                let mut buf = [0u8; 16];
                let n = reader.read(&mut buf).await?;
                read.store(&buf[..n] == b"hello", Ordering::SeqCst);
                io::Result::Ok(())
            });
            // The reader waits first; then this task's write waits for credit, reading ahead.
            tokio::time::sleep(Duration::from_millis(10)).await;
            fill_window(&mut writer, &full).await?;
            Ok(())
        }
    });
    sim.client("client", async move {
        let mut stream = turmoil::net::TcpStream::connect(("server", 8081)).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(full.load(Ordering::SeqCst), "the server's third write should be waiting for credit");
        stream.write_all(b"hello").await?;
        eventually(&read, "the server's reader was never woken for the bytes sent while its writer waited").await
    });
    sim.run().unwrap();
}

#[test]
fn a_reset_fails_a_write_waiting_for_credit_while_the_reader_waits_too() {
    let (full, failed) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let mut sim = sim();
    let (f, e) = (full.clone(), failed.clone());
    sim.host("server", move || {
        let (full, failed) = (f.clone(), e.clone());
        async move {
            let (mut reader, mut writer) = accept_split().await?;
            tokio::spawn(async move {
                let third = fill_window(&mut writer, &full).await;
                failed.store(third.is_err(), Ordering::SeqCst);
            });
            // The writer waits for credit first; then this task's read waits too.
            tokio::time::sleep(Duration::from_millis(10)).await;
            let mut buf = [0u8; 16];
            let _ = reader.read(&mut buf).await;
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    sim.client("client", async move {
        let stream = turmoil::net::TcpStream::connect(("server", 8081)).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(full.load(Ordering::SeqCst), "the server's third write should be waiting for credit");
        drop(stream); // unread data: a reset
        eventually(&failed, "the server's write waiting for credit never learned of the reset").await
    });
    sim.run().unwrap();
}

#[test]
fn bytes_read_ahead_reach_the_split_reader_in_order_then_eof() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut sim = sim();
    let g = got.clone();
    sim.host("server", move || {
        let got = g.clone();
        async move {
            let (mut reader, mut writer) = accept_split().await?;
            let full = Arc::new(AtomicBool::new(false));
            tokio::spawn(async move { fill_window(&mut writer, &full).await });
            // Let the pending write read the client's bytes and its FIN ahead, then read them.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut all = Vec::new();
            reader.read_to_end(&mut all).await?;
            *got.lock().unwrap() = all;
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    let done = got.clone();
    sim.client("client", async move {
        let mut stream = turmoil::net::TcpStream::connect(("server", 8081)).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        for part in [&b"one "[..], b"two ", b"three"] {
            stream.write_all(part).await?;
        }
        stream.shutdown().await?;
        for _ in 0..1000 {
            if !done.lock().unwrap().is_empty() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Err("the server never read to EOF".into())
    });
    sim.run().unwrap();
    assert_eq!(&*got.lock().unwrap(), b"one two three");
}

#[test]
fn a_stream_dropped_while_the_peer_window_is_full_still_reaches_eof_after_the_data() {
    // The server fills the client's 2-segment window and drops the stream without a shutdown (its task simply
    // ends); the client, reading slowly, must get every byte and then EOF, as a kernel's FIN behind the data.
    let got = Arc::new(Mutex::new(None));
    let mut sim = sim();
    sim.host("server", || async {
        let listener = turmoil::net::TcpListener::bind(("0.0.0.0", 8081)).await?;
        let mut listener = ProcessListener::new(listener, Sockets::default(), Shaping::default(), 0, Log::default());
        let (mut stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = stream.write_all(b"a").await;
            let _ = stream.write_all(b"b").await;
            drop(stream);
        });
        std::future::pending::<()>().await;
        Ok(())
    });
    let g = got.clone();
    sim.client("client", async move {
        let mut stream = turmoil::net::TcpStream::connect(("server", 8081)).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut all = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut all)).await;
        *g.lock().unwrap() = Some((read.is_ok(), all));
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(*got.lock().unwrap(), Some((true, b"ab".to_vec())), "the client never read EOF after the data");
}
