//! The results of an exploration as a document (`explore --json`, `reports/explore.json`): a pure function from
//! [`explore::Report`] and the run's options to [`ExploreResults`], and [`merge`], which combines the documents
//! of the shards of one run (`explore --shard K/N` on N machines) into the document of the whole run.
//!
//! The keys are snake_case and stable (CI scripts read them); [`SCHEMA_VERSION`] changes when one does. A key
//! with nothing to say is present as `null`, never missing.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::hunt::explore::{self, Shard, Stopped};
use crate::hunt::explore_real::{RealFinding, RealOptions, RealReport};
use crate::hunt::shrink::Size;
use crate::real::runner::RealTarget;
use crate::sim::target::Target;

/// The version of the document's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// An exploration's results: one run (sharded or not), or the merge of several shards' runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExploreResults {
    /// The version of this shape ([`SCHEMA_VERSION`]), so a reader can refuse a document it does not know.
    pub schema_version: u32,
    /// The server explored (`builtin` or a mutant's name, or on real sockets its command line or address):
    /// findings replay against it.
    pub target: String,
    /// Where the cases ran: `sim` (turmoil, replayable byte for byte) or `real` (127.0.0.1, each failure
    /// confirmed by re-runs). Documents written before this key existed read as `sim`.
    #[serde(default = "sim")]
    pub backend: String,
    /// The run's seed: with `cases_limit`, it fixes which cases exist.
    pub seed: u64,
    /// `--cases`: the case indices below it are the run's (a shard takes its share of them).
    pub cases_limit: u64,
    /// The one share of the cases this document covers; `null` when it covers all of them (an unsharded run, or
    /// a merge of every shard) or, for a partial merge, several shares (see `merged`).
    pub shard: Option<Shard>,
    /// What a merge combined; `null` for the document of a single run.
    pub merged: Option<Merged>,
    /// Worker threads (summed over the parts of a merge: the workers that ran in parallel).
    pub jobs: usize,
    /// Cases run (not counting shrinking runs): less than planned if the run stopped early.
    pub cases: u64,
    /// Wall time in seconds (for a merge, the longest part's: the parts ran in parallel).
    pub seconds: f64,
    /// Simulated time of the cases' runs in seconds (summed over a merge's parts).
    pub simulated_s: f64,
    /// Cases per second of one run's wall time: `cases / seconds`, and for a merge `cases / merged.seconds_sum`,
    /// the rate one machine reached, comparable with an unsharded run's whatever the shard count. (The fleet's
    /// throughput is `cases / seconds`.)
    pub cases_per_s: f64,
    /// Seconds simulated per second of wall time, over all jobs; for a merge per second of `merged.seconds_sum`.
    pub simulated_per_wall: f64,
    /// Why the run stopped: `done` (every planned case ran), `time` (the budget ran out), `first_failure` or
    /// `interrupted` (Ctrl-C). For a merge, the first of `interrupted`, `first_failure`, `time`, `done` that any
    /// part says: the whole ran every case only if every part did.
    pub stopped: Stopped,
    /// The failing cases, shrunk, sorted by case. On real sockets, only failures every re-run confirmed.
    pub findings: Vec<FindingResult>,
    /// Real sockets only: failures that did not reproduce on every re-run, sorted by case, unshrunk. Not a
    /// verdict on the server (a busy machine, or a server that fails at random): kept with their files to look at.
    #[serde(default)]
    pub flaky: Vec<FindingResult>,
}

fn sim() -> String {
    "sim".into()
}

/// What a merge combined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Merged {
    /// The shard count N of the parts.
    pub n: u64,
    /// The shares present (their K), sorted: which of the run's cases the document covers.
    pub shards: Vec<u64>,
    /// Whether every share from 1 to N is present, i.e. the document covers the whole run.
    pub complete: bool,
    /// The parts' wall times added up: the machine time the run cost, and the divisor of the merged rates.
    pub seconds_sum: f64,
}

/// One failing case, shrunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingResult {
    /// The case's index in the run: the same in every shard's document and in the unsharded run's.
    pub case: u64,
    /// The property that failed (its stable name, e.g. `echo-integrity`).
    pub property: String,
    /// Its evidence, on the shrunk scenario.
    pub detail: String,
    /// The scenario file written for it: the failure as a file, replayed first on the next run.
    pub file: String,
    /// The seed the shrunk scenario fails under.
    pub seed: u64,
    /// The command that replays it.
    pub replay: String,
    /// The generated scenario's size, e.g. `3 clients, 7 msgs, 2 faults, 2846 B`.
    pub original_size: String,
    /// The shrunk scenario's size, in the same words.
    pub shrunk_size: String,
    /// Simulations (or, on real sockets, runs) the shrink spent.
    pub shrink_runs: usize,
    /// Real sockets only: of `of_runs` runs of the reported scenario, how many failed the property (a
    /// confirmed finding failed them all); `null` in the simulator, where one run is the whole truth.
    #[serde(default)]
    pub failed_runs: Option<usize>,
    /// Real sockets only: the runs `failed_runs` counts; `null` in the simulator.
    #[serde(default)]
    pub of_runs: Option<usize>,
}

