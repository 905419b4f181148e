//! `reports/index.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched) with every
//! verdict and figure of [`Results`], the charts, and each failure's timeline. A pure function of its inputs.

use std::fmt::Write;

use crate::model::property::Verdict;

use super::charts::Chart;
use super::gate::GateOutcome;
use super::results::Results;
use super::timeline::FailureView;

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.num{text-align:right}.pass{color:#1a7f37}.fail{color:#c62828;font-weight:bold}.skip{color:#777}\
code{background:#f6f6f6;padding:0 .2em}pre{background:#f6f6f6;padding:.5em;overflow-x:auto}\
.badge{display:inline-block;padding:.2em .6em;border-radius:.3em;color:#fff}.badge.pass{background:#1a7f37}.badge.fail{background:#c62828}\
.matrix td{text-align:center;padding:.1em .3em}.matrix th.col{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal}\
figure{margin:1em 0}svg{max-width:100%;height:auto}";

/// Escapes text for HTML. (Unlike the SVG renderer's escape, it keeps newlines: the trace tails are `<pre>`.)
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn verdict(v: Verdict) -> String {
    match v {
        Verdict::Pass => badge(true, "pass"),
        Verdict::Fail => badge(false, "FAIL"),
        Verdict::Skip => "<span class=\"skip\">skip</span>".into(),
    }
}

/// `word`, green when `good`, red otherwise.
fn badge(good: bool, word: &str) -> String {
    format!("<span class=\"{}\">{word}</span>", if good { "pass" } else { "fail" })
}

/// The page.
pub fn html(results: &Results, charts: &[Chart], failures: &[FailureView]) -> String {
    let mut o = String::new();
    let gate = results.gate.as_ref();
    let failed = results.failed();
    let (badge, word) = match (failed, results.is_empty()) {
        (true, _) => ("fail", "failures"),
        (false, true) => ("skip", "nothing recorded"),
        (false, false) => ("pass", "all held"),
    };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>echo-harness report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    );
    let s = &results.stamp;
    let _ = writeln!(
        o,
        "<h1>echo-harness report <span class=\"badge {}\">{}</span></h1>\n<p>Generated {} by echo-harness {}{} on {} cores ({} {}). Schema version {}.</p>",
        badge,
        word,
        esc(&s.generated_at),
        esc(&s.tool_version),
        s.git_commit.as_deref().map_or(String::new(), |c| format!(" at commit <code>{}</code>", esc(c))),
        s.machine.cores,
        esc(&s.machine.os),
        esc(&s.machine.arch),
        results.schema_version
    );
    contents(&mut o, results, charts, failures, gate);
    if let Some(gate) = gate {
        gate_section(&mut o, gate);
    }
    if let Some(check) = &results.check {
        let suite = &check.suite;
        let _ = writeln!(
            o,
            "<h2 id=\"properties\">Properties</h2>\n<p>Target <b>{}</b> on backend <b>{}</b>: {} runs in {:.2} s, {}.</p>",
            esc(&suite.target),
            esc(&suite.backend),
            suite.runs,
            suite.seconds,
            verdict(suite.verdict)
        );
        o.push_str("<table><tr><th>property</th><th>meaning</th><th>verdict</th><th>runs</th><th>failures</th><th>evidence</th></tr>\n");
        for p in &suite.properties {
            let e = &p.evidence;
            let at = match (&e.scenario, e.seed) {
                (Some(sc), Some(seed)) => format!("<code>{}</code> seed {seed}: ", esc(sc)),
                _ => String::new(),
            };
            let replay = e.replay.as_deref().map_or(String::new(), |r| format!("<br>replay: <code>{}</code>", esc(r)));
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{at}{}{replay}</td></tr>",
                esc(&p.name),
                esc(&p.description),
                verdict(p.verdict),
                p.runs,
                p.failures,
                esc(&e.detail)
            );
        }
        o.push_str("</table>\n");
        if !suite.scenarios.is_empty() {
            o.push_str("<h2 id=\"scenarios\">Scenarios</h2>\n<table><tr><th>scenario</th><th>checks</th><th>verdict</th><th>seeds</th><th>failed</th><th>time</th></tr>\n");
            for sc in &suite.scenarios {
                let seeds: Vec<String> = sc.seeds.iter().map(|s| s.seed.to_string()).collect();
                let failed: Vec<&str> =
                    sc.properties.iter().filter(|p| p.verdict == Verdict::Fail).map(|p| p.name.as_str()).collect();
                let _ = writeln!(
                    o,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.0} ms</td></tr>",
                    esc(&sc.name),
                    esc(&sc.description),
                    verdict(sc.verdict),
                    seeds.join(", "),
                    esc(&failed.join(", ")),
                    sc.seconds * 1000.0
                );
            }
            o.push_str("</table>\n");
        }
        if !check.kernel.is_empty() {
            o.push_str("<h2 id=\"kernel\">Kernel checks (real sockets on 127.0.0.1)</h2>\n<table><tr><th>check</th><th>verdict</th><th>observed</th><th>figures</th></tr>\n");
            for k in &check.kernel {
                let figures: Vec<String> = k.figures.iter().map(|(n, v)| format!("{n} = {v}")).collect();
                let _ = writeln!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&k.name),
                    verdict(k.verdict),
                    esc(&k.detail),
                    esc(&figures.join(", "))
                );
            }
            o.push_str("</table>\n");
        }
        if let Some(c) = &check.catalogue {
            catalogue_section(&mut o, c);
        }
    }
    if let Some(e) = &results.explore {
        let _ = writeln!(o, "<h2 id=\"explore\">Exploration</h2>\n<p>{}.</p>", esc(&e.summary()));
        if !e.findings.is_empty() {
            o.push_str(
                "<table><tr><th>case</th><th>property</th><th>evidence</th><th>shrunk</th><th>replay</th></tr>\n",
            );
            for f in &e.findings {
                let _ = writeln!(
                    o,
                    "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{} → {}</td><td><code>{}</code></td></tr>",
                    f.case,
                    esc(&f.property),
                    esc(&f.detail),
                    esc(&f.original_size),
                    esc(&f.shrunk_size),
                    esc(&f.replay)
                );
            }
            o.push_str("</table>\n");
        }
        if !e.flaky.is_empty() {
            o.push_str("<p>Flaky on real sockets (failed on some runs only: not a verdict on the server):</p>\n<ul>\n");
            for f in &e.flaky {
                let (k, n) = (f.failed_runs.unwrap_or(0), f.of_runs.unwrap_or(0));
                let _ = writeln!(
                    o,
                    "<li>case {}: {} failed {k} of {n} runs: {} (<code>{}</code>)</li>",
                    f.case,
                    esc(&f.property),
                    esc(&f.detail),
                    esc(&f.file)
                );
            }
            o.push_str("</ul>\n");
        }
    }
    benchmarks_section(&mut o, results, charts);
    if !failures.is_empty() {
        o.push_str("<h2 id=\"failures\">Failures and their timelines</h2>\n");
        for (i, f) in failures.iter().enumerate() {
            let _ = writeln!(o, "<h3 id=\"failure-{}\">{}</h3>\n<p>{}</p>", i + 1, esc(&f.title), esc(&f.detail));
            if let Some(replay) = &f.replay {
                let _ = writeln!(o, "<p>replay: <code>{}</code></p>", esc(replay));
            }
            match (&f.svg, &f.why_no_timeline) {
                (Some(svg), _) => {
                    let _ = writeln!(o, "<figure>{svg}</figure>");
                }
                (None, Some(why)) => {
                    let _ = writeln!(o, "<p><i>No timeline: {}</i></p>", esc(why));
                }
                (None, None) => {}
            }
            if !f.trace_tail.is_empty() {
                let _ = writeln!(
                    o,
                    "<details><summary>last events</summary><pre>{}</pre></details>",
                    esc(&f.trace_tail.join("\n"))
                );
            }
        }
    }
    o.push_str("</body>\n</html>\n");
    o
}

