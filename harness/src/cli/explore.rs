//! `explore`: generated scenarios (proptest) run and judged, failures shrunk to minimal scenario files and
//! replayed first on the next run, with a live progress line; a shard of a run with `--shard K/N`; the results
//! document written to `<--report-dir>/explore.json` and, with `--json`, printed instead of the human lines.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::builder::TypedValueParser;
use clap::Args;

use echo_harness::exit;
use echo_harness::hunt::explore::Shard;
use echo_harness::hunt::explore_real::RealOptions;
use echo_harness::hunt::shrink::Size;
use echo_harness::hunt::{explore, run};
use echo_harness::model::property::Verdict;
use echo_harness::model::scenario::{Backend, Scenario};
use echo_harness::model::transform::Transform;
use echo_harness::report::explore_results;

use super::check::TransformArg;
use super::dirs::ensure_writable;
use super::explore_out::{bound, human, spinner, Output, UNBOUNDED_CASES};
use super::shared::{all_cores, grouped, interrupt_on_ctrl_c, parse_duration, resolve_target};

/// `explore`'s flags.
#[derive(Args)]
pub struct ExploreArgs {
    /// Cases to run at most (default: PROPTEST_CASES when set, else as many as --time allows).
    #[arg(long, value_parser = parse_cases)]
    pub cases: Option<u64>,
    /// Wall-time budget: 500ms, 90s, 2m (default: 60s when --cases is not given, else until the cases are done).
    #[arg(long, value_parser = parse_duration)]
    pub time: Option<Duration>,
    /// The exploration's seed: the same seed and case count explore the same cases.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (default: all cores; on real sockets two per core, as a real case mostly waits).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256).map(|v| v as usize))]
    pub jobs: Option<usize>,
    /// The server under test: `builtin` or a mutant's name (in the simulator), or a command line with `{port}`
    /// (e.g. "python3 server.py {port}") that the harness starts for each case and explores on real sockets.
    #[arg(long, default_value = "builtin")]
    pub target: String,
    /// Explore a server already listening at HOST:PORT (127.0.0.1) on real sockets (no restarts).
    #[arg(long, conflicts_with = "target")]
    pub addr: Option<std::net::SocketAddr>,
    /// On real sockets: the reply the server owes, `upper` (the tutorial's) or `identity` (RFC 862 echo).
    #[arg(long, value_enum)]
    pub transform: Option<super::check::TransformArg>,
    /// On real sockets: re-runs a failure must fail too before it counts (each shrinking step too); a failure
    /// that does not is reported as flaky, not as a verdict on the server [default: 3].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=20).map(|v| v as usize))]
    pub confirm: Option<usize>,
    /// On real sockets: wall time one finding's shrink may take (500ms, 90s, 2m) [default: 2m].
    #[arg(long, value_parser = parse_duration)]
    pub shrink_time: Option<Duration>,
    /// Run every case twice and compare trace hashes.
    #[arg(long)]
    pub check_determinism: bool,
    /// Keep exploring after the first failure.
    #[arg(long)]
    pub keep_going: bool,
    /// Where failing cases are written (default: the report directory's failures/, so a shard's directory
    /// holds its files); in the simulator they are replayed first on the next run.
    #[arg(long)]
    pub failures: Option<PathBuf>,
    /// Run only share K of N of the cases (those whose index i has i % N == K-1), e.g. 2/3: N machines split one
    /// run, and their explore.json files merge into the whole run's.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Where explore.json (the results document) is written.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Print the results document (JSON) on stdout instead of the human lines.
    #[arg(long)]
    pub json: bool,
}

/// Runs `explore` as its flags say.
pub fn run(args: ExploreArgs) -> anyhow::Result<u8> {
    let ExploreArgs {
        cases,
        time,
        seed,
        jobs,
        target,
        check_determinism,
        keep_going,
        failures,
        shard,
        report_dir,
        json,
        addr,
        transform,
        confirm,
        shrink_time,
    } = args;
    // As proptest users expect, PROPTEST_CASES sets the case count when no flag does; with neither, the run is
    // bounded by time (a minute unless --time says otherwise).
    let cases = match cases {
        Some(cases) => Some(cases),
        None => explore::cases_from_env().map_err(anyhow::Error::msg)?,
    };
    let options = explore::Options {
        cases: cases.unwrap_or(UNBOUNDED_CASES),
        time: time.or(if cases.is_none() { Some(Duration::from_secs(60)) } else { None }),
        seed,
        jobs: all_cores(jobs),
        check_determinism,
        stop_at_first: !keep_going,
        shard,
    };
    let failures = failures.unwrap_or_else(|| report_dir.join("failures"));
    if options.planned() == 0 {
        bail!(
            "--shard {} of --cases {} takes no case: use fewer shards or more cases",
            options.shard.map_or(String::new(), |s| s.to_string()),
            options.cases
        );
    }
    ensure_writable(&failures, "--failures")?;
    ensure_writable(&report_dir, "--report-dir")?;
    let out = Output { failures: &failures, report_dir: &report_dir, json };
    if addr.is_some() || target.contains("{port}") {
        if check_determinism {
            bail!("--check-determinism compares simulated traces: real runs are not replayable byte for byte");
        }
        let real = RealOptions {
            cases: options.cases,
            time: options.time,
            seed,
            // A real case mostly waits (on its timeline, the network, a server starting): two per core.
            jobs: jobs.unwrap_or(2 * all_cores(None)),
            confirm: confirm.unwrap_or(3),
            stop_at_first: options.stop_at_first,
            shrink_time: shrink_time.unwrap_or(Duration::from_secs(120)),
            reply: match transform {
                Some(TransformArg::Identity) => Transform::Identity,
                _ => Transform::Upper,
            },
            shard,
        };
        return super::explore_real::explore_real_target(&real, &target, addr, &out);
    }
    if confirm.is_some() || shrink_time.is_some() {
        bail!("--confirm and --shrink-time go with a server on real sockets (--target \"CMD {{port}}\" or --addr): a simulated run is exact, one run is the whole truth");
    }
    if transform.is_some() {
        bail!("--transform goes with a server on real sockets (--target \"CMD {{port}}\" or --addr): the built-in server and the planted bugs upper-case");
    }
    explore_target(&options, &target, &out)
}