/// The document of one run of `options` against `target`; `files[i]` is where `report.findings[i]` was written.
pub fn results(
    report: &explore::Report,
    options: &explore::Options,
    target: &Target,
    files: &[PathBuf],
) -> ExploreResults {
    assert_eq!(report.findings.len(), files.len(), "a file for every finding");
    let mut findings: Vec<FindingResult> = report
        .findings
        .iter()
        .zip(files)
        .map(|(f, file)| FindingResult {
            case: f.case,
            property: f.property.name().to_string(),
            detail: f.detail.clone(),
            file: file.display().to_string(),
            seed: f.seed(),
            replay: target.replay().command(file, f.seed()),
            original_size: f.original.to_string(),
            shrunk_size: Size::of(&f.scenario).to_string(),
            shrink_runs: f.shrink_runs,
            failed_runs: None,
            of_runs: None,
        })
        .collect();
    findings.sort_by_key(|f| f.case);
    ExploreResults {
        schema_version: SCHEMA_VERSION,
        target: target.name().to_string(),
        backend: sim(),
        seed: options.seed,
        cases_limit: options.cases,
        shard: options.shard,
        merged: None,
        jobs: options.jobs,
        cases: report.cases,
        seconds: report.seconds,
        simulated_s: report.simulated,
        cases_per_s: report.rate(),
        simulated_per_wall: report.simulated_per_wall(),
        stopped: report.stopped,
        findings,
        flaky: Vec::new(),
    }
}

/// The document of a run on real sockets (`explore --target "CMD {port}"`): `files[i]` is where
/// `report.findings[i]` was written, `flaky_files[i]` where `report.flaky[i]` was.
pub fn real_results(
    report: &RealReport,
    options: &RealOptions,
    target: &RealTarget,
    files: &[PathBuf],
    flaky_files: &[PathBuf],
) -> ExploreResults {
    assert_eq!(report.findings.len(), files.len(), "a file for every finding");
    assert_eq!(report.flaky.len(), flaky_files.len(), "a file for every flaky failure");
    let result = |f: &RealFinding, file: &PathBuf| FindingResult {
        case: f.case,
        property: f.property.name().to_string(),
        detail: f.detail.clone(),
        file: file.display().to_string(),
        seed: f.seed(),
        replay: target.replay().command(file, f.seed()),
        original_size: f.original.to_string(),
        shrunk_size: Size::of(&f.scenario).to_string(),
        shrink_runs: f.shrink_runs,
        failed_runs: Some(f.failed),
        of_runs: Some(f.runs),
    };
    ExploreResults {
        schema_version: SCHEMA_VERSION,
        target: target.name(),
        backend: "real".into(),
        seed: options.seed,
        cases_limit: options.cases,
        shard: options.shard,
        merged: None,
        jobs: options.jobs,
        cases: report.cases,
        seconds: report.seconds,
        simulated_s: 0.0,
        cases_per_s: report.rate(),
        simulated_per_wall: 0.0,
        stopped: report.stopped,
        findings: report.findings.iter().zip(files).map(|(f, p)| result(f, p)).collect(),
        flaky: report.flaky.iter().zip(flaky_files).map(|(f, p)| result(f, p)).collect(),
    }
}

impl ExploreResults {
    /// One sentence for the reports: target, seed, share, cases, rate, simulated time and findings.
    pub fn summary(&self) -> String {
        let share = match (&self.shard, &self.merged) {
            (Some(s), _) => format!(", shard {}/{}", s.k, s.n),
            (None, Some(m)) if m.complete => format!(", {} shards merged", m.n),
            (None, Some(m)) => {
                let ks: Vec<String> = m.shards.iter().map(u64::to_string).collect();
                format!(", shards {} of {} merged (incomplete)", ks.join(", "), m.n)
            }
            (None, None) => String::new(),
        };
        if self.backend == "real" {
            return format!(
                "target {} on real sockets, seed {}{share}: {} cases in {:.2} s ({:.1} cases/s), {} confirmed finding(s), {} flaky",
                self.target,
                self.seed,
                self.cases,
                self.seconds,
                self.cases_per_s,
                self.findings.len(),
                self.flaky.len()
            );
        }
        format!(
            "target {}, seed {}{share}: {} cases in {:.2} s ({:.0} cases/s, {:.0} s simulated, {:.0}x wall time), {} finding(s)",
            self.target,
            self.seed,
            self.cases,
            self.seconds,
            self.cases_per_s,
            self.simulated_s,
            self.simulated_per_wall,
            self.findings.len()
        )
    }

