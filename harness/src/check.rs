//! The suite: every scenario under every one of its seeds, judged by the oracles, gathered per property.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::oracle::{judge, judge_determinism, Judgement, Property, Verdict};
use crate::scenario::Scenario;
use crate::sim::{self, Run, Target};

/// How many trailing trace lines a failure's evidence carries.
pub const EVIDENCE_TAIL: usize = 12;

/// Where and why a property failed (or a summary of why it held).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The scenario of the first failure, or `None` for a summary.
    pub scenario: Option<String>,
    /// Its seed.
    pub seed: Option<u64>,
    /// What broke, located; or what held.
    pub detail: String,
    /// The command that replays exactly that run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// The last events of that run's trace.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace_tail: Vec<String>,
}

/// A property's verdict over the whole suite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropertyReport {
    /// [`Property::name`].
    pub name: String,
    /// [`Property::description`].
    pub description: String,
    /// Fail if any run broke it; pass if at least one run checked it and none broke it; skip otherwise.
    pub verdict: Verdict,
    /// Runs that checked it (not skipped).
    pub runs: usize,
    /// Runs that broke it.
    pub failures: usize,
    /// The first failure, or a summary.
    pub evidence: Evidence,
}

/// One scenario's outcome, every seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub name: String,
    /// Its file.
    pub path: String,
    /// What it checks.
    pub description: String,
    /// Fail if any property failed under any seed.
    pub verdict: Verdict,
    /// Per seed: its trace hash, for determinism audits.
    pub seeds: Vec<SeedReport>,
    /// Wall time of all its runs, in seconds.
    pub seconds: f64,
}

/// One run's summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// The trace hash.
    pub trace_hash: String,
    /// Events recorded.
    pub events: usize,
    /// Properties that failed in this run.
    pub failed: Vec<String>,
}

/// The suite's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// The target's name.
    pub target: String,
    /// "sim" for the simulator.
    pub backend: String,
    /// pass if every property held, fail otherwise.
    pub verdict: Verdict,
    /// Per property, in [`Property::ALL`] order.
    pub properties: Vec<PropertyReport>,
    /// Per scenario, in file-name order.
    pub scenarios: Vec<ScenarioReport>,
    /// Simulations run (determinism re-runs included).
    pub runs: usize,
    /// Wall time of the suite, in seconds.
    pub seconds: f64,
    /// The mutation score, when the catalogue was run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalogue: Option<crate::catalogue::CatalogueReport>,
    /// The kernel checks on real sockets, when they were run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kernel: Vec<crate::kernel::KernelCheck>,
}

impl CheckReport {
    /// Every property held (or was skipped), every kernel check passed, and the catalogue (if run) held.
    pub fn held(&self) -> bool {
        self.verdict != Verdict::Fail
            && self.kernel.iter().all(|k| k.verdict != Verdict::Fail)
            && self.catalogue.as_ref().is_none_or(|c| c.held())
    }
}

/// Everything one scenario gave: its judgements per seed, with the runs kept for evidence.
struct ScenarioOutcome {
    judged: Vec<(Run, Vec<Judgement>)>,
    runs: usize,
    seconds: f64,
    /// Why it did not run, if it did not.
    skipped: Option<String>,
}

/// Runs every scenario under each of its seeds (plus a determinism re-run of each seed) on `jobs` threads.
pub fn check(scenarios: &[Scenario], target: &Target, jobs: usize) -> CheckReport {
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
    assemble(scenarios, target.name(), "sim", &outcomes, started.elapsed().as_secs_f64())
}

