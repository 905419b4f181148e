//! The tally: judgements of many runs gathered per property and per scenario into a [`SuiteReport`], each
//! failure with its evidence (located detail, the trace's tail, the replay command). Pure: it runs nothing, and
//! knows nothing of the catalogue or the kernel checks, which are reported beside it.

use serde::{Deserialize, Serialize};

use crate::model::property::{Property, Verdict};
use crate::model::replay::Replay;
use crate::model::scenario::Scenario;
use crate::model::trace::Run;

use super::judgement::Judgement;

/// How many trailing trace lines a failure's evidence carries.
pub const EVIDENCE_TAIL: usize = 12;

/// Where and why a property failed (or a summary of why it held).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The scenario of the first failure, or `None` for a summary.
    pub scenario: Option<String>,
    /// Its seed.
    pub seed: Option<u64>,
    /// What broke, located; or what held.
    pub detail: String,
    /// The command that replays exactly that run.
    #[serde(default)]
    pub replay: Option<String>,
    /// The last events of that run's trace.
    #[serde(default)]
    pub trace_tail: Vec<String>,
}

/// A property's verdict over the whole suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Each property's verdict in this scenario, over its seeds (a test case each in JUnit).
    pub properties: Vec<ScenarioProperty>,
    /// Wall time of all its runs, in seconds.
    pub seconds: f64,
}

/// One property in one scenario, over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioProperty {
    /// The property's name.
    pub name: String,
    /// Fail if it failed under any seed, pass if it held under any, skip if no seed exercised it.
    pub verdict: Verdict,
    /// The first failure's evidence, with its replay.
    pub evidence: Option<Evidence>,
}

/// One run's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The suite's outcome: every property's verdict over every run of every scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteReport {
    /// The target's name.
    pub target: String,
    /// "sim" for the simulator, "real" for sockets on 127.0.0.1 (the scenario suite or the black-box properties).
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
}

/// Everything one scenario gave: its judgements per seed, with the runs kept for evidence.
pub struct ScenarioOutcome {
    /// Each seed's run and its judgements.
    pub judged: Vec<(Run, Vec<Judgement>)>,
    /// Runs made (determinism re-runs included).
    pub runs: usize,
    /// Wall time of its runs, in seconds.
    pub seconds: f64,
    /// Why it did not run, if it did not.
    pub skipped: Option<String>,
}

/// Gathers every scenario's outcome per property and per scenario.
pub fn tally(
    scenarios: &[Scenario],
    target: &str,
    backend: &str,
    replay: &Replay,
    outcomes: &[ScenarioOutcome],
    seconds: f64,
) -> SuiteReport {
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
                            first_failure.get_or_insert_with(|| failure_evidence(scenario, run, j, replay));
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
            let properties = Property::ALL
                .iter()
                .map(|&property| {
                    let verdicts = outcome
                        .judged
                        .iter()
                        .filter_map(|(run, js)| js.iter().find(|j| j.property == property).map(|j| (run, j)));
                    let (mut verdict, mut evidence) = (Verdict::Skip, None);
                    for (run, j) in verdicts {
                        match j.verdict {
                            Verdict::Fail if evidence.is_none() => {
                                verdict = Verdict::Fail;
                                evidence = Some(failure_evidence(scenario, run, j, replay));
                            }
                            Verdict::Pass if verdict == Verdict::Skip => verdict = Verdict::Pass,
                            _ => {}
                        }
                    }
                    ScenarioProperty { name: property.name().into(), verdict, evidence }
                })
                .collect();
            ScenarioReport {
                properties,
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
    SuiteReport {
        target: target.to_string(),
        backend: backend.into(),
        verdict,
        properties,
        scenarios: scenario_reports,
        runs: outcomes.iter().map(|o| o.runs).sum(),
        seconds,
    }
}

fn summary(detail: &str) -> Evidence {
    Evidence { scenario: None, seed: None, detail: detail.into(), replay: None, trace_tail: Vec::new() }
}

/// The evidence of a failed judgement: located, with the trace's tail and the line that replays it.
pub fn failure_evidence(scenario: &Scenario, run: &Run, judgement: &Judgement, replay: &Replay) -> Evidence {
    let tail = run.records.len().saturating_sub(EVIDENCE_TAIL);
    Evidence {
        scenario: Some(scenario.name.clone()),
        seed: Some(run.seed),
        detail: judgement.detail.clone(),
        replay: Some(replay.command(&scenario.path, run.seed)),
        trace_tail: run.records[tail..].iter().map(|r| r.to_string()).collect(),
    }
}
