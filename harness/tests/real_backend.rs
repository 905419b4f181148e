//! The scenario files on real sockets (`--backend real`): the same clients and oracles, faults played by proxies;
//! and each network fault judged alike on both backends.

use std::path::Path;
use std::time::Duration;

use echo_harness::hunt::check::check_real;
use echo_harness::judge::judgement::Judgement;
use echo_harness::judge::oracles::judge;
use echo_harness::model::property::Verdict;
use echo_harness::model::scenario::Scenario;
use echo_harness::model::trace::{Event, Run};
use echo_harness::real::launch::Server;
use echo_harness::real::runner::{unsupported, RealTarget};
use echo_harness::sim::target::Target;

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

// Each fault of the timeline does to a run on real sockets what it does in the simulator, as far as the oracles
// can tell: every property judged on one run gets the same verdict on both backends (determinism is the
// simulator's alone). scenarios/README.md ("What a cut does to bytes in flight") promises it.

/// Runs the scenario `toml` under each of its seeds on the simulator and on real sockets, both against the
/// built-in server, and asserts that every property has the same verdict on both; returns the runs (simulated,
/// real) per seed.
fn backends_agree(name: &str, toml: &str) -> Vec<(Run, Run)> {
    let scenario = Scenario::parse(Path::new(&format!("{name}.toml")), toml).unwrap();
    assert_eq!(unsupported(&scenario, &RealTarget::Builtin), None);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let verdicts = |judged: &[Judgement]| judged.iter().map(|j| (j.property.name(), j.verdict)).collect::<Vec<_>>();
    let details = |judged: &[Judgement]| {
        judged.iter().map(|j| format!("  {} {:?}: {}\n", j.property.name(), j.verdict, j.detail)).collect::<String>()
    };
    let mut runs = Vec::new();
    for &seed in &scenario.seeds {
        let simulated = echo_harness::sim::runner::run(&scenario, seed, &Target::builtin());
        let real = rt.block_on(echo_harness::real::runner::run(&scenario, seed, &RealTarget::Builtin));
        let (on_sim, on_real) = (judge(&scenario, &simulated), judge(&scenario, &real));
        assert!(
            on_sim.iter().all(|j| j.verdict != Verdict::Fail),
            "{name} seed {seed}: the built-in server fails in the simulator:\n{}{}",
            details(&on_sim),
            trace(&simulated)
        );
        assert_eq!(
            verdicts(&on_sim),
            verdicts(&on_real),
            "{name} seed {seed}: the backends disagree\nsimulator:\n{}real sockets:\n{}\nsimulated trace:\n{}\nreal \
             trace:\n{}",
            details(&on_sim),
            details(&on_real),
            trace(&simulated),
            trace(&real)
        );
        runs.push((simulated, real));
    }
    runs
}

/// A run's trace, one record a line.
fn trace(run: &Run) -> String {
    run.records.iter().map(|r| format!("  {r}\n")).collect()
}

