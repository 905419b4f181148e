//! The shipped scenarios' traces, pinned: for every scenario file and seed, the built-in server's trace hash and
//! its verdicts, against a snapshot (`harness/tests/snapshots/`). A change that should not alter what a run
//! does (a faster runner, a coarser clock where nothing happens) must leave every line as it is; a change that
//! should (a new event, a fixed model) shows exactly which runs moved, and the snapshot is updated on purpose:
//! `INSTA_UPDATE=always cargo test --release --test trace_hashes`, then review the diff.

use echo_harness::hunt::run::run_once;
use echo_harness::model::scenario::Scenario;
use echo_harness::sim::target::Target;

#[test]
fn every_shipped_scenario_replays_to_its_pinned_trace_and_verdicts() {
    let target = Target::builtin();
    let mut lines = Vec::new();
    for scenario in Scenario::suite() {
        for &seed in &scenario.seeds {
            let (run, judgements) = run_once(&scenario, seed, &target);
            let verdicts: Vec<String> =
                judgements.iter().map(|j| format!("{}={}", j.property.name(), j.verdict.word())).collect();
            lines.push(format!(
                "{} seed {seed}: {:016x} {} events, {}",
                scenario.name,
                run.hash,
                run.records.len(),
                verdicts.join(" ")
            ));
        }
    }
    insta::assert_snapshot!(lines.join("\n"));
}
