//! Tests of the oracles on planted runs.

use std::time::Duration;

use super::determinism::judge_determinism;
use super::integrity::echo_integrity;
use super::judgement::Judgement;
use super::oracles::judge;
use crate::model::property::{Property, Verdict};
use crate::model::scenario::Scenario;
use crate::model::trace::{trace_hash, Record};
use crate::model::trace::{Event, Run};
use std::path::Path;

fn scenario(extra: &str) -> Scenario {
    let text = format!("seeds = [1]\n[[clients]]\nmessages = [{{ text = \"a\" }}]\n{extra}");
    Scenario::parse(Path::new("t.toml"), &text).unwrap()
}

fn run_of(events: Vec<(u64, Event)>) -> Run {
    let records: Vec<Record> =
        events.into_iter().map(|(ms, event)| Record { at: Duration::from_millis(ms), event }).collect();
    Run { scenario: "t".into(), seed: 1, hash: trace_hash(&records), records }
}

fn verdict(scenario: &Scenario, events: Vec<(u64, Event)>, property: Property) -> Judgement {
    let run = run_of(events);
    judge(scenario, &run).into_iter().find(|j| j.property == property).unwrap()
}

fn exchange(conn: usize, sent: &[u8], received: &[u8], error: Option<&str>) -> Event {
    Event::Exchange {
        client: 0,
        conn,
        message: 0,
        count: 1,
        sent: sent.to_vec(),
        received: received.to_vec(),
        error: error.map(String::from),
        first_reply: None,
    }
}

fn connected(conn: usize) -> Event {
    Event::Connected { client: 0, conn, waited: Duration::ZERO, port: 49152 + conn as u16 }
}

#[test]
fn integrity_locates_the_first_wrong_byte() {
    let j = echo_integrity(&run_of(vec![(1, exchange(0, b"hello world", b"HELLO_WORLD", None))]));
    assert_eq!(j.verdict, Verdict::Fail);
    assert!(j.detail.contains("first difference at byte 5 of 11"), "{}", j.detail);
    assert!(j.detail.contains("expected \"ELLO WORLD\" got \"ELLO_WORLD\""), "{}", j.detail);
}

#[test]
fn integrity_accepts_a_correct_prefix_only_when_the_exchange_failed() {
    let ok = |e| echo_integrity(&run_of(vec![(1, e)])).verdict;
    assert_eq!(ok(exchange(0, b"abc\xff", b"AB", Some("reset"))), Verdict::Pass);
    assert_eq!(ok(exchange(0, b"abc", b"AB", None)), Verdict::Fail);
    assert_eq!(ok(exchange(0, b"\xc3\x9fa", b"\xc3\x9fA", None)), Verdict::Pass);
    let extra = Event::Closed { client: 0, conn: 0, extra: b"X".to_vec(), error: None };
    assert_eq!(ok(extra), Verdict::Fail);
}

#[test]
fn liveness_blames_a_stall_on_a_healthy_link_and_excuses_one_during_a_partition() {
    let stall = vec![(1, connected(0)), (2500, exchange(0, b"abcd", b"AB", Some("stalled")))];
    let healthy = verdict(&scenario(""), stall.clone(), Property::Liveness);
    assert_eq!(healthy.verdict, Verdict::Fail);
    assert!(
        healthy.detail.contains("connection 0 (client-0) stalled at byte 2 of 4 since 0.500s"),
        "{}",
        healthy.detail
    );
    let cut = scenario("[[timeline]]\nat_ms = 100\naction = \"partition\"\n");
    let excused = verdict(&cut, stall, Property::Liveness);
    assert_eq!(excused.verdict, Verdict::Pass, "{}", excused.detail);
    assert!(excused.detail.contains("partition all clients at 0.100s"), "{}", excused.detail);
}

#[test]
fn a_hold_excuses_a_stall_but_not_an_eof() {
    let hold =
        scenario("[[timeline]]\nat_ms = 100\naction = \"hold\"\n[[timeline]]\nat_ms = 300\naction = \"release\"\n");
    let stalled = vec![(1, connected(0)), (2200, exchange(0, b"ab", b"", Some("stalled")))];
    assert_eq!(verdict(&hold, stalled, Property::Liveness).verdict, Verdict::Pass);
    let eof = vec![(1, connected(0)), (301, exchange(0, b"ab", b"", Some("eof")))];
    assert_eq!(verdict(&hold, eof, Property::Liveness).verdict, Verdict::Fail);
}

