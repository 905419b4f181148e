//! Exploration on real sockets, through the binary, against the tutorial's Python servers: a planted bug is found
//! and shrunk by generated cases alone and its file replays it; a correct server (and a plain echo under
//! `--transform identity`) has no confirmed finding; a server that fails one start in three is reported as flaky,
//! never as a confirmed failure; a target that will not start is one line and exit 2.

use std::path::Path;
use std::process::{Command, Output};

use echo_harness::hunt::explore_real::real_case;
use echo_harness::hunt::shrink::Size;
use echo_harness::model::scenario::Scenario;
use echo_harness::model::transform::Transform;
use echo_harness::real::launch::Server;
use echo_harness::real::runner::RealTarget;
use echo_harness::report::explore_results::ExploreResults;

const BIN: &str = env!("CARGO_BIN_EXE_echo-harness");

fn server(name: &str) -> String {
    format!("python3 {}/harness/tests/servers/{name}.py {{port}}", env!("CARGO_MANIFEST_DIR"))
}

/// `explore --json` with `args`, writing into `dir`; the document it printed.
fn explore(dir: &Path, args: &[&str]) -> (Output, Option<ExploreResults>) {
    let out = Command::new(BIN)
        .arg("explore")
        .args(args)
        .arg("--json")
        .arg("--report-dir")
        .arg(dir)
        .output()
        .expect("echo-harness runs");
    let doc = serde_json::from_slice(&out.stdout).ok();
    (out, doc)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_planted_bug_is_found_confirmed_shrunk_and_replayed_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = server("trailing_newline");
    let (out, doc) = explore(dir.path(), &["--target", &target, "--cases", "20", "--jobs", "1"]);
    let doc = doc.unwrap_or_else(|| panic!("a document: {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(1), "{doc:?}");
    assert_eq!(doc.backend, "real");
    assert!(doc.flaky.is_empty(), "a bug on every reply is never flaky: {:?}", doc.flaky);
    let finding = &doc.findings[0];
    assert_eq!(finding.property, "echo-integrity", "{finding:?}");
    assert_eq!((finding.failed_runs, finding.of_runs), (Some(4), Some(4)), "{finding:?}");
    // Small: one message shows a newline the client never sent (the bound: 2 clients, 3 messages).
    let shrunk = Size::of(&Scenario::load(Path::new(&finding.file)).unwrap());
    assert!(shrunk.clients <= 2 && shrunk.messages <= 3, "{shrunk}");
    let text = std::fs::read_to_string(&finding.file).unwrap();
    assert!(text.contains("backend = \"real\""), "{text}");
    assert!(text.contains(&format!("# Target: {target}")), "{text}");
    // The file replays on real sockets without --backend (the file says so), and still fails.
    let replay = Command::new(BIN).args(["run", &finding.file, "--target", &target]).output().unwrap();
    let said = String::from_utf8_lossy(&replay.stdout);
    assert_eq!(replay.status.code(), Some(1), "{said}{}", stderr(&replay));
    assert!(said.contains("backend real") && said.contains("echo-integrity  FAIL"), "{said}");
}

#[test]
fn correct_servers_have_no_confirmed_finding() {
    for (name, transform) in [("correct", "upper"), ("plain_echo", "identity")] {
        let dir = tempfile::tempdir().unwrap();
        let args = ["--target", &server(name), "--transform", transform, "--cases", "16", "--keep-going"];
        let (out, doc) = explore(dir.path(), &args);
        let doc = doc.unwrap_or_else(|| panic!("{name}: a document: {}", stderr(&out)));
        assert_eq!(out.status.code(), Some(0), "{name}: {doc:?}");
        assert!(doc.findings.is_empty(), "{name}: {:?}", doc.findings);
        assert_eq!(doc.cases, 16, "{name}");
    }
    // The plain echo is not the tutorial's server: judged as an upper-caser, it fails.
    let dir = tempfile::tempdir().unwrap();
    let (out, doc) = explore(dir.path(), &["--target", &server("plain_echo"), "--cases", "10", "--jobs", "1"]);
    assert_eq!(out.status.code(), Some(1), "{doc:?}");
    assert_eq!(doc.unwrap().findings[0].property, "echo-integrity");
}

#[test]
fn a_server_that_fails_one_start_in_three_is_flaky_not_failing() {
    // Cases without a restart start one server per run, so the three re-runs of a failing case (side by side)
    // meet the broken start exactly once: the seed is picked for that, from the same generator the binary uses.
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("starts");
    let target =
        format!("python3 {}/harness/tests/servers/flaky.py {} {{port}}", env!("CARGO_MANIFEST_DIR"), counter.display());
    let real = RealTarget::External(Server::Command(target.clone()));
    let cases = 6;
    let seed = (0..200u64)
        .find(|&s| (0..cases).all(|c| !real_case(s, c, &real, Transform::Upper).restarts_server()))
        .expect("a seed whose first cases restart nothing");
    let args = ["--target", &target, "--seed", &seed.to_string(), "--cases", &cases.to_string(), "--jobs", "1"];
    let (out, doc) = explore(dir.path(), &args);
    let doc = doc.unwrap_or_else(|| panic!("a document: {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(0), "flaky failures are no verdict: {doc:?}");
    assert!(doc.findings.is_empty(), "{:?}", doc.findings);
    assert!(!doc.flaky.is_empty(), "one start in three is broken: {doc:?}");
    for f in &doc.flaky {
        // Exactly 2 of 4 on an idle machine (the discovery and the one broken re-run); never all 4.
        let (failed, of) = (f.failed_runs.unwrap(), f.of_runs.unwrap());
        assert!(0 < failed && failed < of, "{f:?}");
        assert!(Path::new(&f.file).exists() && f.file.ends_with("-flaky.toml"), "{f:?}");
    }
}

/// A Python server started by the test on a free port, killed when dropped.
struct Running(std::process::Child, String);

impl Running {
    fn start(name: &str) -> Running {
        let port = echo_harness::real::launch::free_port().unwrap();
        let script = format!("{}/harness/tests/servers/{name}.py", env!("CARGO_MANIFEST_DIR"));
        let child = Command::new("python3").arg(script).arg(port.to_string()).spawn().expect("python3 runs");
        let addr = format!("127.0.0.1:{port}");
        let listening =
            || echo_harness::real::kernel::sockets_on_port(port, &[echo_harness::real::kernel::TcpState::Listen]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while listening().unwrap_or(0) == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Running(child, addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_server_at_an_address_is_explored_one_run_at_a_time_and_its_death_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let correct = Running::start("correct");
    let (out, doc) = explore(dir.path(), &["--addr", &correct.1, "--cases", "8", "--keep-going"]);
    let doc = doc.unwrap_or_else(|| panic!("a document: {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(0), "{doc:?}");
    assert_eq!((doc.cases, doc.jobs, doc.findings.len()), (8, 1, 0), "{doc:?}");
    // A server without a connection loop serves one client and exits: the case that ends it is the finding,
    // and nothing after it runs against a dead server.
    let single = Running::start("single_client");
    let (out, doc) = explore(dir.path(), &["--addr", &single.1, "--cases", "8", "--keep-going"]);
    let doc = doc.unwrap_or_else(|| panic!("a document: {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(1), "{doc:?}");
    assert_eq!(doc.findings.len(), 1, "{doc:?}");
    assert!(doc.findings[0].detail.contains("stopped answering"), "{doc:?}");
    assert!(doc.cases < 8, "the run stops when the server is gone: {doc:?}");
}

#[test]
fn a_target_that_will_not_start_or_a_bad_flag_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (vec!["--target", "python3 -c 'import sys; sys.exit(3)' {port}"], "did not answer on port"),
        (vec!["--addr", "10.1.2.3:80"], "127.0.0.1"),
        (vec!["--target", &server("correct"), "--check-determinism"], "not replayable"),
        (vec!["--transform", "identity"], "--transform goes with a server on real sockets"),
        (vec!["--target", &server("correct"), "--confirm", "0"], "--confirm"),
        (vec!["--target", "builtin", "--confirm", "2"], "--confirm and --shrink-time go with a server on real sockets"),
    ] {
        let (out, _) = explore(dir.path(), &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        // One line says it (clap adds its "For more information" hint under a bad flag).
        assert!(err.lines().next().unwrap_or_default().contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_scenario_for_a_plain_echo_is_refused_against_an_upper_casing_target() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain.toml");
    std::fs::write(&file, "seeds = [1]\n[server]\nreply = \"identity\"\n[[clients]]\nmessages = [{ text = \"hi\" }]\n")
        .unwrap();
    for args in [vec![], vec!["--backend", "real"]] {
        let out = Command::new(BIN).arg("run").arg(&file).args(&args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("reply = \"identity\", but target builtin upper-cases"), "{err}");
    }
    // Against a plain echo on real sockets it is the right expectation, and holds.
    let plain = server("plain_echo");
    let out = Command::new(BIN).arg("run").arg(&file).args(["--backend", "real", "--target", &plain]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
}
