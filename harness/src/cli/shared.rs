//! What the subcommands share: runtimes (one that kills the servers the harness started on Ctrl-C), loading a
//! scenario directory, resolving a simulated target by name, writing and printing a check report.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use echo_harness::exit;
use echo_harness::hunt::{mutants, twins};
use echo_harness::model::property::Verdict;
use echo_harness::model::scenario::Scenario;
use echo_harness::real::{launch, runner};
use echo_harness::report::check_report::CheckReport;
use echo_harness::report::{json, junit, markdown, table};
use echo_harness::sim::target::Target;

/// A number of seconds, `1.5` or `1.5s`, more than 0 and at most a day.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim_end_matches('s').parse().map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!("`{s}` must be more than 0 and at most 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Writes the reports, prints the table (or the JSON document), and gives the exit code.
pub fn finish_check(report: &CheckReport, json: bool, report_dir: &Path) -> anyhow::Result<u8> {
    let report = &with_real_notes(report);
    write_reports(report, report_dir)?;
    if json {
        println!("{}", json::json(report));
    } else {
        print!("{}", table::table(report));
        println!("report: {}", report_dir.join("check.md").display());
    }
    Ok(if report.held() { exit::HELD } else { exit::FAILED })
}

/// The report, with every failure of the scenario files on real sockets saying that it was confirmed on a second
/// run and that its replay reruns the scenario, not the same timing ([`runner::FAILURE_NOTE`]).
fn with_real_notes(report: &CheckReport) -> CheckReport {
    let mut report = report.clone();
    if report.suite.backend == "real" && !report.suite.scenarios.is_empty() {
        for property in report.suite.properties.iter_mut().filter(|p| p.verdict == Verdict::Fail) {
            if property.evidence.replay.is_some() {
                property.evidence.detail.push_str(runner::FAILURE_NOTE);
            }
        }
    }
    report
}

/// A runtime whose Ctrl-C (SIGINT), SIGTERM or SIGHUP kills the servers the harness started before leaving
/// (exit 130). (A SIGKILL cannot be caught: then each server's watchdog kills it, see `launch::WATCHDOG`.)
pub fn runtime_killing_servers_on_ctrl_c() -> anyhow::Result<tokio::runtime::Runtime> {
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
        tokio::select! {
            _ = next(int) => {}
            _ = next(term) => {}
            _ = next(hup) => {}
        }
        launch::kill_all_managed();
        std::process::exit(130);
    });
    Ok(rt)
}

/// Writes `check.md`, `check.json` and `junit.xml` into `report_dir`.
fn write_reports(report: &CheckReport, report_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(report_dir).with_context(|| format!("cannot create {}", report_dir.display()))?;
    let reports = [
        ("check.md", markdown::markdown(report)),
        ("check.json", json::json(report)),
        ("junit.xml", junit::junit(report)),
    ];
    for (name, text) in reports {
        let path = report_dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
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

/// `--jobs`, or every core.
pub fn all_cores(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
