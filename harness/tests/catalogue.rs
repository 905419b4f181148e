//! The mutation score, enforced: every planted bug is caught by the scenario suite and the correct server
//! raises no false alarm. (The per-mutant wall times are reported by `echo-harness mutants`, not asserted here:
//! the budget below is only a bound against a hang.)

use std::path::Path;
use std::time::Duration;

use echo_harness::hunt::{catalogue, mutants};
use echo_harness::model::scenario::Scenario;
use echo_harness::report::table;
use echo_harness::sim::target::Target;

#[test]
fn every_mutant_is_caught_and_the_correct_server_raises_no_false_alarm() {
    let scenarios = Scenario::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")).unwrap();
    let result = catalogue::run(&scenarios, &Target::builtin(), mutants::all(), 2, Duration::from_secs(60));
    let table = table::catalogue_table(&result);
    assert!(result.mutants.len() >= 12, "{table}");
    for m in &result.mutants {
        assert!(m.caught, "{} escaped:\n{table}", m.name);
        let minimal = m.minimal.expect("a caught mutant is shrunk");
        // At least one client; a bug in how a silent connection is closed (early_idle) needs no message.
        assert!(minimal.clients >= 1, "{table}");
    }
    assert_eq!(result.correct_server.false_alarms, 0, "{table}");
    assert!(result.held());
}

#[test]
fn every_mutant_is_some_scenario_twin() {
    // The catalogue and the scenario files agree: each bug has a scenario that names it as its failing twin.
    let scenarios = Scenario::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")).unwrap();
    for m in mutants::all() {
        let twin = scenarios.iter().flat_map(|s| &s.twins).any(|t| t.mutant.as_deref() == Some(m.name.as_str()));
        assert!(twin, "no scenario has mutant `{}` as a failing twin", m.name);
    }
}
