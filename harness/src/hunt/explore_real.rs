//! Exploring a server on real sockets (`explore --target "CMD {port}"` or `--addr`): any server, in any language.
//!
//! The cases are the simulated exploration's (case `i` of seed `S` is drawn from the same generator), restricted
//! to what real sockets can play: no server settings (a server outside the harness takes none), no restart of a
//! server the harness did not start, and their time compressed ([`compress`]) so that a case takes well under a
//! second where the server allows it. Each case runs on 127.0.0.1 through the real runner, against a server
//! process of its own on a port of its own (so a server that died is started afresh for the next case, and its
//! death is the evidence of the case that killed it), and is judged by the same oracles.
//!
//! Real runs are not deterministic, so a failure counts only when confirmed: the case is run again
//! ([`RealOptions::confirm`] times) and is a finding only if every run fails the same property ("failed 4 of
//! 4"). Otherwise it is *flaky* ("failed 1 of 4"): reported apart, with its file, never as a verdict on the
//! server. Shrinking uses the same confirmation for every candidate, so the minimal scenario still fails every
//! time. It prints nothing: the binary shows progress and writes the files ([`write_real_finding`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::judge::oracles::judge;
use crate::model::property::{Property, Verdict};
use crate::model::scenario::{Action, Backend, Scenario};
use crate::model::transform::Transform;
use crate::real::launch::Server;
use crate::real::runner::{run_once, unsupported, RealTarget};

use super::explore::{Shard, Stopped};
use super::generate::{generate, Settings};
use super::shrink::{shrink_by, Size};

/// What to explore on real sockets.
#[derive(Debug, Clone)]
pub struct RealOptions {
    /// Cases to run at most.
    pub cases: u64,
    /// Wall-time budget for new cases (a failure found before it runs out is still confirmed and shrunk).
    pub time: Option<Duration>,
    /// The run's seed: with the same case count, the same cases as `explore --seed` in the simulator.
    pub seed: u64,
    /// Cases run side by side, each against its own server process on its own port.
    pub jobs: usize,
    /// Re-runs a failure must fail too to count (and each shrinking candidate too).
    pub confirm: usize,
    /// Stop at the first confirmed failure (after shrinking it).
    pub stop_at_first: bool,
    /// Wall time one finding's shrink may take; then the smallest scenario confirmed so far is kept.
    pub shrink_time: Duration,
    /// What a correct reply is.
    pub reply: Transform,
    /// Run only this share of the cases, as `explore --shard` in the simulator.
    pub shard: Option<Shard>,
}

impl RealOptions {
    /// The cases this run takes.
    pub fn planned(&self) -> u64 {
        self.shard.unwrap_or(Shard::WHOLE).count(self.cases)
    }
}

/// A failure on real sockets: confirmed (and shrunk), or flaky (as generated).
#[derive(Debug, Clone)]
pub struct RealFinding {
    /// The case's index.
    pub case: u64,
    /// The property that failed.
    pub property: Property,
    /// Its evidence, from the last failing run of `scenario`.
    pub detail: String,
    /// The shrunk scenario (a flaky one's is as generated); its first seed draws its payloads.
    pub scenario: Scenario,
    /// The generated scenario's size.
    pub original: Size,
    /// Runs of `scenario` that failed `property` ...
    pub failed: usize,
    /// ... of these runs.
    pub runs: usize,
    /// Runs the shrink spent.
    pub shrink_runs: usize,
    /// Seconds from the start of the exploration until the failure was confirmed (before shrinking).
    pub found_after: f64,
}

impl RealFinding {
    /// Whether every run failed: a finding, not a flake.
    pub fn confirmed(&self) -> bool {
        self.failed == self.runs
    }

    /// The seed of the scenario's payloads.
    pub fn seed(&self) -> u64 {
        self.scenario.seeds[0]
    }
}

/// What a real exploration came to.
#[derive(Debug, Clone)]
pub struct RealReport {
    /// Cases run (not counting re-runs and shrinking).
    pub cases: u64,
    /// Wall time, in seconds.
    pub seconds: f64,
    /// Confirmed failures, shrunk, in case order.
    pub findings: Vec<RealFinding>,
    /// Failures that did not reproduce on every re-run, in case order.
    pub flaky: Vec<RealFinding>,
    /// Why it stopped.
    pub stopped: Stopped,
}

impl RealReport {
    /// Cases per second of wall time.
    pub fn rate(&self) -> f64 {
        self.cases as f64 / self.seconds.max(1e-9)
    }
}

/// Progress: cases run, confirmed failures, flaky ones.
pub type RealProgress<'a> = &'a (dyn Fn(u64, usize, usize) + Sync);

