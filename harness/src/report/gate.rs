//! The benchmark gate: the figures worth guarding, read from the benchmarks' summaries ([`metrics`]), saved as
//! a baseline ([`Baseline`]) and compared with a later run ([`compare`]). Most figures are ratios measured side by
//! side in one run (throughput against plain echo, harness against bare turmoil), which hold on a noisy machine;
//! the exploration rate, the upper-casing speed and the times to catch are absolute and only compare on the same
//! kind of machine, so times to catch get a wide noise floor; a planted bug no longer caught always fails. Pure:
//! reading and writing files is the caller's.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The benchmarks' own summaries, as they wrote them (`cargo bench --bench peers` and `--bench explore`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Benchmarks {
    /// `throughput.json`: the built-in server beside plain echo, a copy loop and the tutorial's Python server,
    /// with the targets and whether each was met.
    pub throughput: Option<Value>,
    /// `catch.json`: exploration speed, harness overhead against bare turmoil, time to catch each planted bug.
    pub explore: Option<Value>,
}

/// The version of the baseline file's layout.
pub const BASELINE_VERSION: u32 = 1;

/// The default tolerance: a figure may be this much worse than its baseline before the gate fails.
pub const DEFAULT_THRESHOLD: f64 = 0.10;

/// Differences in time to catch below this many seconds are noise on a shared machine, whatever their ratio:
/// a bug caught in 0.6 s instead of 0.4 s is not a regression (the catch times of one machine vary that much).
pub const CATCH_NOISE_S: f64 = 0.5;

/// Which way a figure improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Throughput ratios, rates: more is better.
    Higher,
    /// Overheads, times to catch: less is better.
    Lower,
}

/// One guarded figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Its stable name, e.g. `throughput builtin_vs_plain: stream, 1 conn, 64 KiB`.
    pub name: String,
    /// Its value.
    pub value: f64,
    /// Which way it improves.
    pub better: Better,
    /// A change smaller than this (in the figure's unit) is never a regression.
    pub noise: f64,
}

/// A saved baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// [`BASELINE_VERSION`].
    pub schema_version: u32,
    /// When it was saved (RFC 3339), so a reader knows how old the reference is.
    pub saved_at: String,
    /// The commit it was measured at, when known.
    pub git_commit: Option<String>,
    /// The figures.
    pub metrics: Vec<Metric>,
}

/// One figure compared with its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// [`Metric::name`].
    pub name: String,
    /// The baseline's value.
    pub baseline: f64,
    /// This run's value.
    pub current: f64,
    /// How much worse, as a fraction of the baseline (negative: better).
    pub worse_by: f64,
    /// Worse by more than the threshold (and the noise).
    pub regressed: bool,
}

/// The gate's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutcome {
    /// The tolerance used.
    pub threshold: f64,
    /// Every figure found in both.
    pub compared: Vec<Comparison>,
    /// Figures of the baseline this run did not measure (a bench not run, python3 absent): reported, not failed.
    pub missing: Vec<String>,
}

impl GateOutcome {
    /// The figures that got worse by more than the threshold.
    pub fn regressions(&self) -> impl Iterator<Item = &Comparison> {
        self.compared.iter().filter(|c| c.regressed)
    }

    /// Whether the gate passes: something was compared, and nothing got worse. (A gate that compared nothing,
    /// because no bench ran or the baseline is empty, has guarded nothing.)
    pub fn passed(&self) -> bool {
        !self.compared.is_empty() && self.regressions().next().is_none()
    }
}

