//! Correct servers with an idle timeout of their own, declared to the harness: the bank of styles
//! (`styles.rs`) behind an idle deadline (each read or write fails once nothing has moved on the connection,
//! either way, for 500 ms; the style then closes it as it closes on any error), and the README's own example.
//! Declared with `Target::idle_timeout`, each must pass the scenario suite (the files that set another idle
//! timeout are skipped, with the reason), the two cases that once raised false alarms (a short partition; a slow
//! reader that meets the timeout), and explored cases with slow readers, silent clients and clients that stop
//! reading, with zero findings. A server that declares 500 ms and closes after 100 ms must be caught.
//!
//! `IDLE_STYLES_CASES=5000 cargo test --release --test idle_styles -- --nocapture` explores more cases per style
//! (the default is [`DEFAULT_CASES`]); each style prints its cases, findings and seconds.

mod styles;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use echo_harness::hunt::check;
use echo_harness::hunt::explore::{self, Options};
use echo_harness::hunt::run::run_once;
use echo_harness::model::property::Verdict;
use echo_harness::model::scenario::Scenario;
use echo_harness::report::table;
use echo_harness::sim::target::Target;
use echo_harness::sut::net::Listener;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Cases explored per style unless `IDLE_STYLES_CASES` says otherwise.
const DEFAULT_CASES: u64 = 200;

/// The idle timeout every server here has, and declares.
const IDLE: Duration = Duration::from_millis(500);

/// A stream whose pending read or write fails with `TimedOut` once no byte has moved on it, either way, for
/// `idle` (the pattern of the `tokio-io-timeout` crate, with one deadline for both directions): a client that
/// vanished, or one that stopped reading, is let go.
struct IdleStream<S> {
    inner: S,
    idle: Duration,
    /// The deadline as the reading task waits on it.
    read_timer: Pin<Box<Sleep>>,
    /// The same deadline as the writing task waits on it (split halves run on different tasks).
    write_timer: Pin<Box<Sleep>>,
}

impl<S> IdleStream<S> {
    fn new(inner: S, idle: Duration) -> Self {
        let at = Instant::now() + idle;
        IdleStream {
            inner,
            idle,
            read_timer: Box::pin(tokio::time::sleep_until(at)),
            write_timer: Box::pin(tokio::time::sleep_until(at)),
        }
    }

    fn progress(&mut self) {
        let at = Instant::now() + self.idle;
        self.read_timer.as_mut().reset(at);
        self.write_timer.as_mut().reset(at);
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "no progress for the idle timeout")
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.progress();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.read_timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(timed_out())),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> IdleStream<S> {
    /// `poll` of the inner stream's write side, timed out by the shared deadline while it pends.
    fn pending_write<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending => match self.write_timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(timed_out())),
                Poll::Pending => Poll::Pending,
            },
            ready => ready,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(1..)) = polled {
            self.progress();
        }
        self.pending_write(cx, polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.pending_write(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.pending_write(cx, polled)
    }
}

/// A listener whose streams are [`IdleStream`]s.
struct IdleListener<L>(L);

impl<L: Listener> Listener for IdleListener<L> {
    type Stream = IdleStream<L::Stream>;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = self.0.accept().await?;
        Ok((IdleStream::new(stream, IDLE), peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// The README's "Test your own server" example, as it is there.
async fn my_server<L: Listener>(mut listener: L) {
    while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            // 500 ms without progress either way closes the connection: a client cut off by the network, or one
            // that stopped reading, is not kept forever.
            let idle = std::time::Duration::from_millis(500);
            while let Ok(Ok(n @ 1..)) = tokio::time::timeout(idle, stream.read(&mut buf)).await {
                buf[..n].make_ascii_uppercase();
                let mut sent = 0;
                while sent < n {
                    match tokio::time::timeout(idle, stream.write(&buf[sent..n])).await {
                        Ok(Ok(k @ 1..)) => sent += k,
                        _ => return,
                    }
                }
            }
        });
    }
}

/// A server that declares 500 ms and closes after 100 ms without progress: it must be caught.
async fn impatient<L: Listener>(listener: L) {
    styles::accept_loop(listener, |stream| async move {
        styles::plain_connection(IdleStream::new(stream, IDLE / 5), 4096).await
    })
    .await
}

/// Every style behind the idle deadline, and the README's example, each declaring its 500 ms.
fn targets() -> Vec<Target> {
    macro_rules! idle {
        ($name:ident) => {
            Target::new(concat!(stringify!($name), "_idle"), |listener| {
                Box::pin(styles::$name(IdleListener(listener), styles::BUFFER))
            })
            .idle_timeout(IDLE)
        };
    }
    vec![
        idle!(split_channel),
        idle!(split_tasks),
        idle!(buffered),
        idle!(framed),
        idle!(select_loop),
        idle!(join_set),
        idle!(copy_upper),
        idle!(unordered),
        Target::new("readme_example", |listener| Box::pin(my_server(listener))).idle_timeout(IDLE),
    ]
}

