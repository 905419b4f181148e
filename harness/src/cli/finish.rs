//! How `check` ends, whatever its backend: the reports written (check.md, check.json, junit.xml, then the rest
//! through [`super::report::write_all`]), the table or the JSON document printed, the exit code given.

use std::path::Path;

use anyhow::Context;

use echo_harness::exit;
use echo_harness::model::property::Verdict;
use echo_harness::real::runner;
use echo_harness::report::check_report::CheckReport;
use echo_harness::report::{json, junit, markdown, table};

use super::shared::paint;

/// How a check's report is given.
pub struct Finish<'a> {
    /// Print the JSON document instead of the table.
    pub json: bool,
    /// Where the reports are written.
    pub report_dir: &'a Path,
    /// When the command began: the header's time is the suite's alone, the closing line gives the whole
    /// command's, kernel checks and catalogue included.
    pub started: std::time::Instant,
}

/// Writes the reports, prints the table (or the JSON document), and gives the exit code.
pub fn finish_check(report: &CheckReport, finish: &Finish) -> anyhow::Result<u8> {
    let Finish { json, report_dir, started } = *finish;
    let report = &with_real_notes(report);
    write_reports(report, report_dir)?;
    // The HTML and Markdown reports gather other commands' files too: one of them unreadable must not hide this
    // check's verdict (check.md, check.json and junit.xml are written above).
    let others = super::report::read_benchmarks(Path::new(super::report::BENCH_DIR))
        .and_then(|benchmarks| super::report::write_all(report_dir, benchmarks, None, Some(&report.suite.target)));
    if let Err(e) = others {
        eprintln!("warning: index.html, REPORT.md and results.json not written: {e:#}");
    }
    if json {
        println!("{}", json::json(report));
    } else {
        print!("{}", paint(&table::table(report)));
        println!("report: {} (and {})", report_dir.join("index.html").display(), report_dir.join("check.md").display());
        println!("done in {:.2}s (suite, kernel checks, catalogue and reports)", started.elapsed().as_secs_f64());
    }
    Ok(if report.held() { exit::HELD } else { exit::FAILED })
}

/// The report, with every failure of the scenario files on real sockets saying that it was confirmed on a second
/// run and that its replay reruns the scenario, not the same timing ([`runner::FAILURE_NOTE`]).
fn with_real_notes(report: &CheckReport) -> CheckReport {
    let mut report = report.clone();
    if report.suite.backend == "real" && !report.suite.scenarios.is_empty() {
        for property in report.suite.properties.iter_mut().filter(|p| p.verdict == Verdict::Fail) {
            if property.evidence.replay.is_some() {
                property.evidence.detail.push_str(runner::FAILURE_NOTE);
            }
        }
    }
    report
}

/// Writes `check.md`, `check.json` and `junit.xml` into `report_dir` (then [`super::report::write_all`] adds the
/// rest from them).
fn write_reports(report: &CheckReport, report_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(report_dir).with_context(|| format!("cannot create {}", report_dir.display()))?;
    let reports = [
        ("check.md", markdown::markdown(report)),
        ("check.json", json::json(report)),
        ("junit.xml", junit::junit(report)),
    ];
    for (name, text) in reports {
        let path = report_dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
