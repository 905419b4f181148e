//! `check`: the scenario suite in the simulator (with the kernel checks and the catalogue beside it), the
//! scenario files on real sockets (`--backend real`), or the black-box properties against a server command or
//! address. One report, written and printed the same way for all three.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::{bail, Context};
use clap::builder::TypedValueParser;
use clap::Args;

use echo_harness::hunt::{catalogue, check, mutants};
use echo_harness::real::blackbox::{self, Transform};
use echo_harness::real::kernel;
use echo_harness::real::launch::{self, Server};
use echo_harness::real::runner::RealTarget;
use echo_harness::report::check_report::CheckReport;
use echo_harness::sim::target::Target;

use super::dirs::ensure_writable;
use super::finish::{finish_check, Finish};
use super::shared::{
    all_cores, ensure_upper_replies, load_scenarios, progress_bar, resolve_target, runtime_stopping_on_ctrl_c, tick,
    INTERRUPTED,
};

/// `check`'s flags.
#[derive(Args)]
pub struct CheckArgs {
    /// Directory of scenario files.
    #[arg(long, default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Where to write check.md and check.json.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256).map(|v| v as usize))]
    pub jobs: Option<usize>,
    /// The server under test: `builtin`, a mutant's name (`echo-harness mutants --list`), or a command line
    /// with `{port}` (e.g. "python3 server.py {port}") that the harness starts and checks over real sockets.
    #[arg(long, default_value = "builtin")]
    pub target: String,
    /// Check a server already listening at HOST:PORT over real sockets (restart properties are skipped).
    #[arg(long, conflicts_with = "target")]
    pub addr: Option<SocketAddr>,
    /// Where the scenarios run: `sim` (turmoil) or `real` (sockets on 127.0.0.1, faults played by a proxy).
    #[arg(long, value_enum, default_value = "sim")]
    pub backend: BackendArg,
    /// The reply a black-box server owes: `upper` (the tutorial's) or `identity` (RFC 862 echo).
    #[arg(long, value_enum)]
    pub transform: Option<TransformArg>,
    /// Do not hunt the catalogue of planted bugs (it runs with the built-in target only).
    #[arg(long)]
    pub skip_mutants: bool,
    /// Do not run the kernel checks on real sockets.
    #[arg(long)]
    pub skip_kernel: bool,
}

/// `--backend`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum BackendArg {
    /// turmoil's simulated network, under explicit seeds.
    Sim,
    /// Real sockets on 127.0.0.1.
    Real,
}

/// `--transform`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TransformArg {
    /// Upper-cased as Python's bytes.upper().
    Upper,
    /// Unchanged.
    Identity,
}

/// Runs `check` as its flags say.
pub fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let finish_at = std::time::Instant::now();
    let CheckArgs { scenarios, json, report_dir, jobs, target, addr, backend, transform, skip_mutants, skip_kernel } =
        args;
    ensure_writable(&report_dir, "--report-dir")?;
    let finish = Finish { json, report_dir: &report_dir, started: finish_at };
    if let Some(addr) = addr {
        // Nothing listening is a usage error, not twelve failed properties.
        let probe = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2));
        if let Err(e) = probe {
            bail!(
                "--addr {addr}: nothing answers there ({e}): start the server first, or give --target 'CMD {{port}}'"
            );
        }
    }
    let server = match addr {
        Some(addr) => Some(Server::Addr(addr)),
        None if target.contains("{port}") || target.contains(char::is_whitespace) => {
            Some(Server::Command(target.clone()))
        }
        None => None,
    };
    if let BackendArg::Real = backend {
        if transform.is_some() {
            bail!("--transform goes with the black-box properties (no --backend real): scenario files expect upper-cased replies");
        }
        let target = match server {
            Some(server) => RealTarget::External(server),
            None if target == "builtin" => RealTarget::Builtin,
            None => bail!(
                "--backend real runs the built-in server or a command line with {{port}} (or --addr), not `{target}`: planted bugs live in the simulator"
            ),
        };
        return check_real(&scenarios, jobs, &target, !skip_kernel, &finish);
    }
    if let Some(server) = server {
        let transform = match transform.unwrap_or(TransformArg::Upper) {
            TransformArg::Upper => Transform::Upper,
            TransformArg::Identity => Transform::Identity,
        };
        return check_blackbox(&server, transform, &finish);
    }
    if transform.is_some() {
        bail!("--transform goes with a black-box target (a command with {{port}}, or --addr), not `{target}`");
    }
    let catalogue = target == "builtin" && !skip_mutants;
    check_sim(&scenarios, jobs, &resolve_target(&target)?, catalogue, !skip_kernel, &finish)
}

