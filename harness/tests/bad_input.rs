//! Bad input, as a new user gives it: malformed scenario files, bad flags, files that are not files. Each gets one
//! clear line naming the file (and line and column) or the value, and exit 2; nothing panics, hangs or eats
//! memory. The generator test mutates the shipped scenario files (wrong types, extremes, wrong shapes,
//! truncations, garbage) and runs every mutant file through the binary under a time and memory bound.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest one run of the binary on one file may take.
const TIME_BOUND: Duration = Duration::from_secs(20);
/// The address space one run may use.
const MEMORY_BOUND: u64 = 2 << 30;

/// How one run of the binary ended.
#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    stderr: String,
    seconds: f64,
    hung: bool,
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_echo-harness")
}

/// Runs the binary with `args`, killed after [`TIME_BOUND`], its address space capped at [`MEMORY_BOUND`].
fn run(args: &[&str]) -> Ran {
    let mut command = Command::new(binary());
    command.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    // SAFETY: setrlimit(2) in the child between fork and exec, touching no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: MEMORY_BOUND, rlim_max: MEMORY_BOUND };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("the binary starts");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut hung = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIME_BOUND {
            hung = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ran { code: status.code(), stderr: reader.join().unwrap(), seconds: started.elapsed().as_secs_f64(), hung }
}

/// A usage error: exit 2 and exactly one line, which names `what`.
fn assert_usage_error(ran: &Ran, what: &str) {
    assert!(!ran.hung, "{what}: still running after {TIME_BOUND:?}");
    assert_eq!(ran.code, Some(2), "{what}: exit {:?}, stderr:\n{}", ran.code, ran.stderr);
    let lines: Vec<&str> = ran.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: one line expected, got:\n{}", ran.stderr);
    assert!(lines[0].contains(what), "{what}: the line does not name it: {}", lines[0]);
}

#[test]
fn files_that_are_not_regular_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let zero = dir.path().join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let not_utf8 = dir.path().join("latin1.toml");
    std::fs::write(&not_utf8, b"seeds = [1]\n# caf\xe9\n").unwrap();
    for file in [&fifo, &zero, &not_utf8] {
        let name = file.display().to_string();
        let ran = run(&["run", &name]);
        assert_usage_error(&ran, &name);
        assert!(ran.seconds < 5.0, "{name}: took {:.1}s", ran.seconds);
    }
    let ran = run(&["run", &not_utf8.display().to_string()]);
    assert_eq!(ran.stderr.matches("UTF-8").count(), 1, "the cause is said once: {}", ran.stderr);
}

#[test]
fn bad_flags_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report-dir-is-a-file");
    std::fs::write(&file, "").unwrap();
    let file = file.display().to_string();
    for (args, what) in [
        (vec!["check", "--addr", "127.0.0.1:1"], "127.0.0.1:1"),
        (vec!["check", "--report-dir", "/proc/x"], "/proc/x"),
        (vec!["check", "--report-dir", &file], &file),
        (vec!["mutants", "--report-dir", "/proc/x"], "/proc/x"),
        (vec!["explore", "--failures", "/proc/x", "--cases", "1"], "/proc/x"),
        (vec!["explore", "--cases", "0"], "--cases"),
        (vec!["run", "/nonexistent/x.toml"], "/nonexistent/x.toml"),
        (vec!["check", "--target", "nope"], "nope"),
        (vec!["check", "--jobs", "0"], "--jobs"),
    ] {
        let ran = run(&args);
        assert!(!ran.hung, "{args:?} hung");
        assert_eq!(ran.code, Some(2), "{args:?}: exit {:?}: {}", ran.code, ran.stderr);
        assert!(ran.stderr.contains(what), "{args:?}: the error does not name {what}: {}", ran.stderr);
        assert!(!ran.stderr.contains("panicked"), "{args:?}: {}", ran.stderr);
    }
    // --report-dir is checked before any work: the error comes at once, not after the whole check.
    let ran = run(&["check", "--report-dir", "/proc/x"]);
    assert!(ran.seconds < 2.0, "{:.1}s before the error", ran.seconds);
}

#[test]
fn mutants_list_speaks_json_when_asked() {
    let output = Command::new(binary()).args(["mutants", "--list", "--json"]).output().unwrap();
    assert!(output.status.success());
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"partial_send"), "{names:?}");
}
