//! Snapshot tests of every reporter on one sample report.

use super::charts::charts;
use super::check_report::CheckReport;
use super::html::html;
use super::json::json;
use super::junit::junit;
use super::markdown::markdown;
use super::report_md::report_md;
use super::results::{json as results_json, Benchmarks, Machine, Results, Stamp, SCHEMA_VERSION};
use super::table::table;
use super::timeline::FailureView;
use crate::hunt::catalogue::CatalogueReport;
use crate::judge::tally::{Evidence, PropertyReport, ScenarioProperty, ScenarioReport, SeedReport, SuiteReport};
use crate::model::property::Verdict;

fn sample() -> CheckReport {
    let pass = |name: &str, detail: &str| PropertyReport {
        name: name.into(),
        description: format!("what {name} means"),
        verdict: Verdict::Pass,
        runs: 6,
        failures: 0,
        evidence: Evidence { scenario: None, seed: None, detail: detail.into(), replay: None, trace_tail: vec![] },
    };
    let mut liveness = pass("liveness", "");
    liveness.verdict = Verdict::Fail;
    liveness.failures = 1;
    let failure = Evidence {
        scenario: Some("server_bounce".into()),
        seed: Some(7),
        detail: "client-1 gave up at 0.250s with 3 of 20 messages answered: connect failed (refused)".into(),
        replay: Some("echo-harness run scenarios/server_bounce.toml --seed 7 --trace".into()),
        trace_tail: vec!["  0.250s  client-1 done: 3/20 answered".into()],
    };
    liveness.evidence = failure.clone();
    let mut restart = pass("restart", "the scenario does not restart the server");
    restart.verdict = Verdict::Skip;
    restart.runs = 0;
    CheckReport {
        suite: SuiteReport {
            target: "builtin".into(),
            backend: "sim".into(),
            verdict: Verdict::Fail,
            properties: vec![pass("echo-integrity", "held in 6 runs of 2 scenarios"), liveness, restart],
            scenarios: vec![ScenarioReport {
                name: "server_bounce".into(),
                path: "scenarios/server_bounce.toml".into(),
                description: "bounce | reconnect".into(),
                verdict: Verdict::Fail,
                seeds: vec![SeedReport {
                    seed: 7,
                    trace_hash: "00000000000000ff".into(),
                    events: 12,
                    failed: vec!["liveness".into()],
                }],
                properties: vec![
                    ScenarioProperty { name: "echo-integrity".into(), verdict: Verdict::Pass, evidence: None },
                    ScenarioProperty {
                        name: "liveness".into(),
                        verdict: Verdict::Fail,
                        evidence: Some(failure.clone()),
                    },
                    ScenarioProperty { name: "restart".into(), verdict: Verdict::Skip, evidence: None },
                ],
                seconds: 0.5,
            }],
            runs: 12,
            seconds: 1.25,
        },
        catalogue: Some(CatalogueReport {
            mutants: vec![
                crate::hunt::catalogue::MutantReport {
                    name: "partial_send".into(),
                    bug: "send, not sendall".into(),
                    caught: true,
                    property: Some("echo-integrity".into()),
                    scenario: Some("partial_sends".into()),
                    seed: Some(1),
                    runs: 4,
                    seconds: 0.02,
                    minimal: Some(crate::hunt::shrink::Size { clients: 1, messages: 1, faults: 0, bytes: 42 }),
                    minimal_text: Some("1 client, 1 msg, 0 faults, 42 B".into()),
                    replay: Some(
                        "echo-harness run scenarios/partial_sends.toml --seed 1 --target partial_send --trace".into(),
                    ),
                    minimal_scenario: None,
                },
                crate::hunt::catalogue::MutantReport {
                    name: "serial".into(),
                    bug: "one client at a time".into(),
                    caught: false,
                    property: None,
                    scenario: None,
                    seed: None,
                    runs: 128,
                    seconds: 10.0,
                    minimal: None,
                    minimal_text: None,
                    replay: None,
                    minimal_scenario: None,
                },
            ],
            correct_server: crate::hunt::catalogue::CorrectReport {
                target: "builtin".into(),
                false_alarms: 0,
                runs: 328,
                explored: 200,
                first: None,
            },
            caught: 1,
            seconds: 10.5,
            matrix: crate::hunt::matrix::Matrix {
                scenarios: vec!["partial_sends".into(), "server_bounce".into()],
                rows: vec![
                    crate::hunt::matrix::MatrixRow {
                        mutant: "partial_send".into(),
                        cells: vec!["echo-integrity".into(), "".into()],
                    },
                    crate::hunt::matrix::MatrixRow { mutant: "serial".into(), cells: vec!["".into(), "n/a".into()] },
                ],
            },
        }),
        kernel: vec![crate::real::kernel::KernelCheck {
            name: "send-vs-sendall".into(),
            verdict: Verdict::Pass,
            detail: "one write of 1048576 bytes to a peer that does not read took 52000".into(),
            figures: [("one_write_bytes".to_string(), serde_json::Value::from(52000))].into_iter().collect(),
        }],
    }
}

#[test]
fn table_snapshot() {
    insta::assert_snapshot!(table(&sample()));
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(markdown(&sample()));
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(json(&sample()));
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!(junit(&sample()));
}

