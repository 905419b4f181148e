//! What the subcommands share: runtimes (one that kills the servers the harness started on Ctrl-C), loading a
//! scenario directory, resolving a simulated target by name, durations, progress bars, colour and numbers as
//! people read them.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use echo_harness::hunt::{mutants, twins};
use echo_harness::model::scenario::Scenario;
use echo_harness::real::launch;
use echo_harness::sim::target::Target;

/// A duration as people write it: `500ms`, `30s`, `2m` (a bare number is seconds), at most a day.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = match s.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs.min(1e9)),
        _ => humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration (500ms, 30s, 2m): {e}"))?,
    };
    if d.is_zero() || d > Duration::from_secs(86_400) {
        return Err(format!("`{s}` must be more than 0 and at most a day"));
    }
    Ok(d)
}

/// A runtime whose Ctrl-C (SIGINT), SIGTERM or SIGHUP kills the servers the harness started before leaving
/// (exit 130). (A SIGKILL cannot be caught: then each server's watchdog kills it, see `launch::WATCHDOG`.)
pub fn runtime_killing_servers_on_ctrl_c() -> anyhow::Result<tokio::runtime::Runtime> {
    runtime_stopping_on_ctrl_c(None)
}

/// [`runtime_killing_servers_on_ctrl_c`], except that with `interrupt` the first Ctrl-C only sets it (the run
/// stops after the work in progress, then reports what ran); a second Ctrl-C, SIGTERM or SIGHUP kill and leave.
pub fn runtime_stopping_on_ctrl_c(
    interrupt: Option<&'static std::sync::atomic::AtomicBool>,
) -> anyhow::Result<tokio::runtime::Runtime> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = runtime()?;
    let signals = rt.block_on(async {
        [SignalKind::interrupt(), SignalKind::terminate(), SignalKind::hangup()].map(|kind| signal(kind).ok())
    });
    rt.spawn(async move {
        /// Waits for one signal (forever if it could not be registered).
        async fn next(signal: Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let [int, term, hup] = signals;
        let interrupted = async move {
            let mut int = int;
            if let (Some(flag), Some(signal)) = (interrupt, int.as_mut()) {
                signal.recv().await;
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
                eprintln!("\ninterrupted: finishing what runs now, then reporting (Ctrl-C again to stop at once)");
            }
            next(int).await
        };
        tokio::select! {
            _ = interrupted => {}
            _ = next(term) => {}
            _ = next(hup) => {}
        }
        launch::kill_all_managed();
        std::process::exit(130);
    });
    Ok(rt)
}

/// `builtin` or a mutant's name.
pub fn resolve_target(name: &str) -> anyhow::Result<Target> {
    if name == "builtin" {
        return Ok(Target::builtin());
    }
    match mutants::find(name) {
        Some(m) => Ok(m.target),
        None => {
            let known: Vec<String> = mutants::all().into_iter().map(|m| m.name).collect();
            bail!(
                "unknown --target `{name}`: use builtin, a mutant ({}), or a command line with {{port}}",
                known.join(", ")
            )
        }
    }
}

/// A multi-threaded tokio runtime.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the tokio runtime")
}

/// Loads every scenario of `dir`, or says clearly why not.
pub fn load_scenarios(dir: &Path) -> anyhow::Result<Vec<Scenario>> {
    if !dir.is_dir() {
        bail!(
            "scenario directory {} does not exist (run from the repository root, or pass --scenarios DIR)",
            dir.display()
        );
    }
    let scenarios = twins::load_dir(dir)?;
    if scenarios.is_empty() {
        bail!("no scenario files (*.toml) in {}", dir.display());
    }
    Ok(scenarios)
}

/// Set by the first Ctrl-C after [`interrupt_on_ctrl_c`] (or in a runtime from [`runtime_stopping_on_ctrl_c`]).
pub static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A flag the first Ctrl-C (SIGINT) sets instead of ending the process, so a long run can stop, print what it
/// measured and write its reports; a second Ctrl-C ends the process at once, as usual.
pub fn interrupt_on_ctrl_c() -> &'static std::sync::atomic::AtomicBool {
    extern "C" fn on_sigint(_: libc::c_int) {
        // Async-signal-safe: an atomic store, and restoring the default action for the next Ctrl-C.
        INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: signal(2) is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
        }
    }
    // SAFETY: installs a handler that only does async-signal-safe work (above).
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
    &INTERRUPTED
}