    /// The document as pretty JSON, as `explore --json` prints it and `explore.json` holds it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results always serialize")
    }

    /// The shard count and the shares this document covers: its merge's, its shard's, or (unsharded) 1 of 1.
    fn shares(&self) -> (u64, Vec<u64>) {
        match (&self.merged, self.shard) {
            (Some(m), _) => (m.n, m.shards.clone()),
            (None, Some(s)) => (s.n, vec![s.k]),
            (None, None) => (1, vec![1]),
        }
    }

    /// The wall time its runs cost, added up.
    fn seconds_sum(&self) -> f64 {
        self.merged.as_ref().map_or(self.seconds, |m| m.seconds_sum)
    }
}

/// Why documents cannot be merged. Parts are numbered from 1, in the order given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no results to merge")]
    Empty,
    /// A part of another shape.
    #[error("part {part} has schema_version {found}, this harness reads {SCHEMA_VERSION}")]
    Schema {
        /// The part.
        part: usize,
        /// Its version.
        found: u32,
    },
    /// Parts of different runs: another target, seed, case bound or shard count.
    #[error("part {part} is of another run: its {field} is {found}, part 1's is {expected}")]
    Mismatch {
        /// The part that differs from part 1.
        part: usize,
        /// The key that differs: `target`, `backend`, `seed`, `cases_limit` or `shard.n`.
        field: &'static str,
        /// Part 1's value.
        expected: String,
        /// This part's value.
        found: String,
    },
    /// A share outside `1..=n`: the document was not written by `explore --shard`.
    #[error("part {part} claims shard {k}/{n}, which no run has (K/N needs 1 <= K <= N)")]
    BadShard {
        /// The part.
        part: usize,
        /// The share it claims.
        k: u64,
        /// The shard count it claims.
        n: u64,
    },
    /// The same share twice: its cases would count twice.
    #[error("shard {k}/{n} is in part {first} and again in part {again}")]
    DuplicateShard {
        /// The share.
        k: u64,
        /// The shard count.
        n: u64,
        /// The first part with it.
        first: usize,
        /// The next.
        again: usize,
    },
}

