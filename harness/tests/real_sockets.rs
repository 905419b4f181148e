//! The built-in server and client on real sockets on 127.0.0.1: the same code the simulator runs.

use std::net::SocketAddr;
use std::time::Duration;

use echo_harness::sut::client::{Client, ClientError, Timeouts};
use echo_harness::sut::net::{Network, Real};
use echo_harness::sut::server::{self, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TIMEOUTS: Timeouts = Timeouts { connect: Duration::from_secs(5), io: Duration::from_secs(10) };

/// A server on an ephemeral loopback port; dropping `stop` shuts it down gracefully.
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: JoinHandle<()>,
}

async fn start(config: Config) -> Running {
    let listener = Real::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(server::run(listener, config, async {
        let _ = stopped.await;
    }));
    Running { addr, stop, done }
}

async fn connect(addr: SocketAddr) -> Client<tokio::net::TcpStream> {
    Client::connect::<Real>(addr, TIMEOUTS).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upper_cases_bytes_like_python() {
    let s = start(Config::default()).await;
    let mut c = connect(s.addr).await;
    assert_eq!(c.echo(b"hello\x00\xff ok").await.unwrap(), b"HELLO\x00\xff OK");
    assert_eq!(c.echo("straße ünï".as_bytes()).await.unwrap(), "STRAßE üNï".as_bytes());
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mebibyte_through_the_tutorial_buffer_comes_back_whole() {
    let s = start(Config { buffer_size: 1024, ..Config::default() }).await;
    let mut c = connect(s.addr).await;
    let message: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let reply = c.echo(&message).await.unwrap();
    assert_eq!(reply.len(), message.len());
    assert!(reply == server::upper(&message), "reply differs from the upper-cased message");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_message_returns_at_once_and_the_conversation_goes_on() {
    let s = start(Config::default()).await;
    let mut c = connect(s.addr).await;
    assert_eq!(c.echo(b"").await.unwrap(), b"");
    assert_eq!(c.echo(b"after").await.unwrap(), b"AFTER");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_client_leaves_the_server_serving() {
    let s = start(Config::default()).await;
    let rude = Real::connect(s.addr).await.unwrap();
    let mut rude = rude;
    rude.write_all(b"unread reply").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    rude.set_zero_linger().unwrap();
    drop(rude); // RST: its reply was never read
    let mut next = connect(s.addr).await;
    assert_eq!(next.echo(b"still here").await.unwrap(), b"STILL HERE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_clients_are_all_served() {
    let s = start(Config::default()).await;
    let mut clients = Vec::new();
    for i in 0..50u32 {
        let addr = s.addr;
        clients.push(tokio::spawn(async move {
            let mut c = connect(addr).await;
            for round in 0..10 {
                let msg = format!("client {i} round {round}");
                assert_eq!(c.echo(msg.as_bytes()).await.unwrap(), msg.to_uppercase().as_bytes());
            }
            c.close().await.unwrap();
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_port_without_listener_is_refused() {
    // Below the ephemeral range: no client socket can hold it, nor connect to itself on it.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], echo_harness::real::launch::free_port().unwrap()));
    match Client::connect::<Real>(addr, TIMEOUTS).await {
        Err(ClientError::Refused { addr: refused }) => assert_eq!(refused, addr),
        other => panic!("expected Refused, got {:?}", other.err()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_gets_the_replies_then_eof() {
    let s = start(Config::default()).await;
    let mut raw = Real::connect(s.addr).await.unwrap();
    raw.write_all(b"one ").await.unwrap();
    raw.write_all(b"two").await.unwrap();
    raw.shutdown().await.unwrap();
    let mut all = Vec::new();
    raw.read_to_end(&mut all).await.unwrap();
    assert_eq!(all, b"ONE TWO");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_closes_connections_with_eof() {
    let s = start(Config::default()).await;
    let mut c = connect(s.addr).await;
    assert_eq!(c.echo(b"before").await.unwrap(), b"BEFORE");
    s.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), s.done).await.expect("server stops").unwrap();
    let mut raw = c.into_inner();
    let mut rest = Vec::new();
    raw.read_to_end(&mut rest).await.expect("a clean EOF, not a reset");
    assert!(rest.is_empty());
    assert!(Real::connect(s.addr).await.is_err(), "the listener is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_makes_extra_clients_wait_not_fail() {
    let s = start(Config { max_connections: Some(1), ..Config::default() }).await;
    let mut first = connect(s.addr).await;
    assert_eq!(first.echo(b"first").await.unwrap(), b"FIRST");
    let mut second = Client::connect::<Real>(s.addr, Timeouts { io: Duration::from_millis(200), ..TIMEOUTS })
        .await
        .expect("the kernel completes the handshake from the backlog");
    let waiting = second.echo(b"second").await;
    assert!(matches!(waiting, Err(ClientError::Stalled { .. })), "served while the slot was taken: {waiting:?}");
    first.close().await.unwrap();
    drop(second); // leaves too, so the slot is free again
    let mut third = connect(s.addr).await;
    assert_eq!(third.echo(b"third").await.unwrap(), b"THIRD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_closes_a_silent_connection() {
    let s = start(Config { idle_timeout: Some(Duration::from_millis(100)), ..Config::default() }).await;
    let mut raw = Real::connect(s.addr).await.unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf)).await.expect("closed by the server");
    assert_eq!(n.unwrap(), 0, "EOF after the idle timeout");
}

#[test]
fn kernel_checks_observe_the_tutorials_traps() {
    let checks = echo_harness::real::kernel::run_all();
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["reuse-address", "send-vs-sendall", "empty-send", "refused"]);
    for c in &checks {
        assert_eq!(c.verdict, echo_harness::model::property::Verdict::Pass, "{}: {}", c.name, c.detail);
    }
    let send = &checks[1];
    let first = send.figures["one_write_bytes"].as_u64().unwrap();
    assert!(first < 1 << 20, "{}", send.detail);
    assert_eq!(send.figures["write_all_bytes"].as_u64(), Some(1 << 20), "{}", send.detail);
    let reuse = &checks[0];
    assert!(reuse.figures["time_wait_sockets"].as_u64().unwrap() >= 1, "{}", reuse.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_reuse_address_rule_agrees_with_the_kernel() {
    // The same sequence (kill a server with open connections, rebind at once) under every combination of the
    // flag on the old and the new listener, on the kernel and on the model the simulator applies.
    for (old, new) in [(false, false), (false, true), (true, false), (true, true)] {
        let seen = echo_harness::real::kernel::rebind(old, new).await.unwrap();
        let time_wait = seen.time_wait.expect("/proc/net/tcp is readable");
        assert!(time_wait >= 1, "old {old} new {new}: no socket in TIME_WAIT");
        let model = echo_harness::sut::net::rebind_allowed(true, old, new);
        assert_eq!(model, seen.error.is_none(), "old {old} new {new}: kernel {:?}, model {model}", seen.error);
    }
}

mod proxy {
    use super::*;
    use echo_harness::real::proxy::{Proxy, Toxics};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_fault_that_keeps_the_connection_leaves_the_bytes_exact() {
        let s = start(Config { buffer_size: 1024, ..Config::default() }).await;
        let proxy = Proxy::start(s.addr, 7).await.unwrap();
        proxy.set(Toxics {
            latency: Duration::from_millis(1),
            jitter: Duration::from_millis(2),
            slice: Some(7),
            slice_delay: Duration::ZERO,
            bandwidth: Some(16 << 20),
            ..Toxics::default()
        });
        let mut c = connect(proxy.addr()).await;
        let big: Vec<u8> = (0..64 * 1024).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let reply = c.echo(&big).await.unwrap();
        assert!(reply == server::upper(&big), "a byte changed through the proxy");
        // A stall holds the bytes back; the release delivers them, still exact.
        proxy.update(|t| t.stall(true));
        let pending = tokio::spawn(async move {
            let reply = c.echo(b"held back, then delivered \x00\xff").await.unwrap();
            (c, reply)
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!pending.is_finished(), "the stall let bytes through");
        proxy.update(|t| t.stall(false));
        let (c, reply) = pending.await.unwrap();
        assert_eq!(reply, b"HELD BACK, THEN DELIVERED \x00\xff");
        c.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reset_and_fin_reach_the_client() {
        let s = start(Config::default()).await;
        let proxy = Proxy::start(s.addr, 1).await.unwrap();
        let mut c = connect(proxy.addr()).await;
        assert_eq!(c.echo(b"a").await.unwrap(), b"A");
        proxy.reset_all();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let err = c.echo(b"after the reset").await.unwrap_err();
        assert_eq!(err.kind(), "reset", "a reset must reach the client as RST, not a FIN first: {err:?}");
        let mut c = connect(proxy.addr()).await;
        assert_eq!(c.echo(b"b").await.unwrap(), b"B");
        proxy.fin_all();
        let err = c.echo(b"after the fin").await.unwrap_err();
        assert!(matches!(err, ClientError::Eof { .. } | ClientError::Io { .. }), "{err:?}");
        assert_eq!(proxy.connections(), 0);
    }
}
