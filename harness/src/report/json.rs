//! The JSON document `check --json` prints and `reports/check.json` holds: a pure function of a report.

use super::check_report::CheckReport;

/// The JSON document `check --json` prints and `reports/check.json` holds.
pub fn json(report: &CheckReport) -> String {
    serde_json::to_string_pretty(report).expect("a report always serializes")
}
