//! The simulated runner and its oracles: the built-in server holds, planted bugs (defined here, apart from the
//! real server) are caught by the right property, and a seed replays to the same trace whatever ran before.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use echo_harness::hunt::run::run_and_judge;
use echo_harness::model::property::{Property, Verdict};
use echo_harness::model::scenario::Scenario;
use echo_harness::model::trace::Event;
use echo_harness::sim::{runner as sim, target::Target};
use echo_harness::sut::net::Listener;
use echo_harness::sut::server::{self, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn scenario(name: &str) -> Scenario {
    Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(format!("{name}.toml"))).unwrap()
}

fn verdict(scenario: &Scenario, target: &Target, property: Property) -> (Verdict, String) {
    let (_, judgements) = run_and_judge(scenario, scenario.seeds[0], target);
    let j = judgements.into_iter().find(|j| j.property == property).unwrap();
    (j.verdict, j.detail)
}

/// Echoes without upper-casing: a wrong reply.
fn plain_echo() -> Target {
    Target::new("plain-echo", |mut listener| {
        Box::pin(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        })
    })
}

/// Serves its first incarnation only: after a restart it listens but never accepts.
fn no_restart() -> Target {
    let started = Arc::new(AtomicBool::new(false));
    Target::new("no-restart", move |listener| {
        let first = !started.swap(true, Ordering::Relaxed);
        Box::pin(async move {
            if first {
                server::run(listener, Config::default(), std::future::pending::<()>()).await
            } else {
                std::future::pending::<()>().await
            }
        })
    })
}

/// The built-in server with half the scenario's idle timeout: it closes quiet connections too early.
fn impatient() -> Target {
    Target::configurable("impatient", |listener, mut config| {
        config.idle_timeout = config.idle_timeout.map(|t| t / 2);
        Box::pin(server::run(listener, config, std::future::pending::<()>()))
    })
}

#[test]
fn the_idle_timeout_excuses_the_close_of_a_silent_client_but_not_one_that_comes_too_early() {
    let s = scenario("idle_timeout_reads");
    let (v, detail) = verdict(&s, &Target::builtin(), Property::Liveness);
    assert_eq!(v, Verdict::Pass, "{detail}");
    // The server's own record of the close: 200 ms without a byte read or written.
    assert!(detail.contains("closed by the server at 0.201s after 200 ms without progress"), "{detail}");
    let (v, detail) = verdict(&s, &impatient(), Property::Liveness);
    assert_eq!(v, Verdict::Fail, "{detail}");
    assert!(
        detail.contains("the server closed connection 0 (client-0) at 0.101s after only 100 ms without progress"),
        "{detail}"
    );
}

#[test]
fn builtin_server_holds_every_property_on_both_first_simulations() {
    let target = Target::builtin();
    for name in ["echo_three_clients", "server_bounce"] {
        let s = scenario(name);
        for &seed in &s.seeds {
            let (run, judgements) = run_and_judge(&s, seed, &target);
            for j in &judgements {
                assert_ne!(j.verdict, Verdict::Fail, "{name} seed {seed}: {} {}", j.property.name(), j.detail);
            }
            assert!(run.records.len() > 60, "{name}: {} events", run.records.len());
        }
    }
}

#[test]
fn a_server_that_does_not_upper_case_breaks_echo_integrity() {
    let (v, detail) = verdict(&scenario("echo_three_clients"), &plain_echo(), Property::EchoIntegrity);
    assert_eq!(v, Verdict::Fail);
    assert!(detail.contains("first difference at byte 0"), "{detail}");
}

#[test]
fn a_server_that_does_not_come_back_breaks_restart_and_liveness() {
    let s = scenario("server_bounce");
    let (v, detail) = verdict(&s, &no_restart(), Property::Restart);
    assert_eq!(v, Verdict::Fail, "{detail}");
    assert!(detail.contains("no connection opened after the restart at 0.040s was served"), "{detail}");
    let (v, detail) = verdict(&s, &no_restart(), Property::Liveness);
    assert_eq!(v, Verdict::Fail, "{detail}");
}

#[test]
fn a_restart_after_the_clients_finish_is_applied_but_not_counted_as_held() {
    let text =
        "seeds = [1]\n[[clients]]\nmessages = [{ text = \"hi\" }]\n[[timeline]]\nat_ms = 5000\naction = \"bounce\"\n";
    let s = Scenario::parse(Path::new("late.toml"), text).unwrap();
    let (v, detail) = verdict(&s, &Target::builtin(), Property::Restart);
    assert_eq!(v, Verdict::Skip, "nobody connected after it: {detail}");
    let run = sim::run(&s, 1, &Target::builtin());
    assert!(run.records.iter().any(|r| r.at.as_millis() == 5000), "the timeline plays out: {:?}", run.records.last());
}

#[test]
fn a_seed_replays_to_the_same_trace_whatever_ran_before_in_the_process() {
    // tokio numbers tasks process-wide and turmoil's crash drops them in an order set by those numbers; the
    // runner must not let that leak into the trace (see `process`).
    let s = scenario("server_bounce");
    let target = Target::builtin();
    let reference = sim::run(&s, 3, &target).hash;
    for shift in 1..=7 {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            for _ in 0..shift {
                tokio::spawn(async {}).await.unwrap();
            }
        });
        assert_eq!(sim::run(&s, 3, &target).hash, reference, "after {shift} extra tasks");
    }
    assert_ne!(sim::run(&s, 4, &target).hash, reference, "another seed, another trace");
}

