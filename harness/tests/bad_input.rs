//! Bad input, as a new user gives it: malformed scenario files, bad flags, files that are not files. Each gets one
//! clear line naming the file (and line and column) or the value, and exit 2; nothing panics, hangs or eats
//! memory. The generator test mutates the shipped scenario files (wrong types, extremes, wrong shapes,
//! truncations, garbage) and runs every mutant file through the binary under a time and memory bound.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

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

fn shipped() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// One mutation of a scenario file's text.
fn mutate(text: &str, rng: &mut SmallRng) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let pick = |rng: &mut SmallRng| rng.random_range(0..lines.len().max(1));
    const EXTREMES: [&str; 12] = [
        "0",
        "-1",
        "9223372036854775807",
        "4611686018427387904",
        "1099511627776",
        "1e300",
        "\"text\"",
        "[1, 2, 3]",
        "[]",
        "{ a = 1 }",
        "true",
        "-9223372036854775808",
    ];
    match rng.random_range(0..8) {
        // Truncated anywhere, even inside a UTF-8 sequence's neighbourhood (cut at a char boundary).
        0 => {
            let mut cut = rng.random_range(0..text.len().max(1));
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_string()
        }
        // A value replaced by an extreme or a value of another type.
        1 | 2 => {
            let i = pick(rng);
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            if let Some((key, _)) = lines.get(i).and_then(|l| l.split_once(" = ")) {
                out[i] = format!("{key} = {}", EXTREMES[rng.random_range(0..EXTREMES.len())]);
            }
            out.join("\n")
        }
        // Every number multiplied into the extremes.
        3 => text
            .split_inclusive(|c: char| !c.is_ascii_digit())
            .map(|part| {
                let digits = part.trim_end_matches(|c: char| !c.is_ascii_digit());
                if !digits.is_empty() && rng.random_bool(0.3) {
                    part.replacen(digits, &format!("{digits}000000000"), 1)
                } else {
                    part.to_string()
                }
            })
            .collect(),
        // Garbage bytes in a line.
        4 => {
            let i = pick(rng);
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            let garbage: String = (0..rng.random_range(1..20)).map(|_| rng.random_range(' '..='~')).collect();
            if i < out.len() {
                out.insert(i, garbage);
            }
            out.join("\n")
        }
        // A line dropped or duplicated.
        5 => {
            let i = pick(rng);
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            if i < out.len() {
                if rng.random_bool(0.5) {
                    out.remove(i);
                } else {
                    let line = out[i].clone();
                    out.insert(i, line);
                }
            }
            out.join("\n")
        }
        // A known key with the wrong shape, as a top-level dotted key or in its table.
        6 => {
            let additions = [
                "[network]\nlatency_ms = [1, 2, 3]",
                "network.latency_ms = [5, 1]",
                "server.buffer = 1099511627776",
                "network.tcp_capacity = 9223372036854775807",
                "server.max_connections = 4611686018427387904",
                "limits.deadline_ms = 9223372036854775807",
                "limits.io_timeout_ms = 9223372036854775807",
                "[[clients]]\nmessages = [{ random = 67108864 }]\nrounds = 100000",
                "[[clients]]\ncount = 1000\nrounds = 100000\nmessages = [{ text = \"x\" }]",
                "[[timeline]]\nat_ms = 1\naction = \"hold\"\nrepeat = 1000000000\nevery_ms = 1",
            ];
            let addition = additions[rng.random_range(0..additions.len())];
            if addition.starts_with('[') {
                format!("{text}\n{addition}\n")
            } else {
                format!("{addition}\n{text}")
            }
        }
        // Random bytes that are valid UTF-8 but not TOML.
        _ => (0..rng.random_range(1..200)).map(|_| rng.random_range('\u{20}'..='\u{7e}')).collect(),
    }
}

