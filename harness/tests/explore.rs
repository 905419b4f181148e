//! Property exploration end to end: the correct server survives a bounded exploration, a planted bug is found,
//! shrunk and written as a scenario file that replays the failure, the catalogue falls back to exploration when
//! the suite misses a bug, and generated cases replay to the same trace.

use std::time::Duration;

use echo_harness::hunt::explore::{self, Options};
use echo_harness::hunt::run::run_and_judge;
use echo_harness::hunt::shrink::Size;
use echo_harness::hunt::{catalogue, generate, mutants};
use echo_harness::model::property::{Property, Verdict};
use echo_harness::model::scenario::Scenario;
use echo_harness::sim::target::Target;

fn options(cases: u64, seed: u64) -> Options {
    Options { cases, time: None, seed, jobs: 2, check_determinism: false, stop_at_first: true, shard: None }
}

#[test]
fn exploring_the_builtin_server_finds_nothing() {
    let report = explore::explore(&options(256, 2026), &Target::builtin(), &|_, _| {});
    assert_eq!(report.cases, 256);
    let first = report
        .findings
        .first()
        .map(|f| format!("case {}: {} failed: {}\n{}", f.case, f.property.name(), f.detail, f.scenario.to_toml()));
    assert!(first.is_none(), "{}", first.unwrap_or_default());
}

#[test]
fn exploring_a_mutant_finds_shrinks_and_writes_a_replayable_scenario() {
    // A partial send loses the rest of a reply: wrong bytes after it, or a reply that never completes.
    let cases = [
        ("partial_send", &[Property::EchoIntegrity, Property::Liveness][..]),
        ("unicode_upper", &[Property::EchoIntegrity][..]),
    ];
    for (name, properties) in cases {
        let mutant = mutants::find(name).unwrap();
        let report = explore::explore(&options(200, 7), &mutant.target, &|_, _| {});
        let finding = report.findings.first().unwrap_or_else(|| panic!("{name} escaped {} cases", report.cases));
        let property = finding.property;
        assert!(properties.contains(&property), "{name}: {} {}", property.name(), finding.detail);
        let shrunk = Size::of(&finding.scenario);
        assert!(shrunk.clients == 1 && shrunk.messages == 1, "{name}: shrunk only to {shrunk}");
        assert!(shrunk.bytes <= finding.original.bytes, "{name}: {shrunk} from {}", finding.original);

        // The written file loads as a scenario file and fails the same way under its seed.
        let dir = tempfile::tempdir().unwrap();
        let path = explore::write_finding(dir.path(), &mutant.target, 7, finding).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&format!("--seed {} --target {name}", finding.seed())), "{text}");
        let loaded = Scenario::load(&path).unwrap();
        let (_, judgements) = run_and_judge(&loaded, finding.seed(), &mutant.target);
        let j = judgements.iter().find(|j| j.property == property).unwrap();
        assert_eq!(j.verdict, Verdict::Fail, "{name}: the written file does not replay the failure:\n{text}");
        // ... and the correct server passes it.
        let (_, judgements) = run_and_judge(&loaded, finding.seed(), &Target::builtin());
        assert!(judgements.iter().all(|j| j.verdict != Verdict::Fail), "{name}: {judgements:?}");
    }
}

#[test]
fn the_catalogue_explores_when_the_suite_misses_a_bug() {
    // No scenario files at all: only exploration can catch it.
    let mutant = mutants::find("single_client").unwrap();
    let report = catalogue::hunt(&mutant, &[], Duration::from_secs(60));
    assert!(report.caught, "{report:?}");
    assert!(report.scenario.as_deref().is_some_and(|s| s.starts_with("explore case")), "{report:?}");
    assert!(report.minimal_scenario.as_deref().is_some_and(|s| s.contains("[[clients]]")), "{report:?}");
}

#[test]
fn generated_cases_replay_to_the_same_trace() {
    // 100 generated scenarios, each run twice under its seed: `run_and_judge` compares the trace hashes.
    for case in 0..100 {
        let scenario = generate::generate(99, case, generate::Settings::Generated);
        let (_, judgements) = run_and_judge(&scenario, scenario.seeds[0], &Target::builtin());
        let determinism = judgements.iter().find(|j| j.property == Property::Determinism).unwrap();
        assert_eq!(determinism.verdict, Verdict::Pass, "case {case}: {}\n{}", determinism.detail, scenario.to_toml());
    }
}

#[test]
fn the_same_seed_explores_the_same_cases_whatever_the_jobs() {
    let mutant = mutants::find("unicode_upper").unwrap();
    let run = |jobs| {
        let o = Options { jobs, stop_at_first: false, ..options(12, 5) };
        let report = explore::explore(&o, &mutant.target, &|_, _| {});
        report.findings.iter().map(|f| (f.case, f.scenario.to_toml())).collect::<Vec<_>>()
    };
    let one = run(1);
    assert!(!one.is_empty());
    assert_eq!(one, run(2));
}
