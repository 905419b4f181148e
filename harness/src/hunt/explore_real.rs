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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// The run's seed: with the same case count, the same cases every time (drawn from the simulator's
    /// generator, then restricted and compressed for real sockets by [`real_case`]).
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
    /// A server at an address that stopped answering (the run stopped there: every later case would fail).
    pub gone: Option<String>,
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
    if matches!(target, RealTarget::External(_)) {
        // Server-side shaping is the built-in server's (it wraps its own accepted streams); another server's
        // streams are its own, and a shrink would spend runs removing what was never played.
        s.server.shaping = Default::default();
    }
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

/// Whether one run of `scenario` fails `property` (whatever else it fails), with the evidence.
async fn fails(scenario: &Scenario, target: &RealTarget, property: Property) -> Option<String> {
    let run = run_once(scenario, scenario.seeds[0], target).await;
    judge(scenario, &run).into_iter().find(|j| j.property == property && j.verdict == Verdict::Fail).map(|j| j.detail)
}

/// Whether the harness starts the server of each run (on a port of the run's own), so runs can go side by side.
fn own_servers(target: &RealTarget) -> bool {
    !matches!(target, RealTarget::External(Server::Addr(_)))
}

/// How many of `runs` runs of `scenario` fail `property`, with the evidence of the last that did. With
/// `side_by_side` (and a server per run) they run together: a shrinking step costs about one run's wall time
/// instead of `runs` of them. Otherwise one after the other, so that a burst of load on the machine does not
/// fail them all at once: the confirmation that decides whether a failure counts is made that way.
async fn failing_runs(
    scenario: &Scenario,
    target: &RealTarget,
    property: Property,
    runs: usize,
    side_by_side: bool,
) -> (usize, Option<String>) {
    let (mut failed, mut detail) = (0, None);
    if !(side_by_side && own_servers(target)) {
        for _ in 0..runs {
            if let Some(d) = fails(scenario, target, property).await {
                failed += 1;
                detail = Some(d);
            }
        }
        return (failed, detail);
    }
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..runs {
        let (scenario, target) = (scenario.clone(), target.clone());
        set.spawn(async move { fails(&scenario, &target, property).await });
    }
    while let Some(outcome) = set.join_next().await {
        if let Ok(Some(d)) = outcome {
            failed += 1;
            detail = Some(d);
        }
    }
    (failed, detail)
}

/// Whether a server the harness did not start still answers (after a case that may have killed it).
async fn answers(target: &RealTarget) -> bool {
    match target {
        RealTarget::External(Server::Addr(addr)) => {
            let connect = tokio::net::TcpStream::connect(*addr);
            matches!(tokio::time::timeout(Duration::from_secs(2), connect).await, Ok(Ok(_)))
        }
        _ => true,
    }
}

/// What the jobs of one exploration share.
struct Shared<'a> {
    options: &'a RealOptions,
    target: &'a RealTarget,
    handle: &'a tokio::runtime::Handle,
    interrupt: &'a AtomicBool,
    started: Instant,
    /// The lowest case whose failure was confirmed (`u64::MAX` while none): when the run stops at the first
    /// failure, no case starts after one is confirmed, and the shrink of a higher case gives way to it.
    first_confirmed: AtomicU64,
}

impl Shared<'_> {
    /// Whether work on `case` should stop: interrupted, or a lower case's failure confirmed when the run stops at
    /// the first.
    fn yields(&self, case: u64) -> bool {
        self.interrupt.load(Ordering::Relaxed)
            || (self.options.stop_at_first && self.first_confirmed.load(Ordering::Relaxed) < case)
    }
}

