//! [`judge`]: every oracle of this folder asked about one run, in report order.

use crate::model::scenario::Scenario;
use crate::model::trace::Run;

use super::integrity::echo_integrity_in;
use super::judgement::Judgement;
use super::liveness::liveness;
use super::no_leak::no_leak;
use super::refusal::refusal;
use super::restart::restart;
use super::survival::survival;
use super::view::View;

/// Judges a run on every property that one run can decide (all but determinism, see [`super::determinism::judge_determinism`]).
pub fn judge(scenario: &Scenario, run: &Run) -> Vec<Judgement> {
    let view = View::new(scenario, run);
    vec![
        echo_integrity_in(run, Some(&view)),
        liveness(&view),
        survival(&view),
        restart(&view),
        refusal(&view),
        no_leak(&view),
    ]
}
