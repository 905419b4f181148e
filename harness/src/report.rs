//! Reporters: pure functions from a [`CheckReport`] to text (terminal table, JSON, Markdown).

use std::fmt::Write;

use crate::catalogue::CatalogueReport;
use crate::check::CheckReport;
use crate::oracle::Verdict;

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "FAIL",
        Verdict::Skip => "skip",
    }
}

/// The closing line: what held.
fn summary_line(report: &CheckReport) -> String {
    let failed = report.properties.iter().filter(|p| p.verdict == Verdict::Fail).count();
    let held = report.properties.iter().filter(|p| p.verdict == Verdict::Pass).count();
    let skipped = report.properties.len() - failed - held;
    let mut line = if failed == 0 {
        format!("result: all {held} checked properties held")
    } else {
        format!("result: {failed} of {} properties FAILED", failed + held)
    };
    if skipped > 0 {
        let _ = write!(line, " ({skipped} skipped)");
    }
    if !report.kernel.is_empty() {
        let passed = report.kernel.iter().filter(|k| k.verdict != Verdict::Fail).count();
        let _ = write!(line, "; {passed} of {} kernel checks passed", report.kernel.len());
    }
    if let Some(c) = &report.catalogue {
        let _ = write!(line, "; {} of {} planted bugs caught", c.caught, c.mutants.len());
        if c.correct_server.false_alarms > 0 {
            let _ = write!(line, ", {} FALSE ALARMS", c.correct_server.false_alarms);
        }
    }
    line
}

/// What a report covers: its scenarios, or (black-box mode, which runs none) its properties.
fn extent(report: &CheckReport) -> String {
    if report.scenarios.is_empty() {
        format!("{} properties", report.properties.len())
    } else {
        format!("{} scenarios", report.scenarios.len())
    }
}

/// The terminal table `check` prints.
pub fn table(report: &CheckReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "echo-harness check: target {}, backend {}, {}, {} runs in {:.2}s\n",
        report.target,
        report.backend,
        extent(report),
        report.runs,
        report.seconds
    );
    let width = report.properties.iter().map(|p| p.name.len()).max().unwrap_or(8).max(8);
    let _ = writeln!(out, "{:width$}  VERDICT  RUNS  EVIDENCE", "PROPERTY");
    for p in &report.properties {
        let e = &p.evidence;
        let located = match (&e.scenario, e.seed) {
            (Some(s), Some(seed)) => format!("{s} seed {seed}: {}", e.detail),
            _ => e.detail.clone(),
        };
        let _ = writeln!(out, "{:width$}  {:7}  {:>4}  {located}", p.name, verdict_word(p.verdict), p.runs);
        if let Some(replay) = &e.replay {
            let _ = writeln!(out, "{:width$}                 replay: {replay}", "");
        }
    }
    let width = report.scenarios.iter().map(|s| s.name.len()).max().unwrap_or(8).max(8);
    if !report.scenarios.is_empty() {
        let _ = writeln!(out, "\n{:width$}  VERDICT  SEEDS   TIME", "SCENARIO");
    }
    for s in &report.scenarios {
        let failed: Vec<String> = s
            .seeds
            .iter()
            .filter(|seed| !seed.failed.is_empty())
            .map(|seed| format!("seed {}: {}", seed.seed, seed.failed.join(", ")))
            .collect();
        let _ =
            write!(out, "{:width$}  {:7}  {:>5}  {:>5.2}s", s.name, verdict_word(s.verdict), s.seeds.len(), s.seconds);
        if !failed.is_empty() {
            let _ = write!(out, "  {}", failed.join("; "));
        } else if s.verdict == Verdict::Skip {
            let _ = write!(out, "  {}", s.description);
        }
        out.push('\n');
    }
    if !report.kernel.is_empty() {
        let width = report.kernel.iter().map(|k| k.name.len()).max().unwrap_or(0).max("KERNEL CHECK".len());
        let _ = writeln!(out, "\n{:width$}  VERDICT  OBSERVED (real sockets on 127.0.0.1)", "KERNEL CHECK");
        for k in &report.kernel {
            let _ = writeln!(out, "{:width$}  {:7}  {}", k.name, verdict_word(k.verdict), k.detail);
        }
    }
    if let Some(catalogue) = &report.catalogue {
        out.push('\n');
        out.push_str(&catalogue_table(catalogue));
    }
    let _ = writeln!(out, "\n{}", summary_line(report));
    out
}

