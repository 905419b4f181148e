//! The mutation score: every planted bug of [`crate::hunt::mutants`] hunted with the scenario suite and then, if it
//! escaped the suite, with property exploration for the rest of its budget; the correct server runs through the
//! same suite and a fixed exploration (it must raise no false alarm).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::hunt::explore;
use crate::hunt::matrix::{matrix, Matrix};
use crate::hunt::mutants::Mutant;
use crate::hunt::run::run_and_judge;
use crate::hunt::shrink::{shrink, Size};
use crate::model::property::Verdict;
use crate::model::replay::Replay;
use crate::model::scenario::Scenario;
use crate::sim::target::Target;

/// The wall-time budget per mutant: each must be caught within it (10 s on the project's 2-core machine).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(10);

/// Simulations a shrink may spend per caught mutant.
pub const SHRINK_RUNS: usize = 1000;

/// The exploration seed of the hunt and of the correct server's run: fixed, so the table replays.
pub const EXPLORE_SEED: u64 = 1;

/// Generated cases the correct server must pass besides the suite.
pub const CORRECT_EXPLORE_CASES: u64 = 200;

/// One mutant's hunt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MutantReport {
    /// The mutant's name.
    pub name: String,
    /// Its bug, in one line.
    pub bug: String,
    /// Whether a property failed against it.
    pub caught: bool,
    /// The first property that failed.
    pub property: Option<String>,
    /// The scenario it failed in.
    pub scenario: Option<String>,
    /// The seed.
    pub seed: Option<u64>,
    /// Simulations run until it was caught (or until the budget ran out).
    pub runs: usize,
    /// Wall time until it was caught, in seconds.
    pub seconds: f64,
    /// The size of the shrunk failing scenario.
    pub minimal: Option<Size>,
    /// One-line description of `minimal`.
    pub minimal_text: Option<String>,
    /// The command that replays the catch.
    pub replay: Option<String>,
    /// The shrunk failing scenario, as a scenario file.
    #[serde(skip)]
    pub minimal_scenario: Option<String>,
}

/// The correct server's run through the same suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrectReport {
    /// The control: the correct server the mutants were planted in.
    pub target: String,
    /// Runs in which a property failed: must be 0.
    pub false_alarms: usize,
    /// Runs made (the suite runs each seed twice, for determinism).
    pub runs: usize,
    /// Of those, generated exploration cases.
    pub explored: u64,
    /// The first false alarm, if any.
    pub first: Option<String>,
}

/// The whole catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogueReport {
    /// Per mutant, in catalogue order.
    pub mutants: Vec<MutantReport>,
    /// The correct server.
    pub correct_server: CorrectReport,
    /// Mutants caught out of all.
    pub caught: usize,
    /// Wall time of the whole catalogue, in seconds.
    pub seconds: f64,
    /// Which scenario catches which mutant: every pair run once.
    #[serde(default)]
    pub matrix: Matrix,
}

impl CatalogueReport {
    /// Every mutant caught and no false alarm.
    pub fn held(&self) -> bool {
        self.caught == self.mutants.len() && self.correct_server.false_alarms == 0
    }

    /// Writes each caught mutant's shrunk scenario to `dir/NAME.toml`.
    pub fn write_minimal(&self, dir: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for m in &self.mutants {
            if let Some(text) = &m.minimal_scenario {
                std::fs::write(dir.join(format!("{}.toml", m.name)), text)?;
            }
        }
        Ok(())
    }
}

/// Hunts every mutant (on `jobs` threads) and runs `control`, the correct server the mutants were planted in
/// (which must raise no false alarm), each within `budget` of wall time.
pub fn run(
    scenarios: &[Scenario],
    control: &Target,
    mutants: Vec<Mutant>,
    jobs: usize,
    budget: Duration,
) -> CatalogueReport {
    run_with(scenarios, control, mutants, jobs, budget, &|_| {})
}

