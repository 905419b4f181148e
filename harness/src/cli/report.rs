//! `report`: gathers the latest results (`check.json` and `explore.json` in the report directory, or the
//! shards' `explore.json` files merged, and the benchmarks' summaries) into `results.json`, `index.html`,
//! `REPORT.md` with its SVG charts, and `junit.xml`; saves or checks a benchmark baseline. `check` calls
//! [`write_all`] too, so its reports are complete without a second command.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;

use echo_harness::exit;
use echo_harness::model::property::Verdict;
use echo_harness::report::charts::{charts, SLUGS};
use echo_harness::report::check_report::CheckReport;
use echo_harness::report::explore_results::{merge, ExploreResults};
use echo_harness::report::gate::{self, Baseline, GateOutcome};
use echo_harness::report::results::{self, read_optional, Benchmarks, Machine, Results, Stamp};
use echo_harness::report::timeline::{timeline, FailureView};
use echo_harness::report::{html, junit, report_md, svg};
use echo_harness::sim::target::Target;

use super::dirs::ensure_writable;
use super::shared::resolve_target;

/// Where `cargo bench` leaves its summaries, from the repository's root.
pub const BENCH_DIR: &str = "target/echo-harness-bench";

/// Failures that get a timeline (each replays its run once); the rest are listed with their evidence only.
const MAX_TIMELINES: usize = 40;

/// `report`'s flags.
#[derive(Args)]
pub struct ReportArgs {
    /// Where check.json and explore.json are read, and results.json, index.html, REPORT.md (with charts/) and
    /// junit.xml are written.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Where the benchmarks left their summaries (throughput.json, catch.json).
    #[arg(long, default_value = BENCH_DIR)]
    pub bench_dir: PathBuf,
    /// Directories holding the explore.json of each shard of one run (`explore --shard K/N --report-dir DIR`):
    /// merged into one exploration, written to the report directory's explore.json.
    #[arg(long, num_args = 1.., value_name = "DIR")]
    pub merge: Vec<PathBuf>,
    /// Save this run's benchmark figures as a baseline file.
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,
    /// Compare this run's benchmark figures with a baseline file; exit 1 naming every figure worse by more than
    /// --threshold.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// How much worse than the baseline a figure may be, in per cent.
    #[arg(long, default_value = "10%", value_parser = gate::parse_threshold)]
    pub threshold: f64,
    /// Print results.json on standard output instead of the summary lines.
    #[arg(long)]
    pub json: bool,
}