/// Explores `target` on real sockets on the runtime behind `handle`, stopping new cases once `interrupt` is set.
/// A server at an address (`--addr`) is shared by every run, so its cases and re-runs go one at a time, and the
/// run stops when it no longer answers.
pub fn explore_real(
    options: &RealOptions,
    target: &RealTarget,
    handle: &tokio::runtime::Handle,
    progress: RealProgress,
    interrupt: &AtomicBool,
) -> RealReport {
    let shared = Shared {
        options,
        target,
        handle,
        interrupt,
        started: Instant::now(),
        first_confirmed: AtomicU64::new(u64::MAX),
    };
    let shard = options.shard.unwrap_or(Shard::WHOLE);
    let (next, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let timed_out = AtomicBool::new(false);
    let gone: Mutex<Option<String>> = Mutex::new(None);
    let found: Mutex<(Vec<RealFinding>, Vec<RealFinding>)> = Mutex::new((Vec::new(), Vec::new()));
    let jobs = if own_servers(target) { options.jobs.max(1) } else { 1 };
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let case = shard.case_at(next.fetch_add(1, Ordering::Relaxed) as u64);
                let first = shared.first_confirmed.load(Ordering::Relaxed);
                if case >= options.cases || shared.yields(case) || (options.stop_at_first && first != u64::MAX) {
                    break;
                }
                if options.time.is_some_and(|t| shared.started.elapsed() >= t) {
                    timed_out.store(true, Ordering::Relaxed);
                    break;
                }
                if gone.lock().expect("gone lock").is_some() {
                    break;
                }
                let finding = run_case(&shared, case);
                if !handle.block_on(answers(target)) {
                    let mut gone = gone.lock().expect("gone lock");
                    gone.get_or_insert(format!("the server at {} stopped answering after case {case}", target.name()));
                }
                if let Some(finding) = finding {
                    let mut found = found.lock().expect("findings lock");
                    if !finding.confirmed() {
                        found.1.push(finding);
                    } else if !options.stop_at_first || shared.first_confirmed.load(Ordering::Relaxed) == case {
                        found.0.push(finding);
                    } // else a lower case was confirmed meanwhile, and this one's shrink gave way to it
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
    } else if options.stop_at_first && !findings.is_empty() {
        Stopped::FirstFailure
    } else if timed_out.into_inner() {
        Stopped::Time
    } else {
        Stopped::Done
    };
    RealReport {
        cases: done.into_inner() as u64,
        seconds: shared.started.elapsed().as_secs_f64(),
        findings,
        flaky,
        stopped,
        gone: gone.into_inner().expect("gone lock"),
    }
}

/// Runs case `case`; a failure is re-run to confirm it (one run after the other), and shrunk if every run failed
/// it. The shrunk scenario is confirmed again the same way; if it no longer fails every run, the case as
/// generated is reported.
fn run_case(shared: &Shared, case: u64) -> Option<RealFinding> {
    let Shared { options, target, handle, .. } = *shared;
    let original = real_case(options.seed, case, target, options.reply);
    if unsupported(&original, target).is_some() {
        return None; // not generated for such a target; a guard, so that a case never fails for the harness
    }
    let (property, detail) = handle.block_on(first_failure(&original, target))?;
    if !handle.block_on(answers(target)) {
        // A server the harness did not start died in this case: it can be neither re-run nor shrunk, and the
        // death is the finding.
        shared.first_confirmed.fetch_min(case, Ordering::Relaxed);
        return Some(RealFinding {
            case,
            property,
            detail: format!("{detail}; then the server at {} stopped answering", target.name()),
            scenario: original.clone(),
            original: Size::of(&original),
            failed: 1,
            runs: 1,
            shrink_runs: 0,
            found_after: shared.started.elapsed().as_secs_f64(),
        });
    }
    let (confirmed, last) = handle.block_on(failing_runs(&original, target, property, options.confirm, false));
    let (failed, runs) = (confirmed + 1, options.confirm + 1);
    let mut finding = RealFinding {
        case,
        property,
        detail: last.unwrap_or(detail),
        scenario: original.clone(),
        original: Size::of(&original),
        failed,
        runs,
        shrink_runs: 0,
        found_after: shared.started.elapsed().as_secs_f64(),
    };
    if !finding.confirmed() {
        return Some(finding);
    }
    shared.first_confirmed.fetch_min(case, Ordering::Relaxed);
    // Shrink, every candidate confirmed as the case was: it fails on each of `runs` runs or it is not kept.
    let deadline = Instant::now() + options.shrink_time;
    let mut spent = 0;
    let shrunk = shrink_by(&original, |candidate| {
        if Instant::now() >= deadline || shared.yields(case) {
            return None;
        }
        if unsupported(candidate, target).is_some() {
            return Some(false);
        }
        // One run first (most candidates pass, and cost just that), then the re-runs side by side.
        spent += 1;
        if handle.block_on(fails(candidate, target, property)).is_none() {
            return Some(false);
        }
        spent += options.confirm;
        let (failed, _) = handle.block_on(failing_runs(candidate, target, property, options.confirm, true));
        Some(failed == options.confirm)
    });
    finding.shrink_runs = spent;
    if shrunk.to_toml() != original.to_toml() && !shared.yields(case) {
        spent += options.confirm;
        let (failed, last) = handle.block_on(failing_runs(&shrunk, target, property, options.confirm, false));
        finding.shrink_runs = spent;
        if let (true, Some(detail)) = (failed == options.confirm, last) {
            finding.detail = detail;
            finding.scenario = shrunk;
        }
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
            // The script an interpreter runs (the first argument that names one), else the program.
            const SCRIPTS: [&str; 10] = [".py", ".js", ".mjs", ".rb", ".pl", ".sh", ".php", ".go", ".lua", ".tcl"];
            let script = words.iter().skip(1).find(|w| SCRIPTS.iter().any(|x| w.ends_with(x)));
            let named = script.or(words.first());
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
        let counted = RealTarget::External(Server::Command("python3 servers/flaky.py /tmp/starts.count {port}".into()));
        assert_eq!(target_slug(&counted), "flaky");
    }
}