/// The guarded figures of the benchmark summaries: every target each bench states (its bound says which way is
/// better), the exploration rate per job count, and the median time to catch each planted bug.
pub fn metrics(benchmarks: &Benchmarks) -> Vec<Metric> {
    let mut out = Vec::new();
    for (bench, summary) in [("throughput", &benchmarks.throughput), ("explore", &benchmarks.explore)] {
        let Some(summary) = summary else { continue };
        for target in array(summary, "targets") {
            let (Some(name), Some(value)) = (target["name"].as_str(), target["value"].as_f64()) else { continue };
            let better = if target.get("max").is_some_and(|m| !m.is_null()) { Better::Lower } else { Better::Higher };
            out.push(Metric { name: format!("{bench} {name}"), value, better, noise: 0.0 });
        }
    }
    if let Some(summary) = &benchmarks.explore {
        for run in array(summary, "explore") {
            if let (Some(jobs), Some(rate)) = (run["jobs"].as_u64(), run["cases_per_s"].as_f64()) {
                // A rate the bench already states as a target is guarded once.
                let target = format!("explore explore_cases_per_s_{jobs}_jobs");
                if out.iter().any(|m| m.name == target) {
                    continue;
                }
                let name = format!("explore cases/s on {jobs} job{}", if jobs == 1 { "" } else { "s" });
                out.push(Metric { name, value: rate, better: Better::Higher, noise: 0.0 });
            }
        }
        for bug in array(summary, "catch") {
            let Some(mutant) = bug["mutant"].as_str() else { continue };
            // A bug the bench did not catch has no time (null): the flag falls from 1 to 0, 100% worse.
            let median = bug["median_s"].as_f64();
            let name = format!("explore caught {mutant}");
            out.push(Metric { name, value: f64::from(u8::from(median.is_some())), better: Better::Higher, noise: 0.0 });
            if let Some(median) = median {
                let name = format!("explore time to catch {mutant} (median s)");
                out.push(Metric { name, value: median, better: Better::Lower, noise: CATCH_NOISE_S });
            }
        }
    }
    out.dedup_by(|a, b| a.name == b.name);
    out
}

fn array<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// Compares this run's `current` figures with `baseline`: a figure regresses when it is worse by more than
/// `threshold` (a fraction of the baseline) and by more than its noise.
pub fn compare(baseline: &Baseline, current: &[Metric], threshold: f64) -> GateOutcome {
    let mut compared = Vec::new();
    let mut missing = Vec::new();
    for base in &baseline.metrics {
        let Some(now) = current.iter().find(|m| m.name == base.name) else {
            missing.push(base.name.clone());
            continue;
        };
        let delta = match base.better {
            Better::Higher => base.value - now.value,
            Better::Lower => now.value - base.value,
        };
        let worse_by = if base.value.abs() > f64::EPSILON { delta / base.value.abs() } else { 0.0 };
        let regressed = worse_by > threshold && delta > base.noise;
        compared.push(Comparison {
            name: base.name.clone(),
            baseline: base.value,
            current: now.value,
            worse_by,
            regressed,
        });
    }
    GateOutcome { threshold, compared, missing }
}

/// The gate's lines: one per regression (naming the figure), then a summary.
pub fn describe(outcome: &GateOutcome) -> String {
    let mut out = String::new();
    for c in outcome.regressions() {
        out.push_str(&format!(
            "gate: `{}` got worse: {:.3} against the baseline's {:.3} ({:.1}% worse, threshold {:.0}%)\n",
            c.name,
            c.current,
            c.baseline,
            c.worse_by * 100.0,
            outcome.threshold * 100.0
        ));
    }
    for name in &outcome.missing {
        out.push_str(&format!("gate: `{name}` is in the baseline but was not measured this time\n"));
    }
    out.push_str(&format!("gate: {}\n", summary(outcome)));
    out
}

/// The gate's verdict in one line: `36 of 36 figures within 10% of the baseline: passed`.
pub fn summary(outcome: &GateOutcome) -> String {
    let regressed = outcome.regressions().count();
    if outcome.compared.is_empty() {
        return "FAILED: no figure of the baseline was measured this time (run the benches first)".into();
    }
    format!(
        "{} of {} figures within {:.0}% of the baseline{}",
        outcome.compared.len() - regressed,
        outcome.compared.len(),
        outcome.threshold * 100.0,
        if regressed == 0 { ": passed".to_string() } else { format!(": FAILED ({regressed} worse)") }
    )
}

