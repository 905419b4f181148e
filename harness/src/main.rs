//! The `echo-harness` binary: flags in, library calls, exit code out.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::builder::TypedValueParser;
use clap::{Parser, Subcommand};

use echo_harness::client::{Client, Timeouts};
use echo_harness::net::{Network, Real};
use echo_harness::oracle::Verdict;
use echo_harness::scenario::Scenario;
use echo_harness::{blackbox, catalogue, check, exit, explore, mutants, real, report, server, sim};

/// A property-based and fault-injection test harness for TCP echo servers.
#[derive(Parser)]
#[command(name = "echo-harness", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the built-in uppercase echo server on real sockets until Ctrl-C.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        addr: SocketAddr,
        /// Read buffer size in bytes (the tutorial's recv(1024) is 1024).
        #[arg(long, default_value_t = server::DEFAULT_BUFFER, value_parser = clap::value_parser!(u32).range(1..=16_777_216).map(|v| v as usize))]
        buffer: usize,
        /// Serve at most this many connections at once; others wait in the backlog.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
        max_connections: Option<usize>,
        /// Close a connection after this many seconds without progress.
        #[arg(long, value_parser = parse_seconds)]
        idle_timeout: Option<Duration>,
    },
    /// Talk to an echo server: a `>> ` prompt on a terminal, one message per line from a pipe.
    Client {
        /// Address of the server.
        #[arg(long, default_value = "127.0.0.1:8081")]
        addr: SocketAddr,
        /// Seconds each connect, read or write may take.
        #[arg(long, default_value = "5", value_parser = parse_seconds)]
        timeout: Duration,
    },
    /// Run the scenario suite against the built-in server in the simulator and report every property.
    Check {
        /// Directory of scenario files.
        #[arg(long, default_value = "scenarios")]
        scenarios: PathBuf,
        /// Print one JSON document instead of the table.
        #[arg(long)]
        json: bool,
        /// Where to write check.md and check.json.
        #[arg(long, default_value = "reports")]
        report_dir: PathBuf,
        /// Worker threads (default: all cores).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256).map(|v| v as usize))]
        jobs: Option<usize>,
        /// The server under test: `builtin`, a mutant's name (`echo-harness mutants --list`), or a command line
        /// with `{port}` (e.g. "python3 server.py {port}") that the harness starts and checks over real sockets.
        #[arg(long, default_value = "builtin")]
        target: String,
        /// Check a server already listening at HOST:PORT over real sockets (restart properties are skipped).
        #[arg(long, conflicts_with = "target")]
        addr: Option<SocketAddr>,
        /// Where the scenarios run: `sim` (turmoil) or `real` (sockets on 127.0.0.1, faults played by a proxy).
        #[arg(long, value_enum, default_value = "sim")]
        backend: BackendArg,
        /// The reply a black-box server owes: `upper` (the tutorial's) or `identity` (RFC 862 echo).
        #[arg(long, value_enum)]
        transform: Option<TransformArg>,
        /// Do not hunt the catalogue of planted bugs (it runs with the built-in target only).
        #[arg(long)]
        skip_mutants: bool,
        /// Do not run the kernel checks on real sockets.
        #[arg(long)]
        skip_kernel: bool,
    },
    /// Hunt every planted bug of the catalogue with the scenario suite and report the mutation score.
    Mutants {
        /// Directory of scenario files.
        #[arg(long, default_value = "scenarios")]
        scenarios: PathBuf,
        /// Where each caught mutant's shrunk scenario is written (as mutants/NAME.toml).
        #[arg(long, default_value = "reports")]
        report_dir: PathBuf,
        /// Print one JSON document instead of the table.
        #[arg(long)]
        json: bool,
        /// Worker threads (default: all cores).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256).map(|v| v as usize))]
        jobs: Option<usize>,
        /// Wall-time budget per mutant, in seconds.
        #[arg(long, default_value = "10", value_parser = parse_seconds)]
        budget: Duration,
        /// List the mutants and their bugs, and run nothing.
        #[arg(long)]
        list: bool,
        /// Hunt only these mutants (comma-separated names).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Generate random scenarios (proptest), run and judge each, shrink any failure to a minimal scenario file.
    Explore {
        /// Cases to run at most.
        #[arg(long, default_value_t = 1_000_000)]
        cases: u64,
        /// Wall-time budget, e.g. 60s (default: until --cases are done).
        #[arg(long, value_parser = parse_seconds)]
        time: Option<Duration>,
        /// The exploration's seed: the same seed and case count explore the same cases.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Worker threads (default: all cores).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256).map(|v| v as usize))]
        jobs: Option<usize>,
        /// The server under test: `builtin` or a mutant's name.
        #[arg(long, default_value = "builtin")]
        target: String,
        /// Run every case twice and compare trace hashes.
        #[arg(long)]
        check_determinism: bool,
        /// Keep exploring after the first failure.
        #[arg(long)]
        keep_going: bool,
        /// Where failing cases are written, and replayed from first on the next run.
        #[arg(long, default_value = "reports/failures")]
        failures: PathBuf,
    },
    /// Replay one scenario file under one seed and judge it.
    Run {
        /// The scenario file.
        file: PathBuf,
        /// The seed (default: the file's first seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Print the whole trace.
        #[arg(long)]
        trace: bool,
        /// The server under test: `builtin`, a mutant's name, or (with --backend real) a command line with {port}.
        #[arg(long, default_value = "builtin")]
        target: String,
        /// Where it runs: `sim` or `real`.
        #[arg(long, value_enum, default_value = "sim")]
        backend: BackendArg,
    },
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim_end_matches('s').parse().map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!("`{s}` must be more than 0 and at most 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve { .. }) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    match dispatch(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::USAGE)
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Serve { addr, buffer, max_connections, idle_timeout } => {
            serve(addr, server::Config { buffer_size: buffer, max_connections, idle_timeout })
        }
        Command::Client { addr, timeout } => client(addr, timeout),
        Command::Check {
            scenarios,
            json,
            report_dir,
            jobs,
            target,
            addr,
            backend,
            transform,
            skip_mutants,
            skip_kernel,
        } => {
            let server = match addr {
                Some(addr) => Some(blackbox::Server::Addr(addr)),
                None if target.contains("{port}") || target.contains(char::is_whitespace) => {
                    Some(blackbox::Server::Command(target.clone()))
                }
                None => None,
            };
            if let BackendArg::Real = backend {
                if transform.is_some() {
                    bail!("--transform goes with the black-box properties (no --backend real): scenario files expect upper-cased replies");
                }
                let target = match server {
                    Some(server) => real::RealTarget::External(server),
                    None if target == "builtin" => real::RealTarget::Builtin,
                    None => bail!(
                        "--backend real runs the built-in server or a command line with {{port}} (or --addr), not `{target}`: planted bugs live in the simulator"
                    ),
                };
                return run_check_real(&scenarios, json, &report_dir, jobs, &target, !skip_kernel);
            }
            if let Some(server) = server {
                let transform = match transform.unwrap_or(TransformArg::Upper) {
                    TransformArg::Upper => blackbox::Transform::Upper,
                    TransformArg::Identity => blackbox::Transform::Identity,
                };
                return run_blackbox(&server, transform, json, &report_dir);
            }
            if transform.is_some() {
                bail!("--transform goes with a black-box target (a command with {{port}}, or --addr), not `{target}`");
            }
            let catalogue = target == "builtin" && !skip_mutants;
            run_check(&scenarios, json, &report_dir, jobs, &resolve_target(&target)?, catalogue, !skip_kernel)
        }
        Command::Mutants { scenarios, report_dir, json, jobs, budget, list, only } => {
            run_mutants(&scenarios, &report_dir, json, jobs, budget, list, &only)
        }
        Command::Explore { cases, time, seed, jobs, target, check_determinism, keep_going, failures } => {
            let options = explore::Options {
                cases,
                time: time.or(if cases == 1_000_000 { Some(Duration::from_secs(60)) } else { None }),
                seed,
                jobs: all_cores(jobs),
                check_determinism,
                stop_at_first: !keep_going,
            };
            run_explore(&options, &target, &failures)
        }
        Command::Run { file, seed, trace, target, backend: BackendArg::Sim } => {
            run_one(&file, seed, trace, &resolve_target(&target)?)
        }
        Command::Run { file, seed, trace, target, backend: BackendArg::Real } => {
            let target = if target == "builtin" {
                real::RealTarget::Builtin
            } else if let Ok(addr) = target.parse::<SocketAddr>() {
                real::RealTarget::External(blackbox::Server::Addr(addr))
            } else if target.contains("{port}") {
                real::RealTarget::External(blackbox::Server::Command(target))
            } else {
                bail!("--backend real runs the built-in server or a command line with {{port}}, not `{target}`")
            };
            run_one_real(&file, seed, trace, &target)
        }
    }
}