/// Merges the documents of shards of one run (same target, seed, `cases_limit` and shard count, distinct
/// shares) into one: cases and simulated time summed, findings united and sorted by case, wall time the longest
/// part's, rates per second of the parts' summed wall time, `shard` `null` once every share is present.
pub fn merge(parts: Vec<ExploreResults>) -> Result<ExploreResults, MergeError> {
    let first = parts.first().ok_or(MergeError::Empty)?;
    let (n, _) = first.shares();
    let mut owner: std::collections::BTreeMap<u64, usize> = std::collections::BTreeMap::new();
    for (i, part) in parts.iter().enumerate() {
        let number = i + 1;
        if part.schema_version != SCHEMA_VERSION {
            return Err(MergeError::Schema { part: number, found: part.schema_version });
        }
        let (part_n, shares) = part.shares();
        let fields = [
            ("target", first.target.clone(), part.target.clone()),
            ("backend", first.backend.clone(), part.backend.clone()),
            ("seed", first.seed.to_string(), part.seed.to_string()),
            ("cases_limit", first.cases_limit.to_string(), part.cases_limit.to_string()),
            ("shard.n", n.to_string(), part_n.to_string()),
        ];
        if let Some((field, expected, found)) = fields.into_iter().find(|(_, a, b)| a != b) {
            return Err(MergeError::Mismatch { part: number, field, expected, found });
        }
        for k in shares {
            if !(1..=n).contains(&k) {
                return Err(MergeError::BadShard { part: number, k, n });
            }
            if let Some(&first) = owner.get(&k) {
                return Err(MergeError::DuplicateShard { k, n, first, again: number });
            }
            owner.insert(k, number);
        }
    }
    let shards: Vec<u64> = owner.into_keys().collect();
    let complete = shards.len() as u64 == n;
    let seconds_sum: f64 = parts.iter().map(ExploreResults::seconds_sum).sum();
    let cases: u64 = parts.iter().map(|p| p.cases).sum();
    let simulated_s: f64 = parts.iter().map(|p| p.simulated_s).sum();
    let stopped = [Stopped::Interrupted, Stopped::FirstFailure, Stopped::Time]
        .into_iter()
        .find(|s| parts.iter().any(|p| p.stopped == *s))
        .unwrap_or(Stopped::Done);
    let shard = match shards.as_slice() {
        [k] if !complete => Some(Shard { k: *k, n }),
        _ => None,
    };
    let mut findings: Vec<FindingResult> = parts.iter().flat_map(|p| p.findings.iter().cloned()).collect();
    findings.sort_by_key(|f| f.case);
    let mut flaky: Vec<FindingResult> = parts.iter().flat_map(|p| p.flaky.iter().cloned()).collect();
    flaky.sort_by_key(|f| f.case);
    Ok(ExploreResults {
        schema_version: SCHEMA_VERSION,
        target: first.target.clone(),
        backend: first.backend.clone(),
        seed: first.seed,
        cases_limit: first.cases_limit,
        shard,
        merged: Some(Merged { n, shards, complete, seconds_sum }),
        jobs: parts.iter().map(|p| p.jobs).sum(),
        cases,
        seconds: parts.iter().map(|p| p.seconds).fold(0.0, f64::max),
        simulated_s,
        cases_per_s: cases as f64 / seconds_sum.max(1e-9),
        simulated_per_wall: simulated_s / seconds_sum.max(1e-9),
        stopped,
        findings,
        flaky,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(case: u64) -> FindingResult {
        FindingResult {
            case,
            property: "echo-integrity".into(),
            detail: "bytes differ".into(),
            file: format!("reports/failures/unicode_upper-seed5-case{case}.toml"),
            seed: case * 7,
            replay: format!("echo-harness run case{case}.toml --seed {} --target unicode_upper", case * 7),
            original_size: "2 clients, 3 msgs, 0 faults, 40 B".into(),
            shrunk_size: "1 client, 1 msg, 0 faults, 1 B".into(),
            shrink_runs: 12,
            failed_runs: None,
            of_runs: None,
        }
    }

    fn part(k: u64, n: u64, cases: u64, seconds: f64, findings: &[u64]) -> ExploreResults {
        ExploreResults {
            schema_version: SCHEMA_VERSION,
            target: "unicode_upper".into(),
            backend: "sim".into(),
            seed: 5,
            cases_limit: 40,
            shard: Shard::new(k, n),
            merged: None,
            jobs: 1,
            cases,
            seconds,
            simulated_s: cases as f64 * 2.0,
            cases_per_s: cases as f64 / seconds,
            simulated_per_wall: cases as f64 * 2.0 / seconds,
            stopped: Stopped::Done,
            findings: findings.iter().map(|&c| finding(c)).collect(),
            flaky: Vec::new(),
        }
    }

    #[test]
    fn every_shard_merges_into_the_whole_run() {
        let parts = vec![part(2, 3, 13, 2.0, &[4, 1]), part(1, 3, 14, 1.0, &[0, 3]), part(3, 3, 13, 1.0, &[])];
        let merged = merge(parts).unwrap();
        assert_eq!(merged.shard, None);
        assert_eq!(merged.merged, Some(Merged { n: 3, shards: vec![1, 2, 3], complete: true, seconds_sum: 4.0 }));
        assert_eq!(merged.cases, 40);
        assert_eq!(merged.seconds, 2.0);
        assert_eq!(merged.cases_per_s, 10.0);
        assert_eq!(merged.simulated_s, 80.0);
        assert_eq!(merged.jobs, 3);
        assert_eq!(merged.findings.iter().map(|f| f.case).collect::<Vec<_>>(), [0, 1, 3, 4]);
    }

    #[test]
    fn a_partial_merge_says_which_shards_it_holds_and_merges_again() {
        let some = merge(vec![part(3, 4, 10, 1.0, &[2]), part(1, 4, 10, 1.0, &[])]).unwrap();
        assert_eq!(some.shard, None);
        let m = some.merged.clone().unwrap();
        assert_eq!((m.n, m.shards.clone(), m.complete), (4, vec![1, 3], false));
        let one = merge(vec![part(2, 4, 10, 3.0, &[1])]).unwrap();
        assert_eq!(one.shard, Shard::new(2, 4));
        let all = merge(vec![some, one, part(4, 4, 10, 1.0, &[])]).unwrap();
        let m = all.merged.unwrap();
        assert_eq!((m.shards, m.complete, m.seconds_sum), (vec![1, 2, 3, 4], true, 6.0));
        assert_eq!(all.cases, 40);
        assert_eq!(all.findings.iter().map(|f| f.case).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn the_first_early_stop_of_any_part_is_the_merges() {
        let mut timed = part(2, 3, 5, 1.0, &[]);
        timed.stopped = Stopped::Time;
        let merged = merge(vec![part(1, 3, 14, 1.0, &[]), timed.clone()]).unwrap();
        assert_eq!(merged.stopped, Stopped::Time);
        let mut failed = part(3, 3, 2, 1.0, &[2]);
        failed.stopped = Stopped::FirstFailure;
        assert_eq!(merge(vec![timed, failed]).unwrap().stopped, Stopped::FirstFailure);
    }

    #[test]
    fn parts_of_other_runs_or_twice_the_same_shard_do_not_merge() {
        assert_eq!(merge(vec![]), Err(MergeError::Empty));
        let mut other_seed = part(2, 3, 13, 1.0, &[]);
        other_seed.seed = 6;
        let err = merge(vec![part(1, 3, 14, 1.0, &[]), other_seed]).unwrap_err();
        assert_eq!(err.to_string(), "part 2 is of another run: its seed is 6, part 1's is 5");
        let mut other_target = part(2, 3, 13, 1.0, &[]);
        other_target.target = "partial_send".into();
        let err = merge(vec![part(1, 3, 14, 1.0, &[]), other_target]).unwrap_err();
        assert!(matches!(err, MergeError::Mismatch { field: "target", .. }), "{err}");
        let mut other_limit = part(2, 3, 13, 1.0, &[]);
        other_limit.cases_limit = 41;
        let err = merge(vec![part(1, 3, 14, 1.0, &[]), other_limit]).unwrap_err();
        assert!(matches!(err, MergeError::Mismatch { field: "cases_limit", .. }), "{err}");
        let err = merge(vec![part(1, 3, 14, 1.0, &[]), part(2, 4, 10, 1.0, &[])]).unwrap_err();
        assert_eq!(err.to_string(), "part 2 is of another run: its shard.n is 4, part 1's is 3");
        let err = merge(vec![part(1, 3, 14, 1.0, &[]), part(2, 3, 13, 1.0, &[]), part(1, 3, 14, 1.0, &[])]);
        assert_eq!(err.unwrap_err().to_string(), "shard 1/3 is in part 1 and again in part 3");
        let mut old = part(1, 3, 14, 1.0, &[]);
        old.schema_version = 0;
        assert_eq!(merge(vec![old]), Err(MergeError::Schema { part: 1, found: 0 }));
    }

    #[test]
    fn the_document_keeps_its_keys_and_nulls_and_reads_back() {
        let doc = part(1, 1, 3, 1.0, &[2]);
        let mut unsharded = doc.clone();
        unsharded.shard = None;
        let value: serde_json::Value = serde_json::from_str(&unsharded.to_json()).unwrap();
        let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = [
            "schema_version",
            "target",
            "seed",
            "cases_limit",
            "shard",
            "merged",
            "jobs",
            "cases",
            "seconds",
            "simulated_s",
            "cases_per_s",
            "simulated_per_wall",
            "stopped",
            "findings",
            "backend",
            "flaky",
        ];
        keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert!(value["shard"].is_null() && value["merged"].is_null());
        assert_eq!(value["stopped"], "done");
        let finding = value["findings"][0].as_object().unwrap();
        let mut keys: Vec<&str> = finding.keys().map(String::as_str).collect();
        let mut expected = [
            "case",
            "property",
            "detail",
            "file",
            "seed",
            "replay",
            "original_size",
            "shrunk_size",
            "shrink_runs",
            "failed_runs",
            "of_runs",
        ];
        keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert!(finding["failed_runs"].is_null() && finding["of_runs"].is_null(), "a simulated finding: {finding:?}");
        assert_eq!(value["backend"], "sim");
        assert_eq!(serde_json::from_str::<ExploreResults>(&doc.to_json()).unwrap(), doc);
        // A document written before `backend` and `flaky` existed reads as a simulated run without flaky cases.
        let mut old = value.clone();
        old.as_object_mut().unwrap().remove("backend");
        old.as_object_mut().unwrap().remove("flaky");
        let old: ExploreResults = serde_json::from_value(old).unwrap();
        assert_eq!((old.backend.as_str(), old.flaky.len()), ("sim", 0));
        let value: serde_json::Value = serde_json::from_str(&doc.to_json()).unwrap();
        assert_eq!(value["shard"], serde_json::json!({ "k": 1, "n": 1 }));
    }
}
