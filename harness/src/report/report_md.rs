//! `reports/REPORT.md`: the HTML report's content in Markdown, for reading on a code host. Charts are SVG files
//! beside it (`charts/NAME.svg`, `charts/failure-N.svg`), which the caller writes; this is a pure function.

use std::fmt::Write;

use super::charts::Chart;
use super::gate::describe;
use super::markdown::{code, markdown};
use super::results::Results;
use super::timeline::FailureView;

/// Where the file of failure `i` (from 1) is written, relative to the report.
pub fn failure_svg(i: usize) -> String {
    format!("charts/failure-{i}.svg")
}

/// The Markdown report.
pub fn report_md(results: &Results, charts: &[Chart], failures: &[FailureView]) -> String {
    let mut o = String::new();
    let s = &results.stamp;
    let _ = writeln!(
        o,
        "# echo-harness report\n\nGenerated {} by echo-harness {}{} on {} cores ({} {}); schema version {}. Every figure is in `results.json` beside this file.\n",
        s.generated_at,
        s.tool_version,
        s.git_commit.as_deref().map_or(String::new(), |c| format!(" at commit `{c}`")),
        s.machine.cores,
        s.machine.os,
        s.machine.arch,
        results.schema_version
    );
    if let Some(gate) = &results.gate {
        let _ = writeln!(o, "## Benchmark gate\n\n```text\n{}```\n", describe(gate));
    }
    match &results.check {
        Some(check) => {
            // check.md's sections, every heading one level down (outside code blocks).
            let body = markdown(check);
            let body = body.split_once('\n').map_or("", |(_, rest)| rest);
            let mut fenced = false;
            let mut shifted: String = body
                .split_inclusive('\n')
                .map(|line| {
                    fenced ^= line.starts_with("```");
                    if !fenced && line.starts_with('#') {
                        format!("#{line}")
                    } else {
                        line.to_string()
                    }
                })
                .collect();
            shifted = shifted.replace("\n### Failures\n", "\n### Failures (first of each property)\n");
            if let Some(catalogue) = &check.catalogue {
                // The matrix goes right after the catalogue's table, before the failures.
                let matrix = matrix_md(catalogue);
                match shifted.find("\n### Failures") {
                    Some(at) => shifted.insert_str(at, &matrix),
                    None => shifted.push_str(&matrix),
                }
            }
            let _ = writeln!(o, "## Check{shifted}");
        }
        None => o.push_str("No `check` results: run `echo-harness check` first.\n\n"),
    }
    if let Some(e) = &results.explore {
        let _ = writeln!(o, "## Exploration\n\n{}.\n", e.summary());
        for f in &e.findings {
            let _ = writeln!(
                o,
                "- case {}: `{}` failed: {} (shrunk {} → {}); replay: `{}`",
                f.case,
                f.property,
                code(&f.detail),
                f.original_size,
                f.shrunk_size,
                f.replay
            );
        }
        for f in &e.flaky {
            let (k, n) = (f.failed_runs.unwrap_or(0), f.of_runs.unwrap_or(0));
            let _ = writeln!(
                o,
                "- flaky, not a verdict: case {}: `{}` failed {k} of {n} runs: {} (`{}`)",
                f.case,
                f.property,
                code(&f.detail),
                f.file
            );
        }
        o.push('\n');
    }
    if !charts.is_empty() {
        o.push_str("## Charts\n\n");
        for chart in charts {
            let _ = writeln!(o, "### {}\n\n![{}](charts/{}.svg)\n", chart.title, chart.title, chart.slug);
        }
    }
    if !failures.is_empty() {
        o.push_str("## Failures and their timelines\n\n");
        for (i, f) in failures.iter().enumerate() {
            let _ = writeln!(o, "### {}\n\n{}\n", f.title, code(&f.detail));
            if let Some(replay) = &f.replay {
                let _ = writeln!(o, "Replay: `{replay}`\n");
            }
            match (&f.svg, &f.why_no_timeline) {
                (Some(_), _) => {
                    let _ = writeln!(o, "![timeline of {}]({})\n", f.title, failure_svg(i + 1));
                }
                (None, Some(why)) => {
                    let _ = writeln!(o, "*No timeline: {why}*\n");
                }
                (None, None) => {}
            }
        }
    }
    o
}

fn matrix_md(c: &crate::hunt::catalogue::CatalogueReport) -> String {
    let m = &c.matrix;
    if m.rows.is_empty() {
        return String::new();
    }
    let mut o = String::from(
        "\n#### Which scenario catches which bug\n\nEvery planted bug against every scenario once (its first seed); a cell names the property that failed, `·` passed, `–` not applicable.\n\n| mutant | caught by |",
    );
    for s in &m.scenarios {
        let _ = write!(o, " {s} |");
    }
    o.push_str("\n|---|---:|");
    o.push_str(&"---|".repeat(m.scenarios.len()));
    o.push('\n');
    for row in &m.rows {
        let _ = write!(o, "| `{}` | {} |", row.mutant, row.catches());
        for cell in &row.cells {
            let _ = write!(
                o,
                " {} |",
                match cell.as_str() {
                    "" => "·",
                    "n/a" => "–",
                    p => p,
                }
            );
        }
        o.push('\n');
    }
    o
}
