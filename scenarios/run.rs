//! The scenario suite: every `scenarios/*.toml` file is one named test (`scenarios/NAME`), run under each of its
//! seeds against the built-in server and judged by every oracle, determinism included.
//!
//! `cargo test --release scenarios` selects exactly these. A failure prints the scenario, the seed, the property
//! that broke with its evidence, the last events of the trace and the command that replays that run.

use std::path::Path;
use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};

use echo_harness::check::{failure_evidence, run_and_judge};
use echo_harness::oracle::Verdict;
use echo_harness::scenario::Scenario;
use echo_harness::{server, sim};

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    // A malformed file fails the suite by name; it is never skipped.
    let trials = match Scenario::load_dir(&dir) {
        Ok(scenarios) => scenarios
            .into_iter()
            .map(|scenario| Trial::test(format!("scenarios/{}", scenario.name), move || run(&scenario)))
            .collect(),
        Err(e) => {
            let message = e.to_string();
            vec![Trial::test("scenarios/load", move || Err(message.into()))]
        }
    };
    libtest_mimic::run(&args, trials).exit_code()
}

fn run(scenario: &Scenario) -> Result<(), Failed> {
    let target = sim::Target::builtin();
    for &seed in &scenario.seeds {
        let (first, judgements) = run_and_judge(scenario, seed, &target);
        if let Some(broken) = judgements.iter().find(|j| j.verdict == Verdict::Fail) {
            let evidence = failure_evidence(scenario, &first, broken);
            return Err(format!(
                "scenario {} seed {seed}: {} failed: {}\nlast events:\n{}\nreplay: {}",
                scenario.name,
                broken.property.name(),
                evidence.detail,
                evidence.trace_tail.join("\n"),
                evidence.replay.unwrap_or_default(),
            )
            .into());
        }
    }
    Ok(())
}