/// The mutation-score table: one row per planted bug, then the correct server and the score.
pub fn catalogue_table(c: &CatalogueReport) -> String {
    let mut out = String::new();
    let w = c.mutants.iter().map(|m| m.name.len()).max().unwrap_or(0).max("correct server".len());
    let _ = writeln!(
        out,
        "{:w$}  CAUGHT  PROPERTY        SCENARIO                   SEED  RUNS    TIME  MINIMAL",
        "MUTANT"
    );
    for m in &c.mutants {
        let _ = writeln!(
            out,
            "{:w$}  {:6}  {:14}  {:25}  {:>4}  {:>4}  {:>5.2}s  {}",
            m.name,
            if m.caught { "yes" } else { "NO" },
            m.property.as_deref().unwrap_or("-"),
            m.scenario.as_deref().unwrap_or("-"),
            m.seed.map_or("-".into(), |s| s.to_string()),
            m.runs,
            m.seconds,
            m.minimal_text.as_deref().unwrap_or("-"),
        );
    }
    let cs = &c.correct_server;
    let _ = writeln!(
        out,
        "{:w$}  false alarms: {} in {} runs ({} of them generated)",
        "correct server", cs.false_alarms, cs.runs, cs.explored
    );
    if let Some(first) = &cs.first {
        let _ = writeln!(out, "{:w$}  first: {first}", "");
    }
    let _ = writeln!(
        out,
        "mutation score: {} of {} caught ({:.0}%), {:.2}s",
        c.caught,
        c.mutants.len(),
        100.0 * c.caught as f64 / c.mutants.len().max(1) as f64,
        c.seconds
    );
    out
}

/// The catalogue as a Markdown section.
pub fn catalogue_markdown(c: &CatalogueReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Mutation score: **{} of {}** planted bugs caught; the correct server raised {} false alarms in {} runs ({} of them generated).\n",
        c.caught,
        c.mutants.len(),
        c.correct_server.false_alarms,
        c.correct_server.runs,
        c.correct_server.explored
    );
    let _ = writeln!(
        out,
        "| mutant | bug | caught | property | scenario | seed | runs | time | minimal failing scenario |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---:|---:|---:|---|");
    for m in &c.mutants {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {:.2} s | {} |",
            m.name,
            md_cell(&m.bug),
            if m.caught { "yes" } else { "**no**" },
            m.property.as_deref().unwrap_or("-"),
            m.scenario.as_deref().map_or("-".into(), |s| format!("`{s}`")),
            m.seed.map_or("-".into(), |s| s.to_string()),
            m.runs,
            m.seconds,
            m.minimal_text.as_deref().unwrap_or("-"),
        );
    }
    out
}

/// The JSON document `check --json` prints and `reports/check.json` holds.
pub fn json(report: &CheckReport) -> String {
    serde_json::to_string_pretty(report).expect("a report always serializes")
}