/// How much faster than in the simulator a real case plays its timeline: fault times, holds, latencies and
/// pauses divided by it. Real time is the budget here (a simulated case costs microseconds per simulated
/// millisecond, a real one the millisecond itself), and a cut of 50 ms shows what one of 150 ms does.
pub const COMPRESSION: u32 = 3;

/// Case `case` of a real exploration under `seed`: the simulator's case for a target that takes no settings,
/// without restarts when the harness cannot restart the server, its time compressed, replies judged by `reply`.
pub fn real_case(seed: u64, case: u64, target: &RealTarget, reply: Transform) -> Scenario {
    let mut s = generate(seed, case, Settings::Unknown);
    s.name = format!("real-{seed}-{case}");
    s.path = PathBuf::from(format!("{}.toml", s.name));
    s.description = format!("generated by `echo-harness explore --seed {seed}` on real sockets, case {case}");
    s.backend = Backend::Real;
    s.server.reply = reply;
    s.server.config = Default::default();
    if matches!(target, RealTarget::External(Server::Addr(_))) {
        s.timeline.retain(|f| !matches!(f.action, Action::Bounce | Action::Stop | Action::Start | Action::Crash));
    }
    compress(&mut s, COMPRESSION);
    // A real server closes a left client's connection in milliseconds; waiting a second for one that never
    // will (a serial server's backlog) would make every failing run, and so every shrinking step, that much longer.
    s.limits.drain = s.limits.drain.min(REAL_DRAIN);
    s
}

/// How long a real case gives the server to close its side of every connection once the clients have left.
pub const REAL_DRAIN: Duration = Duration::from_millis(500);

/// Divides a scenario's times by `factor`: the timeline, the clients' starts and pauses, the latencies. Bounds
/// (timeouts, deadlines) are kept: a server gets as long as in the simulator to answer.
/// Times stay whole milliseconds, as a scenario file writes them; a pause that rounds to nothing is dropped.
pub fn compress(s: &mut Scenario, factor: u32) {
    let f = u128::from(factor.max(1));
    let div = |d: Duration| Duration::from_millis((d.as_millis() / f) as u64);
    for fault in &mut s.timeline {
        fault.at = div(fault.at);
        if let Action::Latency(_, d) = &mut fault.action {
            *d = div(*d);
        }
    }
    for c in &mut s.clients {
        c.start = div(c.start);
        c.shaping.read_pause = c.shaping.read_pause.map(div).filter(|p| !p.is_zero());
        c.shaping.write_pause = c.shaping.write_pause.map(div).filter(|p| !p.is_zero());
    }
    s.network.latency = div(s.network.latency.start)..div(s.network.latency.end);
}

/// The first property one run of `scenario` fails, with its evidence.
async fn first_failure(scenario: &Scenario, target: &RealTarget) -> Option<(Property, String)> {
    let run = run_once(scenario, scenario.seeds[0], target).await;
    judge(scenario, &run).into_iter().find(|j| j.verdict == Verdict::Fail).map(|j| (j.property, j.detail))
}

/// How many of `runs` runs of `scenario`, side by side (each against its own server process on its own port),
/// fail `property`, with the evidence of the last that did. Side by side, a confirmation costs about one run's
/// wall time instead of `runs` of them; the machine is busier meanwhile, which a correct server must stand.
async fn failing_runs(
    scenario: &Scenario,
    target: &RealTarget,
    property: Property,
    runs: usize,
) -> (usize, Option<String>) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..runs {
        let (scenario, target) = (scenario.clone(), target.clone());
        set.spawn(async move { first_failure(&scenario, &target).await });
    }
    let (mut failed, mut detail) = (0, None);
    while let Some(outcome) = set.join_next().await {
        if let Ok(Some((p, d))) = outcome {
            if p == property {
                failed += 1;
                detail = Some(d);
            }
        }
    }
    (failed, detail)
}

