//! The `echo-harness` binary: flags in, library calls, exit code out. Each subcommand lives in `cli/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use echo_harness::exit;

mod cli;

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
    Serve(cli::serve::ServeArgs),
    /// Talk to an echo server: a `>> ` prompt on a terminal, one message per line from a pipe.
    Client(cli::serve::ClientArgs),
    /// Run the scenario suite against the built-in server in the simulator and report every property.
    Check(cli::check::CheckArgs),
    /// Hunt every planted bug of the catalogue with the scenario suite and report the mutation score.
    Mutants(cli::mutants::MutantsArgs),
    /// Generate random scenarios (proptest), run and judge each, shrink any failure to a minimal scenario file.
    Explore(cli::explore::ExploreArgs),
    /// Replay one scenario file under one seed and judge it.
    Run(cli::run::RunArgs),
    /// Put a server on 127.0.0.1 under verified load: throughput, latency, errors, its memory and descriptors.
    Load(cli::load::LoadArgs),
    /// Gather the latest results into reports/: results.json, index.html, REPORT.md with charts, junit.xml;
    /// merge explore shards; save or check a benchmark baseline.
    Report(cli::report::ReportArgs),
}

fn main() -> ExitCode {
    // A closed stdout (`echo-harness run FILE --trace | head`) ends the process quietly, as for any Unix tool,
    // instead of a panic in println!.
    // SAFETY: signal(2) at start-up, before any thread exists, restoring the default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(cli::shared::colour_on(std::io::IsTerminal::is_terminal(&std::io::stderr())))
        .init();
    let outcome = match cli.command {
        Command::Serve(args) => cli::serve::serve(args),
        Command::Client(args) => cli::serve::client(args),
        Command::Check(args) => cli::check::run(args),
        Command::Mutants(args) => cli::mutants::run(args),
        Command::Explore(args) => cli::explore::run(args),
        Command::Run(args) => cli::run::run(args),
        Command::Load(args) => cli::load::run(args),
        Command::Report(args) => cli::report::run(args),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::USAGE)
        }
    }
}