fn contents(o: &mut String, results: &Results, charts: &[Chart], failures: &[FailureView], gate: Option<&GateOutcome>) {
    let mut links = Vec::new();
    if gate.is_some() {
        links.push(("gate", "Benchmark gate".to_string()));
    }
    if let Some(check) = &results.check {
        links.push(("properties", "Properties".into()));
        if !check.suite.scenarios.is_empty() {
            links.push(("scenarios", "Scenarios".into()));
        }
        if !check.kernel.is_empty() {
            links.push(("kernel", "Kernel checks".into()));
        }
        if check.catalogue.is_some() {
            links.push(("catalogue", "Planted bugs".into()));
        }
    }
    if results.explore.is_some() {
        links.push(("explore", "Exploration".into()));
    }
    if !charts.is_empty() || results.benchmarks.throughput.is_some() || results.benchmarks.explore.is_some() {
        links.push(("benchmarks", "Benchmarks and charts".into()));
    }
    if !failures.is_empty() {
        links.push(("failures", format!("Failures ({})", failures.len())));
    }
    let items: Vec<String> = links.iter().map(|(id, name)| format!("<a href=\"#{id}\">{}</a>", esc(name))).collect();
    let _ = writeln!(o, "<nav><p>{}</p></nav>", items.join(" · "));
    if results.check.is_none() && results.explore.is_none() {
        o.push_str("<p>No <code>check</code> or <code>explore</code> results were found: run <code>echo-harness check</code> first.</p>\n");
    }
}