/// Explores `target` on real sockets on the runtime behind `handle`, stopping new cases once `interrupt` is set.
pub fn explore_real(
    options: &RealOptions,
    target: &RealTarget,
    handle: &tokio::runtime::Handle,
    progress: RealProgress,
    interrupt: &AtomicBool,
) -> RealReport {
    let started = Instant::now();
    let shard = options.shard.unwrap_or(Shard::WHOLE);
    let (next, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let (stop, timed_out) = (AtomicBool::new(false), AtomicBool::new(false));
    let found: Mutex<(Vec<RealFinding>, Vec<RealFinding>)> = Mutex::new((Vec::new(), Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1) {
            scope.spawn(|| loop {
                let case = shard.case_at(next.fetch_add(1, Ordering::Relaxed) as u64);
                if case >= options.cases || stop.load(Ordering::Relaxed) || interrupt.load(Ordering::Relaxed) {
                    break;
                }
                if options.time.is_some_and(|t| started.elapsed() >= t) {
                    timed_out.store(true, Ordering::Relaxed);
                    break;
                }
                if let Some(finding) = run_case(options, target, handle, case, interrupt, &stop, started) {
                    let mut found = found.lock().expect("findings lock");
                    if finding.confirmed() && options.stop_at_first && stop.load(Ordering::Relaxed) {
                        // Another job's finding stopped the run, and this one's shrink with it: one is reported.
                    } else if finding.confirmed() {
                        found.0.push(finding);
                        if options.stop_at_first {
                            stop.store(true, Ordering::Relaxed);
                        }
                    } else {
                        found.1.push(finding);
                    }
                }
                let cases = done.fetch_add(1, Ordering::Relaxed) as u64 + 1;
                let found = found.lock().expect("findings lock");
                progress(cases, found.0.len(), found.1.len());
            });
        }
    });
    let (mut findings, mut flaky) = found.into_inner().expect("findings lock");
    findings.sort_by_key(|f| f.case);
    flaky.sort_by_key(|f| f.case);
    let stopped = if interrupt.load(Ordering::Relaxed) {
        Stopped::Interrupted
    } else if stop.into_inner() {
        Stopped::FirstFailure
    } else if timed_out.into_inner() {
        Stopped::Time
    } else {
        Stopped::Done
    };
    RealReport { cases: done.into_inner() as u64, seconds: started.elapsed().as_secs_f64(), findings, flaky, stopped }
}

/// Runs case `case`; a failure is re-run to confirm it, and shrunk if every run failed.
fn run_case(
    options: &RealOptions,
    target: &RealTarget,
    handle: &tokio::runtime::Handle,
    case: u64,
    interrupt: &AtomicBool,
    stop: &AtomicBool,
    started: Instant,
) -> Option<RealFinding> {
    let original = real_case(options.seed, case, target, options.reply);
    if unsupported(&original, target).is_some() {
        return None; // not generated for such a target; a guard, so that a case never fails for the harness
    }
    let (property, detail) = handle.block_on(first_failure(&original, target))?;
    let (confirmed, last) = handle.block_on(failing_runs(&original, target, property, options.confirm));
    let (failed, runs, detail) = (confirmed + 1, options.confirm + 1, last.unwrap_or(detail));
    let mut finding = RealFinding {
        case,
        property,
        detail,
        scenario: original.clone(),
        original: Size::of(&original),
        failed,
        runs,
        shrink_runs: 0,
        found_after: started.elapsed().as_secs_f64(),
    };
    if !finding.confirmed() {
        return Some(finding);
    }
    // Shrink, with every candidate confirmed as the case was: it fails on each of `runs` runs or it is not kept.
    let deadline = Instant::now() + options.shrink_time;
    let mut spent = 0;
    let mut last_detail = None;
    let shrunk = shrink_by(&original, |candidate| {
        // Out of time, interrupted, or (stopping at the first failure) another job has its finding already.
        if Instant::now() >= deadline || interrupt.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed) {
            return None;
        }
        if unsupported(candidate, target).is_some() {
            return Some(false);
        }
        // One run first (most candidates pass, and cost just that), then the re-runs side by side.
        spent += 1;
        match handle.block_on(first_failure(candidate, target)) {
            Some((p, _)) if p == property => {}
            _ => return Some(false),
        }
        spent += options.confirm;
        let (failed, evidence) = handle.block_on(failing_runs(candidate, target, property, options.confirm));
        if failed < options.confirm {
            return Some(false);
        }
        last_detail = evidence;
        Some(true)
    });
    finding.shrink_runs = spent;
    if Size::of(&shrunk) != Size::of(&original) || shrunk.to_toml() != original.to_toml() {
        if let Some(d) = last_detail {
            finding.detail = d;
        }
        finding.scenario = shrunk;
    }
    Some(finding)
}

/// A short name for a target in file names: the server script's stem (`single_client` for `python3
/// servers/single_client.py {port}`), the program's, or the address.
pub fn target_slug(target: &RealTarget) -> String {
    let text = match target {
        RealTarget::Builtin => "builtin".to_string(),
        RealTarget::External(Server::Addr(a)) => a.to_string(),
        RealTarget::External(Server::Command(c)) => {
            let words: Vec<&str> =
                c.split_whitespace().filter(|w| !w.contains("{port}") && !w.starts_with('-')).collect();
            // The last word that names a file (a script), else the program.
            let named = words.iter().rev().find(|w| w.contains('.') || w.contains('/')).or(words.first());
            let word = named.copied().unwrap_or("server");
            let base = word.rsplit('/').next().unwrap_or(word);
            base.split('.').next().unwrap_or(base).to_string()
        }
    };
    let slug: String = text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "server".into()
    } else {
        slug.chars().take(40).collect()
    }
}

