//! Property exploration: proptest generates whole scenarios (the same [`Scenario`] type that files load), each
//! case is one full simulation judged by the oracles, and a failing case is shrunk (by [`super::shrink`]) to a
//! minimal scenario that is written as a scenario file and replayed by one command.
//!
//! Case `i` of a run with seed `S` is generated from its own generator, seeded by `(S, i)`: the set of cases
//! depends on the seed and the case count only, not on the number of worker threads or on timing. That is what
//! lets a [`Shard`] of a run (`--shard K/N`, the cases `i` with `i % N == K - 1`) run on another machine and its
//! findings be merged with the other shards' into the findings of the whole run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};

use crate::hunt::run::{run_and_judge, run_once};
use crate::hunt::shrink::{shrink, Size};
use crate::judge::judgement::Judgement;
use crate::model::property::{Property, Verdict};
use crate::model::scenario::Scenario;
use crate::sim::target::Target;

use super::generate::{case_runner, scenario_strategy, Settings};

/// Simulations a failing case's shrink may spend.
pub const SHRINK_RUNS: usize = 2000;

/// What to explore.
#[derive(Debug, Clone)]
pub struct Options {
    /// Cases to run at most.
    pub cases: u64,
    /// Wall-time budget; `None` runs every case.
    pub time: Option<Duration>,
    /// The run's seed: with the same case count, the same cases.
    pub seed: u64,
    /// Worker threads.
    pub jobs: usize,
    /// Run every case twice and compare trace hashes.
    pub check_determinism: bool,
    /// Stop at the first failure (after shrinking it).
    pub stop_at_first: bool,
    /// Run only this share of the cases below `cases`, so that N machines split one run between them; `None`
    /// runs them all.
    pub shard: Option<Shard>,
}

impl Options {
    /// The case indices this run takes, in order: every case below `cases`, or the shard's share of them.
    pub fn planned(&self) -> u64 {
        self.shard.unwrap_or(Shard::WHOLE).count(self.cases)
    }

    /// The case index of the run's `slot`-th case (slot 0 first).
    fn case_at(&self, slot: u64) -> u64 {
        self.shard.unwrap_or(Shard::WHOLE).case_at(slot)
    }
}

/// Share `k` of `n` of a run's cases: the case indices `i` with `i % n == k - 1`. The `n` shards of one run are
/// disjoint and together are the whole run, whatever the case count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// Which share, from 1 to `n`.
    pub k: u64,
    /// How many shares the run is split into.
    pub n: u64,
}

impl Shard {
    /// The whole run as one shard.
    pub const WHOLE: Shard = Shard { k: 1, n: 1 };

    /// Share `k` of `n`, if `1 <= k <= n`.
    pub fn new(k: u64, n: u64) -> Option<Shard> {
        (1 <= k && k <= n).then_some(Shard { k, n })
    }

    /// Whether case `case` belongs to this share.
    pub fn contains(&self, case: u64) -> bool {
        case % self.n == self.k - 1
    }

    /// The `slot`-th case of this share (slot 0 first).
    pub fn case_at(&self, slot: u64) -> u64 {
        slot.saturating_mul(self.n).saturating_add(self.k - 1)
    }

