//! The suite: every scenario under every one of its seeds, run (in the simulator or on real sockets), judged
//! by the oracles and tallied per property into a [`SuiteReport`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::judge::oracles::judge;
use crate::judge::tally::{tally, ScenarioOutcome, SuiteReport};
use crate::model::scenario::Scenario;
use crate::real::runner::{self as real, RealTarget};
use crate::sim::target::Target;

use super::replay;
use super::run::run_and_judge;

/// Runs every scenario under each of its seeds (plus a determinism re-run of each seed) on `jobs` threads. A
/// scenario that depends on `[server]` settings the target does not take is skipped, and the report says why.
///
/// When `ECHO_HARNESS_REPLAY=TARGET:SEED:SCENARIO` names this target (a failure's replay line for a target the
/// binary does not know), it runs that one scenario and seed instead, with the trace printed.
///
/// # Panics
/// On an `ECHO_HARNESS_REPLAY` that cannot be read or names no scenario: the message says what it should be.
pub fn check(scenarios: &[Scenario], target: &Target, jobs: usize) -> SuiteReport {
    check_with(scenarios, target, jobs, &|_| {})
}

/// Told the name of each scenario as it finishes: for a progress bar.
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);

/// [`check`], telling `progress` of each scenario as it finishes.
pub fn check_with(scenarios: &[Scenario], target: &Target, jobs: usize, progress: Progress) -> SuiteReport {
    let started = Instant::now();
    if let Some(request) = replay::requested(target) {
        let replayed =
            request.and_then(|r| replay::replay(&r.scenario, r.seed, target)).unwrap_or_else(|e| panic!("{e}"));
        let outcome = ScenarioOutcome {
            judged: vec![(replayed.run, replayed.judgements)],
            runs: 2,
            seconds: started.elapsed().as_secs_f64(),
            skipped: None,
        };
        let scenarios = [replayed.scenario];
        return tally(&scenarios, target.name(), "sim", &target.replay(), &[outcome], started.elapsed().as_secs_f64());
    }
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<ScenarioOutcome>>> = Mutex::new((0..scenarios.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, scenarios.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(scenario) = scenarios.get(i) else { break };
                let outcome = run_scenario(scenario, target);
                outcomes.lock().expect("outcomes lock")[i] = Some(outcome);
                progress(&scenario.name);
            });
        }
    });
    let outcomes: Vec<ScenarioOutcome> =
        outcomes.into_inner().expect("outcomes lock").into_iter().map(|o| o.expect("every scenario ran")).collect();
    tally(scenarios, target.name(), "sim", &target.replay(), &outcomes, started.elapsed().as_secs_f64())
}

/// Runs every scenario under each of its seeds on real sockets on 127.0.0.1 (see [`crate::real::runner`]), `jobs`
/// scenarios at a time. Each seed runs once: real timing is not reproducible, so determinism is not judged.
pub fn check_real(scenarios: &[Scenario], target: &RealTarget, jobs: usize) -> SuiteReport {
    check_real_with(scenarios, target, jobs, &|_| {}, &AtomicBool::new(false))
}

/// [`check_real`], telling `progress` of each scenario as it finishes, and starting no further scenario once
/// `interrupt` is set (a Ctrl-C handler sets it): those are skipped, and say so.
pub fn check_real_with(
    scenarios: &[Scenario],
    target: &RealTarget,
    jobs: usize,
    progress: Progress,
    interrupt: &AtomicBool,
) -> SuiteReport {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<ScenarioOutcome>>> = Mutex::new((0..scenarios.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, scenarios.len().max(1)) {
            scope.spawn(|| {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(scenario) = scenarios.get(i) else { break };
                    let began = Instant::now();
                    let unsupported = real::unsupported(scenario, target);
                    let interrupted = interrupt.load(Ordering::Relaxed).then(|| "not run: interrupted (Ctrl-C)".into());
                    let outcome = match interrupted.or(unsupported) {
                        Some(reason) => {
                            ScenarioOutcome { judged: Vec::new(), runs: 0, seconds: 0.0, skipped: Some(reason) }
                        }
                        None => {
                            let judged: Vec<_> = scenario
                                .seeds
                                .iter()
                                .map(|&seed| {
                                    let run = rt.block_on(real::run(scenario, seed, target));
                                    let judgements = judge(scenario, &run);
                                    (run, judgements)
                                })
                                .collect();
                            ScenarioOutcome {
                                runs: judged.len(),
                                judged,
                                seconds: began.elapsed().as_secs_f64(),
                                skipped: None,
                            }
                        }
                    };
                    outcomes.lock().expect("outcomes lock")[i] = Some(outcome);
                    progress(&scenario.name);
                }
            });
        }
    });
    let outcomes: Vec<ScenarioOutcome> =
        outcomes.into_inner().expect("outcomes lock").into_iter().map(|o| o.expect("every scenario ran")).collect();
    tally(scenarios, &target.name(), "real", &target.replay(), &outcomes, started.elapsed().as_secs_f64())
}

fn run_scenario(scenario: &Scenario, target: &Target) -> ScenarioOutcome {
    if let Some(reason) = target.unsupported(scenario) {
        return ScenarioOutcome { judged: Vec::new(), runs: 0, seconds: 0.0, skipped: Some(reason) };
    }
    let started = Instant::now();
    let mut judged = Vec::new();
    for &seed in &scenario.seeds {
        judged.push(run_and_judge(scenario, seed, target));
    }
    ScenarioOutcome { runs: judged.len() * 2, judged, seconds: started.elapsed().as_secs_f64(), skipped: None }
}
