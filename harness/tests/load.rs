//! `echo-harness load`, run as a user runs it: against the built-in server it starts itself, a Python server from
//! `harness/tests/servers` (`--target`), and a server already running (`--addr`). Every byte must be verified: a
//! server that corrupts the echo, or a transform that does not match, fails the run (exit 1). Runs last about a
//! second each.

use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_echo-harness");

fn server(name: &str) -> String {
    format!("python3 {}/harness/tests/servers/{name}.py {{port}}", env!("CARGO_MANIFEST_DIR"))
}

fn load(args: &[&str]) -> (Output, Option<Value>) {
    let out = Command::new(BIN).arg("load").args(args).output().expect("echo-harness runs");
    let doc = serde_json::from_slice(&out.stdout).ok();
    (out, doc)
}

fn doc_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("no JSON document; stderr: {}", stderr(out)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_builtin_server_streams_every_byte_back_verified_and_leaves_no_descriptor() {
    let (out, doc) = load(&["--duration", "1s", "--clients", "4", "--size", "64KiB", "--json"]);
    let doc = doc.unwrap_or_else(|| panic!("a JSON document: {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["error_total"], 0, "{doc}");
    assert!(doc["verified_bytes"].as_u64().unwrap() > 1_000_000, "{doc}");
    assert_eq!(doc["verified_bytes"], doc["sent_bytes"], "every byte sent came back: {doc}");
    assert!(doc["mb_per_s"].as_f64().unwrap() > 1.0, "{doc}");
    assert!(doc["p99_us"].as_u64().is_some(), "{doc}");
    assert!(doc["peak_rss_bytes"].as_u64().unwrap() > 0, "{doc}");
    assert_eq!(doc["fds_before"], doc["fds_after"], "{doc}");
}

#[test]
fn churn_with_resets_leaves_the_builtin_server_serving_without_a_leaked_descriptor() {
    let (out, doc) = load(&["--churn", "--duration", "1s", "--clients", "4", "--size", "100", "--json"]);
    let doc = doc.unwrap_or_else(|| panic!("a JSON document: {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert!(doc["connections"].as_u64().unwrap() >= 20, "{doc}");
    assert_eq!(doc["round_trips"], doc["connections"], "{doc}");
    assert_eq!(doc["fds_before"], doc["fds_after"], "{doc}");
}

#[test]
fn a_server_that_adds_a_byte_fails_the_run_and_the_first_wrong_byte_is_named() {
    let target = server("trailing_newline");
    let (out, doc) = load(&["--target", &target, "--duration", "1s", "--clients", "1", "--size", "1KiB", "--json"]);
    let doc = doc.unwrap_or_else(|| panic!("a JSON document: {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert_eq!(doc["errors"]["corrupt"], 1, "{doc}");
    assert_eq!(doc["verified_bytes"], 1024, "the message before the extra newline was right: {doc}");
    let first = doc["first_corruption"].as_str().unwrap();
    assert!(first.starts_with("byte 1024 of the connection"), "{first}");
}

#[test]
fn a_server_that_uses_send_loses_bytes_under_backpressure_and_the_run_says_so() {
    // One client writes 1 MiB blocks and reads only after a second: the server's send() then writes only part.
    let args = ["--duration", "2s", "--size", "1MiB", "--read-delay", "1s", "--io-timeout", "2s", "--clients", "1"];
    let (out, _) = load(&[&args[..], &["--target", &server("send_not_sendall"), "--json"]].concat());
    let doc = doc_of(&out);
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert!(doc["error_total"].as_u64().unwrap() >= 1, "{doc}");
    // The correct server, on the same load, gives every byte back.
    let (out, doc) = load(&[&args[..], &["--target", &server("correct"), "--json"]].concat());
    let doc = doc.unwrap_or_else(|| panic!("a JSON document: {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(0), "{doc}");
}

#[test]
fn a_running_plain_echo_passes_with_identity_and_fails_as_an_upper_caser() {
    let port = echo_harness::real::launch::free_port().unwrap();
    let script = format!("{}/harness/tests/servers/plain_echo.py", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("python3").arg(&script).arg(port.to_string()).spawn().expect("python3 runs");
    let addr = format!("127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let common =
        ["--addr", &addr, "--duration", "1s", "--clients", "2", "--mode", "pingpong", "--size", "1KiB", "--json"];
    let (identity, doc) = load(&[&common[..], &["--transform", "identity"]].concat());
    let (upper, upper_doc) = load(&common);
    let _ = child.kill();
    let _ = child.wait();
    let doc = doc.unwrap_or_else(|| panic!("a JSON document: {}", stderr(&identity)));
    assert_eq!(identity.status.code(), Some(0), "{doc}");
    assert!(doc["round_trips"].as_u64().unwrap() > 100, "{doc}");
    let upper_doc = upper_doc.unwrap_or_else(|| doc_of(&upper));
    assert_eq!(upper.status.code(), Some(1), "{upper_doc}");
    assert_eq!(upper_doc["errors"]["corrupt"], 2, "{upper_doc}");
}

#[test]
fn bad_flags_and_a_server_that_will_not_start_are_one_line_and_exit_2() {
    for (args, says) in [
        (vec!["--addr", "10.1.2.3:80"], "127.0.0.1"),
        (vec!["--rate", "100"], "--mode pingpong"),
        (vec!["--size", "12 parsecs"], "unknown unit"),
        (vec!["--duration", "soon"], "not a duration"),
        (vec!["--clients", "30000"], "at most 20000"),
        (vec!["--target", "true {port}", "--duration", "1s"], "--target `true {port}`"),
    ] {
        let (out, _) = load(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn ctrl_c_prints_what_was_measured_and_stops_the_server_it_started() {
    let child = Command::new(BIN)
        .args(["load", "--duration", "60s", "--clients", "2", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: kill(2) on the child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "it stopped at Ctrl-C");
    let doc = doc_of(&out);
    assert_eq!(doc["interrupted"], true, "{doc}");
    assert!(doc["elapsed_s"].as_f64().unwrap() < 30.0, "{doc}");
    assert!(doc["verified_bytes"].as_u64().unwrap() > 0, "{doc}");
    assert_eq!(doc["error_total"], 0, "{doc}");
    let pid = doc["server_pid"].as_u64().unwrap();
    // Gone, or a zombie waiting for its reaper (`State: Z` in /proc), not a live process.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let state = status.lines().find(|l| l.starts_with("State:")).unwrap_or("State: gone");
    assert!(state.contains("gone") || state.contains('Z'), "the server it started still runs: {state}");
}

#[test]
fn a_rate_paces_the_round_trips() {
    // 2 clients at 200 round trips a second in all, for 1 s: about 200, not the thousands an unpaced run makes.
    let args = ["--mode", "pingpong", "--size", "100", "--clients", "2", "--duration", "1s", "--json"];
    let (out, doc) = load(&[&args[..], &["--rate", "200"]].concat());
    let doc = doc.unwrap_or_else(|| panic!("a JSON document: {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let paced = doc["round_trips"].as_u64().unwrap();
    assert!((150..=260).contains(&paced), "{paced} round trips: {doc}");
    assert_eq!(doc["settings"]["rate"], 200.0, "{doc}");
}

#[test]
fn one_wrong_byte_in_a_long_stream_is_found_at_its_offset() {
    let target = server("one_bad_byte");
    let args = ["--target", &target, "--duration", "1s", "--clients", "2", "--size", "4KiB", "--json"];
    let (out, doc) = load(&args);
    let doc = doc.unwrap_or_else(|| panic!("a JSON document: {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert_eq!(doc["errors"]["corrupt"], 2, "each connection meets its bad byte: {doc}");
    assert_eq!(doc["verified_bytes"], 200_000, "everything before it was right, on both: {doc}");
    let first = doc["first_corruption"].as_str().unwrap();
    assert!(first.starts_with("byte 100000 of the connection: expected"), "{first}");
}
