//! The scenario suite: every `scenarios/*.toml` file is one named test (`scenarios/NAME`), run under each of its
//! seeds against the built-in server and judged by every oracle, determinism included. Each of its failing
//! twins is a test too (`scenarios/NAME/twin/...`): the planted bug or broken expectation must make the named
//! property fail, so no scenario is one that cannot fail.
//!
//! `cargo test --release scenarios` selects exactly these; `cargo test --release --test scenarios -- a b` runs the
//! tests whose names contain `a` or `b` (libtest takes one filter; this suite takes several, as nextest does). A
//! failure prints the scenario, the seed, the property
//! that broke with its evidence, the last events of the trace and the command that replays that run.

use std::path::Path;
use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};

use echo_harness::hunt::run::run_and_judge;
use echo_harness::hunt::twins::{self, run_twin};
use echo_harness::judge::tally::failure_evidence;
use echo_harness::model::property::Verdict;
use echo_harness::model::scenario::{Scenario, Twin};
use echo_harness::sim::target::Target;

/// libtest's options that take a value: the word after them is not a filter.
const VALUED: [&str; 6] = ["--skip", "--format", "--color", "--logfile", "--test-threads", "-Z"];

fn main() -> ExitCode {
    // Several filters (`-- a b`): take them out, let libtest-mimic read the rest, and select here.
    let mut filters = Vec::new();
    let mut rest = Vec::new();
    let mut valued = false;
    for (i, arg) in std::env::args().enumerate() {
        if i > 0 && !valued && !arg.starts_with('-') {
            filters.push(arg);
        } else {
            valued = VALUED.contains(&arg.as_str());
            rest.push(arg);
        }
    }
    let mut args = Arguments::from_iter(rest);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    // A malformed file fails the suite by name; it is never skipped.
    let mut trials: Vec<Trial> = match twins::load_dir(&dir) {
        Ok(scenarios) => scenarios.into_iter().flat_map(trials).collect(),
        Err(e) => {
            let message = e.to_string();
            vec![Trial::test("scenarios/load", move || Err(message.into()))]
        }
    };
    if filters.len() == 1 {
        args.filter = filters.pop();
    } else if !filters.is_empty() {
        let exact = args.exact;
        trials.retain(|t| filters.iter().any(|f| if exact { t.name() == f } else { t.name().contains(f.as_str()) }));
    }
    libtest_mimic::run(&args, trials).exit_code()
}

fn trials(scenario: Scenario) -> Vec<Trial> {
    let mut out: Vec<Trial> = scenario
        .twins
        .iter()
        .map(|twin| {
            let name = format!("scenarios/{}/twin/{}", scenario.name, twin_name(twin));
            let (scenario_name, twin) = (scenario.name.clone(), twin.clone());
            Trial::test(name, move || check_twin(&scenario_name, &twin))
        })
        .collect();
    out.insert(0, Trial::test(format!("scenarios/{}", scenario.name), move || run(&scenario)));
    out
}

fn twin_name(twin: &Twin) -> String {
    let how = match (&twin.mutant, &twin.patch) {
        (Some(m), _) => m.clone(),
        (None, Some(_)) => "patched".into(),
        (None, None) => "unchanged".into(),
    };
    format!("{how}/fails_{}", twin.fails.name())
}

fn run(scenario: &Scenario) -> Result<(), Failed> {
    if scenario.twins.is_empty() {
        return Err(
            format!("{}: no [[twins]]: a scenario that cannot be shown to fail proves nothing", scenario.name).into()
        );
    }
    let target = Target::builtin();
    for &seed in &scenario.seeds {
        let (first, judgements) = run_and_judge(scenario, seed, &target);
        if let Some(broken) = judgements.iter().find(|j| j.verdict == Verdict::Fail) {
            let evidence = failure_evidence(scenario, &first, broken, &target.replay());
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

fn check_twin(scenario: &str, twin: &Twin) -> Result<(), Failed> {
    let outcome = run_twin(twin);
    match outcome.caught {
        Some(_) => Ok(()),
        None => {
            let others: Vec<&str> = outcome.failed.iter().map(|p| p.name()).collect();
            Err(format!(
                "{scenario} ({}): `{}` held under every seed; properties that failed instead: [{}]",
                twin.label(),
                twin.fails.name(),
                others.join(", ")
            )
            .into())
        }
    }
}
