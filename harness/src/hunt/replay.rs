//! Replaying one scenario under one seed against a target, with the whole trace and every verdict printed: what
//! a user's test calls to see a failure the harness found, for a server only their crate can build. It is asked
//! for by a library call ([`replay`]) or by `ECHO_HARNESS_REPLAY=TARGET:SEED:SCENARIO` around any test that
//! runs [`super::check::check`] on that target. The one place of the library that prints.

use std::path::Path;

use crate::judge::judgement::Judgement;
use crate::model::property::Verdict;
use crate::model::replay::{Request, REPLAY_ENV};
use crate::model::scenario::Scenario;
use crate::model::trace::Run;
use crate::sim::target::Target;

use super::run::run_and_judge;

/// A replayed run.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The scenario as loaded.
    pub scenario: Scenario,
    /// The run, trace included.
    pub run: Run,
    /// Its verdicts, determinism included (the seed is run twice).
    pub judgements: Vec<Judgement>,
}

impl Replayed {
    /// Whether any property failed.
    pub fn failed(&self) -> bool {
        self.judgements.iter().any(|j| j.verdict == Verdict::Fail)
    }
}

/// The replay asked for through [`REPLAY_ENV`] for `target`, if any: `None` when the variable is unset or names
/// another target; an error (the variable's expected form) when it cannot be read.
pub fn requested(target: &Target) -> Option<Result<Request, String>> {
    let value = std::env::var(REPLAY_ENV).ok()?;
    match Request::parse(&value) {
        Ok(request) if request.target == target.name() => Some(Ok(request)),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    }
}

/// Loads `scenario`: a scenario file, or else a scenario of the embedded suite by name or shipped path.
pub fn find(scenario: &str) -> Result<Scenario, String> {
    let path = Path::new(scenario);
    if path.is_file() {
        return Scenario::load(path).map_err(|e| e.to_string());
    }
    Scenario::from_suite(scenario).ok_or_else(|| {
        let names: Vec<String> = Scenario::suite().into_iter().map(|s| s.name).collect();
        format!("{scenario}: no such file, nor a scenario of the suite ({})", names.join(", "))
    })
}

/// Runs `scenario` (a file, or a suite scenario's name) under `seed` against `target`, prints the trace and the
/// verdicts to standard output, and returns them.
pub fn replay(scenario: &str, seed: u64, target: &Target) -> Result<Replayed, String> {
    let scenario = find(scenario)?;
    let (run, judgements) = run_and_judge(&scenario, seed, target);
    println!("replay: scenario {} seed {seed} target {}", scenario.path.display(), target.name());
    for record in &run.records {
        println!("{record}");
    }
    for j in &judgements {
        println!("{:15} {}  {}", j.property.name(), j.verdict.word(), j.detail);
    }
    println!("trace hash {:016x}, {} events", run.hash, run.records.len());
    Ok(Replayed { scenario, run, judgements })
}