/// Clients whose link `run` says was given up.
fn given_up(run: &Run) -> Vec<usize> {
    let mut out: Vec<usize> = run
        .records
        .iter()
        .filter_map(|r| match r.event {
            Event::GaveUp { client, .. } => Some(client),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Three clients, a message of each kind, rounds enough to keep traffic flowing past 300 ms; `timeline` and
/// `limits` added. A client reconnects after a failure only where the cut is given up (`reconnect`).
fn scenario(timeline: &str, limits: &str, reconnect: bool) -> String {
    format!(
        r#"
seeds = [1, 2]

[network]
latency_ms = [1, 5]

[[clients]]
count = 3
rounds = 15
reconnect = {reconnect}
messages = [{{ text = "through the fault" }}, {{ random = 100 }}]
{timeline}
{limits}
"#
    )
}

/// A cut of client-0 and client-1 (`action` at 50 ms, `heal` at `50 + ms` ms), with `keys` on both steps.
fn cut(action: &str, heal: &str, ms: u64, keys: &str) -> String {
    format!(
        r#"
[[timeline]]
at_ms = 50
action = "{action}"
clients = ["client-0", "client-1"]
{keys}

[[timeline]]
at_ms = {}
action = "{heal}"
clients = ["client-0", "client-1"]
{keys}
"#,
        50 + ms
    )
}

#[test]
fn a_short_partition_agrees_on_both_backends() {
    let runs = backends_agree("partition", &scenario(&cut("partition", "repair", 100, ""), "", false));
    assert!(runs.iter().all(|(s, r)| given_up(s).is_empty() && given_up(r).is_empty()));
}

#[test]
fn a_short_partition_towards_the_server_agrees_on_both_backends() {
    let toml = scenario(&cut("partition", "repair", 100, r#"direction = "to_server""#), "", false);
    backends_agree("partition_to_server", &toml);
}

#[test]
fn a_short_partition_from_the_server_agrees_on_both_backends() {
    let toml = scenario(&cut("partition", "repair", 100, r#"direction = "from_server""#), "", false);
    backends_agree("partition_from_server", &toml);
}

#[test]
fn a_short_hold_agrees_on_both_backends() {
    backends_agree("hold", &scenario(&cut("hold", "release", 100, ""), "", false));
}

#[test]
fn a_partition_given_up_agrees_on_both_backends() {
    // Given up at 350 ms, healed at 650 ms: the connections on the cut links end, their clients reconnect.
    let limits = "[limits]\ngive_up_ms = 300\nio_timeout_ms = 1000\n";
    let runs = backends_agree("partition_given_up", &scenario(&cut("partition", "repair", 600, ""), limits, true));
    for (simulated, real) in &runs {
        assert_eq!(given_up(simulated), [0, 1], "simulator");
        assert_eq!(given_up(real), [0, 1], "real sockets");
        // Through the proxy the connections in use are reset at the give-up, not merely held until the heal.
        for client in [0, 1] {
            let reset = real.records.iter().any(|r| match &r.event {
                Event::Exchange { client: c, error: Some(e), .. } => {
                    *c == client
                        && (e == "reset" || e == "broken-pipe")
                        && (Duration::from_millis(350)..Duration::from_millis(650)).contains(&r.at)
                }
                _ => false,
            });
            assert!(reset, "client-{client} was not reset at the give-up:\n{}", trace(real));
        }
    }
}

#[test]
fn a_latency_change_agrees_on_both_backends() {
    let timeline = r#"
[[timeline]]
at_ms = 50
action = "latency"
clients = ["client-0"]
ms = 40

[[timeline]]
at_ms = 200
action = "latency"
clients = ["client-0", "client-1"]
ms = 2
"#;
    backends_agree("latency", &scenario(timeline, "", false));
}

/// A server outside the harness takes no `[server]` settings: a scenario that sets a policy (an idle timeout, a
/// connection limit) is skipped for it, with the reason, instead of blaming it for a policy it was never given
/// (`connection_limit` failed the tutorial's correct server on liveness before this rule).
#[test]
fn scenarios_that_set_a_server_policy_are_skipped_for_an_outside_server() {
    let toml = "seeds = [1]\n[server]\nidle_timeout_ms = 150\nmax_connections = 2\n[[clients]]\nmessages = [{ text = \"hi\" }]\n";
    let scenario = Scenario::parse(Path::new("policy.toml"), toml).unwrap();
    let outside = RealTarget::External(echo_harness::real::launch::Server::Command("python3 correct.py {port}".into()));
    let why = unsupported(&scenario, &outside).expect("skipped for a command");
    assert!(why.contains("idle_timeout_ms = 150, max_connections = 2"), "{why}");
    assert_eq!(unsupported(&scenario, &RealTarget::Builtin), None, "the built-in server is given them");
    let plain = Scenario::parse(Path::new("plain.toml"), "seeds = [1]\n[[clients]]\nmessages = [{ text = \"hi\" }]\n");
    assert_eq!(unsupported(&plain.unwrap(), &outside), None);
}
