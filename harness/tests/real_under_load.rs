//! The scenario files on real sockets on a busy machine: a correct server never fails because the machine is
//! loaded (two CPU hogs on the 2-core machine), a server slow to serve after a restart still fails, a failure
//! that does not happen again on a second run is not reported, and a confirmed one says so, and that its replay
//! reruns the scenario rather than the same timing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use echo_harness::hunt::check::check_real;
use echo_harness::model::property::Verdict;
use echo_harness::model::scenario::Scenario;
use echo_harness::real::launch::Server;
use echo_harness::real::runner::RealTarget;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn server(name: &str) -> PathBuf {
    root().join("harness/tests/servers").join(format!("{name}.py"))
}

fn python(script: &Path, args: &str) -> RealTarget {
    RealTarget::External(Server::Command(format!("python3 {} {args}", script.display())))
}

/// A scenario of `scenarios/`, under the seeds given (all of the file's when empty).
fn scenario(name: &str, seeds: &[u64]) -> Scenario {
    let mut scenario = Scenario::load(&root().join("scenarios").join(format!("{name}.toml"))).unwrap();
    if !seeds.is_empty() {
        scenario.seeds = seeds.to_vec();
    }
    scenario
}

/// Busy loops in shells, one per core of the 2-core machine, killed (by pid) when dropped.
struct Hogs(Vec<Child>);

impl Hogs {
    fn start() -> Hogs {
        Hogs(
            (0..2)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdin(Stdio::null())
                        .spawn()
                        .expect("start a CPU hog")
                })
                .collect(),
        )
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for hog in &mut self.0 {
            let _ = hog.kill();
            let _ = hog.wait();
        }
    }
}

fn failures(report: &echo_harness::judge::tally::SuiteReport) -> Vec<String> {
    report
        .properties
        .iter()
        .filter(|p| p.verdict == Verdict::Fail)
        .map(|p| format!("{}: {} {:?}", p.name, p.evidence.detail, p.evidence.trace_tail))
        .collect()
}

#[test]
fn a_correct_python_server_holds_the_restart_scenarios_while_two_cpu_hogs_run() {
    // The scenarios with the tightest bounds around restarts (crash_restart: 100 ms connects, 300 ms I/O;
    // rapid_restarts: served within 80 ms of each of 10 bounces 90 ms apart), where a Python interpreter's start
    // on a loaded machine (50 ms idle, up to 300 ms and more with the hogs) made a correct server fail.
    let scenarios = [scenario("crash_restart", &[]), scenario("rapid_restarts", &[]), scenario("server_bounce", &[])];
    let _hogs = Hogs::start();
    let report = check_real(&scenarios, &python(&server("correct"), "{port}"), 2);
    assert_eq!(failures(&report), Vec::<String>::new());
    let restart = report.properties.iter().find(|p| p.name == "restart").unwrap();
    assert_eq!(restart.verdict, Verdict::Pass, "{}", restart.evidence.detail);
}

/// One bounce at 50 ms and one client that comes after it: it must be served within `restart_within_ms` of its
/// connect.
fn bounce_then_a_client(restart_within_ms: u64) -> Scenario {
    let text = format!(
        "description = \"a bounce, then a client\"\nseeds = [1]\n\
         [[clients]]\nstart_ms = 100\nmessages = [{{ text = \"after the restart\" }}]\n\
         [[timeline]]\nat_ms = 50\naction = \"bounce\"\n\
         [limits]\nrestart_within_ms = {restart_within_ms}\n"
    );
    Scenario::parse(Path::new("bounce_then_a_client.toml"), &text).unwrap()
}

#[test]
fn a_server_slow_to_accept_after_a_restart_still_fails_restart() {
    // Listening, but accepting only 1.5 s later: the bound counts from when the restarted server listens.
    let report = check_real(&[bounce_then_a_client(1000)], &python(&server("slow_accept"), "{port}"), 1);
    let restart = report.properties.iter().find(|p| p.name == "restart").unwrap();
    assert_eq!(restart.verdict, Verdict::Fail, "{}", restart.evidence.detail);
    assert!(restart.evidence.detail.contains("first answered at"), "{}", restart.evidence.detail);
}

#[test]
fn a_server_slow_to_listen_is_judged_from_when_it_listens() {
    // Half a second to start listening (an interpreter on a loaded machine, a JVM), then it serves at once: the
    // restart bound (200 ms here) counts from when it listens, as a start in the simulator takes no time.
    let target = RealTarget::External(Server::Command(format!(
        "sleep 0.5; exec python3 {} {{port}}",
        server("correct").display()
    )));
    let report = check_real(&[bounce_then_a_client(200)], &target, 1);
    assert_eq!(failures(&report), Vec::<String>::new());
    let restart = report.properties.iter().find(|p| p.name == "restart").unwrap();
    assert_eq!(restart.verdict, Verdict::Pass, "{}", restart.evidence.detail);
}

#[test]
fn a_failure_that_does_not_happen_again_is_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("starts");
    let target = python(&server("wrong_first_time"), &format!("{} {{port}}", marker.display()));
    let report = check_real(&[scenario("echo_three_clients", &[1])], &target, 1);
    let starts = std::fs::read_to_string(&marker).unwrap().lines().count();
    assert_eq!(starts, 2, "the run that failed is run once more, on a fresh server");
    assert_eq!(failures(&report), Vec::<String>::new());
}

#[test]
fn a_confirmed_failure_says_so_and_that_its_replay_reruns_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("scenarios/many_clients.toml"), dir.path().join("many_clients.toml")).unwrap();
    let target = format!("python3 {} {{port}}", server("serial").display());
    let out = Command::new(env!("CARGO_BIN_EXE_echo-harness"))
        .args(["check", "--backend", "real", "--skip-kernel", "--json", "--target", &target, "--scenarios"])
        .arg(dir.path())
        .arg("--report-dir")
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let liveness = doc["properties"].as_array().unwrap().iter().find(|p| p["name"] == "liveness").unwrap();
    assert_eq!(liveness["verdict"], "fail");
    let detail = liveness["evidence"]["detail"].as_str().unwrap();
    assert!(detail.contains("confirmed on a second run"), "{detail}");
    assert!(detail.contains("not replayable byte for byte"), "{detail}");
    let replay = liveness["evidence"]["replay"].as_str().unwrap();
    assert!(replay.contains("--backend real") && replay.contains("serial.py"), "{replay}");
}