    /// How many of the cases below `cases` belong to this share.
    pub fn count(&self, cases: u64) -> u64 {
        if cases < self.k {
            0
        } else {
            (cases - self.k) / self.n + 1
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `K/N`, as `--shard` takes it.
    fn from_str(s: &str) -> Result<Shard, String> {
        let (k, n) = s.split_once('/').ok_or_else(|| format!("`{s}` is not a shard: write K/N, e.g. 2/3"))?;
        let number = |part: &str| {
            part.trim().parse::<u64>().map_err(|_| format!("`{s}` is not a shard: K and N are whole numbers, e.g. 2/3"))
        };
        let (k, n) = (number(k)?, number(n)?);
        Shard::new(k, n).ok_or_else(|| format!("shard `{s}` is out of range: K/N needs 1 <= K <= N"))
    }
}

/// Why an exploration stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    /// Every planned case ran.
    Done,
    /// The wall-time budget ran out first.
    Time,
    /// A case failed and the run was to stop at the first failure.
    FirstFailure,
    /// The user interrupted it (Ctrl-C): what ran is reported.
    Interrupted,
}

/// The variable proptest users set for a number of cases: `explore` honours it when `--cases` is not given, and a
/// test that explores a server reads it through [`cases_from_env`].
pub const CASES_ENV: &str = "PROPTEST_CASES";

/// [`CASES_ENV`]'s case count, `None` when it is not set, so `PROPTEST_CASES=10000 cargo test` explores deeper as
/// proptest users expect.
///
/// # Errors
/// A value that is not a positive whole number, named.
pub fn cases_from_env() -> Result<Option<u64>, String> {
    match std::env::var(CASES_ENV) {
        Err(_) => Ok(None),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(format!("{CASES_ENV}={text:?} is not a positive number of cases")),
        },
    }
}

/// A failing case, shrunk.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The case's index.
    pub case: u64,
    /// The property that failed.
    pub property: Property,
    /// Its evidence, on the shrunk scenario.
    pub detail: String,
    /// The shrunk scenario (its first seed is the failing one).
    pub scenario: Scenario,
    /// The generated scenario's size before shrinking.
    pub original: Size,
    /// Simulations the shrink spent.
    pub shrink_runs: usize,
}

impl Finding {
    /// The seed the shrunk scenario fails under.
    pub fn seed(&self) -> u64 {
        self.scenario.seeds[0]
    }
}

/// What an exploration came to.
#[derive(Debug, Clone)]
pub struct Report {
    /// Cases run (not counting shrinking).
    pub cases: u64,
    /// Wall time, in seconds.
    pub seconds: f64,
    /// Failing cases, in case order.
    pub findings: Vec<Finding>,
    /// Simulated time of the cases' runs (not counting shrinking), in seconds.
    pub simulated: f64,
    /// Why it stopped: a reader of a short run must know whether it was cut or complete.
    pub stopped: Stopped,
}

impl Report {
    /// Cases per second of wall time.
    pub fn rate(&self) -> f64 {
        self.cases as f64 / self.seconds.max(1e-9)
    }

    /// Seconds of simulated time per second of wall time (over every job).
    pub fn simulated_per_wall(&self) -> f64 {
        self.simulated / self.seconds.max(1e-9)
    }
}

/// Progress, for a progress bar: cases run, failures so far.
pub type Progress<'a> = &'a (dyn Fn(u64, usize) + Sync);

/// Explores `target` with generated scenarios.
pub fn explore(options: &Options, target: &Target, progress: Progress) -> Report {
    explore_until(options, target, progress, &AtomicBool::new(false))
}

/// [`explore`], stopping (after the cases in progress) once `interrupt` is set: a Ctrl-C handler sets it, and the
/// report says what ran, with [`Stopped::Interrupted`].
pub fn explore_until(options: &Options, target: &Target, progress: Progress, interrupt: &AtomicBool) -> Report {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let timed_out = AtomicBool::new(false);
    let simulated = AtomicU64::new(0);
    let findings: Mutex<Vec<Finding>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1) {
            scope.spawn(|| loop {
                let case = options.case_at(next.fetch_add(1, Ordering::Relaxed) as u64);
                if case >= options.cases || stop.load(Ordering::Relaxed) || interrupt.load(Ordering::Relaxed) {
                    break;
                }
                if options.time.is_some_and(|t| started.elapsed() >= t) {
                    timed_out.store(true, Ordering::Relaxed);
                    break;
                }
                if let Some(finding) = run_case(options, target, case, &simulated) {
                    findings.lock().expect("findings lock").push(finding);
                    if options.stop_at_first {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                let cases = done.fetch_add(1, Ordering::Relaxed) as u64 + 1;
                progress(cases, findings.lock().expect("findings lock").len());
            });
        }
    });
    let mut findings = findings.into_inner().expect("findings lock");
    findings.sort_by_key(|f| f.case);
    let stopped = if interrupt.load(Ordering::Relaxed) {
        Stopped::Interrupted
    } else if stop.into_inner() {
        Stopped::FirstFailure
    } else if timed_out.into_inner() {
        Stopped::Time
    } else {
        Stopped::Done
    };
    Report {
        cases: done.into_inner() as u64,
        seconds: started.elapsed().as_secs_f64(),
        findings,
        simulated: simulated.into_inner() as f64 / 1e6,
        stopped,
    }
}