fn target(name: &str) -> Target {
    targets().into_iter().find(|t| t.name() == name).unwrap_or_else(|| panic!("no target {name}"))
}

/// The two cases that flagged every correct server with an idle timeout, rebuilt: a 10 ms partition while a
/// message is in flight (TCP delivers it late; the server must not be blamed), and a slow reader that drains a
/// 371-byte reply for over a second while the server, hearing nothing, closes after 500 ms (its policy).
fn once_false_alarms() -> Vec<Scenario> {
    let partition = r#"
seeds = [1, 2, 3, 4, 5]
[network]
latency_ms = [5, 10]
[server]
idle_timeout_ms = 500
[[clients]]
count = 2
start_ms = 55
messages = [{ text = "across a short partition" }, { text = "and after it" }]
[[timeline]]
at_ms = 60
action = "partition"
[[timeline]]
at_ms = 70
action = "repair"
[limits]
io_timeout_ms = 500
"#;
    let slow_reader = r#"
seeds = [1, 2, 3, 4, 5]
[server]
idle_timeout_ms = 500
[[clients]]
pipeline = 3
read_chunk = 1
read_pause_ms = 3
messages = [{ random = 120 }, { random = 120 }, { random = 131 }, { text = "one more" }]
"#;
    [("short_partition", partition), ("slow_reader_meets_idle_timeout", slow_reader)]
        .into_iter()
        .map(|(name, text)| Scenario::parse(Path::new(&format!("{name}.toml")), text).expect("a valid scenario"))
        .collect()
}

/// The suite passes; the files that set another idle timeout or a connection limit are skipped (with the
/// reason), and every other one is judged: a pass must not come from skipping.
fn passes_the_suite(name: &str) {
    let (suite, target) = (Scenario::suite(), target(name));
    let report = check::check(&suite, &target, 2);
    assert_eq!(report.verdict, Verdict::Pass, "{}", table::suite_table(&report));
    let applies = suite.iter().filter(|s| target.unsupported(s).is_none()).count();
    let judged = report.scenarios.iter().filter(|s| s.verdict != Verdict::Skip).count();
    assert!(judged == applies && judged >= 15, "{judged} of {applies} judged\n{}", table::suite_table(&report));
}

fn passes_the_once_false_alarms(name: &str) {
    let target = target(name);
    for scenario in once_false_alarms() {
        for &seed in &scenario.seeds {
            let (run, judgements) = run_once(&scenario, seed, &target);
            let failed: Vec<String> = judgements
                .iter()
                .filter(|j| j.verdict == Verdict::Fail)
                .map(|j| format!("{}: {}", j.property.name(), j.detail))
                .collect();
            let trace: Vec<String> = run.records.iter().map(|r| r.to_string()).collect();
            assert!(failed.is_empty(), "{name} {} seed {seed}: {failed:?}\n{}", scenario.name, trace.join("\n"));
        }
    }
}

/// A bounded exploration finds nothing.
fn explores_clean(name: &str) {
    styles::explores_clean(&target(name), "IDLE_STYLES_CASES", DEFAULT_CASES, 2027);
}

macro_rules! bank {
    ($($name:ident),* $(,)?) => {
        mod suite {
            $(#[test] fn $name() { super::passes_the_suite(stringify!($name)) })*
        }
        mod once_false_alarms {
            $(#[test] fn $name() { super::passes_the_once_false_alarms(stringify!($name)) })*
        }
        mod exploration {
            $(#[test] fn $name() { super::explores_clean(stringify!($name)) })*
        }
        #[test]
        fn every_target_is_tested() {
            let mut tested = vec![$(stringify!($name)),*];
            let mut targets: Vec<String> = targets().iter().map(|t| t.name().to_string()).collect();
            tested.sort_unstable();
            targets.sort_unstable();
            assert_eq!(tested, targets);
        }
    };
}

bank!(
    split_channel_idle,
    split_tasks_idle,
    buffered_idle,
    framed_idle,
    select_loop_idle,
    join_set_idle,
    copy_upper_idle,
    unordered_idle,
    readme_example
);

#[test]
fn a_server_closing_sooner_than_it_declares_is_caught() {
    let target = Target::new("impatient", |listener| Box::pin(impatient(listener))).idle_timeout(IDLE);
    let slow_reader = &once_false_alarms()[1];
    let (_, judgements) = run_once(slow_reader, 1, &target);
    let liveness = judgements.iter().find(|j| j.property.name() == "liveness").expect("liveness is judged");
    assert_eq!(liveness.verdict, Verdict::Fail, "{}", liveness.detail);
    assert!(liveness.detail.contains("sooner than its idle timeout of 500 ms"), "{}", liveness.detail);
    let options = Options {
        cases: 2000,
        time: None,
        seed: 1,
        jobs: 2,
        check_determinism: false,
        stop_at_first: true,
        shard: None,
    };
    let report = explore::explore(&options, &target, &|_, _| {});
    let finding = report.findings.first().expect("exploration alone catches it");
    println!("impatient: caught at case {} of {}: {}", finding.case, report.cases, finding.detail);
}
