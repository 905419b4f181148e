//! `run`: replay one scenario file under one seed (in the simulator or on real sockets), judge it and print the
//! verdicts, with the whole trace on request.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;

use echo_harness::exit;
use echo_harness::hunt::{run as hunt_run, twins};
use echo_harness::judge::judgement::Judgement;
use echo_harness::judge::oracles::judge;
use echo_harness::model::property::Verdict;
use echo_harness::model::trace::Run;
use echo_harness::real::launch::Server;
use echo_harness::real::runner::{self as real, RealTarget};
use echo_harness::sim::target::Target;

use super::check::BackendArg;
use super::shared::{resolve_target, runtime_killing_servers_on_ctrl_c};

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
    /// Where it runs: `sim` or `real`.
    #[arg(long, value_enum, default_value = "sim")]
    pub backend: BackendArg,
}

/// Runs `run` as its flags say.
pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let RunArgs { file, seed, trace, target, backend } = args;
    if let BackendArg::Sim = backend {
        return run_sim(&file, seed, trace, &resolve_target(&target)?);
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
    run_real(&file, seed, trace, &target)
}

fn run_sim(file: &Path, seed: Option<u64>, trace: bool, target: &Target) -> anyhow::Result<u8> {
    let scenario = twins::load(file)?;
    let seed = seed.unwrap_or(scenario.seeds[0]);
    println!("scenario {} seed {seed} target {}", scenario.name, target.name());
    let (run, judgements) = hunt_run::run_and_judge(&scenario, seed, target);
    print_run(&run, &judgements, trace)
}

fn run_real(file: &Path, seed: Option<u64>, trace: bool, target: &RealTarget) -> anyhow::Result<u8> {
    let scenario = twins::load(file)?;
    if let Some(reason) = real::unsupported(&scenario, target) {
        bail!("{} cannot run on real sockets: {reason}", file.display());
    }
    let seed = seed.unwrap_or(scenario.seeds[0]);
    println!("scenario {} seed {seed} target {} backend real", scenario.name, target.name());
    let run = runtime_killing_servers_on_ctrl_c()?.block_on(real::run(&scenario, seed, target));
    let judgements = judge(&scenario, &run);
    print_run(&run, &judgements, trace)
}

fn print_run(run: &Run, judgements: &[Judgement], trace: bool) -> anyhow::Result<u8> {
    if trace {
        for record in &run.records {
            println!("{record}");
        }
    }
    let mut failed = false;
    for j in judgements {
        failed |= j.verdict == Verdict::Fail;
        println!("{:15} {}  {}", j.property.name(), j.verdict.word(), j.detail);
    }
    println!("trace hash {:016x}, {} events", run.hash, run.records.len());
    Ok(if failed { exit::FAILED } else { exit::HELD })
}
