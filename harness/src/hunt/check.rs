//! The suite: every scenario under every one of its seeds, run (in the simulator or on real sockets), judged
//! by the oracles and tallied per property into a [`SuiteReport`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::judge::determinism::judge_determinism;
use crate::judge::judgement::Judgement;
use crate::judge::oracles::judge;
use crate::judge::tally::{tally, ScenarioOutcome, SuiteReport};
use crate::model::scenario::Scenario;
use crate::model::trace::Run;
use crate::real::runner::{self as real, RealTarget};
use crate::sim::runner as sim;
use crate::sim::target::Target;

/// Runs every scenario under each of its seeds (plus a determinism re-run of each seed) on `jobs` threads.
pub fn check(scenarios: &[Scenario], target: &Target, jobs: usize) -> SuiteReport {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<ScenarioOutcome>>> = Mutex::new((0..scenarios.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, scenarios.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(scenario) = scenarios.get(i) else { break };
                let outcome = run_scenario(scenario, target);
                outcomes.lock().expect("outcomes lock")[i] = Some(outcome);
            });
        }
    });
    let outcomes: Vec<ScenarioOutcome> =
        outcomes.into_inner().expect("outcomes lock").into_iter().map(|o| o.expect("every scenario ran")).collect();
    tally(scenarios, target.name(), "sim", &outcomes, started.elapsed().as_secs_f64())
}

/// Runs every scenario under each of its seeds on real sockets on 127.0.0.1 (see [`crate::real::runner`]), `jobs`
/// scenarios at a time. Each seed runs once: real timing is not reproducible, so determinism is not judged.
pub fn check_real(scenarios: &[Scenario], target: &RealTarget, jobs: usize) -> SuiteReport {
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
                    let outcome = match real::unsupported(scenario, target) {
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
                }
            });
        }
    });
    let outcomes: Vec<ScenarioOutcome> =
        outcomes.into_inner().expect("outcomes lock").into_iter().map(|o| o.expect("every scenario ran")).collect();
    tally(scenarios, &target.name(), "real", &outcomes, started.elapsed().as_secs_f64())
}

fn run_scenario(scenario: &Scenario, target: &Target) -> ScenarioOutcome {
    let started = Instant::now();
    let mut judged = Vec::new();
    for &seed in &scenario.seeds {
        judged.push(run_and_judge(scenario, seed, target));
    }
    ScenarioOutcome { runs: judged.len() * 2, judged, seconds: started.elapsed().as_secs_f64(), skipped: None }
}

/// Runs `scenario` under `seed` twice and judges it on every property, determinism included.
pub fn run_and_judge(scenario: &Scenario, seed: u64, target: &Target) -> (Run, Vec<Judgement>) {
    let (run, mut judgements) = run_once(scenario, seed, target);
    let again = sim::run(scenario, seed, target);
    judgements.push(judge_determinism(&run, &again));
    (run, judgements)
}

/// Runs `scenario` under `seed` once and judges it on every property but determinism.
pub fn run_once(scenario: &Scenario, seed: u64, target: &Target) -> (Run, Vec<Judgement>) {
    let run = sim::run(scenario, seed, target);
    let judgements = judge(scenario, &run);
    (run, judgements)
}
