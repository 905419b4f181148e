//! The Markdown report (`reports/check.md`): a pure function of a report.

use std::fmt::Write;

use crate::hunt::catalogue::CatalogueReport;
use crate::model::property::Verdict;

use super::check_report::CheckReport;

use super::table::{extent, summary_line, verdict_word};

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

/// The Markdown report written to `reports/check.md`.
pub fn markdown(report: &CheckReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# echo-harness check report\n");
    let _ = writeln!(
        out,
        "Target **{}** on backend **{}**: {}, {} runs in {:.2} s. {}.\n",
        report.suite.target,
        report.suite.backend,
        extent(report),
        report.suite.runs,
        report.suite.seconds,
        summary_line(report).trim_start_matches("result: ")
    );
    let _ = writeln!(out, "## Properties\n");
    let _ = writeln!(out, "| property | meaning | verdict | runs | evidence |");
    let _ = writeln!(out, "|---|---|---|---:|---|");
    for p in &report.suite.properties {
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
    if !report.suite.scenarios.is_empty() {
        let _ = writeln!(out, "\n## Scenarios\n");
        let _ = writeln!(out, "| scenario | checks | verdict | seeds | time |");
        let _ = writeln!(out, "|---|---|---|---|---:|");
    }
    for s in &report.suite.scenarios {
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
    let failures: Vec<_> = report.suite.properties.iter().filter(|p| p.verdict == Verdict::Fail).collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n## Failures\n");
        for p in failures {
            let e = &p.evidence;
            let _ = writeln!(out, "### {}\n\n{}\n", p.name, code(&e.detail));
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

/// `text` as an inline code span, so that evidence (payload bytes with `\\`, `*`, `_`, `<`) shows as it is: the
/// fence is one backtick longer than the longest run of backticks in it, and newlines become spaces.
pub fn code(text: &str) -> String {
    let text = text.replace('\n', " ");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
