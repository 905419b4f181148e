//! The scenario files on real sockets (`--backend real`): the same clients and oracles, faults played by proxies.

use std::path::Path;

use echo_harness::hunt::check::check_real;
use echo_harness::model::property::Verdict;
use echo_harness::model::scenario::Scenario;
use echo_harness::real::launch::Server;
use echo_harness::real::runner::RealTarget;

fn scenarios(names: &[&str]) -> Vec<Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    names.iter().map(|n| Scenario::load(&dir.join(format!("{n}.toml"))).unwrap()).collect()
}

#[test]
fn the_builtin_server_holds_on_real_sockets() {
    // Scenarios whose bounds leave room for a shared machine's timing.
    let chosen = scenarios(&[
        "echo_three_clients",
        "partial_sends",
        "split_and_joined_messages",
        "half_close",
        "abrupt_disconnect_rst",
        "disconnect_mid_message",
        "large_message",
        "hold_release",
        "server_bounce",
        "connect_refused",
        "lossy_link",
    ]);
    let report = check_real(&chosen, &RealTarget::Builtin, 2);
    assert_eq!(report.backend, "real");
    for p in &report.properties {
        assert_ne!(p.verdict, Verdict::Fail, "{}: {}\n{:?}", p.name, p.evidence.detail, p.evidence.trace_tail);
    }
    let lossy = report.scenarios.iter().find(|s| s.name == "lossy_link").unwrap();
    assert_eq!(lossy.verdict, Verdict::Skip, "fail_rate has no real-socket equivalent");
    assert!(lossy.description.contains("fail_rate"), "{}", lossy.description);
    let restart = report.properties.iter().find(|p| p.name == "restart").unwrap();
    assert_eq!(restart.verdict, Verdict::Pass, "{}", restart.evidence.detail);
}

#[test]
fn a_python_server_serving_one_client_at_a_time_fails_many_clients_on_real_sockets() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/tests/servers/serial.py");
    let target = RealTarget::External(Server::Command(format!("python3 {} {{port}}", script.display())));
    let report = check_real(&scenarios(&["many_clients"]), &target, 1);
    let liveness = report.properties.iter().find(|p| p.name == "liveness").unwrap();
    assert_eq!(liveness.verdict, Verdict::Fail, "{}", liveness.evidence.detail);
    let replay = liveness.evidence.replay.as_deref().unwrap();
    assert!(replay.contains("--backend real") && replay.contains("serial.py"), "{replay}");
}
