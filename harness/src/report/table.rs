//! The terminal table `check` and `mutants` print: a pure function of a report.

use std::fmt::Write;

use crate::hunt::catalogue::CatalogueReport;
use crate::model::property::Verdict;

use crate::judge::tally::SuiteReport;

use super::check_report::CheckReport;

pub(super) fn verdict_word(v: Verdict) -> &'static str {
    v.word()
}

/// The closing line: what held.
pub(super) fn summary_line(report: &CheckReport) -> String {
    let failed = report.suite.properties.iter().filter(|p| p.verdict == Verdict::Fail).count();
    let held = report.suite.properties.iter().filter(|p| p.verdict == Verdict::Pass).count();
    let skipped = report.suite.properties.len() - failed - held;
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
pub(super) fn extent(report: &CheckReport) -> String {
    if report.suite.scenarios.is_empty() {
        format!("{} properties", report.suite.properties.len())
    } else {
        format!("{} scenarios", report.suite.scenarios.len())
    }
}

/// The table of a suite's verdicts alone (what [`crate::hunt::check::check`] returns), as `check` prints it.
pub fn suite_table(report: &SuiteReport) -> String {
    table(&CheckReport::of(report.clone()))
}

/// The terminal table `check` prints.
pub fn table(report: &CheckReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "echo-harness check: target {}, backend {}, {}, {} runs in {:.2}s\n",
        report.suite.target,
        report.suite.backend,
        extent(report),
        report.suite.runs,
        report.suite.seconds
    );
    let width = report.suite.properties.iter().map(|p| p.name.len()).max().unwrap_or(8).max(8);
    let _ = writeln!(out, "{:width$}  VERDICT  RUNS  EVIDENCE", "PROPERTY");
    for p in &report.suite.properties {
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
    let width = report.suite.scenarios.iter().map(|s| s.name.len()).max().unwrap_or(8).max(8);
    if !report.suite.scenarios.is_empty() {
        let _ = writeln!(out, "\n{:width$}  VERDICT  SEEDS   TIME", "SCENARIO");
    }
    for s in &report.suite.scenarios {
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