#[test]
fn two_hundred_malformed_files_get_one_line_and_exit_2_or_run_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SmallRng::seed_from_u64(12);
    let sources = shipped();
    let (mut tried, mut clean, mut valid, mut panics, mut hangs) = (0, 0, 0, Vec::new(), Vec::new());
    let mut messy = Vec::new();
    for k in 0..220 {
        let source = &sources[k % sources.len()];
        let text = mutate(&std::fs::read_to_string(source).unwrap(), &mut rng);
        let path = dir.path().join(format!("m{k:03}.toml"));
        std::fs::write(&path, &text).unwrap();
        let name = path.display().to_string();
        let ran = run(&["run", &name, "--seed", "1"]);
        tried += 1;
        if ran.hung {
            hangs.push(format!("{name} (from {}):\n{text}", source.display()));
        } else if ran.stderr.contains("panicked") || !matches!(ran.code, Some(0..=2)) {
            panics.push(format!("{name} (from {}): exit {:?}: {}\n{text}", source.display(), ran.code, ran.stderr));
        } else if ran.code == Some(2) {
            let lines: Vec<&str> = ran.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            if lines.len() == 1 && lines[0].contains(&name) {
                clean += 1;
            } else {
                messy.push(format!("{name}: {}", ran.stderr));
            }
        } else {
            valid += 1; // a mutation that still makes a valid scenario runs it, bounded
        }
    }
    println!(
        "tried {tried}, clean errors {clean}, still valid {valid}, panics {}, hangs {}",
        panics.len(),
        hangs.len()
    );
    assert!(panics.is_empty(), "{} panicked or died:\n{}", panics.len(), panics.join("\n---\n"));
    assert!(hangs.is_empty(), "{} ran past {TIME_BOUND:?}:\n{}", hangs.len(), hangs.join("\n---\n"));
    assert!(messy.is_empty(), "errors that are not one line naming the file:\n{}", messy.join("\n"));
    assert!(clean >= 150, "only {clean} of {tried} mutations were errors: the generator mutates too little");
}

/// Each value the hardening issue saw panic, abort, hang or be silently accepted: one located line, exit 2, fast.
#[test]
fn values_that_once_panicked_aborted_or_hung_are_located_errors() {
    let base = "seeds = [1]\n[[clients]]\nmessages = [{ text = \"a\" }]\n";
    let cases = [
        ("[network]\ntcp_capacity = 9223372036854775807\n", "5:16", "tcp_capacity"),
        ("[server]\nmax_connections = 4611686018427387904\n", "5:19", "max_connections"),
        ("[server]\nbuffer = 1099511627776\n", "5:10", "buffer"),
        ("[network]\nlatency_ms = [1, 2, 3]\n", "5:14", "two numbers"),
        ("[limits]\ndeadline_ms = 9223372036854775807\n", "5:15", "deadline_ms"),
        ("[limits]\nio_timeout_ms = 9223372036854775806\n", "5:17", "io_timeout_ms"),
        ("[[clients]]\nrounds = 100000\nmessages = [{ random = 67108864 }]\n", "5:10", "bytes"),
        ("[[clients]]\ncount = 1000\nrounds = 100000\nmessages = [{ text = \"x\" }]\n", "5:9", "messages"),
        ("[[timeline]]\nat_ms = 1\naction = \"hold\"\nrepeat = 1000000000\nevery_ms = 1\n", "", "deadline"),
        // A dotted key, located at its value (before the first table, where it belongs to the top level).
        ("server.buffer = 0\n", "2:17", "buffer"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (k, (extra, at, what)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("v{k}.toml"));
        let text = match extra.strip_prefix("server.") {
            Some(_) => base.replacen("seeds = [1]\n", &format!("seeds = [1]\n{extra}"), 1),
            None => format!("{base}{extra}"),
        };
        std::fs::write(&path, text).unwrap();
        let name = path.display().to_string();
        let ran = run(&["run", &name]);
        assert_usage_error(&ran, &format!("{name}:{at}"));
        assert!(ran.stderr.contains(what), "{extra}: {}", ran.stderr);
        assert!(ran.seconds < 5.0, "{extra}: {:.1}s", ran.seconds);
    }
    // One text of 1 MiB sent 100,000 times: about 100 GB, refused before anything is built.
    let big = format!("{base}[[clients]]\nrounds = 100000\nmessages = [{{ text = \"{}\" }}]\n", "x".repeat(1 << 20));
    let path = dir.path().join("big.toml");
    std::fs::write(&path, big).unwrap();
    let name = path.display().to_string();
    let ran = run(&["run", &name]);
    assert_usage_error(&ran, &format!("{name}:5:10"));
}
