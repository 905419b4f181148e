//! The socket tutorial's bugs, each planted in the correct server: partial sends, a missing connection loop or
//! EOF check, one client's error ending the server, one read taken for one message, decoded text, serial service,
//! leaked connections, a shared buffer, unflushed replies, dropped replies, a slow start (and, in `list.rs`, no
//! SO_REUSEADDR).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};

use crate::sut::blocks::{accept_loop, echo, read, write_all};
use crate::sut::net::Listener;
use crate::sut::server::{upper, upper_in_place, Config};

pub(super) async fn partial_send<L: Listener>(listener: L, config: Config) {
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

pub(super) async fn single_client<L: Listener>(mut listener: L, config: Config) {
    // BUG: no connection loop.
    if let Ok((stream, _)) = listener.accept().await {
        let _ = echo(stream, &config).await;
    }
}

pub(super) async fn no_eof_check<L: Listener>(listener: L, config: Config) {
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

pub(super) async fn dies_on_client_error<L: Listener>(mut listener: L, config: Config) {
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

pub(super) async fn one_read_one_message<L: Listener>(listener: L, config: Config) {
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

pub(super) async fn unicode_upper<L: Listener>(listener: L, config: Config) {
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

pub(super) async fn serial<L: Listener>(mut listener: L, config: Config) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = echo(stream, &config).await; // BUG: no task per connection
    }
}

pub(super) async fn leaks_connections<L: Listener>(listener: L, config: Config) {
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

pub(super) async fn shared_buffer<L: Listener>(listener: L, config: Config) {
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

pub(super) async fn unflushed_close<L: Listener>(listener: L, config: Config) {
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

pub(super) async fn drops_when_slow<L: Listener>(listener: L, config: Config) {
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

pub(super) async fn slow_start<L: Listener>(listener: L, config: Config) {
    tokio::time::sleep(Duration::from_millis(1500)).await; // BUG: loads its state before accepting
    crate::sut::server::run(listener, config, std::future::pending::<()>()).await
}