/// `--backend`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum BackendArg {
    /// turmoil's simulated network, under explicit seeds.
    Sim,
    /// Real sockets on 127.0.0.1.
    Real,
}

/// `check --backend real`: the scenario files on real sockets.
fn run_check_real(
    dir: &Path,
    json: bool,
    report_dir: &Path,
    jobs: Option<usize>,
    target: &real::RealTarget,
    with_kernel: bool,
) -> anyhow::Result<u8> {
    let scenarios = load_scenarios(dir)?;
    let ctrl_c = runtime_killing_servers_on_ctrl_c()?;
    if let real::RealTarget::External(blackbox::Server::Command(template)) = target {
        // A server that cannot start is an input error, not a failed property.
        ctrl_c.block_on(blackbox::ensure_starts(template, blackbox::Options::default().startup))?;
    }
    // A server the harness did not start is shared by every scenario: one at a time, or they count each
    // other's connections.
    let jobs =
        if matches!(target, real::RealTarget::External(blackbox::Server::Addr(_))) { 1 } else { all_cores(jobs) };
    let mut report = check::check_real(&scenarios, target, jobs);
    if with_kernel {
        report.kernel = echo_harness::kernel::run_all();
    }
    finish_check(&report, json, report_dir)
}

/// `--transform`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum TransformArg {
    /// Upper-cased as Python's bytes.upper().
    Upper,
    /// Unchanged.
    Identity,
}

