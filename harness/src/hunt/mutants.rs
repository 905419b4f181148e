//! The catalogue of planted bugs: echo servers that are the correct server with exactly one realistic bug each,
//! written apart from the real server (`server.rs` has no bug switches). They prove the harness catches what
//! the socket tutorial warns about: each scenario has a mutant (or a broken expectation) that fails it.
//!
//! Every mutant is generic over [`Listener`], like the real server, so it could serve real sockets too.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};

use crate::sim::target::Target;
use crate::sut::blocks::{accept_loop, echo, read, write_all};
use crate::sut::net::Listener;
use crate::sut::server::{upper, upper_in_place, Config};

/// One planted bug: the catalogue's own, or a user's (any [`Target`] with a name and a one-line bug), so a user
/// can compute a mutation score for their own server and their own planted bugs with [`super::catalogue::run`].
#[derive(Clone)]
pub struct Mutant {
    /// Its name in reports (and, for the catalogue's own, on the command line).
    pub name: String,
    /// The bug, in one line.
    pub bug: String,
    /// The server with the bug.
    pub target: Target,
}

impl Mutant {
    /// A planted bug: `target` is the server with the bug described by `bug`; it is named as the target is.
    pub fn new(bug: impl Into<String>, target: Target) -> Mutant {
        Mutant { name: target.name().to_string(), bug: bug.into(), target }
    }
}

/// Every mutant, in catalogue order.
pub fn all() -> Vec<Mutant> {
    macro_rules! mutant {
        ($name:literal, $bug:literal, $run:path) => {
            Mutant::new(
                $bug,
                Target::configurable($name, |listener, config| Box::pin($run(listener, config))).known_to_binary(),
            )
        };
    }
    vec![
        mutant!(
            "partial_send",
            "replies with one write and ignores how many bytes it took (send, not sendall)",
            partial_send
        ),
        mutant!("single_client", "no connection loop: serves one client, then exits", single_client),
        mutant!("no_eof_check", "does not end a connection on a 0-byte read: spins on EOF, never closes", no_eof_check),
        mutant!(
            "dies_on_client_error",
            "one client's reset or broken pipe ends the whole server",
            dies_on_client_error
        ),
        mutant!(
            "one_read_one_message",
            "takes one read for one message and discards what else is already buffered",
            one_read_one_message
        ),
        mutant!("unicode_upper", "upper-cases decoded text: binary bytes and 'ß' come back wrong", unicode_upper),
        mutant!("serial", "serves one client at a time: the next waits until the first leaves", serial),
        mutant!("leaks_connections", "never closes a connection whose client left", leaks_connections),
        mutant!(
            "shared_buffer",
            "all connections share one reply buffer: replies cross between clients",
            shared_buffer
        ),
        mutant!(
            "unflushed_close",
            "buffers replies and returns at EOF without flushing: the last replies are lost",
            unflushed_close
        ),
        mutant!("drops_when_slow", "drops a reply when the client's socket is not writable at once", drops_when_slow),
        mutant!("slow_start", "takes 1.5 s after every start before it accepts anyone", slow_start),
        Mutant::new(
            "does not set SO_REUSEADDR before bind: a quick restart meets \"Address already in use\"",
            Target::binding("no_reuse_address", |binder, config| {
                Box::pin(async move {
                    // BUG: bind without SO_REUSEADDR.
                    if let Ok(listener) = binder.bind(false).await {
                        crate::sut::server::run(listener, config, std::future::pending::<()>()).await
                    }
                })
            })
            .known_to_binary(),
        ),
    ]
}

/// The mutant called `name`.
pub fn find(name: &str) -> Option<Mutant> {
    all().into_iter().find(|m| m.name == name)
}

async fn partial_send<L: Listener>(listener: L, config: Config) {
    accept_loop(listener, config, |mut stream, config| async move {
        let mut buf = vec![0u8; config.buffer_size];
        while let Ok(n @ 1..) = read(&mut stream, &mut buf, &config).await {
            upper_in_place(&mut buf[..n]);
            if stream.write(&buf[..n]).await.is_err() {
                break; // BUG: the count is ignored, the rest of the reply is lost
            }
        }
        let _ = stream.shutdown().await;
    })
    .await
}

async fn single_client<L: Listener>(mut listener: L, config: Config) {
    // BUG: no connection loop.
    if let Ok((stream, _)) = listener.accept().await {
        let _ = echo(stream, &config).await;
    }
}

