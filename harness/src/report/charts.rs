//! The report's charts, as data: which figures of [`Results`] each chart shows, with titles and units. The HTML
//! report inlines them, the Markdown report writes them as SVG files beside itself. Pure.

use serde_json::Value;

use super::results::Results;
use super::svg::{bar_chart, BarChart, Series};

/// One rendered chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// A file-name-safe name (`throughput-stream`), for `charts/NAME.svg`.
    pub slug: String,
    /// Its title, as a heading.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// The name of every chart [`charts`] may draw, so a new report can remove an old one's.
pub const SLUGS: [&str; 5] =
    ["throughput-stream", "throughput-pingpong", "catch-times", "explore-speed", "scenario-times"];

/// The servers of the throughput benchmark, in the order the bench prints them.
const PEERS: [(&str, &str); 4] = [
    ("builtin", "built-in server"),
    ("plain", "plain echo (same code, no upper-casing)"),
    ("copy", "tokio::io::copy loop"),
    ("python", "tutorial's Python server"),
];

/// Every chart the results have figures for, in report order.
pub fn charts(results: &Results) -> Vec<Chart> {
    let mut out = Vec::new();
    if let Some(throughput) = &results.benchmarks.throughput {
        let rows: Vec<&Value> = throughput.get("rows").and_then(Value::as_array).into_iter().flatten().collect();
        let (pingpong, stream): (Vec<&Value>, Vec<&Value>) =
            rows.into_iter().partition(|r| r["work"].as_str().is_some_and(|w| w.starts_with("ping-pong")));
        for (slug, title, unit, rows) in [
            ("throughput-stream", "Streaming echo throughput per server", "MB/s echoed and verified", stream),
            ("throughput-pingpong", "Ping-pong round trips per server", "round trips/s", pingpong),
        ] {
            if rows.is_empty() {
                continue;
            }
            let chart = BarChart {
                title: title.into(),
                y_label: unit.into(),
                groups: rows.iter().map(|r| r["work"].as_str().unwrap_or("?").to_string()).collect(),
                series: PEERS
                    .iter()
                    .map(|(key, name)| Series {
                        name: name.to_string(),
                        values: rows.iter().map(|r| r[*key].as_f64()).collect(),
                    })
                    .collect(),
            };
            out.push(Chart { slug: slug.into(), title: title.into(), svg: bar_chart(&chart) });
        }
    }
    if let Some(explore) = &results.benchmarks.explore {
        let bugs: Vec<&Value> = explore.get("catch").and_then(Value::as_array).into_iter().flatten().collect();
        if !bugs.is_empty() {
            let title = "Time to catch each planted bug by exploration alone";
            let chart = BarChart {
                title: title.into(),
                y_label: "seconds of wall time (2 jobs)".into(),
                groups: bugs.iter().map(|b| b["mutant"].as_str().unwrap_or("?").to_string()).collect(),
                series: [("median_s", "median of seeds"), ("worst_s", "worst seed")]
                    .iter()
                    .map(|(key, name)| Series {
                        name: name.to_string(),
                        values: bugs.iter().map(|b| b[*key].as_f64()).collect(),
                    })
                    .collect(),
            };
            out.push(Chart { slug: "catch-times".into(), title: title.into(), svg: bar_chart(&chart) });
        }
        let runs: Vec<&Value> = explore.get("explore").and_then(Value::as_array).into_iter().flatten().collect();
        if !runs.is_empty() {
            let title = "Exploration speed by worker threads";
            let chart = BarChart {
                title: title.into(),
                y_label: "generated cases per second".into(),
                groups: runs.iter().map(|r| format!("{} job(s)", r["jobs"].as_u64().unwrap_or(0))).collect(),
                series: vec![Series {
                    name: "cases/s".into(),
                    values: runs.iter().map(|r| r["cases_per_s"].as_f64()).collect(),
                }],
            };
            out.push(Chart { slug: "explore-speed".into(), title: title.into(), svg: bar_chart(&chart) });
        }
    }
    if let Some(check) = &results.check {
        let scenarios = &check.suite.scenarios;
        if !scenarios.is_empty() {
            let title = "Wall time per scenario";
            let chart = BarChart {
                title: title.into(),
                y_label: "milliseconds, all seeds".into(),
                groups: scenarios.iter().map(|s| s.name.clone()).collect(),
                series: vec![Series {
                    name: format!("{} ({} backend)", check.suite.target, check.suite.backend),
                    values: scenarios.iter().map(|s| Some(s.seconds * 1000.0)).collect(),
                }],
            };
            out.push(Chart { slug: "scenario-times".into(), title: title.into(), svg: bar_chart(&chart) });
        }
    }
    out
}