/// Runs every scenario under each of its seeds on real sockets on 127.0.0.1 (see [`crate::real`]), `jobs`
/// scenarios at a time. Each seed runs once: real timing is not reproducible, so determinism is not judged.
pub fn check_real(scenarios: &[Scenario], target: &crate::real::RealTarget, jobs: usize) -> CheckReport {
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
                    let outcome = match crate::real::unsupported(scenario, target) {
                        Some(reason) => {
                            ScenarioOutcome { judged: Vec::new(), runs: 0, seconds: 0.0, skipped: Some(reason) }
                        }
                        None => {
                            let judged: Vec<_> = scenario
                                .seeds
                                .iter()
                                .map(|&seed| {
                                    let run = rt.block_on(crate::real::run(scenario, seed, target));
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
    assemble(scenarios, &target.name(), "real", &outcomes, started.elapsed().as_secs_f64())
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

fn assemble(
    scenarios: &[Scenario],
    target: &str,
    backend: &str,
    outcomes: &[ScenarioOutcome],
    seconds: f64,
) -> CheckReport {
    let properties = Property::ALL
        .iter()
        .map(|&property| {
            let mut runs = 0;
            let mut failures = 0;
            let mut first_failure = None;
            let mut scenarios_checked = 0;
            for (scenario, outcome) in scenarios.iter().zip(outcomes) {
                let mut checked_here = false;
                for (run, judgements) in &outcome.judged {
                    let Some(j) = judgements.iter().find(|j| j.property == property) else { continue };
                    match j.verdict {
                        Verdict::Skip => continue,
                        Verdict::Pass => {}
                        Verdict::Fail => {
                            failures += 1;
                            first_failure.get_or_insert_with(|| {
                                let mut evidence = failure_evidence(scenario, run, j, target);
                                if backend != "sim" {
                                    evidence.replay = evidence
                                        .replay
                                        .map(|r| r.replace(" --trace", &format!(" --backend {backend} --trace")));
                                }
                                evidence
                            });
                        }
                    }
                    runs += 1;
                    checked_here = true;
                }
                scenarios_checked += usize::from(checked_here);
            }
            let (verdict, evidence) = match first_failure {
                Some(evidence) => (Verdict::Fail, evidence),
                None if runs == 0 => (Verdict::Skip, summary("no scenario exercises it")),
                None => (Verdict::Pass, summary(&format!("held in {runs} runs of {scenarios_checked} scenarios"))),
            };
            PropertyReport {
                name: property.name().into(),
                description: property.description().into(),
                verdict,
                runs,
                failures,
                evidence,
            }
        })
        .collect::<Vec<_>>();
    let scenario_reports = scenarios
        .iter()
        .zip(outcomes)
        .map(|(scenario, outcome)| {
            let seeds: Vec<SeedReport> = outcome
                .judged
                .iter()
                .map(|(run, judgements)| SeedReport {
                    seed: run.seed,
                    trace_hash: format!("{:016x}", run.hash),
                    events: run.records.len(),
                    failed: judgements
                        .iter()
                        .filter(|j| j.verdict == Verdict::Fail)
                        .map(|j| j.property.name().to_string())
                        .collect(),
                })
                .collect();
            let verdict = if outcome.skipped.is_some() {
                Verdict::Skip
            } else if seeds.iter().any(|s| !s.failed.is_empty()) {
                Verdict::Fail
            } else {
                Verdict::Pass
            };
            ScenarioReport {
                name: scenario.name.clone(),
                path: scenario.path.display().to_string(),
                description: match &outcome.skipped {
                    Some(reason) => format!("skipped: {reason}"),
                    None => scenario.description.clone(),
                },
                verdict,
                seeds,
                seconds: outcome.seconds,
            }
        })
        .collect();
    let verdict = if properties.iter().any(|p| p.verdict == Verdict::Fail) { Verdict::Fail } else { Verdict::Pass };
    CheckReport {
        target: target.to_string(),
        backend: backend.into(),
        verdict,
        properties,
        scenarios: scenario_reports,
        runs: outcomes.iter().map(|o| o.runs).sum(),
        seconds,
        catalogue: None,
        kernel: Vec::new(),
    }
}

fn summary(detail: &str) -> Evidence {
    Evidence { scenario: None, seed: None, detail: detail.into(), replay: None, trace_tail: Vec::new() }
}

/// The evidence of a failed judgement: located, with the trace's tail and a replay command.
pub fn failure_evidence(scenario: &Scenario, run: &Run, judgement: &Judgement, target: &str) -> Evidence {
    let tail = run.records.len().saturating_sub(EVIDENCE_TAIL);
    Evidence {
        scenario: Some(scenario.name.clone()),
        seed: Some(run.seed),
        detail: judgement.detail.clone(),
        replay: Some(replay_command(scenario, run.seed, target)),
        trace_tail: run.records[tail..].iter().map(|r| r.to_string()).collect(),
    }
}

/// The one command that replays a run, trace included.
pub fn replay_command(scenario: &Scenario, seed: u64, target: &str) -> String {
    let target = match target {
        "builtin" => String::new(),
        t if t.contains(char::is_whitespace) => format!(" --target '{t}'"),
        t => format!(" --target {t}"),
    };
    format!("echo-harness run {} --seed {seed}{target} --trace", scenario.path.display())
}

/// What a failing twin came to.
#[derive(Debug, Clone)]
pub struct TwinOutcome {
    /// The seed and judgement of the first run in which the expected property failed, if one did.
    pub caught: Option<(u64, Judgement)>,
    /// Every property that failed in any run, for the message when the expected one did not.
    pub failed: Vec<Property>,
    /// Runs made.
    pub runs: usize,
}

/// Runs a scenario's failing twin under the scenario's seeds until its expected property fails.
pub fn run_twin(twin: &crate::scenario::Twin) -> TwinOutcome {
    let target = match &twin.mutant {
        Some(name) => crate::mutants::find(name).expect("twin mutants are checked when the file loads").target,
        None => Target::builtin(),
    };
    let mut failed = Vec::new();
    let mut runs = 0;
    for &seed in &twin.scenario.seeds {
        let (_, judgements) = run_and_judge(&twin.scenario, seed, &target);
        runs += 2;
        for j in judgements {
            if j.verdict != Verdict::Fail {
                continue;
            }
            if j.property == twin.fails {
                return TwinOutcome { caught: Some((seed, j)), failed, runs };
            }
            if !failed.contains(&j.property) {
                failed.push(j.property);
            }
        }
    }
    TwinOutcome { caught: None, failed, runs }
}
