//! `mutants`: hunt every planted bug of the catalogue with the scenario suite (and exploration when the suite
//! misses one), shrink each catch to a minimal scenario file, and report the mutation score.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::builder::TypedValueParser;
use clap::Args;

use echo_harness::exit;
use echo_harness::hunt::{catalogue, mutants};
use echo_harness::report::table;
use echo_harness::sim::target::Target;

use super::dirs::ensure_writable;
use super::shared::{all_cores, load_scenarios, paint, parse_duration, progress_bar, tick};

/// `mutants`' flags.
#[derive(Args)]
pub struct MutantsArgs {
    /// Directory of scenario files.
    #[arg(long, default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Where each caught mutant's shrunk scenario is written (as mutants/NAME.toml).
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256).map(|v| v as usize))]
    pub jobs: Option<usize>,
    /// Wall-time budget per mutant: 500ms, 10s, 1m (a bare number is seconds).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub budget: Duration,
    /// List the mutants and their bugs, and run nothing.
    #[arg(long)]
    pub list: bool,
    /// Hunt only these mutants (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

/// Runs `mutants` as its flags say.
pub fn run(args: MutantsArgs) -> anyhow::Result<u8> {
    let MutantsArgs { scenarios, report_dir, json, jobs, budget, list, only } = args;
    let (dir, report_dir, only) = (scenarios.as_path(), report_dir.as_path(), only.as_slice());
    let mut chosen = mutants::all();
    if !only.is_empty() {
        for name in only {
            if mutants::find(name).is_none() {
                let known: Vec<&str> = chosen.iter().map(|m| m.name.as_str()).collect();
                bail!("unknown mutant `{name}` in --only (known: {})", known.join(", "));
            }
        }
        chosen.retain(|m| only.contains(&m.name));
    }
    if list {
        if json {
            let list: Vec<_> = chosen.iter().map(|m| serde_json::json!({ "name": m.name, "bug": m.bug })).collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        } else {
            for m in &chosen {
                println!("{:22} {}", m.name, m.bug);
            }
        }
        return Ok(exit::HELD);
    }
    ensure_writable(report_dir, "--report-dir")?;
    let scenarios = load_scenarios(dir)?;
    let bar = progress_bar(chosen.len() + 2, "planted bugs hunted (+ the correct server and the matrix)");
    let report =
        catalogue::run_with(&scenarios, &Target::builtin(), chosen, all_cores(jobs), budget, &|name| tick(&bar, name));
    bar.finish_and_clear();
    let minimal = report_dir.join("mutants");
    report.write_minimal(&minimal).with_context(|| format!("cannot write {}", minimal.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", paint(&table::catalogue_table(&report)));
        println!("shrunk scenarios: {}/NAME.toml", minimal.display());
    }
    Ok(if report.held() { exit::HELD } else { exit::FAILED })
}
