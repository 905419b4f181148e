//! What both `explore` paths (the simulator's, `cli::explore`, and real sockets', `cli::explore_real`) share: where
//! the results go and how lines are shown beside a `--json` document, the live line, and the run's bound as its
//! header says it.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use super::shared::grouped;

/// Where the results go and how they are shown.
pub struct Output<'a> {
    /// Where failing cases are written.
    pub failures: &'a Path,
    /// Where explore.json is written.
    pub report_dir: &'a Path,
    /// The document on stdout instead of the human lines.
    pub json: bool,
}

impl Output<'_> {
    /// A human line: on stdout, or on stderr when stdout carries the JSON document.
    pub fn say(&self, line: &str) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}

/// The case count of a run bounded by time alone.
pub const UNBOUNDED_CASES: u64 = 1_000_000;

/// A line for a reader, printed only without `--json` (the document says the same).
pub fn human(out: &Output, line: &str) {
    if !out.json {
        println!("{line}");
    }
}

/// The live line of an exploration (`len` cases planned): a spinner with the elapsed time and a message, drawn
/// only on a terminal. A run bounded by time has no length for a bar.
pub fn spinner(len: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// What bounds a run, for its header: "for 1m", "2,000 cases or 1m", "2,000 cases".
pub fn bound(cases: u64, time: Option<Duration>) -> String {
    match (cases, time) {
        (UNBOUNDED_CASES, Some(t)) => format!("for {}", humantime::format_duration(t)),
        (cases, Some(t)) => format!("{} cases or {}", grouped(cases), humantime::format_duration(t)),
        (cases, None) => format!("{} cases", grouped(cases)),
    }
}