/// `check` against a server outside the process, over real sockets.
fn run_blackbox(
    server: &blackbox::Server,
    transform: blackbox::Transform,
    json: bool,
    report_dir: &Path,
) -> anyhow::Result<u8> {
    let options = blackbox::Options { transform, ..blackbox::Options::default() };
    let report = runtime_killing_servers_on_ctrl_c()?.block_on(blackbox::check(server, &options))?;
    finish_check(&report, json, report_dir)
}

/// Writes the reports, prints the table (or the JSON document), and gives the exit code.
fn finish_check(report: &check::CheckReport, json: bool, report_dir: &Path) -> anyhow::Result<u8> {
    write_reports(report, report_dir)?;
    if json {
        println!("{}", report::json(report));
    } else {
        print!("{}", report::table(report));
        println!("report: {}", report_dir.join("check.md").display());
    }
    Ok(if report.held() { exit::HELD } else { exit::FAILED })
}

/// A runtime whose Ctrl-C (SIGINT), SIGTERM or SIGHUP kills the servers the harness started before leaving
/// (exit 130). (A SIGKILL cannot be caught: the servers' shells get it from the kernel, see `blackbox::Managed`.)
fn runtime_killing_servers_on_ctrl_c() -> anyhow::Result<tokio::runtime::Runtime> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = runtime()?;
    let signals = rt.block_on(async {
        [SignalKind::interrupt(), SignalKind::terminate(), SignalKind::hangup()].map(|kind| signal(kind).ok())
    });
    rt.spawn(async move {
        /// Waits for one signal (forever if it could not be registered).
        async fn next(signal: Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let [int, term, hup] = signals;
        tokio::select! {
            _ = next(int) => {}
            _ = next(term) => {}
            _ = next(hup) => {}
        }
        blackbox::kill_all_managed();
        std::process::exit(130);
    });
    Ok(rt)
}

