//! `run`: replay one scenario file under one seed (in the simulator or on real sockets), judge it and print the
//! verdicts, with the whole trace on request, or (`--json`) one JSON document of the run and its verdicts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;

use echo_harness::exit;
use echo_harness::hunt::{run as hunt_run, twins};
use echo_harness::judge::judgement::Judgement;
use echo_harness::judge::oracles::judge;
use echo_harness::model::property::Verdict;
use echo_harness::model::scenario::{Backend, Scenario};
use echo_harness::model::trace::Run;
use echo_harness::real::launch::Server;
use echo_harness::real::runner::{self as real, RealTarget};
use echo_harness::sim::target::Target;

use super::check::BackendArg;
use super::shared::{ensure_upper_replies, resolve_target, runtime_killing_servers_on_ctrl_c};

/// `run`'s flags.
#[derive(Args)]
pub struct RunArgs {
    /// The scenario file.
    pub file: PathBuf,
    /// The seed (default: the file's first seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the whole trace.
    #[arg(long)]
    pub trace: bool,
    /// The server under test: `builtin`, a mutant's name, or (with --backend real) a command line with {port}.
    #[arg(long, default_value = "builtin")]
    pub target: String,
    /// Where it runs: `sim` or `real` (default: the file's `backend`, else `sim`).
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// Print one JSON document (scenario, seed, target, trace hash, verdicts) instead of the lines.
    #[arg(long, conflicts_with = "trace")]
    pub json: bool,
}

/// What `run --json` prints: the run and its verdicts. Keys are snake_case and stable.
#[derive(serde::Serialize)]
struct RunDocument<'a> {
    /// The scenario's name.
    scenario: &'a str,
    /// The file it was loaded from.
    path: String,
    /// The seed it ran under.
    seed: u64,
    /// The server under test, by name.
    target: String,
    /// `sim` or `real`.
    backend: &'static str,
    /// The trace hash, 16 hex digits: two runs with the same hash had the same trace.
    trace_hash: String,
    /// Events in the trace.
    events: usize,
    /// Every property's verdict, in report order.
    verdicts: Vec<VerdictDocument<'a>>,
}

/// One property's verdict in [`RunDocument`].
#[derive(serde::Serialize)]
struct VerdictDocument<'a> {
    /// The property's stable name.
    property: &'static str,
    /// `pass`, `fail` or `skip`.
    verdict: Verdict,
    /// Its evidence.
    detail: &'a str,
}

/// What a run is printed as.
struct Shown<'a> {
    file: &'a Path,
    scenario: &'a str,
    seed: u64,
    target: String,
    backend: &'static str,
}

/// Runs `run` as its flags say.
pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let RunArgs { file, seed, trace, target, backend, json } = args;
    let output = Output { trace, json };
    let scenario = twins::load(&file)?;
    // A file found on real sockets says `backend = "real"`: its replay line needs no --backend to be right.
    let backend = backend.unwrap_or(match scenario.backend {
        Backend::Real => BackendArg::Real,
        Backend::Sim => BackendArg::Sim,
    });
    if let BackendArg::Sim = backend {
        return run_sim(&file, &scenario, seed, output, &resolve_target(&target)?);
    }
    let target = if target == "builtin" {
        RealTarget::Builtin
    } else if let Ok(addr) = target.parse::<SocketAddr>() {
        RealTarget::External(Server::Addr(addr))
    } else if target.contains("{port}") {
        RealTarget::External(Server::Command(target))
    } else {
        bail!("--backend real runs the built-in server or a command line with {{port}}, not `{target}`")
    };
    run_real(&file, &scenario, seed, output, &target)
}

/// How the run is printed: `--trace`, `--json`.
#[derive(Clone, Copy)]
struct Output {
    trace: bool,
    json: bool,
}

fn run_sim(file: &Path, scenario: &Scenario, seed: Option<u64>, output: Output, target: &Target) -> anyhow::Result<u8> {
    ensure_upper_replies([scenario], target.name())?;
    let seed = seed.unwrap_or(scenario.seeds[0]);
    if !output.json {
        println!("scenario {} seed {seed} target {}", scenario.name, target.name());
    }
    let (run, judgements) = hunt_run::run_and_judge(scenario, seed, target);
    let shown = Shown { file, scenario: &scenario.name, seed, target: target.name().to_string(), backend: "sim" };
    print_run(&shown, &run, &judgements, output)
}

fn run_real(
    file: &Path,
    scenario: &Scenario,
    seed: Option<u64>,
    output: Output,
    target: &RealTarget,
) -> anyhow::Result<u8> {
    if *target == RealTarget::Builtin {
        ensure_upper_replies([scenario], "builtin")?;
    }
    if let Some(reason) = real::unsupported(scenario, target) {
        bail!("{} cannot run on real sockets: {reason}", file.display());
    }
    let seed = seed.unwrap_or(scenario.seeds[0]);
    if !output.json {
        println!("scenario {} seed {seed} target {} backend real", scenario.name, target.name());
    }
    let run = runtime_killing_servers_on_ctrl_c()?.block_on(real::run(scenario, seed, target));
    let judgements = judge(scenario, &run);
    let shown = Shown { file, scenario: &scenario.name, seed, target: target.name().to_string(), backend: "real" };
    print_run(&shown, &run, &judgements, output)
}

fn print_run(shown: &Shown, run: &Run, judgements: &[Judgement], output: Output) -> anyhow::Result<u8> {
    let failed = judgements.iter().any(|j| j.verdict == Verdict::Fail);
    let code = if failed { exit::FAILED } else { exit::HELD };
    if output.json {
        let document = RunDocument {
            scenario: shown.scenario,
            path: shown.file.display().to_string(),
            seed: shown.seed,
            target: shown.target.clone(),
            backend: shown.backend,
            trace_hash: format!("{:016x}", run.hash),
            events: run.records.len(),
            verdicts: judgements
                .iter()
                .map(|j| VerdictDocument { property: j.property.name(), verdict: j.verdict, detail: &j.detail })
                .collect(),
        };
        println!("{}", serde_json::to_string_pretty(&document).expect("a run always serializes"));
        return Ok(code);
    }
    if output.trace {
        for record in &run.records {
            println!("{record}");
        }
    }
    for j in judgements {
        println!("{:15} {}  {}", j.property.name(), j.verdict.word(), j.detail);
    }
    println!("trace hash {:016x}, {} events", run.hash, run.records.len());
    Ok(code)
}