/// `--threshold`: `10%` or `10`, per cent of the baseline (so `0.5` is half a per cent).
pub fn parse_threshold(s: &str) -> Result<f64, String> {
    let pct: f64 =
        s.trim().trim_end_matches('%').parse().map_err(|_| format!("`{s}` is not a percentage (e.g. 10%)"))?;
    if !(0.0..=1000.0).contains(&pct) {
        return Err(format!("`{s}` must be between 0% and 1000%"));
    }
    Ok(pct / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn benchmarks(ratio: f64, overhead: f64, catch: f64) -> Benchmarks {
        let median = if catch.is_nan() { serde_json::Value::Null } else { json!(catch) };
        Benchmarks {
            throughput: Some(json!({ "targets": [
                { "name": "builtin_vs_plain: stream, 1 conn, 64 KiB", "value": ratio, "min": 0.95, "met": ratio >= 0.95 },
            ]})),
            explore: Some(json!({
                "targets": [
                    { "name": "harness_vs_bare_turmoil", "value": overhead, "max": 1.1, "met": false },
                    { "name": "explore_cases_per_s_2_jobs", "value": 880.0, "min": 1500.0, "met": false },
                ],
                "explore": [{ "jobs": 2, "cases_per_s": 880.0 }, { "jobs": 1, "cases_per_s": 450.0 }],
                "catch": [{ "mutant": "partial_send", "median_s": median }],
            })),
        }
    }

    fn baseline_of(b: &Benchmarks) -> Baseline {
        Baseline { schema_version: BASELINE_VERSION, saved_at: "t".into(), git_commit: None, metrics: metrics(b) }
    }

    #[test]
    fn metrics_read_each_target_with_its_direction_the_rates_and_the_catch_times() {
        let m = metrics(&benchmarks(0.97, 1.2, 0.3));
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "throughput builtin_vs_plain: stream, 1 conn, 64 KiB",
                "explore harness_vs_bare_turmoil",
                "explore explore_cases_per_s_2_jobs",
                "explore cases/s on 1 job",
                "explore caught partial_send",
                "explore time to catch partial_send (median s)"
            ],
            "the 2-job rate is a target already: guarded once"
        );
        assert_eq!(m[0].better, Better::Higher);
        assert_eq!(m[1].better, Better::Lower);
        assert_eq!(m[5].better, Better::Lower);
    }

    #[test]
    fn the_gate_fails_on_a_figure_worse_than_the_threshold_and_names_it() {
        let base = baseline_of(&benchmarks(1.00, 1.20, 0.30));
        let same = compare(&base, &metrics(&benchmarks(0.95, 1.25, 0.6)), DEFAULT_THRESHOLD);
        assert!(same.passed(), "5% worse is within 10%: {same:?}");

        let worse = compare(&base, &metrics(&benchmarks(0.85, 1.20, 0.30)), DEFAULT_THRESHOLD);
        assert!(!worse.passed());
        let text = describe(&worse);
        assert!(text.contains("`throughput builtin_vs_plain: stream, 1 conn, 64 KiB` got worse"), "{text}");
        assert!(text.contains("15.0% worse"), "{text}");

        let slower = compare(&base, &metrics(&benchmarks(1.0, 1.40, 0.30)), DEFAULT_THRESHOLD);
        assert_eq!(
            slower.regressions().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["explore harness_vs_bare_turmoil"]
        );
    }

    #[test]
    fn catch_times_within_the_noise_never_fail_the_gate_but_a_bug_no_longer_caught_does() {
        let base = baseline_of(&benchmarks(1.0, 1.2, 0.01));
        assert!(compare(&base, &metrics(&benchmarks(1.0, 1.2, 0.4)), DEFAULT_THRESHOLD).passed(), "0.01 -> 0.4 s");
        assert!(!compare(&base, &metrics(&benchmarks(1.0, 1.2, 2.0)), DEFAULT_THRESHOLD).passed(), "0.01 -> 2 s");
        let missed = compare(&base, &metrics(&benchmarks(1.0, 1.2, f64::NAN)), DEFAULT_THRESHOLD);
        let names: Vec<&str> = missed.regressions().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["explore caught partial_send"], "a bug missed fails the gate by name");
    }

    #[test]
    fn a_gate_that_compared_nothing_fails() {
        let base = baseline_of(&benchmarks(1.0, 1.2, 0.3));
        let nothing = compare(&base, &[], DEFAULT_THRESHOLD);
        assert!(!nothing.passed());
        assert!(describe(&nothing).contains("no figure of the baseline was measured"), "{}", describe(&nothing));
    }

    #[test]
    fn a_figure_not_measured_is_reported_missing_not_failed() {
        let base = baseline_of(&benchmarks(1.0, 1.2, 0.3));
        let outcome = compare(&base, &metrics(&Benchmarks { throughput: None, ..benchmarks(1.0, 1.2, 0.3) }), 0.1);
        assert!(outcome.passed());
        assert_eq!(outcome.missing, ["throughput builtin_vs_plain: stream, 1 conn, 64 KiB"]);
        assert!(describe(&outcome).contains("was not measured this time"));
    }

    #[test]
    fn thresholds_read_as_per_cent() {
        assert_eq!(parse_threshold("10%"), Ok(0.10));
        assert_eq!(parse_threshold("5"), Ok(0.05));
        assert!(parse_threshold("ten").is_err());
        assert!(parse_threshold("-3%").is_err());
    }
}
