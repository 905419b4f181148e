//! `explore`: generated scenarios (proptest) run and judged, failures shrunk to minimal scenario files and
//! replayed first on the next run, with a live progress line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::builder::TypedValueParser;
use clap::Args;

use echo_harness::exit;
use echo_harness::hunt::shrink::Size;
use echo_harness::hunt::{explore, run};
use echo_harness::model::property::Verdict;
use echo_harness::model::scenario::Scenario;

use super::dirs::ensure_writable;
use super::shared::{all_cores, parse_seconds, resolve_target};

/// `explore`'s flags.
#[derive(Args)]
pub struct ExploreArgs {
    /// Cases to run at most.
    #[arg(long, default_value_t = 1_000_000, value_parser = parse_cases)]
    pub cases: u64,
    /// Wall-time budget, e.g. 60s (default: until --cases are done).
    #[arg(long, value_parser = parse_seconds)]
    pub time: Option<Duration>,
    /// The exploration's seed: the same seed and case count explore the same cases.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256).map(|v| v as usize))]
    pub jobs: Option<usize>,
    /// The server under test: `builtin` or a mutant's name.
    #[arg(long, default_value = "builtin")]
    pub target: String,
    /// Run every case twice and compare trace hashes.
    #[arg(long)]
    pub check_determinism: bool,
    /// Keep exploring after the first failure.
    #[arg(long)]
    pub keep_going: bool,
    /// Where failing cases are written, and replayed from first on the next run.
    #[arg(long, default_value = "reports/failures")]
    pub failures: PathBuf,
}

/// Runs `explore` as its flags say.
pub fn run(args: ExploreArgs) -> anyhow::Result<u8> {
    let ExploreArgs { cases, time, seed, jobs, target, check_determinism, keep_going, failures } = args;
    let options = explore::Options {
        cases,
        time: time.or(if cases == 1_000_000 { Some(Duration::from_secs(60)) } else { None }),
        seed,
        jobs: all_cores(jobs),
        check_determinism,
        stop_at_first: !keep_going,
    };
    ensure_writable(&failures, "--failures")?;
    explore_target(&options, &target, &failures)
}

fn explore_target(options: &explore::Options, target_name: &str, failures: &Path) -> anyhow::Result<u8> {
    let target = resolve_target(target_name)?;
    // Failures written by earlier runs come first: a bug once found is checked again before anything new.
    let mut replayed_failures = 0;
    if failures.is_dir() {
        let old = Scenario::load_dir(failures)?;
        for scenario in old.iter().filter(|s| s.name.starts_with(&format!("{target_name}-"))) {
            let (_, judgements) = run::run_and_judge(scenario, scenario.seeds[0], &target);
            if let Some(j) = judgements.iter().find(|j| j.verdict == Verdict::Fail) {
                replayed_failures += 1;
                println!("still failing: {} ({}: {})", scenario.path.display(), j.property.name(), j.detail);
            } else {
                println!("now passing:   {}", scenario.path.display());
            }
        }
    }
    let bar = indicatif::ProgressBar::new(options.cases);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {pos} cases, {per_sec}, {msg}")
            .expect("a valid template"),
    );
    let progress = |cases: u64, found: usize| {
        bar.set_position(cases);
        bar.set_message(format!("{found} failures"));
    };
    println!(
        "exploring target {target_name} with seed {} on {} jobs ({} cases{})",
        options.seed,
        options.jobs,
        options.cases,
        options.time.map_or(String::new(), |t| format!(" or {}s", t.as_secs_f64()))
    );
    let report = explore::explore(options, &target, &progress);
    bar.finish_and_clear();
    println!(
        "{} cases in {:.2}s: {:.0} cases/s, {:.0} s simulated ({:.0}x wall time)",
        report.cases,
        report.seconds,
        report.rate(),
        report.simulated,
        report.simulated_per_wall()
    );
    for finding in &report.findings {
        let path = explore::write_finding(failures, &target, options.seed, finding)
            .with_context(|| format!("cannot write into {}", failures.display()))?;
        println!(
            "FAIL case {}: {} failed: {}\n  shrunk from {} to {} in {} runs: {}\n  replay: {}",
            finding.case,
            finding.property.name(),
            finding.detail,
            finding.original,
            Size::of(&finding.scenario),
            finding.shrink_runs,
            path.display(),
            target.replay().command(&path, finding.seed())
        );
    }
    if report.findings.is_empty() && replayed_failures == 0 {
        println!("no property failed");
        Ok(exit::HELD)
    } else {
        Ok(exit::FAILED)
    }
}

/// `--cases`: at least one (an exploration of nothing would pass without looking).
fn parse_cases(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("at least 1 case: an exploration of no case checks nothing".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a number of cases")),
    }
}