/// The first failing property of a case, judged once (or twice, for determinism), and the simulated time its run
/// took.
fn failure(options: &Options, target: &Target, scenario: &Scenario) -> (Option<Judgement>, Duration) {
    let seed = scenario.seeds[0];
    let (run, judgements) = if options.check_determinism {
        run_and_judge(scenario, seed, target)
    } else {
        run_once(scenario, seed, target)
    };
    let simulated = run.records.last().map_or(Duration::ZERO, |r| r.at);
    (judgements.into_iter().find(|j| j.verdict == Verdict::Fail), simulated)
}

/// Runs one case (adding the simulated time of its run to `simulated`, in µs); shrinks it if it fails.
fn run_case(options: &Options, target: &Target, case: u64, simulated: &AtomicU64) -> Option<Finding> {
    let mut runner = case_runner(options.seed, case);
    let strategy = scenario_strategy(options.seed, case, Settings::of(target));
    let tree = strategy.new_tree(&mut runner).expect("the strategy never rejects");
    let original = tree.current();
    let (first, took) = failure(options, target, &original);
    simulated.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    let first = first?;
    let property = first.property;
    // The harness's own shrinker, which knows the scenario's shape (clients, message blocks, payload sizes by
    // bisection, shaping, faults): measured against proptest's value-tree shrinking it reached smaller scenarios
    // in a tenth of the runs (partial_send, seed 0: 4 B in 16 runs against 65 B in 139), so it alone shrinks.
    let seed = original.seeds[0];
    let shrunk = shrink(&original, seed, target, property, SHRINK_RUNS);
    let runs = shrunk.runs;
    let best = match failure(options, target, &shrunk.scenario).0.filter(|j| j.property == property) {
        Some(j) => (shrunk.scenario, j),
        None => (original.clone(), first),
    };
    Some(Finding {
        case,
        property,
        detail: best.1.detail,
        original: Size::of(&original),
        scenario: best.0,
        shrink_runs: runs,
    })
}

/// Writes a finding against `target` as a scenario file in `dir`; returns its path.
pub fn write_finding(dir: &Path, target: &Target, seed: u64, finding: &Finding) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}-seed{seed}-case{}.toml", target.name(), finding.case));
    let text = format!(
        "# Found by exploring `{}` with seed {seed}, case {}: `{}` failed:\n# {}\n# Shrunk from {} to {}.\n# Replay: {}\n{}",
        target.name(),
        finding.case,
        finding.property.name(),
        finding.detail.replace('\n', " "),
        finding.original,
        Size::of(&finding.scenario),
        target.replay().command(&path, finding.seed()),
        finding.scenario.to_toml()
    );
    std::fs::write(&path, text)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn the_shards_of_a_run_split_its_cases() {
        for cases in [1, 2, 3, 4, 10, 40] {
            let mut seen = Vec::new();
            for k in 1..=3 {
                let shard = Shard::new(k, 3).unwrap();
                let taken: Vec<u64> = (0..).map(|slot| shard.case_at(slot)).take_while(|&c| c < cases).collect();
                assert_eq!(taken.len() as u64, shard.count(cases), "{shard} of {cases}");
                assert!(taken.iter().all(|&c| shard.contains(c)), "{shard}: {taken:?}");
                seen.extend(taken);
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..cases).collect::<Vec<_>>());
        }
        assert_eq!(Shard::WHOLE.count(40), 40);
    }

    #[test]
    fn a_shard_reads_as_k_of_n() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { k: 2, n: 3 }));
        assert_eq!("2/3".parse::<Shard>().unwrap().to_string(), "2/3");
        for bad in ["0/3", "4/3", "a/b", "3", "1/0", "-1/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