/// Runs `report` as its flags say.
pub fn run(args: ReportArgs) -> anyhow::Result<u8> {
    let ReportArgs { report_dir, bench_dir, merge: shard_dirs, save_baseline, baseline, threshold, json } = args;
    ensure_writable(&report_dir, "--report-dir")?;
    let mut said = Vec::new();
    if !shard_dirs.is_empty() {
        let merged = merge_shards(&shard_dirs, &report_dir)?;
        let path = report_dir.join("explore.json");
        std::fs::write(&path, merged.to_json()).with_context(|| format!("cannot write {}", path.display()))?;
        said.push(format!("merged {} shard(s): {} -> {}", shard_dirs.len(), merged.summary(), path.display()));
    }
    let baseline = match &baseline {
        Some(path) => Some(read_baseline(path)?),
        None => None,
    };
    let benchmarks = read_benchmarks(&bench_dir)?;
    let gate = baseline.map(|b| gate::compare(&b, &gate::metrics(&benchmarks), threshold));
    let results = write_all(&report_dir, benchmarks, gate, None)?;
    if results.is_empty() {
        bail!(
            "nothing to report in {} (no check.json, explore.json) nor in {} (no benchmark summary): run check, explore or the benches first",
            report_dir.display(),
            bench_dir.display()
        );
    }
    if let Some(path) = &save_baseline {
        let metrics = gate::metrics(&results.benchmarks);
        if metrics.is_empty() {
            bail!(
                "--save-baseline {}: no benchmark figures in {} (run `cargo bench --bench peers` and `cargo bench --bench explore` first)",
                path.display(),
                bench_dir.display()
            );
        }
        let saved = Baseline {
            schema_version: gate::BASELINE_VERSION,
            saved_at: results.stamp.generated_at.clone(),
            git_commit: results.stamp.git_commit.clone(),
            metrics,
        };
        let text = serde_json::to_string_pretty(&saved).expect("a baseline serializes");
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if json {
        println!("{}", results::json(&results));
    } else {
        for line in &said {
            println!("{line}");
        }
        let mut files = vec!["index.html", "REPORT.md", "results.json"];
        if results.check.is_some() {
            files.push("junit.xml");
        }
        let files: Vec<String> = files.iter().map(|f| report_dir.join(f).display().to_string()).collect();
        println!("report: {}", files.join(", "));
        if let Some(path) = &save_baseline {
            println!("baseline saved: {} ({} figures)", path.display(), gate::metrics(&results.benchmarks).len());
        }
    }
    if let Some(gate) = &results.gate {
        eprint!("{}", gate::describe(gate));
    }
    if let Some(m) = results.explore.as_ref().and_then(|e| e.merged.as_ref()).filter(|m| !m.complete) {
        eprintln!(
            "explore: only shards {:?} of {} were merged: the run's other cases were not explored",
            m.shards, m.n
        );
    }
    Ok(if results.failed() { exit::FAILED } else { exit::HELD })
}

/// Reads the latest results around `report_dir` and `benchmarks`, and writes results.json, index.html,
/// REPORT.md (with charts/*.svg) and, when a check ran, junit.xml. Returns what it wrote. With `target`, an
/// exploration of another target is left out (`check` of one server does not report another's findings).
pub fn write_all(
    report_dir: &Path,
    benchmarks: Benchmarks,
    gate: Option<GateOutcome>,
    target: Option<&str>,
) -> anyhow::Result<Results> {
    let check: Option<CheckReport> = read_optional(&report_dir.join("check.json"), "a check report")?;
    let explore: Option<ExploreResults> =
        read_optional(&report_dir.join("explore.json"), "an explore results document")?;
    let explore = explore.filter(|e| target.is_none_or(|t| e.target == t));
    let results = Results { schema_version: results::SCHEMA_VERSION, stamp: stamp(), check, explore, benchmarks, gate };
    let charts = charts(&results);
    let failures = failure_views(&results);
    let chart_dir = report_dir.join("charts");
    std::fs::create_dir_all(&chart_dir).with_context(|| format!("cannot create {}", chart_dir.display()))?;
    // Charts of an earlier report that this one does not draw would be read as current (only the harness's own
    // files: the directory may hold the user's).
    for entry in std::fs::read_dir(&chart_dir).with_context(|| format!("cannot read {}", chart_dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let ours = (name.starts_with("failure-") && name.ends_with(".svg"))
            || SLUGS.iter().any(|slug| name == format!("{slug}.svg"));
        if ours {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    let mut files: Vec<(PathBuf, String)> = vec![
        (report_dir.join("results.json"), results::json(&results)),
        (report_dir.join("index.html"), html::html(&results, &charts, &failures)),
        (report_dir.join("REPORT.md"), report_md::report_md(&results, &charts, &failures)),
    ];
    if let Some(check) = &results.check {
        files.push((report_dir.join("junit.xml"), junit::junit(check)));
    }
    for chart in &charts {
        files.push((chart_dir.join(format!("{}.svg", chart.slug)), chart.svg.clone()));
    }
    for (i, failure) in failures.iter().enumerate() {
        if let Some(svg) = &failure.svg {
            files.push((report_dir.join(report_md::failure_svg(i + 1)), svg.clone()));
        }
    }
    for (path, text) in files {
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(results)
}

/// The benchmarks' summaries in `dir`, each `null` when that bench has not run.
pub fn read_benchmarks(dir: &Path) -> anyhow::Result<Benchmarks> {
    Ok(Benchmarks {
        throughput: read_optional(&dir.join("throughput.json"), "a throughput benchmark summary")?,
        explore: read_optional(&dir.join("catch.json"), "an explore benchmark summary")?,
    })
}

fn read_baseline(path: &Path) -> anyhow::Result<Baseline> {
    match read_optional::<Baseline>(path, "a benchmark baseline")? {
        Some(b) if b.schema_version == gate::BASELINE_VERSION => Ok(b),
        Some(b) => bail!(
            "{}: baseline schema version {} (this echo-harness reads {}): save it again with --save-baseline",
            path.display(),
            b.schema_version,
            gate::BASELINE_VERSION
        ),
        None => bail!("--baseline {}: no such file (save one with --save-baseline FILE)", path.display()),
    }
}

/// Merges the shards' documents; each finding's scenario file is copied into `report_dir/failures/`, where
/// the merged report (a CI artifact of its own) keeps it, and its replay command points there.
fn merge_shards(dirs: &[PathBuf], report_dir: &Path) -> anyhow::Result<ExploreResults> {
    let mut parts = Vec::new();
    let failures = report_dir.join("failures");
    for dir in dirs {
        let path = dir.join("explore.json");
        let Some(mut part) = read_optional::<ExploreResults>(&path, "an explore results document")? else {
            bail!("--merge {}: no explore.json there (run `explore --shard K/N --report-dir DIR`)", dir.display())
        };
        // A shard's scenario files travel with its directory (a CI artifact): find them by the path as written,
        // or under the shard's directory by any trailing part of that path.
        for f in part.findings.iter_mut().chain(part.flaky.iter_mut()) {
            let file = PathBuf::from(&f.file);
            let tails =
                (0..file.components().count()).map(|skip| dir.join(file.components().skip(skip).collect::<PathBuf>()));
            let Some(found) = std::iter::once(file.clone()).chain(tails).find(|p| p.is_file()) else { continue };
            std::fs::create_dir_all(&failures).with_context(|| format!("cannot create {}", failures.display()))?;
            let kept = failures.join(file.file_name().unwrap_or_default());
            if found != kept {
                std::fs::copy(&found, &kept)
                    .with_context(|| format!("cannot copy {} to {}", found.display(), kept.display()))?;
            }
            f.replay = f.replay.replace(&f.file, &kept.display().to_string());
            f.file = kept.display().to_string();
        }
        parts.push(part);
    }
    Ok(merge(parts)?)
}

/// When, by what, where.
fn stamp() -> Stamp {
    let git_commit = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    Stamp {
        generated_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit,
        machine: Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
        },
    }
}

/// Every failure of the results, with the timeline of its run where it replays exactly (the simulator's runs,
/// against the built-in server or a planted bug).
fn failure_views(results: &Results) -> Vec<FailureView> {
    let mut out: Vec<FailureView> = Vec::new();
    // The timeline of `scenario` (a file or a suite scenario) under `seed`, or why there is none.
    let drawn =
        |count: usize, target: Result<&Target, String>, scenario: &str, seed: u64, property: &str, detail: &str| {
            if count >= MAX_TIMELINES {
                return Err(format!("only the first {MAX_TIMELINES} failures are drawn"));
            }
            let scenario = echo_harness::hunt::replay::find(scenario)?;
            let (run, _) = echo_harness::hunt::run::run_once(&scenario, seed, target?);
            Ok(svg::timeline(&timeline(&run, property, detail)))
        };
    if let Some(check) = &results.check {
        let suite = &check.suite;
        let target = match (suite.backend.as_str(), resolve_target(&suite.target)) {
            ("sim", Ok(target)) => Ok(target),
            ("sim", Err(_)) => Err(format!("target `{}` is built by its own crate: replay it there", suite.target)),
            _ => Err("runs on real sockets do not replay exactly; the replay command reruns the scenario".to_string()),
        };
        for scenario in &suite.scenarios {
            for p in scenario.properties.iter().filter(|p| p.verdict == Verdict::Fail) {
                let Some(e) = &p.evidence else { continue };
                let seed = e.seed.unwrap_or(0);
                let title = format!("{} in {} (seed {seed})", p.name, scenario.name);
                let svg =
                    drawn(out.len(), target.as_ref().map_err(Clone::clone), &scenario.path, seed, &p.name, &e.detail);
                out.push(view(title, &e.detail, e.replay.clone(), e.trace_tail.clone(), svg));
            }
        }
        if suite.scenarios.is_empty() {
            // The black-box properties: no scenario to replay.
            for p in suite.properties.iter().filter(|p| p.verdict == Verdict::Fail) {
                let e = &p.evidence;
                let title = format!("{} ({})", p.name, suite.target);
                let why = Err("a black-box property runs on real sockets and records no trace".to_string());
                out.push(view(title, &e.detail, e.replay.clone(), e.trace_tail.clone(), why));
            }
        }
    }
    if let Some(explore) = &results.explore {
        let target = if explore.backend == "real" {
            Err("found on real sockets, which are not replayable byte for byte: no timeline is drawn".to_string())
        } else {
            resolve_target(&explore.target)
                .map_err(|_| format!("target `{}` is not built into echo-harness", explore.target))
        };
        for f in &explore.findings {
            let title = format!("{} in explored case {} (seed {})", f.property, f.case, f.seed);
            let svg = drawn(out.len(), target.as_ref().map_err(Clone::clone), &f.file, f.seed, &f.property, &f.detail);
            out.push(view(title, &f.detail, Some(f.replay.clone()), Vec::new(), svg));
        }
    }
    out
}

/// A failure as the reports show it, with its timeline (or why it has none).
fn view(
    title: String,
    detail: &str,
    replay: Option<String>,
    trace_tail: Vec<String>,
    svg: Result<String, String>,
) -> FailureView {
    let (svg, why_no_timeline) = match svg {
        Ok(svg) => (Some(svg), None),
        Err(why) => (None, Some(why)),
    };
    FailureView { title, detail: detail.to_string(), replay, trace_tail, svg, why_no_timeline }
}