#[test]
fn liveness_fails_on_a_deadline() {
    let hung = verdict(
        &scenario(""),
        vec![(1, connected(0)), (30000, Event::RunFailed { reason: "Ran for duration: 30s".into() })],
        Property::Liveness,
    );
    assert_eq!(hung.verdict, Verdict::Fail);
    assert!(hung.detail.contains("clients still busy: client-0"), "{}", hung.detail);
}

#[test]
fn survival_needs_a_served_client_after_the_misbehaviour() {
    let s = scenario("");
    let rude = Event::Misbehaved { client: 0, conn: 0, how: "reset".into() };
    let served = vec![
        (10, rude.clone()),
        (20, Event::Connected { client: 1, conn: 1, waited: Duration::ZERO, port: 49153 }),
        (30, exchange(1, b"a", b"A", None)),
    ];
    assert_eq!(verdict(&s, served, Property::Survival).verdict, Verdict::Pass);
    let refused = vec![
        (10, rude.clone()),
        (20, Event::ConnectFailed { client: 0, error: "refused".into(), waited: Duration::ZERO }),
    ];
    let j = verdict(&s, refused, Property::Survival);
    assert_eq!(j.verdict, Verdict::Fail);
    assert!(
        j.detail.contains("after client-0 reset at 0.010s, client-0's connect at 0.020s failed (refused)"),
        "{}",
        j.detail
    );
    assert_eq!(verdict(&s, vec![(10, rude)], Property::Survival).verdict, Verdict::Skip, "nobody came after");
    assert_eq!(verdict(&s, vec![], Property::Survival).verdict, Verdict::Skip);
}

#[test]
fn refusal_must_be_fast_and_a_refusal() {
    let text =
        "seeds = [1]\n[[clients]]\nexpect = \"refused\"\nstart_ms = 10\n[[timeline]]\nat_ms = 5\naction = \"stop\"\n";
    let s = Scenario::parse(Path::new("t.toml"), text).unwrap();
    let failed = |error: &str, ms| {
        vec![(10 + ms, Event::ConnectFailed { client: 0, error: error.into(), waited: Duration::from_millis(ms) })]
    };
    assert_eq!(verdict(&s, failed("refused", 2), Property::Refusal).verdict, Verdict::Pass);
    assert_eq!(verdict(&s, failed("refused", 500), Property::Refusal).verdict, Verdict::Fail);
    assert_eq!(verdict(&s, failed("connect-timeout", 1000), Property::Refusal).verdict, Verdict::Fail);
    assert_eq!(verdict(&s, vec![(11, connected(0))], Property::Refusal).verdict, Verdict::Fail);
    // A refusal while the server is up (a partition makes turmoil refuse) proves nothing.
    let up = Scenario::parse(Path::new("t.toml"), "seeds = [1]\n[[clients]]\nexpect = \"refused\"\n").unwrap();
    let j = verdict(&up, failed("refused", 2), Property::Refusal);
    assert_eq!(j.verdict, Verdict::Fail);
    assert!(j.detail.contains("the timeline has the server up"), "{}", j.detail);
}

#[test]
fn no_leak_reads_the_final_connection_count() {
    let s = scenario("");
    assert_eq!(verdict(&s, vec![(5, Event::ServerConnections { open: 0 })], Property::NoLeak).verdict, Verdict::Pass);
    let leak = verdict(&s, vec![(5, Event::ServerConnections { open: 2 })], Property::NoLeak);
    assert_eq!(leak.verdict, Verdict::Fail);
    assert!(leak.detail.contains("still held 2 connections"), "{}", leak.detail);
}

#[test]
fn no_leak_allows_a_fin_lost_with_a_link_given_up_and_only_then() {
    // The client closes at 20 ms; its FIN takes the 30 ms the timeline set, a partition at 45 ms holds it, and the
    // cut outlasts the give-up time (300 ms): the FIN is lost with the connection.
    let cut = "[[timeline]]\nat_ms = 45\naction = \"partition\"\n[[timeline]]\nat_ms = 400\naction = \"repair\"\n\
               [limits]\ngive_up_ms = 300\n";
    let slowed = scenario(&format!("[[timeline]]\nat_ms = 10\naction = \"latency\"\nms = 30\n{cut}"));
    let events = |given_up: bool| {
        let mut out = vec![
            (1, connected(0)),
            (5, exchange(0, b"a", b"A", None)),
            (20, Event::Closed { client: 0, conn: 0, extra: Vec::new(), error: None }),
        ];
        if given_up {
            out.push((345, Event::GaveUp { client: 0, since: Duration::from_millis(45) }));
        }
        out.push((2000, Event::ServerConnections { open: 1 }));
        out
    };
    let j = verdict(&slowed, events(true), Property::NoLeak);
    assert_eq!(j.verdict, Verdict::Pass, "{}", j.detail);
    // A cut not given up only delays the FIN, as TCP retransmits it: once it healed, the open connection is a leak.
    let j = verdict(&slowed, events(false), Property::NoLeak);
    assert_eq!(j.verdict, Verdict::Fail, "{}", j.detail);
    // A cut still holding the FIN back when the connections are counted: the server cannot know.
    let held = scenario(
        "[[timeline]]\nat_ms = 10\naction = \"latency\"\nms = 30\n[[timeline]]\nat_ms = 45\naction = \"partition\"\n",
    );
    let j = verdict(&held, events(false), Property::NoLeak);
    assert_eq!(j.verdict, Verdict::Pass, "{}", j.detail);
    // With no latency the FIN had arrived long before the cut: the open connection is a leak.
    let j = verdict(&scenario(cut), events(true), Property::NoLeak);
    assert_eq!(j.verdict, Verdict::Fail, "{}", j.detail);
}