/// A progress bar on standard error for `len` steps of `what` ("scenarios", "planted bugs"), drawn only on a
/// terminal (never into a CI log or a pipe) and cleared when done; `tick(name)` counts a step and shows its name.
pub fn progress_bar(len: usize, what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let bar = indicatif::ProgressBar::new(len as u64);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let template = format!("{{spinner}} {{elapsed:>3}} [{{bar:30}}] {{pos}}/{{len}} {what}  {{msg}}");
    bar.set_style(indicatif::ProgressStyle::with_template(&template).expect("a valid template").progress_chars("=> "));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Counts one step of `bar`, named `name`.
pub fn tick(bar: &indicatif::ProgressBar, name: &str) {
    bar.inc(1);
    bar.set_message(name.to_string());
}

/// Whether to colour what goes to standard output: on a terminal, unless `NO_COLOR` is set (no-color.org).
pub fn colour() -> bool {
    use std::io::IsTerminal;
    colour_on(std::io::stdout().is_terminal())
}

/// Whether to colour a stream that is (or is not) a terminal: only a terminal, and not with `NO_COLOR` set.
pub fn colour_on(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `text` with its verdict words coloured (`FAIL`, `FAILED`, `NOT`: red; `pass`: green; `skip`: dim) when
/// [`colour`] says so; unchanged otherwise, so pipes and CI logs get plain text.
pub fn paint(text: &str) -> String {
    paint_if(text, colour())
}

fn paint_if(text: &str, on: bool) -> String {
    if !on {
        return text.to_string();
    }
    use anstyle::{AnsiColor, Style};
    let red = AnsiColor::Red.on_default().bold();
    let green = AnsiColor::Green.on_default();
    let dim = Style::new().dimmed();
    text.split_inclusive([' ', '\n'])
        .map(|piece| {
            let word = piece.trim_end_matches([' ', '\n']);
            let style = match word {
                "FAIL" | "FAILED" | "NOT" => red,
                "pass" => green,
                "skip" => dim,
                _ => return piece.to_string(),
            };
            format!("{style}{word}{style:#}{}", &piece[word.len()..])
        })
        .collect()
}

/// `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `--jobs`, or every core.
pub fn all_cores(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Refuses scenarios that say the server replies unchanged (`[server] reply = "identity"`, written by `explore
/// --transform identity` against a plain echo) when the server under test upper-cases (`target`: the built-in
/// server or a planted bug): every byte would count against it.
pub fn ensure_upper_replies<'a>(scenarios: impl IntoIterator<Item = &'a Scenario>, target: &str) -> anyhow::Result<()> {
    use echo_harness::model::transform::Transform;
    if let Some(s) = scenarios.into_iter().find(|s| s.server.reply != Transform::Upper) {
        bail!(
            "{}: [server] reply = \"{}\", but target {target} upper-cases: run it against the plain echo server it was written for (--backend real --target \"CMD {{port}}\")",
            s.path.display(),
            s.server.reply.name()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_words_are_painted_only_when_asked_and_only_as_words() {
        let table = "liveness  FAIL     3  client-1 gave up\nrefusal   pass     1  held (FAILURE is not a verdict)\n";
        assert_eq!(paint_if(table, false), table);
        let painted = paint_if(table, true);
        assert!(painted.contains("\u{1b}[1m\u{1b}[31mFAIL\u{1b}[0m     3"), "{painted:?}");
        assert!(painted.contains("\u{1b}[32mpass\u{1b}[0m"), "{painted:?}");
        assert!(painted.contains("(FAILURE is"), "{painted:?}");
        assert_eq!(painted.lines().count(), 2);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err() && parse_duration("soon").is_err() && parse_duration("2d").is_err());
    }
}