async fn no_eof_check<L: Listener>(listener: L, config: Config) {
    accept_loop(listener, config, |mut stream, config| async move {
        let mut buf = vec![0u8; config.buffer_size];
        loop {
            match read(&mut stream, &mut buf, &config).await {
                // BUG: a 0-byte read is treated as an empty message; the loop spins (politely) forever.
                Ok(0) => tokio::time::sleep(Duration::from_millis(1)).await,
                Ok(n) => {
                    upper_in_place(&mut buf[..n]);
                    if write_all(&mut stream, &buf[..n], &config).await.is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    })
    .await
}

async fn dies_on_client_error<L: Listener>(mut listener: L, config: Config) {
    let (died, mut death) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        tokio::select! {
            biased;
            _ = death.recv() => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { return };
                let (died, config) = (died.clone(), config.clone());
                tokio::spawn(async move {
                    if echo(stream, &config).await.is_err() {
                        let _ = died.send(()).await; // BUG: no try/except around the conversation
                    }
                });
            }
        }
    }
}

async fn one_read_one_message<L: Listener>(listener: L, config: Config) {
    accept_loop(listener, config, |mut stream, config| async move {
        let mut buf = vec![0u8; config.buffer_size];
        let mut junk = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = read(&mut stream, &mut buf, &config).await {
            upper_in_place(&mut buf[..n]);
            if write_all(&mut stream, &buf[..n], &config).await.is_err() {
                return;
            }
            // BUG: "that read was the message": anything already buffered is taken for noise and dropped.
            loop {
                let more = tokio::select! {
                    biased;
                    r = stream.read(&mut junk) => r,
                    _ = std::future::ready(()) => break,
                };
                if !matches!(more, Ok(1..)) {
                    return;
                }
            }
        }
        let _ = stream.shutdown().await;
    })
    .await
}

async fn unicode_upper<L: Listener>(listener: L, config: Config) {
    accept_loop(listener, config, |mut stream, config| async move {
        let mut buf = vec![0u8; config.buffer_size];
        while let Ok(n @ 1..) = read(&mut stream, &mut buf, &config).await {
            // BUG: `data.decode().upper().encode()`.
            let reply = String::from_utf8_lossy(&buf[..n]).to_uppercase().into_bytes();
            if write_all(&mut stream, &reply, &config).await.is_err() {
                return;
            }
        }
        let _ = stream.shutdown().await;
    })
    .await
}

async fn serial<L: Listener>(mut listener: L, config: Config) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = echo(stream, &config).await; // BUG: no task per connection
    }
}

async fn leaks_connections<L: Listener>(listener: L, config: Config) {
    let kept = Arc::new(Mutex::new(Vec::new()));
    accept_loop(listener, config, move |mut stream, config| {
        let kept = kept.clone();
        async move {
            let mut buf = vec![0u8; config.buffer_size];
            while let Ok(n @ 1..) = read(&mut stream, &mut buf, &config).await {
                upper_in_place(&mut buf[..n]);
                if write_all(&mut stream, &buf[..n], &config).await.is_err() {
                    break;
                }
            }
            kept.lock().expect("kept").push(stream); // BUG: kept "for reuse", never closed
        }
    })
    .await
}

async fn shared_buffer<L: Listener>(listener: L, config: Config) {
    let shared = Arc::new(Mutex::new(Vec::new()));
    accept_loop(listener, config, move |mut stream, config| {
        let shared = shared.clone();
        async move {
            let mut buf = vec![0u8; config.buffer_size];
            while let Ok(n @ 1..) = read(&mut stream, &mut buf, &config).await {
                // BUG: one global reply buffer; another connection may fill it before this one sends it.
                *shared.lock().expect("shared") = upper(&buf[..n]);
                tokio::task::yield_now().await;
                let reply = shared.lock().expect("shared").clone();
                if write_all(&mut stream, &reply, &config).await.is_err() {
                    return;
                }
            }
            let _ = stream.shutdown().await;
        }
    })
    .await
}

async fn unflushed_close<L: Listener>(listener: L, config: Config) {
    accept_loop(listener, config, |stream, config| async move {
        let (mut rd, wr) = tokio::io::split(stream);
        let mut wr = BufWriter::new(wr);
        let mut buf = vec![0u8; config.buffer_size];
        loop {
            // Flush only when the client has nothing more for now (a "batching" optimisation).
            let n = tokio::select! {
                biased;
                r = rd.read(&mut buf) => r,
                _ = std::future::ready(()) => {
                    if wr.flush().await.is_err() {
                        return;
                    }
                    read(&mut rd, &mut buf, &config).await
                }
            };
            let Ok(n @ 1..) = n else { return }; // BUG: returns at EOF without flushing
            upper_in_place(&mut buf[..n]);
            if write_all(&mut wr, &buf[..n], &config).await.is_err() {
                return;
            }
        }
    })
    .await
}

async fn drops_when_slow<L: Listener>(listener: L, config: Config) {
    accept_loop(listener, config, |mut stream, config| async move {
        let mut buf = vec![0u8; config.buffer_size];
        while let Ok(n @ 1..) = read(&mut stream, &mut buf, &config).await {
            upper_in_place(&mut buf[..n]);
            let mut sent = 0;
            while sent < n {
                // BUG: a non-blocking send whose "would block" is taken as "client gone, drop it".
                let w = tokio::select! {
                    biased;
                    w = stream.write(&buf[sent..n]) => w,
                    _ = std::future::ready(()) => break,
                };
                match w {
                    Ok(k @ 1..) => sent += k,
                    _ => return,
                }
            }
        }
        let _ = stream.shutdown().await;
    })
    .await
}

async fn slow_start<L: Listener>(listener: L, config: Config) {
    tokio::time::sleep(Duration::from_millis(1500)).await; // BUG: loads its state before accepting
    crate::sut::server::run(listener, config, std::future::pending::<()>()).await
}
