//! `serve` and `client`: the built-in echo server on real sockets until Ctrl-C, and the echo client (a `>> `
//! prompt on a terminal, one message per line from a pipe).

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::builder::TypedValueParser;
use clap::Args;

use echo_harness::exit;
use echo_harness::sut::client::{Client, Timeouts};
use echo_harness::sut::net::{Listener, Network, Real};
use echo_harness::sut::server;

use super::shared::{parse_duration, runtime};

/// `serve`'s flags.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub addr: SocketAddr,
    /// Read buffer size in bytes (the tutorial's recv(1024) is 1024).
    #[arg(long, default_value_t = server::DEFAULT_BUFFER, value_parser = clap::value_parser!(u32).range(1..=16_777_216).map(|v| v as usize))]
    pub buffer: usize,
    /// Serve at most this many connections at once; others wait in the backlog.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub max_connections: Option<usize>,
    /// Close a connection after this long without progress: 500ms, 30s, 2m (a bare number is seconds).
    #[arg(long, value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
}

/// `client`'s flags.
#[derive(Args)]
pub struct ClientArgs {
    /// Address of the server.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub addr: SocketAddr,
    /// How long each connect, read or write may take: 500ms, 5s (a bare number is seconds).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Serves until Ctrl-C.
pub fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    let config = server::Config {
        buffer_size: args.buffer,
        max_connections: args.max_connections,
        idle_timeout: args.idle_timeout,
    };
    let addr = args.addr;
    runtime()?.block_on(async {
        let listener = Real::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let local = Listener::local_addr(&listener)?;
        // The one line a script waits for (with `--addr 127.0.0.1:0` it tells the port).
        println!("listening on {local}");
        std::io::stdout().flush()?;
        tracing::info!(addr = %local, buffer = config.buffer_size, "listening");
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        server::run(listener, config, shutdown).await;
        Ok(exit::HELD)
    })
}
/// Talks to a server until standard input ends.
pub fn client(args: ClientArgs) -> anyhow::Result<u8> {
    let (addr, timeout) = (args.addr, args.timeout);
    let timeouts = Timeouts { connect: timeout, io: timeout };
    runtime()?.block_on(async {
        let mut client = Client::connect::<Real>(addr, timeouts).await?;
        let interactive = std::io::stdin().is_terminal();
        let mut lines = std::io::stdin().lock().lines();
        loop {
            if interactive {
                print!(">> ");
                std::io::stdout().flush()?;
            }
            let Some(line) = lines.next() else { break };
            let line = line.context("cannot read standard input")?;
            let message = line.trim_end_matches('\r');
            if message.is_empty() {
                continue; // the tutorial's `if not msg: continue`: an empty send would hang
            }
            let reply = client.echo(message.as_bytes()).await?;
            println!("{}", String::from_utf8_lossy(&reply));
        }
        client.close().await?;
        Ok(exit::HELD)
    })
}
