//! The README's example outputs stay true: every `$ echo-harness ...` example of a command that runs in the
//! simulator (check, explore, run, mutants) is run, and the lines shown under it must appear in its output, in
//! order, once timings are masked (wall times, rates, the simulated-to-wall ratio, the job count). Examples on
//! real sockets (load) vary with the machine, and `report` examples read files other commands left (shards,
//! benchmark summaries): they are not run here; `harness/tests/report.rs` and `shard.rs` check what they show.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_echo-harness");

/// Subcommands whose examples are deterministic apart from their timings.
const RUN: [&str; 4] = ["check", "explore", "run", "mutants"];

/// One example: the command, and the output lines shown under it.
struct Example {
    line: usize,
    command: String,
    shown: Vec<String>,
}

fn examples(readme: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut in_text = false;
    // Output lines belong to the last command of the same block.
    let mut current: Option<usize> = None;
    for (i, line) in readme.lines().enumerate() {
        if line.starts_with("```") {
            in_text = !in_text && line == "```text";
            current = None;
            continue;
        }
        if !in_text {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ echo-harness ") {
            current = Some(out.len());
            out.push(Example { line: i + 1, command: command.to_string(), shown: Vec::new() });
        } else if let Some(example) = current.and_then(|c| out.get_mut(c)).filter(|_| !line.trim().is_empty()) {
            example.shown.push(line.to_string());
        }
    }
    // Real sockets (a server command, an address, the real backend) vary with the machine: not run here.
    let real = |c: &str| c.contains("{port}") || c.contains("--addr") || c.contains("--backend real");
    out.retain(|e| RUN.iter().any(|c| e.command.split_whitespace().next() == Some(c)) && !real(&e.command));
    out
}

/// A line with what varies from run to run masked, and its spacing made single.
fn mask(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or("");
        let number = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',');
        let core = word.trim_start_matches('(').trim_end_matches([',', ':', ';', ')']);
        let masked = if core.ends_with('s') && core.contains('.') && number(&core[..core.len() - 1]) {
            "<time>".to_string() // 0.29s
        } else if number(core) && (next.starts_with("cases/s") || next == "s" || next == "jobs" || next == "job") {
            "<n>".to_string() // 46 cases/s, 3 s simulated, on 2 jobs
        } else if core.ends_with('x') && number(&core[..core.len() - 1]) && next == "wall" {
            "<n>x".to_string() // (26x wall time)
        } else if number(core) && next == "cases" && i == 0 {
            "<n>".to_string() // 6 cases in ... (a run stopped by time or by a failure on several jobs)
        } else if *word == "job" {
            "jobs".to_string() // on 1 job, on 2 jobs
        } else {
            word.to_string()
        };
        out.push(masked);
    }
    out.join(" ")
}

#[test]
fn every_example_of_a_simulated_command_is_what_the_command_prints() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(Path::new(repo).join("README.md")).unwrap();
    let examples = examples(&readme);
    let names: Vec<&str> = examples.iter().filter_map(|e| e.command.split_whitespace().next()).collect();
    assert!(names.contains(&"check") && names.contains(&"explore"), "the README shows check and explore: {names:?}");
    for example in examples {
        // A fresh directory with the shipped scenarios: the reports an example writes land there.
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(Path::new(repo).join("scenarios"), dir.path().join("scenarios")).unwrap();
        let output = Command::new(BIN)
            .args(example.command.split_whitespace())
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_ne!(
            output.status.code(),
            Some(2),
            "README.md:{}: `echo-harness {}` is a usage error now: {}",
            example.line,
            example.command,
            String::from_utf8_lossy(&output.stderr)
        );
        let printed = String::from_utf8_lossy(&output.stdout);
        let printed: Vec<String> = printed.lines().map(mask).collect();
        let mut at = 0;
        for shown in &example.shown {
            let want = mask(shown);
            match printed[at..].iter().position(|p| *p == want) {
                Some(i) => at += i + 1,
                None => panic!(
                    "README.md:{}: `echo-harness {}` no longer prints (in this order):\n  {shown}\nmasked: {want}\nit printed:\n{}",
                    example.line,
                    example.command,
                    printed.join("\n")
                ),
            }
        }
    }
}

#[test]
fn masking_hides_timings_and_keeps_the_rest() {
    assert_eq!(
        mask("6 cases in 0.13s: 46 cases/s, 3 s simulated (26x wall time)"),
        "<n> cases in <time> <n> cases/s, <n> s simulated <n>x wall time)"
    );
    assert_eq!(
        mask("exploring target partial_send with seed 0 on 1 job (2000 cases)"),
        mask("exploring target partial_send with seed 0 on 2 jobs (2000 cases)")
    );
    assert_ne!(mask("first difference at byte 6 of 11"), mask("first difference at byte 7 of 11"));
}