/// Writes a real finding (confirmed or flaky) as a scenario file in `dir`, with the target and the replay in
/// its header; returns its path.
pub fn write_real_finding(
    dir: &Path,
    target: &RealTarget,
    seed: u64,
    finding: &RealFinding,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let kind = if finding.confirmed() { "" } else { "-flaky" };
    let path = dir.join(format!("real-{}-seed{seed}-case{}{kind}.toml", target_slug(target), finding.case));
    let shrunk = if finding.confirmed() {
        format!(
            "# Shrunk from {} to {} in {} runs.\n",
            finding.original,
            Size::of(&finding.scenario),
            finding.shrink_runs
        )
    } else {
        "# Flaky: it did not fail on every run, so it is not a verdict on the server (and was not shrunk).\n".into()
    };
    let mut scenario = finding.scenario.clone();
    scenario.description = format!(
        "found by `echo-harness explore --seed {seed}` on real sockets, case {}: {} failed {} of {} runs",
        finding.case,
        finding.property.name(),
        finding.failed,
        finding.runs
    );
    let text = format!(
        "# Found by exploring `{}` on real sockets with seed {seed}, case {}: `{}` failed {} of {} runs:\n# {}\n{shrunk}# Target: {}\n# Replay: {}\n{}",
        target.name(),
        finding.case,
        finding.property.name(),
        finding.failed,
        finding.runs,
        finding.detail.replace('\n', " "),
        target.name(),
        target.replay().command(&path, finding.seed()),
        scenario.to_toml()
    );
    std::fs::write(&path, text)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scenario::Payload;

    fn python(script: &str) -> RealTarget {
        RealTarget::External(Server::Command(format!("python3 harness/tests/servers/{script}.py {{port}}")))
    }

    #[test]
    fn real_cases_take_no_settings_and_no_restart_of_a_server_the_harness_did_not_start() {
        let addr = RealTarget::External(Server::Addr("127.0.0.1:7".parse().unwrap()));
        let mut restarts = 0;
        for case in 0..300 {
            let s = real_case(3, case, &python("correct"), Transform::Identity);
            assert!(unsupported(&s, &python("correct")).is_none(), "case {case}");
            assert_eq!(s.backend, Backend::Real);
            assert_eq!(s.server.reply, Transform::Identity);
            restarts += usize::from(s.restarts_server());
            let a = real_case(3, case, &addr, Transform::Upper);
            assert!(!a.restarts_server() && unsupported(&a, &addr).is_none(), "case {case}");
        }
        assert!(restarts > 30, "restarts are explored where the harness starts the server: {restarts} of 300");
    }

    #[test]
    fn compression_divides_the_timeline_and_keeps_the_bounds() {
        let plain = generate(9, 4, Settings::Unknown);
        let real = real_case(9, 4, &python("correct"), Transform::Upper);
        assert_eq!(real.limits.io_timeout, plain.limits.io_timeout);
        for (a, b) in plain.timeline.iter().zip(&real.timeline) {
            assert_eq!(b.at.as_millis(), a.at.as_millis() / u128::from(COMPRESSION));
        }
        assert_eq!(real.network.latency.end.as_millis(), plain.network.latency.end.as_millis() / 3);
        let messages = |s: &Scenario| s.clients.iter().map(|c| c.messages.clone()).collect::<Vec<Vec<Payload>>>();
        assert_eq!(messages(&real), messages(&plain), "the same conversation, faster");
    }

    #[test]
    fn a_finding_file_says_backend_real_and_replays_on_real_sockets() {
        let target = python("single_client");
        let scenario = real_case(1, 2, &target, Transform::Upper);
        let finding = RealFinding {
            case: 2,
            property: Property::Survival,
            detail: "client-1 refused".into(),
            original: Size::of(&scenario),
            scenario,
            failed: 4,
            runs: 4,
            shrink_runs: 9,
            found_after: 1.5,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = write_real_finding(dir.path(), &target, 1, &finding).unwrap();
        assert!(path.ends_with("real-single_client-seed1-case2.toml"), "{}", path.display());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("failed 4 of 4 runs"), "{text}");
        assert!(text.contains("--backend real"), "{text}");
        assert!(text.contains("--target 'python3 harness/tests/servers/single_client.py {port}'"), "{text}");
        let again = Scenario::load(&path).unwrap();
        assert_eq!(again.backend, Backend::Real);
        assert_eq!(again.clients, finding.scenario.clients);
    }

    #[test]
    fn slugs_name_the_script() {
        assert_eq!(target_slug(&python("correct")), "correct");
        let socat = RealTarget::External(Server::Command("socat TCP-LISTEN:{port},fork,reuseaddr EXEC:cat".into()));
        assert_eq!(target_slug(&socat), "socat");
        let go = RealTarget::External(Server::Command("./bin/echo-server --port {port}".into()));
        assert_eq!(target_slug(&go), "echo-server");
    }
}
