//! One scenario under one seed, run in the simulator and judged: the step every hunt repeats.

use crate::judge::determinism::judge_determinism;
use crate::judge::judgement::Judgement;
use crate::judge::oracles::judge;
use crate::model::scenario::Scenario;
use crate::model::trace::Run;
use crate::sim::runner as sim;
use crate::sim::target::Target;

/// Runs `scenario` under `seed` twice and judges it on every property, determinism included.
pub fn run_and_judge(scenario: &Scenario, seed: u64, target: &Target) -> (Run, Vec<Judgement>) {
    let (run, mut judgements) = run_once(scenario, seed, target);
    let again = sim::run(scenario, seed, target);
    judgements.push(judge_determinism(&run, &again));
    (run, judgements)
}

/// Runs `scenario` under `seed` once and judges it on every property but determinism, by the target's policy
/// (its declared idle timeout and connection limit, see [`Target::judged_as`]).
pub fn run_once(scenario: &Scenario, seed: u64, target: &Target) -> (Run, Vec<Judgement>) {
    let run = sim::run(scenario, seed, target);
    let judgements = judge(&target.judged_as(scenario), &run);
    (run, judgements)
}
