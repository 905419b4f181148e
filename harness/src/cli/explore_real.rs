//! `explore --target "CMD {port}"` and `explore --addr HOST:PORT`: generated cases on real sockets against any
//! server, each failure confirmed by re-runs before it counts, shrunk with the same confirmation, written as a
//! scenario file with `backend = "real"`; flaky failures reported apart. A live line shows cases/s, confirmed
//! failures and flaky ones.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{bail, Context};

use echo_harness::exit;
use echo_harness::hunt::explore::Stopped;
use echo_harness::hunt::explore_real::{explore_real, write_real_finding, RealFinding, RealOptions};
use echo_harness::hunt::shrink::Size;
use echo_harness::real::launch::{ensure_starts, Server, DEFAULT_STARTUP};
use echo_harness::real::runner::RealTarget;
use echo_harness::report::explore_results;

use super::explore_out::{bound, human, spinner, Output};
use super::shared::{grouped, runtime_stopping_on_ctrl_c, INTERRUPTED};

/// Explores the server `template` (or the one at `addr`) on real sockets as `options` say.
pub(super) fn explore_real_target(
    options: &RealOptions,
    template: &str,
    addr: Option<SocketAddr>,
    out: &Output,
) -> anyhow::Result<u8> {
    let rt = runtime_stopping_on_ctrl_c(Some(&INTERRUPTED))?;
    // A server at an address is shared by every run: one at a time, or each would see the others' connections.
    let options = &RealOptions { jobs: if addr.is_some() { 1 } else { options.jobs }, ..options.clone() };
    let target = match addr {
        Some(addr) => {
            if !addr.ip().is_loopback() {
                bail!("--addr {addr}: the harness sends its load and faults to 127.0.0.1 (or ::1) only");
            }
            let connect =
                async { tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await };
            let reach = rt.block_on(connect);
            match reach {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => bail!("--addr {addr}: nothing answers there ({e})"),
                Err(_) => bail!("--addr {addr}: no answer within 2 s"),
            }
            RealTarget::External(Server::Addr(addr))
        }
        None => {
            // A server that cannot even start is an input error, said in one line, not a finding.
            rt.block_on(ensure_starts(template, DEFAULT_STARTUP)).map_err(anyhow::Error::msg)?;
            RealTarget::External(Server::Command(template.to_string()))
        }
    };
    let bar = spinner(options.planned());
    let progress = |cases: u64, confirmed: usize, flaky: usize| {
        bar.set_position(cases);
        let rate = cases as f64 / bar.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!(
            "{} cases, {rate:.1} cases/s, {confirmed} confirmed failure{}, {flaky} flaky",
            grouped(cases),
            if confirmed == 1 { "" } else { "s" }
        ));
    };
    let shard = options.shard.map_or(String::new(), |s| format!(", shard {s}: {} of them", options.planned()));
    human(
        out,
        &format!(
            "exploring `{}` on real sockets with seed {} on {} job{} ({}{shard}); a failure counts once {} re-runs confirm it",
            target.name(),
            options.seed,
            options.jobs,
            if options.jobs == 1 { "" } else { "s" },
            bound(options.cases, options.time),
            options.confirm,
        ),
    );
    let report = explore_real(options, &target, rt.handle(), &progress, &INTERRUPTED);
    bar.finish_and_clear();
    let interrupted = report.stopped == Stopped::Interrupted || INTERRUPTED.load(Ordering::Relaxed);
    human(
        out,
        &format!(
            "{}{} cases in {:.2}s: {:.1} cases/s, {} confirmed failure{}, {} flaky",
            if interrupted { "interrupted (Ctrl-C) after " } else { "" },
            grouped(report.cases),
            report.seconds,
            report.rate(),
            report.findings.len(),
            if report.findings.len() == 1 { "" } else { "s" },
            report.flaky.len()
        ),
    );
    if let Some(gone) = &report.gone {
        human(out, &format!("stopped: {gone}; the cases after it were not run (each would fail on a dead server)"));
    }
    let write = |finding: &RealFinding| {
        write_real_finding(out.failures, &target, options.seed, finding)
            .with_context(|| format!("cannot write into {}", out.failures.display()))
    };
    let mut files = Vec::new();
    for finding in &report.findings {
        let path = write(finding)?;
        human(
            out,
            &format!(
                "FAIL case {}: {} failed {} of {} runs (confirmed {:.1}s into the run): {}\n  shrunk from {} to {} in {} runs: {}\n  replay: {}",
                finding.case,
                finding.property.name(),
                finding.failed,
                finding.runs,
                finding.found_after,
                finding.detail,
                finding.original,
                Size::of(&finding.scenario),
                finding.shrink_runs,
                path.display(),
                target.replay().command(&path, finding.seed())
            ),
        );
        files.push(path);
    }
    let mut flaky_files = Vec::new();
    for finding in &report.flaky {
        let path = write(finding)?;
        human(
            out,
            &format!(
                "flaky case {}: {} failed {} of {} runs (not a verdict on the server): {}\n  file: {}",
                finding.case,
                finding.property.name(),
                finding.failed,
                finding.runs,
                finding.detail,
                path.display()
            ),
        );
        flaky_files.push(path);
    }
    let results = explore_results::real_results(&report, options, &target, &files, &flaky_files);
    let path = out.report_dir.join("explore.json");
    std::fs::write(&path, results.to_json()).with_context(|| format!("cannot write {}", path.display()))?;
    let held = report.findings.is_empty();
    if out.json {
        println!("{}", results.to_json());
    } else {
        if held {
            println!("no property failed (confirmed)");
        }
        println!("results: {}", path.display());
    }
    Ok(match (held, interrupted) {
        (false, _) => exit::FAILED,
        (true, true) => 130,
        (true, false) => exit::HELD,
    })
}