fn write_reports(report: &check::CheckReport, report_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(report_dir).with_context(|| format!("cannot create {}", report_dir.display()))?;
    for (name, text) in [("check.md", report::markdown(report)), ("check.json", report::json(report))] {
        let path = report_dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// `builtin` or a mutant's name.
fn resolve_target(name: &str) -> anyhow::Result<sim::Target> {
    if name == "builtin" {
        return Ok(sim::Target::builtin());
    }
    match mutants::find(name) {
        Some(m) => Ok(m.target),
        None => {
            let known: Vec<&str> = mutants::all().iter().map(|m| m.name).collect();
            bail!(
                "unknown --target `{name}`: use builtin, a mutant ({}), or a command line with {{port}}",
                known.join(", ")
            )
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the tokio runtime")
}

fn serve(addr: SocketAddr, config: server::Config) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let listener = Real::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let local = echo_harness::net::Listener::local_addr(&listener)?;
        // The one line a script waits for (with `--addr 127.0.0.1:0` it tells the port).
        println!("listening on {local}");
        std::io::stdout().flush()?;
        tracing::info!(addr = %local, buffer = config.buffer_size, "listening");
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        server::run(listener, config, shutdown).await;
        Ok(exit::HELD)
    })
}

fn client(addr: SocketAddr, timeout: Duration) -> anyhow::Result<u8> {
    let timeouts = Timeouts { connect: timeout, io: timeout };
    runtime()?.block_on(async {
        let mut client = Client::connect::<Real>(addr, timeouts).await?;
        let interactive = std::io::stdin().is_terminal();
        let mut lines = std::io::stdin().lock().lines();
        loop {
            if interactive {
                print!(">> ");
                std::io::stdout().flush()?;
            }
            let Some(line) = lines.next() else { break };
            let line = line.context("cannot read standard input")?;
            let message = line.trim_end_matches('\r');
            if message.is_empty() {
                continue; // the tutorial's `if not msg: continue`: an empty send would hang
            }
            let reply = client.echo(message.as_bytes()).await?;
            println!("{}", String::from_utf8_lossy(&reply));
        }
        client.close().await?;
        Ok(exit::HELD)
    })
}

/// Loads every scenario of `dir`, or says clearly why not.
fn load_scenarios(dir: &Path) -> anyhow::Result<Vec<Scenario>> {
    if !dir.is_dir() {
        bail!(
            "scenario directory {} does not exist (run from the repository root, or pass --scenarios DIR)",
            dir.display()
        );
    }
    let scenarios = Scenario::load_dir(dir)?;
    if scenarios.is_empty() {
        bail!("no scenario files (*.toml) in {}", dir.display());
    }
    Ok(scenarios)
}

fn all_cores(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn run_check(
    dir: &Path,
    json: bool,
    report_dir: &Path,
    jobs: Option<usize>,
    target: &sim::Target,
    with_catalogue: bool,
    with_kernel: bool,
) -> anyhow::Result<u8> {
    let scenarios = load_scenarios(dir)?;
    let jobs = all_cores(jobs);
    let mut report = check::check(&scenarios, target, jobs);
    if with_kernel {
        report.kernel = echo_harness::kernel::run_all();
    }
    if with_catalogue {
        let catalogue = catalogue::run(&scenarios, mutants::all(), jobs, catalogue::DEFAULT_BUDGET);
        let dir = report_dir.join("mutants");
        catalogue.write_minimal(&dir).with_context(|| format!("cannot write {}", dir.display()))?;
        report.catalogue = Some(catalogue);
    }
    finish_check(&report, json, report_dir)
}

fn run_mutants(
    dir: &Path,
    report_dir: &Path,
    json: bool,
    jobs: Option<usize>,
    budget: Duration,
    list: bool,
    only: &[String],
) -> anyhow::Result<u8> {
    let mut chosen = mutants::all();
    if !only.is_empty() {
        for name in only {
            if mutants::find(name).is_none() {
                let known: Vec<&str> = chosen.iter().map(|m| m.name).collect();
                bail!("unknown mutant `{name}` in --only (known: {})", known.join(", "));
            }
        }
        chosen.retain(|m| only.iter().any(|n| n == m.name));
    }
    if list {
        for m in &chosen {
            println!("{:22} {}", m.name, m.bug);
        }
        return Ok(exit::HELD);
    }
    let scenarios = load_scenarios(dir)?;
    let report = catalogue::run(&scenarios, chosen, all_cores(jobs), budget);
    let minimal = report_dir.join("mutants");
    report.write_minimal(&minimal).with_context(|| format!("cannot write {}", minimal.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report::catalogue_table(&report));
        println!("shrunk scenarios: {}/NAME.toml", minimal.display());
    }
    Ok(if report.held() { exit::HELD } else { exit::FAILED })
}

fn run_explore(options: &explore::Options, target_name: &str, failures: &Path) -> anyhow::Result<u8> {
    let target = resolve_target(target_name)?;
    // Failures written by earlier runs come first: a bug once found is checked again before anything new.
    let mut replayed_failures = 0;
    if failures.is_dir() {
        let old = Scenario::load_dir(failures)?;
        for scenario in old.iter().filter(|s| s.name.starts_with(&format!("{target_name}-"))) {
            let (_, judgements) = check::run_and_judge(scenario, scenario.seeds[0], &target);
            if let Some(j) = judgements.iter().find(|j| j.verdict == Verdict::Fail) {
                replayed_failures += 1;
                println!("still failing: {} ({}: {})", scenario.path.display(), j.property.name(), j.detail);
            } else {
                println!("now passing:   {}", scenario.path.display());
            }
        }
    }
    let bar = indicatif::ProgressBar::new(options.cases);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {pos} cases, {per_sec}, {msg}")
            .expect("a valid template"),
    );
    let progress = |cases: u64, found: usize| {
        bar.set_position(cases);
        bar.set_message(format!("{found} failures"));
    };
    println!(
        "exploring target {target_name} with seed {} on {} jobs ({} cases{})",
        options.seed,
        options.jobs,
        options.cases,
        options.time.map_or(String::new(), |t| format!(" or {}s", t.as_secs_f64()))
    );
    let report = explore::explore(options, &target, &progress);
    bar.finish_and_clear();
    println!("{} cases in {:.2}s: {:.0} cases/s", report.cases, report.seconds, report.rate());
    for finding in &report.findings {
        let path = explore::write_finding(failures, target_name, options.seed, finding)
            .with_context(|| format!("cannot write into {}", failures.display()))?;
        println!(
            "FAIL case {}: {} failed: {}\n  shrunk from {} to {} in {} runs: {}\n  replay: {}",
            finding.case,
            finding.property.name(),
            finding.detail,
            finding.original,
            echo_harness::shrink::Size::of(&finding.scenario),
            finding.shrink_runs,
            path.display(),
            explore::replay(&path, finding.seed(), target_name)
        );
    }
    if report.findings.is_empty() && replayed_failures == 0 {
        println!("no property failed");
        Ok(exit::HELD)
    } else {
        Ok(exit::FAILED)
    }
}

fn run_one(file: &Path, seed: Option<u64>, trace: bool, target: &sim::Target) -> anyhow::Result<u8> {
    let scenario = Scenario::load(file)?;
    let seed = seed.unwrap_or(scenario.seeds[0]);
    println!("scenario {} seed {seed} target {}", scenario.name, target.name());
    let (run, judgements) = check::run_and_judge(&scenario, seed, target);
    print_run(&run, &judgements, trace)
}

fn run_one_real(file: &Path, seed: Option<u64>, trace: bool, target: &real::RealTarget) -> anyhow::Result<u8> {
    let scenario = Scenario::load(file)?;
    if let Some(reason) = real::unsupported(&scenario, target) {
        bail!("{} cannot run on real sockets: {reason}", file.display());
    }
    let seed = seed.unwrap_or(scenario.seeds[0]);
    println!("scenario {} seed {seed} target {} backend real", scenario.name, target.name());
    let run = runtime_killing_servers_on_ctrl_c()?.block_on(real::run(&scenario, seed, target));
    let judgements = echo_harness::oracle::judge(&scenario, &run);
    print_run(&run, &judgements, trace)
}

fn print_run(run: &sim::Run, judgements: &[echo_harness::oracle::Judgement], trace: bool) -> anyhow::Result<u8> {
    if trace {
        for record in &run.records {
            println!("{record}");
        }
    }
    let mut failed = false;
    for j in judgements {
        failed |= j.verdict == Verdict::Fail;
        let word = match j.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        };
        println!("{:15} {word}  {}", j.property.name(), j.detail);
    }
    println!("trace hash {:016x}, {} events", run.hash, run.records.len());
    Ok(if failed { exit::FAILED } else { exit::HELD })
}