#[test]
fn a_client_that_ends_before_its_first_message_still_connects_and_misbehaves() {
    use echo_harness::model::trace::Event;
    for end in ["fin", "reset", "die_mid_message"] {
        let text = format!(
            "seeds = [1]\n[[clients]]\nmessages = [{{ text = \"hello\" }}]\nend = \"{end}\"\nend_after = 0\n\
             [[clients]]\nstart_ms = 50\nmessages = [{{ text = \"next\" }}]\n"
        );
        let s = Scenario::parse(Path::new("early.toml"), &text).unwrap();
        let (run, judgements) = run_and_judge(&s, 1, &Target::builtin());
        assert!(
            run.records.iter().any(|r| matches!(r.event, Event::Misbehaved { client: 0, .. })),
            "end = {end}: {:?}",
            run.records
        );
        for j in &judgements {
            assert_ne!(j.verdict, Verdict::Fail, "end = {end}: {} {}", j.property.name(), j.detail);
        }
        let survival = judgements.iter().find(|j| j.property == Property::Survival).unwrap();
        assert_eq!(survival.verdict, Verdict::Pass, "end = {end}: {}", survival.detail);
    }
}

#[test]
fn a_run_that_would_take_too_long_ends_with_a_verdict_that_says_so() {
    // An hour of simulated time with a client waiting on a server that never answers: about 20 s of wall time.
    let text = concat!(
        "seeds = [1]\n[[clients]]\nmessages = [{ text = \"anyone?\" }]\n",
        "[limits]\ndeadline_ms = 3600000\nio_timeout_ms = 3600000\n"
    );
    let scenario = Scenario::parse(Path::new("mute.toml"), text).unwrap();
    let mute = Target::new("mute", |mut listener| {
        Box::pin(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream); // accepted, never read
            }
        })
    });
    let started = std::time::Instant::now();
    let run = sim::run_within(&scenario, 1, &mute, std::time::Duration::from_millis(500));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "the budget ended it: {:?}", started.elapsed());
    let judgements = echo_harness::judge::oracles::judge(&scenario, &run);
    let liveness = judgements.iter().find(|j| j.property == Property::Liveness).unwrap();
    assert_eq!(liveness.verdict, Verdict::Fail);
    assert!(liveness.detail.contains("wall-clock budget"), "{}", liveness.detail);
}

#[test]
fn a_client_after_the_others_starts_once_they_are_done_and_the_timeline_has_played_out() {
    let text = r#"
seeds = [1]
[[clients]]
messages = [{ text = "first" }, { text = "second" }]
end = "fin"
[[clients]]
after_others = true
start_ms = 50
messages = [{ text = "still there?" }]
[[timeline]]
at_ms = 300
action = "latency"
ms = 1
"#;
    let s = Scenario::parse(Path::new("after_others.toml"), text).unwrap();
    let run = sim::run(&s, 1, &Target::builtin());
    let at = |f: &dyn Fn(&Event) -> bool| run.records.iter().find(|r| f(&r.event)).map(|r| r.at).unwrap();
    let first_done = at(&|e| matches!(e, Event::ClientDone { client: 0, .. }));
    let latecomer = at(&|e| matches!(e, Event::Connected { client: 1, .. }));
    // The rude client is done within a few ms; the timeline's last step (300 ms) is later: it counts.
    assert!(first_done < Duration::from_millis(300), "{first_done:?}");
    assert!(latecomer >= Duration::from_millis(350) && latecomer < Duration::from_millis(360), "{latecomer:?}");
}

#[test]
fn a_latecomer_meets_the_latency_and_the_cut_the_timeline_left_on_its_link() {
    // The latecomer's host joins the simulation only when it starts: what the timeline did to its link before
    // (a latency of 40 ms, a hold released 100 ms after it arrives) must still be there when it joins.
    let text = r#"
seeds = [1]
[network]
latency_ms = [1, 1]
[[clients]]
messages = [{ text = "first" }]
[[clients]]
after_others = true
messages = [{ text = "still there?" }]
[[timeline]]
at_ms = 10
action = "latency"
ms = 40
clients = ["client-1"]
[[timeline]]
at_ms = 20
action = "hold"
"#;
    let s = Scenario::parse(Path::new("latecomer_link.toml"), text).unwrap();
    let run = sim::run(&s, 1, &Target::builtin());
    let at = |f: &dyn Fn(&Event) -> bool| run.records.iter().find(|r| f(&r.event)).map(|r| r.at);
    // Never released: the latecomer's connect waits for the heal that never comes, so it never connects.
    assert_eq!(at(&|e| matches!(e, Event::Connected { client: 1, .. })), None, "{:#?}", run.records);

    let released = text.to_string() + "[[timeline]]\nat_ms = 400\naction = \"release\"\n";
    let s = Scenario::parse(Path::new("latecomer_link.toml"), &released).unwrap();
    let run = sim::run(&s, 1, &Target::builtin());
    let reply = run.records.iter().find_map(|r| match &r.event {
        Event::Exchange { client: 1, first_reply, .. } => *first_reply,
        _ => None,
    });
    // It starts at 400 ms, when the hold is released; its SYN takes 40 ms (turmoil connects once the SYN is
    // accepted), its message a round trip of 80 ms.
    let reply = reply.expect("the latecomer is answered");
    assert!(reply >= Duration::from_millis(80), "{reply:?}");
    let connected = run.records.iter().find(|r| matches!(r.event, Event::Connected { client: 1, .. })).unwrap().at;
    assert!(connected >= Duration::from_millis(440), "{connected:?}");
}