/// The Markdown report written to `reports/check.md`.
pub fn markdown(report: &CheckReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# echo-harness check report\n");
    let _ = writeln!(
        out,
        "Target **{}** on backend **{}**: {}, {} runs in {:.2} s. {}.\n",
        report.target,
        report.backend,
        extent(report),
        report.runs,
        report.seconds,
        summary_line(report).trim_start_matches("result: ")
    );
    let _ = writeln!(out, "## Properties\n");
    let _ = writeln!(out, "| property | meaning | verdict | runs | evidence |");
    let _ = writeln!(out, "|---|---|---|---:|---|");
    for p in &report.properties {
        let e = &p.evidence;
        let located = match (&e.scenario, e.seed) {
            (Some(s), Some(seed)) => format!("`{s}` seed {seed}: {}", e.detail),
            _ => e.detail.clone(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            p.name,
            p.description,
            verdict_word(p.verdict),
            p.runs,
            md_cell(&located)
        );
    }
    if !report.scenarios.is_empty() {
        let _ = writeln!(out, "\n## Scenarios\n");
        let _ = writeln!(out, "| scenario | checks | verdict | seeds | time |");
        let _ = writeln!(out, "|---|---|---|---|---:|");
    }
    for s in &report.scenarios {
        let seeds: Vec<String> = s.seeds.iter().map(|seed| seed.seed.to_string()).collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {:.2} s |",
            s.name,
            md_cell(&s.description),
            verdict_word(s.verdict),
            seeds.join(", "),
            s.seconds
        );
    }
    if !report.kernel.is_empty() {
        let _ = writeln!(out, "\n## Kernel checks (real sockets on 127.0.0.1)\n");
        let _ = writeln!(out, "| check | verdict | observed | figures |");
        let _ = writeln!(out, "|---|---|---|---|");
        for k in &report.kernel {
            let figures: Vec<String> = k.figures.iter().map(|(name, value)| format!("{name} = {value}")).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                k.name,
                verdict_word(k.verdict),
                md_cell(&k.detail),
                md_cell(&figures.join(", "))
            );
        }
    }
    if let Some(catalogue) = &report.catalogue {
        let _ = writeln!(out, "\n## Catalogue of planted bugs\n");
        out.push_str(&catalogue_markdown(catalogue));
    }
    let failures: Vec<_> = report.properties.iter().filter(|p| p.verdict == Verdict::Fail).collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n## Failures\n");
        for p in failures {
            let e = &p.evidence;
            let _ = writeln!(out, "### {}\n\n{}\n", p.name, e.detail);
            if let Some(replay) = &e.replay {
                let _ = writeln!(out, "Replay: `{replay}`\n");
            }
            if !e.trace_tail.is_empty() {
                let _ = writeln!(out, "Last events:\n\n```text\n{}\n```\n", e.trace_tail.join("\n"));
            }
        }
    }
    out
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Evidence, PropertyReport, ScenarioReport, SeedReport};

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
        liveness.evidence = Evidence {
            scenario: Some("server_bounce".into()),
            seed: Some(7),
            detail: "client-1 gave up at 0.250s with 3 of 20 messages answered: connect failed (refused)".into(),
            replay: Some("echo-harness run scenarios/server_bounce.toml --seed 7 --trace".into()),
            trace_tail: vec!["  0.250s  client-1 done: 3/20 answered".into()],
        };
        let mut restart = pass("restart", "the scenario does not restart the server");
        restart.verdict = Verdict::Skip;
        restart.runs = 0;
        CheckReport {
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
                seconds: 0.5,
            }],
            runs: 12,
            seconds: 1.25,
            catalogue: Some(CatalogueReport {
                mutants: vec![
                    crate::catalogue::MutantReport {
                        name: "partial_send".into(),
                        bug: "send, not sendall".into(),
                        caught: true,
                        property: Some("echo-integrity".into()),
                        scenario: Some("partial_sends".into()),
                        seed: Some(1),
                        runs: 4,
                        seconds: 0.02,
                        minimal: Some(crate::shrink::Size { clients: 1, messages: 1, faults: 0, bytes: 42 }),
                        minimal_text: Some("1 client, 1 msg, 0 faults, 42 B".into()),
                        replay: Some(
                            "echo-harness run scenarios/partial_sends.toml --seed 1 --target partial_send --trace"
                                .into(),
                        ),
                        minimal_scenario: None,
                    },
                    crate::catalogue::MutantReport {
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
                correct_server: crate::catalogue::CorrectReport {
                    false_alarms: 0,
                    runs: 328,
                    explored: 200,
                    first: None,
                },
                caught: 1,
                seconds: 10.5,
            }),
            kernel: vec![crate::kernel::KernelCheck {
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
}
