//! The JUnit XML a CI system reads (`reports/junit.xml`, written by quick-junit as nextest writes it): a pure
//! function of a report. One test case per property in each scenario (suite `scenarios`), or per property when there
//! are no scenarios (the black-box properties, suite `properties`); one per planted bug and one for the correct
//! server (suite `mutants`); one per kernel check (suite `kernel`). A failure's message is its evidence, and its
//! description holds the replay command and the trace's tail.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::check_report::CheckReport;
use crate::judge::tally::Evidence;
use crate::model::property::Verdict;

/// The JUnit XML document of `report`.
pub fn junit(report: &CheckReport) -> String {
    let suite = &report.suite;
    let mut junit = Report::new("echo-harness");
    junit.set_time(Duration::from_secs_f64(suite.seconds.max(0.0)));
    let prefix = format!("{} ({})", suite.target, suite.backend);
    if suite.scenarios.is_empty() {
        let mut properties = TestSuite::new(format!("properties: {prefix}"));
        for p in &suite.properties {
            let evidence = (p.verdict == Verdict::Fail).then_some(&p.evidence);
            properties.add_test_case(case(&p.name, &suite.target, p.verdict, evidence, &p.evidence.detail));
        }
        junit.add_test_suite(properties);
    } else {
        let mut scenarios = TestSuite::new(format!("scenarios: {prefix}"));
        for s in &suite.scenarios {
            for p in &s.properties {
                let skipped = match s.verdict {
                    Verdict::Skip => s.description.as_str(),
                    _ => "no seed of this scenario exercises the property",
                };
                // No time per case: a scenario's runs are judged by every property at once.
                let name = format!("{}::{}", s.name, p.name);
                scenarios.add_test_case(case(&name, &s.path, p.verdict, p.evidence.as_ref(), skipped));
            }
        }
        junit.add_test_suite(scenarios);
    }
    if let Some(catalogue) = &report.catalogue {
        let mut mutants = TestSuite::new("mutants");
        for m in &catalogue.mutants {
            let status = if m.caught {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(format!("planted bug not caught after {} runs: {}", m.runs, m.bug));
                status
            };
            let mut case = TestCase::new(format!("caught::{}", m.name), status);
            case.set_classname("mutants").set_time(Duration::from_secs_f64(m.seconds.max(0.0)));
            mutants.add_test_case(case);
        }
        let correct = &catalogue.correct_server;
        let status = match &correct.first {
            Some(first) if correct.false_alarms > 0 => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(format!(
                    "{} false alarm(s) against the correct server: {first}",
                    correct.false_alarms
                ));
                status
            }
            _ => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(format!("no_false_alarm::{}", correct.target), status);
        case.set_classname("mutants");
        mutants.add_test_case(case);
        junit.add_test_suite(mutants);
    }
    if !report.kernel.is_empty() {
        let mut kernel = TestSuite::new("kernel");
        for k in &report.kernel {
            kernel.add_test_case(case(&k.name, "kernel", k.verdict, None, &k.detail));
        }
        junit.add_test_suite(kernel);
    }
    junit.to_string().expect("a report always serializes to XML")
}

/// A test case: passed, skipped (with why), or failed with its evidence as the message and the replay and trace
/// tail as the description.
fn case(name: &str, classname: &str, verdict: Verdict, evidence: Option<&Evidence>, detail: &str) -> TestCase {
    let status = match verdict {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Skip => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(detail.to_string());
            status
        }
        Verdict::Fail => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            match evidence {
                Some(e) => {
                    let located = match (&e.scenario, e.seed) {
                        (Some(scenario), Some(seed)) => format!("{scenario}, seed {seed}: "),
                        _ => String::new(),
                    };
                    status.set_message(format!("{located}{}", e.detail));
                    let mut description = String::new();
                    if let Some(replay) = &e.replay {
                        description.push_str(&format!("replay: {replay}\n"));
                    }
                    for line in &e.trace_tail {
                        description.push_str(line);
                        description.push('\n');
                    }
                    if !description.is_empty() {
                        status.set_description(description);
                    }
                }
                None => {
                    status.set_message(detail.to_string());
                }
            }
            status
        }
    };
    let mut case = TestCase::new(name.to_string(), status);
    case.set_classname(classname.to_string());
    case
}