/// `check --backend real`: the scenario files on real sockets.
fn check_real(
    dir: &Path,
    jobs: Option<usize>,
    target: &RealTarget,
    with_kernel: bool,
    finish: &Finish,
) -> anyhow::Result<u8> {
    let scenarios = load_scenarios(dir)?;
    if *target == RealTarget::Builtin {
        ensure_upper_replies(&scenarios, "builtin")?;
    }
    let ctrl_c = runtime_stopping_on_ctrl_c(Some(&INTERRUPTED))?;
    if let RealTarget::External(Server::Command(template)) = target {
        // A server that cannot start is an input error, not a failed property.
        ctrl_c.block_on(launch::ensure_starts(template, launch::DEFAULT_STARTUP))?;
    }
    // A server the harness did not start is shared by every scenario: one at a time, or they count each
    // other's connections.
    let jobs = if matches!(target, RealTarget::External(Server::Addr(_))) { 1 } else { all_cores(jobs) };
    let bar = progress_bar(scenarios.len(), "scenarios on real sockets");
    let progress = |name: &str| tick(&bar, name);
    let mut report = CheckReport::of(check::check_real_with(&scenarios, target, jobs, &progress, &INTERRUPTED));
    bar.finish_and_clear();
    if with_kernel && !INTERRUPTED.load(Ordering::Relaxed) {
        report.kernel = kernel_checks();
    }
    interrupted(finish_check(&report, finish)?)
}

/// The exit code of a check that Ctrl-C may have cut short: 130 when it was and nothing failed in what ran (a
/// cut run has not passed), else `code`.
fn interrupted(code: u8) -> anyhow::Result<u8> {
    if !INTERRUPTED.load(Ordering::Relaxed) {
        return Ok(code);
    }
    println!("interrupted (Ctrl-C): the report covers what ran before it");
    Ok(if code == echo_harness::exit::HELD { 130 } else { code })
}

/// `check` against a server outside the process, over real sockets.
fn check_blackbox(server: &Server, transform: Transform, finish: &Finish) -> anyhow::Result<u8> {
    let options = blackbox::Options { transform, ..blackbox::Options::default() };
    let bar = progress_bar(blackbox::PROPERTIES.len(), "black-box properties");
    let progress = |name: &str| tick(&bar, name);
    let checked = blackbox::check_with(server, &options, &progress, &INTERRUPTED);
    let report = CheckReport::of(runtime_stopping_on_ctrl_c(Some(&INTERRUPTED))?.block_on(checked)?);
    bar.finish_and_clear();
    interrupted(finish_check(&report, finish)?)
}

/// The kernel checks, with a spinner while they time real sockets.
fn kernel_checks() -> Vec<echo_harness::real::kernel::KernelCheck> {
    let bar = progress_bar(1, "kernel checks on real sockets");
    let checks = kernel::run_all();
    bar.finish_and_clear();
    checks
}

fn check_sim(
    dir: &Path,
    jobs: Option<usize>,
    target: &Target,
    with_catalogue: bool,
    with_kernel: bool,
    finish: &Finish,
) -> anyhow::Result<u8> {
    let scenarios = load_scenarios(dir)?;
    ensure_upper_replies(&scenarios, target.name())?;
    let jobs = all_cores(jobs);
    let bar = progress_bar(scenarios.len(), "scenarios");
    let mut report = CheckReport::of(check::check_with(&scenarios, target, jobs, &|name| tick(&bar, name)));
    bar.finish_and_clear();
    if with_kernel {
        report.kernel = kernel_checks();
    }
    if with_catalogue {
        let all = mutants::all();
        let bar = progress_bar(all.len() + 2, "planted bugs hunted (+ the correct server and the matrix)");
        let budget = catalogue::DEFAULT_BUDGET;
        let catalogue =
            catalogue::run_with(&scenarios, &Target::builtin(), all, jobs, budget, &|name| tick(&bar, name));
        bar.finish_and_clear();
        let dir = finish.report_dir.join("mutants");
        catalogue.write_minimal(&dir).with_context(|| format!("cannot write {}", dir.display()))?;
        report.catalogue = Some(catalogue);
    }
    finish_check(&report, finish)
}