#[test]
fn restart_must_be_served_within_the_bound() {
    let s = scenario("[[timeline]]\nat_ms = 100\naction = \"bounce\"\n");
    let bounce = Event::Fault { action: "bounce".into() };
    let quick = vec![(100, bounce.clone()), (120, connected(1)), (130, exchange(1, b"a", b"A", None))];
    assert_eq!(verdict(&s, quick, Property::Restart).verdict, Verdict::Pass);
    let slow = vec![(100, bounce.clone()), (120, connected(1)), (1500, exchange(1, b"a", b"A", None))];
    assert_eq!(verdict(&s, slow, Property::Restart).verdict, Verdict::Fail);
    let refused = |ms| (ms, Event::ConnectFailed { client: 0, error: "refused".into(), waited: Duration::ZERO });
    let back_soon =
        vec![(100, bounce.clone()), refused(101), (130, connected(1)), (140, exchange(1, b"a", b"A", None))];
    assert_eq!(verdict(&s, back_soon, Property::Restart).verdict, Verdict::Pass);
    let never_back = vec![(100, bounce.clone()), refused(150), refused(1200)];
    let j = verdict(&s, never_back, Property::Restart);
    assert_eq!(j.verdict, Verdict::Fail);
    assert!(j.detail.contains("(first: client-0's connect at 0.150s failed (refused))"), "{}", j.detail);
    let nobody = vec![(100, bounce)];
    assert_eq!(verdict(&s, nobody, Property::Restart).verdict, Verdict::Skip);
}

#[test]
fn determinism_points_at_the_divergence() {
    let a = run_of(vec![(1, exchange(0, b"a", b"A", None)), (2, exchange(0, b"b", b"B", None))]);
    let b = run_of(vec![(1, exchange(0, b"a", b"A", None)), (2, exchange(0, b"c", b"C", None))]);
    assert_eq!(judge_determinism(&a, &a.clone()).verdict, Verdict::Pass);
    let j = judge_determinism(&a, &b);
    assert_eq!(j.verdict, Verdict::Fail);
    assert!(j.detail.contains("differ from event 1"), "{}", j.detail);
}

fn quiet(since_ms: u64, how: &str, extra: &[u8]) -> Event {
    let quiet_since = Duration::from_millis(since_ms);
    Event::IdleClosed { client: 0, conn: 0, quiet_since, how: how.into(), extra: extra.to_vec() }
}