/// [`run`], telling `progress` the name of each mutant (and of the control) as its hunt ends, and `"matrix"`
/// once the matrix is done: for a progress bar of `mutants.len() + 2` steps.
pub fn run_with(
    scenarios: &[Scenario],
    control: &Target,
    mutants: Vec<Mutant>,
    jobs: usize,
    budget: Duration,
    progress: &(dyn Fn(&str) + Sync),
) -> CatalogueReport {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<MutantReport>>> = Mutex::new((0..mutants.len()).map(|_| None).collect());
    let correct: Mutex<Option<CorrectReport>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                // Job 0 is the correct server; jobs 1.. are the mutants.
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i == 0 {
                    *correct.lock().expect("correct lock") = Some(run_correct(scenarios, control));
                    progress(control.name());
                } else if let Some(mutant) = mutants.get(i - 1) {
                    let report = hunt(mutant, scenarios, budget);
                    results.lock().expect("results lock")[i - 1] = Some(report);
                    progress(&mutant.name);
                } else {
                    break;
                }
            });
        }
    });
    let matrix = matrix(scenarios, &mutants, jobs);
    progress("matrix");
    let mutants: Vec<MutantReport> =
        results.into_inner().expect("results lock").into_iter().map(|r| r.expect("every mutant ran")).collect();
    CatalogueReport {
        matrix,
        caught: mutants.iter().filter(|m| m.caught).count(),
        mutants,
        correct_server: correct.into_inner().expect("correct lock").expect("the correct server ran"),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Runs the suite against `mutant` until a property fails or `budget` runs out, then shrinks the catch.
pub fn hunt(mutant: &Mutant, scenarios: &[Scenario], budget: Duration) -> MutantReport {
    let started = Instant::now();
    let mut runs = 0;
    let mut report = MutantReport {
        name: mutant.name.clone(),
        bug: mutant.bug.clone(),
        caught: false,
        property: None,
        scenario: None,
        seed: None,
        runs: 0,
        seconds: 0.0,
        minimal: None,
        minimal_text: None,
        replay: None,
        minimal_scenario: None,
    };
    // Seed by seed across the scenarios, so every scenario gets a chance early.
    let rounds = scenarios.iter().map(|s| s.seeds.len()).max().unwrap_or(0);
    for round in 0..rounds {
        // The whole round runs: of the scenarios that catch the bug, the smallest is the one shrunk, so the
        // minimal story comes from the scenario about this bug rather than the first one in file order.
        let mut caught: Option<(&Scenario, u64, crate::judge::judgement::Judgement)> = None;
        let mut first_catch = None;
        for scenario in scenarios {
            let Some(&seed) = scenario.seeds.get(round) else { continue };
            if started.elapsed() > budget {
                break;
            }
            let key = |s: &Scenario| {
                let size = Size::of(s);
                (size.clients, size.messages, size.bytes)
            };
            // Once caught, only a smaller scenario could be chosen: the others need not run.
            let smaller = caught.as_ref().is_none_or(|(best, _, _)| key(scenario) < key(best));
            if !smaller || mutant.target.unsupported(scenario).is_some() {
                continue;
            }
            let (_, judgements) = run_and_judge(scenario, seed, &mutant.target);
            runs += 2;
            let Some(failed) = judgements.into_iter().find(|j| j.verdict == Verdict::Fail) else { continue };
            first_catch.get_or_insert((runs, started.elapsed()));
            caught = Some((scenario, seed, failed));
        }
        let Some((scenario, seed, failed)) = caught else {
            if started.elapsed() > budget {
                report.runs = runs;
                report.seconds = started.elapsed().as_secs_f64();
                return report;
            }
            continue;
        };
        let (catch_runs, catch_time) = first_catch.expect("a catch was recorded");
        report.caught = true;
        report.runs = catch_runs;
        report.seconds = catch_time.as_secs_f64();
        report.property = Some(failed.property.name().into());
        report.scenario = Some(scenario.name.clone());
        report.seed = Some(seed);
        let replay = mutant.target.replay();
        report.replay = Some(replay.command(&scenario.path, seed));
        let shrunk = shrink(scenario, seed, &mutant.target, failed.property, SHRINK_RUNS);
        let size = Size::of(&shrunk.scenario);
        report.minimal = Some(size);
        report.minimal_text = Some(size.to_string());
        report.minimal_scenario = Some(format!(
            "# The smallest scenario found that still catches the mutant `{}` ({}): `{}` fails under seed {seed}.\n# Shrunk from {}. Replay: {}\n{}",
            mutant.name,
            mutant.bug,
            failed.property.name(),
            scenario.path.display(),
            replay.command(std::path::Path::new("THIS_FILE"), seed),
            shrunk.scenario.to_toml()
        ));
        return report;
    }
    // Escaped the suite: explore for the rest of the budget.
    let options = explore::Options {
        cases: u64::MAX,
        time: Some(budget.saturating_sub(started.elapsed())),
        seed: EXPLORE_SEED,
        jobs: 1,
        check_determinism: false,
        stop_at_first: true,
        shard: None,
    };
    let explored = explore::explore(&options, &mutant.target, &|_, _| {});
    runs += explored.cases as usize;
    report.runs = runs;
    report.seconds = started.elapsed().as_secs_f64();
    if let Some(finding) = explored.findings.first() {
        let seed = finding.seed();
        let size = Size::of(&finding.scenario);
        report.caught = true;
        report.property = Some(finding.property.name().into());
        report.scenario = Some(format!("explore case {}", finding.case));
        report.seed = Some(seed);
        let replay = mutant.target.replay();
        report.replay = Some(match &replay {
            Replay::Binary { target, .. } => format!("echo-harness explore --seed {EXPLORE_SEED} --target {target}"),
            // Only the user's crate can build the target: the written minimal scenario replays it.
            Replay::Library { .. } => {
                replay.command(&std::path::Path::new("mutants").join(format!("{}.toml", mutant.name)), seed)
            }
        });
        report.minimal = Some(size);
        report.minimal_text = Some(size.to_string());
        report.minimal_scenario = Some(format!(
            "# The smallest scenario found that still catches the mutant `{}` ({}): `{}` fails under seed {seed}.\n# Generated by exploration (seed {EXPLORE_SEED}), case {}, and shrunk. Replay: {}\n{}",
            mutant.name,
            mutant.bug,
            finding.property.name(),
            finding.case,
            replay.command(std::path::Path::new("THIS_FILE"), seed),
            finding.scenario.to_toml()
        ));
    }
    report
}

/// The correct server through every scenario and seed, then through a fixed exploration.
fn run_correct(scenarios: &[Scenario], target: &Target) -> CorrectReport {
    let mut report =
        CorrectReport { target: target.name().to_string(), false_alarms: 0, runs: 0, explored: 0, first: None };
    for scenario in scenarios {
        for &seed in &scenario.seeds {
            if target.unsupported(scenario).is_some() {
                continue;
            }
            let (_, judgements) = run_and_judge(scenario, seed, target);
            report.runs += 2;
            if let Some(j) = judgements.iter().find(|j| j.verdict == Verdict::Fail) {
                report.false_alarms += 1;
                report.first.get_or_insert_with(|| {
                    format!("{} seed {seed}: {} failed: {}", scenario.name, j.property.name(), j.detail)
                });
            }
        }
    }
    let options = explore::Options {
        cases: CORRECT_EXPLORE_CASES,
        time: None,
        seed: EXPLORE_SEED,
        jobs: 1,
        check_determinism: false,
        stop_at_first: true,
        shard: None,
    };
    let explored = explore::explore(&options, target, &|_, _| {});
    report.runs += explored.cases as usize;
    report.explored = explored.cases;
    if let Some(f) = explored.findings.first() {
        report.false_alarms += 1;
        report.first.get_or_insert_with(|| {
            format!(
                "explore --seed {EXPLORE_SEED} case {} (seed {}): {} failed: {}",
                f.case,
                f.seed(),
                f.property.name(),
                f.detail
            )
        });
    }
    report
}