fn explore_target(options: &explore::Options, target_name: &str, out: &Output) -> anyhow::Result<u8> {
    let failures = out.failures;
    let target = resolve_target(target_name)?;
    // Failures written by earlier runs come first: a bug once found is checked again before anything new.
    let mut replayed_failures = 0;
    if failures.is_dir() {
        let old = Scenario::load_dir(failures)?;
        let ours = |s: &&Scenario| s.backend == Backend::Sim && s.name.starts_with(&format!("{target_name}-"));
        for scenario in old.iter().filter(ours) {
            let (_, judgements) = run::run_and_judge(scenario, scenario.seeds[0], &target);
            if let Some(j) = judgements.iter().find(|j| j.verdict == Verdict::Fail) {
                replayed_failures += 1;
                out.say(&format!("still failing: {} ({}: {})", scenario.path.display(), j.property.name(), j.detail));
            } else {
                out.say(&format!("now passing:   {}", scenario.path.display()));
            }
        }
    }
    let bar = spinner(options.planned());
    let progress = |cases: u64, found: usize| {
        bar.set_position(cases);
        let rate = cases as f64 / bar.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!("{} cases, {} cases/s, {found} failures", grouped(cases), grouped(rate as u64)));
    };
    let shard = options.shard.map_or(String::new(), |s| format!(", shard {s}: {} of them", options.planned()));
    human(
        out,
        &format!(
            "exploring target {target_name} with seed {} on {} job{} ({}{shard})",
            options.seed,
            options.jobs,
            if options.jobs == 1 { "" } else { "s" },
            bound(options.cases, options.time),
        ),
    );
    // Ctrl-C stops the run after the cases in progress; the summary and explore.json say what ran.
    let report = explore::explore_until(options, &target, &progress, interrupt_on_ctrl_c());
    bar.finish_and_clear();
    human(
        out,
        &format!(
            "{}{} cases in {:.2}s: {} cases/s, {} s simulated ({}x wall time)",
            if report.stopped == explore::Stopped::Interrupted { "interrupted (Ctrl-C) after " } else { "" },
            grouped(report.cases),
            report.seconds,
            grouped(report.rate().round() as u64),
            grouped(report.simulated.round() as u64),
            grouped(report.simulated_per_wall().round() as u64)
        ),
    );
    let mut files = Vec::new();
    for finding in &report.findings {
        let path = explore::write_finding(failures, &target, options.seed, finding)
            .with_context(|| format!("cannot write into {}", failures.display()))?;
        human(
            out,
            &format!(
                "FAIL case {}: {} failed: {}\n  shrunk from {} to {} in {} runs: {}\n  replay: {}",
                finding.case,
                finding.property.name(),
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
    let results = explore_results::results(&report, options, &target, &files);
    let path = out.report_dir.join("explore.json");
    std::fs::write(&path, results.to_json()).with_context(|| format!("cannot write {}", path.display()))?;
    let held = report.findings.is_empty() && replayed_failures == 0;
    if out.json {
        println!("{}", results.to_json());
    } else {
        if held {
            println!("no property failed");
        }
        println!("results: {}", path.display());
    }
    Ok(match (held, report.stopped) {
        (false, _) => exit::FAILED,
        // Interrupted with nothing found: not a pass, as the run did not finish.
        (true, explore::Stopped::Interrupted) => 130,
        (true, _) => exit::HELD,
    })
}

/// `--shard K/N`, with 1 <= K <= N.
fn parse_shard(s: &str) -> Result<Shard, String> {
    s.parse()
}

/// `--cases`: at least one (an exploration of nothing would pass without looking).
fn parse_cases(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("at least 1 case: an exploration of no case checks nothing".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a number of cases")),
    }
}