#[test]
fn junit_has_a_case_per_property_and_scenario_and_a_failure_with_its_replay() {
    let xml = junit(&sample());
    let doc = roxmltree::Document::parse(&xml).expect("junit.xml is XML");
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    let names: Vec<&str> = cases.iter().filter_map(|c| c.attribute("name")).collect();
    assert!(names.contains(&"server_bounce::liveness"), "{names:?}");
    assert!(names.contains(&"caught::serial") && names.contains(&"no_false_alarm::builtin"), "{names:?}");
    assert!(names.contains(&"send-vs-sendall"), "{names:?}");
    let failures: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("failure")).collect();
    assert_eq!(failures.len(), 2, "liveness in server_bounce, and the uncaught serial: {xml}");
    let liveness = failures[0];
    assert!(liveness.attribute("message").unwrap().starts_with("server_bounce, seed 7: client-1 gave up"), "{xml}");
    assert!(
        liveness.text().unwrap_or_default().contains("replay: echo-harness run scenarios/server_bounce.toml --seed 7"),
        "{xml}"
    );
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("skipped")).count(), 1, "{xml}");
}

/// The sample inside a results document, with a fixed stamp and benchmark summaries.
fn sample_results() -> Results {
    Results {
        schema_version: SCHEMA_VERSION,
        stamp: Stamp {
            generated_at: "2026-11-25T18:00:00Z".into(),
            tool_version: "0.1.0".into(),
            git_commit: None,
            machine: Machine { cores: 2, os: "linux".into(), arch: "x86_64".into() },
        },
        check: Some(sample()),
        explore: None,
        benchmarks: Benchmarks {
            throughput: Some(serde_json::json!({
                "rows": [
                    { "work": "stream, 1 conn, 64 KiB", "builtin": 1585.0, "plain": 1701.0, "copy": 1072.0, "python": 269.0 },
                    { "work": "ping-pong, 1 conn, 1 KiB", "builtin": 24057.0, "plain": 25336.0, "copy": 22063.0, "python": null },
                ],
                "targets": [{ "name": "builtin_vs_plain: stream, 1 conn, 64 KiB", "value": 0.93, "min": 0.95, "met": false }],
            })),
            explore: None,
        },
        gate: None,
    }
}

fn sample_failure() -> FailureView {
    FailureView {
        title: "liveness in server_bounce (seed 7)".into(),
        detail: "client-1 gave up at 0.250s".into(),
        replay: Some("echo-harness run scenarios/server_bounce.toml --seed 7 --trace".into()),
        trace_tail: vec!["  0.250s  client-1 done: 3/20 answered".into()],
        svg: Some("<svg xmlns=\"http://www.w3.org/2000/svg\"><title>timeline</title></svg>".into()),
        why_no_timeline: None,
    }
}

#[test]
fn results_json_snapshot_keeps_absent_parts_as_null_and_reads_back() {
    let results = sample_results();
    let text = results_json(&results);
    insta::assert_snapshot!(text);
    let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    for key in ["schema_version", "generated_at", "tool_version", "git_commit", "machine", "check", "explore"] {
        assert!(value.get(key).is_some(), "{key} is present");
    }
    assert!(value["git_commit"].is_null() && value["explore"].is_null() && value["benchmarks"]["explore"].is_null());
    assert!(value["check"]["catalogue"]["matrix"]["rows"].is_array());
    let back: Results = serde_json::from_str(&text).expect("results.json reads back");
    assert_eq!(back, results);
}

#[test]
fn html_snapshot() {
    insta::assert_snapshot!(html(&sample_results(), &charts(&sample_results()), &[sample_failure()]));
}

#[test]
fn html_has_every_section_the_charts_the_matrix_and_the_failure_timeline() {
    let results = sample_results();
    let charts = charts(&results);
    let slugs: Vec<&str> = charts.iter().map(|c| c.slug.as_str()).collect();
    assert_eq!(slugs, ["throughput-stream", "throughput-pingpong", "scenario-times"]);
    let page = html(&results, &charts, &[sample_failure()]);
    for id in ["properties", "scenarios", "kernel", "catalogue", "benchmarks", "failures"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "section {id}");
    }
    assert_eq!(page.matches("<svg").count(), 4, "three charts and one timeline");
    assert!(page.contains("title=\"echo-integrity\">●</td>"), "the matrix marks partial_sends catching partial_send");
    assert!(page.contains("NOT MET"), "the unmet target is shown");
    assert!(
        page.matches("http://").count() == page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
        "nothing fetched"
    );
}

#[test]
fn evidence_goes_into_markdown_as_code_whatever_backticks_it_holds() {
    assert_eq!(super::markdown::code("got \"\\xd1*_x_\""), "`got \"\\xd1*_x_\"`");
    assert_eq!(super::markdown::code("a `b` c"), "``a `b` c``");
    assert_eq!(super::markdown::code("`x"), "`` `x ``");
    assert_eq!(super::markdown::code("two\nlines"), "`two lines`");
}

#[test]
fn report_md_snapshot() {
    insta::assert_snapshot!(report_md(&sample_results(), &charts(&sample_results()), &[sample_failure()]));
}
