//! `reports/results.json`: every verdict and figure of the latest runs in one versioned document, the input of
//! the HTML and Markdown reports and of the benchmark gate. It gathers what each command left behind (`check`'s
//! report, `explore`'s results, the benchmarks' summaries) under a stamp saying when, by which version, at which
//! commit and on what machine. Optional parts are present as `null`, never missing, so a reader can tell "not
//! run" from "renamed".

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::check_report::CheckReport;
use super::explore_results::ExploreResults;
pub use super::gate::Benchmarks;
use super::gate::GateOutcome;

/// The version of this document's layout: raised whenever a key is renamed or removed, or changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// When, by what and where the results were gathered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamp {
    /// RFC 3339 time (UTC, seconds) at which the document was written: tells a stale report from a fresh one.
    pub generated_at: String,
    /// The harness's version (`CARGO_PKG_VERSION`): results of different versions may not compare.
    pub tool_version: String,
    /// The git commit of the working directory, when it is a git checkout: ties figures to the code measured.
    pub git_commit: Option<String>,
    /// The machine the figures came from: throughput and rates only compare on like machines.
    pub machine: Machine,
}

/// The machine, as far as the figures depend on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Cores available to the process: the explore and load figures scale with it.
    pub cores: usize,
    /// `std::env::consts::OS`.
    pub os: String,
    /// `std::env::consts::ARCH`.
    pub arch: String,
}

/// The whole document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// [`SCHEMA_VERSION`] of the layout it was written with.
    pub schema_version: u32,
    /// When, by what and where.
    #[serde(flatten)]
    pub stamp: Stamp,
    /// The latest `check` (`reports/check.json`), if one ran.
    pub check: Option<CheckReport>,
    /// The latest `explore` (`reports/explore.json`, or shards merged), if one ran.
    pub explore: Option<ExploreResults>,
    /// The latest benchmark summaries.
    pub benchmarks: Benchmarks,
    /// The benchmark gate's outcome, when `report --baseline` ran it.
    pub gate: Option<GateOutcome>,
}

impl Results {
    /// Whether anything recorded failed: a property, a kernel check, the catalogue, a finding of `explore`, an
    /// exploration merged from fewer shards than its run had (its cases were not all run), or the gate.
    pub fn failed(&self) -> bool {
        self.check.as_ref().is_some_and(|c| !c.held())
            || self
                .explore
                .as_ref()
                .is_some_and(|e| !e.findings.is_empty() || e.merged.as_ref().is_some_and(|m| !m.complete))
            || self.gate.as_ref().is_some_and(|g| !g.passed())
    }

    /// Whether it records anything at all: a check, an exploration or a benchmark.
    pub fn is_empty(&self) -> bool {
        self.check.is_none()
            && self.explore.is_none()
            && self.benchmarks.throughput.is_none()
            && self.benchmarks.explore.is_none()
    }
}

/// Why a results file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not the JSON document expected there.
    #[error("{path}:{line}:{column}: not {what}: {message}")]
    Json {
        /// The file.
        path: String,
        /// Where in it.
        line: usize,
        /// Where in the line.
        column: usize,
        /// What it should have held.
        what: &'static str,
        /// serde's words.
        message: String,
    },
}

/// Reads `path` as a `T` (`what` names it in errors); `Ok(None)` when the file does not exist.
pub fn read_optional<T: serde::de::DeserializeOwned>(path: &Path, what: &'static str) -> Result<Option<T>, ReadError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ReadError::Io { path: path.display().to_string(), source }),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| ReadError::Json {
        path: path.display().to_string(),
        line: e.line(),
        column: e.column(),
        what,
        message: e.to_string().split(" at line ").next().unwrap_or_default().to_string(),
    })
}

/// The document as pretty JSON.
pub fn json(results: &Results) -> String {
    serde_json::to_string_pretty(results).expect("results always serialize")
}