fn gate_section(o: &mut String, gate: &GateOutcome) {
    let _ = writeln!(
        o,
        "<h2 id=\"gate\">Benchmark gate</h2>\n<p>{}</p>",
        badge(gate.passed(), &esc(&super::gate::summary(gate)))
    );
    o.push_str("<table><tr><th>figure</th><th>baseline</th><th>now</th><th>worse by</th></tr>\n");
    for c in &gate.compared {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td><td class=\"num {}\">{:+.1}%</td></tr>",
            esc(&c.name),
            c.baseline,
            c.current,
            if c.regressed { "fail" } else { "" },
            c.worse_by * 100.0
        );
    }
    o.push_str("</table>\n");
    for name in &gate.missing {
        let _ = writeln!(o, "<p>Not measured this time: {}</p>", esc(name));
    }
}

fn catalogue_section(o: &mut String, c: &crate::hunt::catalogue::CatalogueReport) {
    let _ = writeln!(
        o,
        "<h2 id=\"catalogue\">Planted bugs</h2>\n<p>Mutation score: <b>{} of {}</b> caught; the correct server raised {} false alarm(s) in {} runs.</p>",
        c.caught,
        c.mutants.len(),
        c.correct_server.false_alarms,
        c.correct_server.runs
    );
    o.push_str("<table><tr><th>mutant</th><th>bug</th><th>caught</th><th>property</th><th>first caught by</th><th>minimal</th><th>time</th></tr>\n");
    for m in &c.mutants {
        let _ = writeln!(
            o,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.2} s</td></tr>",
            esc(&m.name),
            esc(&m.bug),
            if m.caught { badge(true, "yes") } else { badge(false, "NO") },
            esc(m.property.as_deref().unwrap_or("-")),
            esc(m.scenario.as_deref().unwrap_or("-")),
            esc(m.minimal_text.as_deref().unwrap_or("-")),
            m.seconds
        );
    }
    o.push_str("</table>\n");
    let matrix = &c.matrix;
    if matrix.rows.is_empty() {
        return;
    }
    o.push_str("<h3>Which scenario catches which bug</h3>\n<p>Every planted bug against every scenario, once (its first seed): ● the scenario catches it (hover for the property), · it passes, – not applicable.</p>\n<table class=\"matrix\"><tr><th></th>");
    for s in &matrix.scenarios {
        let _ = write!(o, "<th class=\"col\">{}</th>", esc(s));
    }
    o.push_str("<th>caught by</th></tr>\n");
    for row in &matrix.rows {
        let _ = write!(o, "<tr><th><code>{}</code></th>", esc(&row.mutant));
        for cell in &row.cells {
            let _ = match cell.as_str() {
                "" => write!(o, "<td class=\"skip\">·</td>"),
                "n/a" => write!(o, "<td class=\"skip\">–</td>"),
                p => write!(o, "<td class=\"fail\" title=\"{}\">●</td>", esc(p)),
            };
        }
        let _ = writeln!(o, "<td class=\"num\">{}</td></tr>", row.catches());
    }
    o.push_str("</table>\n");
}

fn benchmarks_section(o: &mut String, results: &Results, charts: &[Chart]) {
    let b = &results.benchmarks;
    if charts.is_empty() && b.throughput.is_none() && b.explore.is_none() {
        return;
    }
    o.push_str("<h2 id=\"benchmarks\">Benchmarks and charts</h2>\n");
    if b.throughput.is_none() {
        o.push_str("<p>No throughput figures: run <code>cargo bench --bench peers</code>.</p>\n");
    }
    if b.explore.is_none() {
        o.push_str("<p>No exploration figures: run <code>cargo bench --bench explore</code>.</p>\n");
    }
    for chart in charts {
        let _ = writeln!(o, "<figure id=\"chart-{}\">{}</figure>", esc(&chart.slug), chart.svg);
    }
    let targets: Vec<&serde_json::Value> = [&b.throughput, &b.explore]
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("targets").and_then(|t| t.as_array()))
        .flatten()
        .collect();
    if targets.is_empty() {
        return;
    }
    o.push_str("<h3>Targets</h3>\n<table><tr><th>target</th><th>value</th><th>bound</th><th>met</th></tr>\n");
    for t in targets {
        let bound = match (t.get("min").and_then(|v| v.as_f64()), t.get("max").and_then(|v| v.as_f64())) {
            (Some(min), _) => format!("≥ {min}"),
            (_, Some(max)) => format!("≤ {max}"),
            _ => "-".into(),
        };
        let met = t.get("met").and_then(|m| m.as_bool()).unwrap_or(false);
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"num\">{:.2}</td><td>{}</td><td>{}</td></tr>",
            esc(t.get("name").and_then(|n| n.as_str()).unwrap_or("?")),
            t.get("value").and_then(|v| v.as_f64()).unwrap_or(f64::NAN),
            bound,
            if met { badge(true, "met") } else { badge(false, "NOT MET") }
        );
    }
    o.push_str("</table>\n");
}
