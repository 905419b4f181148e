//! Echo throughput of the built-in server on real loopback sockets, per read-buffer size: the measurement that
//! chose `server::DEFAULT_BUFFER`. Every echoed byte crosses loopback twice; client and server share the cores.
//!
//! `cargo bench --bench throughput`

use std::net::SocketAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use echo_harness::sut::client::{Client, Timeouts};
use echo_harness::sut::net::{Network, Real};
use echo_harness::sut::server::{self, Config};

const MESSAGE: usize = 4 << 20;
const BUFFERS: [usize; 5] = [1024, 4096, 16 * 1024, 64 * 1024, 256 * 1024];

fn start(rt: &tokio::runtime::Runtime, buffer_size: usize) -> SocketAddr {
    rt.block_on(async {
        let listener = Real::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = Config { buffer_size, ..Config::default() };
        tokio::spawn(server::run(listener, config, std::future::pending::<()>()));
        addr
    })
}

fn throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let message: Vec<u8> = (0..MESSAGE).map(|i| (i % 251) as u8).collect();
    for conns in [1usize, 8] {
        let mut group = c.benchmark_group(format!("echo_{conns}_conn"));
        group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
        group.throughput(Throughput::Bytes((MESSAGE * conns) as u64));
        for buffer in BUFFERS {
            let addr = start(&rt, buffer);
            let clients: Vec<_> = rt.block_on(async {
                let mut v = Vec::new();
                for _ in 0..conns {
                    v.push(Client::connect::<Real>(addr, Timeouts::default()).await.unwrap());
                }
                v
            });
            let clients = std::sync::Arc::new(tokio::sync::Mutex::new(clients));
            group.bench_with_input(BenchmarkId::from_parameter(buffer), &buffer, |b, _| {
                b.to_async(&rt).iter(|| {
                    let clients = clients.clone();
                    let message = &message;
                    async move {
                        let mut clients = clients.lock().await;
                        let echoes = clients.iter_mut().map(|c| c.echo(message));
                        for reply in futures_join_all(echoes).await {
                            assert_eq!(reply.unwrap().len(), MESSAGE);
                        }
                    }
                })
            });
        }
        group.finish();
    }
}

/// Polls every echo concurrently on one task (no spawn: the clients are borrowed).
async fn futures_join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in set.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("every future finished")).collect()
}

criterion_group!(benches, throughput);
criterion_main!(benches);