#[test]
fn the_idle_timeout_excuses_only_a_close_at_least_that_long_after_a_quiet_clients_last_progress() {
    let silent = scenario("end = \"silent\"\n[server]\nidle_timeout_ms = 200\n");
    // The client's last byte went out at 3 ms; the server closes once 200 ms passed without progress, or sooner.
    let closed_at =
        |ms, how: &str| vec![(1, connected(0)), (5, exchange(0, b"a", b"A", None)), (ms, quiet(3, how, b""))];
    let on_time = verdict(&silent, closed_at(203, "eof"), Property::Liveness);
    assert_eq!(on_time.verdict, Verdict::Pass, "{}", on_time.detail);
    assert!(
        on_time.detail.contains("closed (eof) after 200ms without progress: the idle timeout"),
        "{}",
        on_time.detail
    );
    assert_eq!(verdict(&silent, closed_at(900, "reset"), Property::Liveness).verdict, Verdict::Pass);
    // A server that closes too early (after 150 ms, or at once) is not excused.
    for (ms, quiet_ms) in [(153, 150), (4, 1)] {
        let early = verdict(&silent, closed_at(ms, "eof"), Property::Liveness);
        assert_eq!(early.verdict, Verdict::Fail, "{}", early.detail);
        let expected = format!("closed connection 0 (client-0) (eof) after only {quiet_ms}ms without progress");
        assert!(early.detail.contains(&expected), "{}", early.detail);
        assert!(early.detail.contains("(idle timeout 200 ms)"), "{}", early.detail);
    }
    // One that never closes the quiet connection is not either.
    let open = verdict(&silent, closed_at(1003, "stalled"), Property::Liveness);
    assert_eq!(open.verdict, Verdict::Fail, "{}", open.detail);
    assert!(open.detail.contains("was still open after 1000ms without progress"), "{}", open.detail);
    // Nothing unasked may arrive meanwhile.
    let events = vec![(1, connected(0)), (5, exchange(0, b"a", b"A", None)), (203, quiet(3, "eof", b"X"))];
    let j = verdict(&silent, events, Property::EchoIntegrity);
    assert_eq!(j.verdict, Verdict::Fail);
    assert!(j.detail.contains("1 bytes arrived while it was quiet"), "{}", j.detail);
}

#[test]
fn without_an_idle_timeout_a_close_of_a_quiet_client_is_the_servers_fault_unless_a_cut_explains_it() {
    // A client that stops reading may run without an idle timeout: then nothing excuses the server's close.
    let stop = scenario("end = \"stop_reading\"\n");
    let closed = vec![(1, connected(0)), (900, quiet(1, "broken-pipe", b""))];
    let j = verdict(&stop, closed.clone(), Property::Liveness);
    assert_eq!(j.verdict, Verdict::Fail, "{}", j.detail);
    assert!(j.detail.contains("after only 899ms without progress from its client (no idle timeout)"));
    // A partition while it waited does not when TCP outlasts it: it only delayed the bytes.
    let cut = scenario(
        "end = \"stop_reading\"\n[[timeline]]\nat_ms = 100\naction = \"partition\"\n[limits]\ngive_up_ms = 300\n",
    );
    assert_eq!(verdict(&cut, closed.clone(), Property::Liveness).verdict, Verdict::Fail);
    // One given up before the close does.
    let mut given_up = closed;
    given_up.insert(1, (400, Event::GaveUp { client: 0, since: Duration::from_millis(100) }));
    assert_eq!(verdict(&cut, given_up, Property::Liveness).verdict, Verdict::Pass);
}

/// A conversation the server closes first, `quiet` ms after it last read from the client, while the client waits
/// for a reply it then never gets (the second shrunk case of the idle-policy issue: a slow reader).
fn closed_by_server(quiet: u64) -> Vec<(u64, Event)> {
    vec![
        (1, connected(0)),
        (2, exchange(0, b"a", b"A", None)),
        (2 + quiet, Event::ServerClosed { client: 0, port: 49152, quiet: Duration::from_millis(quiet), first: true }),
        (1121, exchange(0, b"b", b"", Some("eof"))),
        (1121, Event::ClientDone { client: 0, answered: 1, of: 2 }),
    ]
}

#[test]
fn a_declared_idle_timeout_excuses_a_close_after_it_and_fails_one_sooner() {
    let policy = scenario("[server]\nidle_timeout_ms = 500\n");
    let j = verdict(&policy, closed_by_server(612), Property::Liveness);
    assert_eq!(j.verdict, Verdict::Pass, "{}", j.detail);
    assert!(
        j.detail.contains(
            "closed by the server at 0.614s after 612 ms without progress (no byte read or written): the idle timeout of 500 ms"
        ),
        "{}",
        j.detail
    );
    let early = verdict(&policy, closed_by_server(100), Property::Liveness);
    assert_eq!(early.verdict, Verdict::Fail, "{}", early.detail);
    assert!(early.detail.contains(
        "after only 100 ms without progress (no byte read or written), sooner than its idle timeout of 500 ms"
    ));
}

#[test]
fn an_undeclared_idle_timeout_fails_liveness_with_a_hint_to_declare_it() {
    let j = verdict(&scenario(""), closed_by_server(612), Property::Liveness);
    assert_eq!(j.verdict, Verdict::Fail, "{}", j.detail);
    assert!(
        j.detail.contains("after 612 ms without progress (no byte read or written): if that is an idle"),
        "{}",
        j.detail
    );
    // A close right after a read is no timeout: no hint.
    let j = verdict(&scenario(""), closed_by_server(0), Property::Liveness);
    assert!(!j.detail.contains("declare it"), "{}", j.detail);
}
