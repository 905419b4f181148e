//! Tests of loading, validating and writing scenario files.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::model::faults::Chunk;

fn parse(text: &str) -> Result<Scenario, String> {
    Scenario::parse(Path::new("scenarios/t.toml"), text).map_err(|e| e.to_string())
}

const MINIMAL: &str = "seeds = [1]\n[[clients]]\nmessages = [{ text = \"hi\" }]\n";

#[test]
fn minimal_file_gets_defaults() {
    let s = parse(MINIMAL).unwrap();
    assert_eq!(s.name, "t");
    assert_eq!(s.clients.len(), 1);
    assert_eq!(s.clients[0].messages, vec![Payload::Text("hi".into())]);
    assert_eq!(s.clients[0].end, End::Close);
    assert_eq!(s.clients[0].planned(), 1);
    assert_eq!(s.network.latency, Duration::ZERO..Duration::ZERO);
    assert!(s.server.shaping.is_identity());
    assert!(s.timeline.is_empty());
}

#[test]
fn count_and_rounds_expand() {
    let s =
        parse("seeds = [1]\n[[clients]]\ncount = 3\nrounds = 4\nmessages = [{ text = \"a\" }, { hex = \"00 ff\" }]\n")
            .unwrap();
    assert_eq!(s.clients.len(), 3);
    assert_eq!(s.clients[2].name, "client-2");
    assert_eq!(s.clients[0].messages.len(), 8);
    assert_eq!(s.clients[0].messages[1], Payload::Bytes(vec![0, 255]));
}

#[test]
fn behaviours_faults_and_repeats_resolve() {
    let s = parse(concat!(
        "seeds = [1]\n[server]\nbuffer = 1024\nwrite_chunk = [1, 7]\n",
        "[[clients]]\ncount = 2\nmessages = [{ text = \"a\" }, { text = \"b\" }]\nend = \"reset\"\nend_after = 1\n",
        "read_chunk = 1\nread_pause_ms = 5\n",
        "[[timeline]]\nat_ms = 10\naction = \"partition\"\nclients = [\"client-1\"]\ndirection = \"to_server\"\n",
        "[[timeline]]\nat_ms = 100\naction = \"bounce\"\nrepeat = 3\nevery_ms = 50\n",
    ))
    .unwrap();
    assert_eq!(s.server.config.buffer_size, 1024);
    assert_eq!(s.server.shaping.write_chunk, Some(Chunk::Between(1, 7)));
    assert_eq!(s.clients[1].end, End::Reset);
    assert_eq!(s.clients[1].planned(), 1);
    assert_eq!(s.clients[0].shaping.read_pause, Some(Duration::from_millis(5)));
    assert_eq!(s.timeline[0].action, Action::Partition(Who::Clients(vec![1]), Direction::ToServer));
    let bounces: Vec<u128> = s.timeline[1..].iter().map(|f| f.at.as_millis()).collect();
    assert_eq!(bounces, vec![100, 150, 200]);
}

#[test]
fn twins_patch_the_scenario_and_name_real_mutants_and_properties() {
    let s = parse(concat!(
        "seeds = [1]\n[[clients]]\nmessages = [{ text = \"a\" }]\n",
        "[[twins]]\nmutant = \"serial\"\nfails = \"liveness\"\n",
        "[[twins]]\npatch = { clients = [{ empty = \"wait\" }], server = { buffer = 7 } }\nfails = \"liveness\"\n",
    ))
    .unwrap();
    assert_eq!(s.twins.len(), 2);
    assert_eq!(s.twins[0].mutant.as_deref(), Some("serial"));
    assert_eq!(s.twins[1].scenario.clients[0].empty, EmptyPolicy::Wait);
    assert_eq!(s.twins[1].scenario.server.config.buffer_size, 7);
    assert_eq!(s.clients[0].empty, EmptyPolicy::Skip, "the original is untouched");
    let base = "seeds = [1]\n[[clients]]\nmessages = [{ text = \"a\" }]\n[[twins]]\n";
    for (twin, location, message) in [
        ("fails = \"speed\"\n", "t.toml:5:9:", "names no property"),
        (
            "patch = { server = { buffer = 0 } }\nfails = \"liveness\"\n",
            "t.toml:5:9:",
            "the twin's patch: `buffer` must be",
        ),
    ] {
        let err = parse(&format!("{base}{twin}")).unwrap_err();
        assert!(err.starts_with(&format!("scenarios/{location}")), "{err:?} should start with {location}");
        assert!(err.contains(message), "{err:?} should mention {message:?}");
    }
}

#[test]
fn every_scenario_file_round_trips_through_to_toml() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for original in Scenario::load_dir(&dir).unwrap() {
        let text = original.to_toml();
        let again = Scenario::parse(&original.path, &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(again.to_toml(), text, "{}", original.name);
        assert_eq!(again.clients, original.clients, "{}", original.name);
        assert_eq!(again.timeline, original.timeline, "{}", original.name);
        assert_eq!(again.limits, original.limits, "{}", original.name);
        assert_eq!(again.network, original.network, "{}", original.name);
        assert_eq!(again.server.shaping, original.server.shaping, "{}", original.name);
    }
}

#[test]
fn random_payloads_follow_the_seed() {
    let s = parse("seeds = [1]\n[[clients]]\ncount = 2\nmessages = [{ random = 64 }]\n").unwrap();
    assert_eq!(s.materialize(7), s.materialize(7));
    assert_ne!(s.materialize(7), s.materialize(8));
    assert_ne!(s.materialize(7)[0], s.materialize(7)[1]);
}

#[test]
fn mistakes_are_located() {
    let c = "seeds = [1]\n[[clients]]\nmessages = [{ text = \"a\" }]\n";
    let cases = [
        ("seeds = [1]\n[[clients]]\nmessages = [{ txt = \"hi\" }]\n".to_string(), "t.toml:3:", "unknown variant `txt`"),
        ("seeds = []\n[[clients]]\nmessages = []\n".into(), "t.toml:1:9:", "at least one seed"),
        ("seeds = [1]\n[[clients]]\nmessages = [{ hex = \"0g\" }]\n".into(), "t.toml:3:", "non-hex digit"),
        (
            "seeds = [1]\n[network]\nlatency_ms = [10, 1]\n[[clients]]\nmessages = []\n".into(),
            "t.toml:3:14:",
            "minimum above",
        ),
        ("seeds = [1]\n[[clients]]\ncount = 0\nmessages = []\n".into(), "t.toml:3:9:", "`count` must be"),
        ("seeds = [1]\nclients = 3\n".into(), "t.toml:2:", "invalid type"),
        ("seeds = [1]\n[[clients]]\nmessages = []\nspeed = 3\n".into(), "t.toml:4:1:", "unknown field `speed`"),
        ("seeds = [1]\n".into(), "t.toml:1:1:", "at least one `[[clients]]`"),
        (format!("{c}[[timeline]]\nat_ms = 5\naction = \"explode\"\n"), "t.toml:6:", "unknown variant `explode`"),
        (format!("{c}[[timeline]]\nat_ms = 99999\naction = \"bounce\"\n"), "t.toml:5:9:", "deadline"),
        (
            format!("{c}[[timeline]]\nat_ms = 5\naction = \"hold\"\nclients = [\"client-9\"]\n"),
            "t.toml:7:12:",
            "no client is called \"client-9\"",
        ),
        (format!("{c}[[timeline]]\nat_ms = 5\naction = \"latency\"\n"), "t.toml:6:", "`ms` is required"),
        (
            format!("{c}[[timeline]]\nat_ms = 5\naction = \"fail_rate\"\nrate = 2.0\n"),
            "t.toml:7:8:",
            "not between 0 and 1",
        ),
        (format!("{c}[[timeline]]\nat_ms = 5\naction = \"bounce\"\nrepeat = 3\n"), "t.toml:7:", "needs `every_ms`"),
        (
            format!("{c}[[timeline]]\nat_ms = 5\naction = \"bounce\"\ndirection = \"to_server\"\n"),
            "t.toml:6:",
            "`direction` only goes",
        ),
        (format!("{c}end = \"fin\"\nend_after = 5\n"), "t.toml:5:", "needs 5 messages"),
        (
            format!("{c}[[timeline]]\nat_ms = 5\naction = \"stop\"\n[[timeline]]\nat_ms = 9\naction = \"bounce\"\n"),
            "t.toml:9:10:",
            "the server is down then",
        ),
        (format!("{c}[[timeline]]\nat_ms = 5\naction = \"start\"\n"), "t.toml:6:10:", "the server is running then"),
        (format!("{c}end_after = 1\n"), "t.toml:4:", "`end_after` goes with"),
        (format!("{c}write_chunk = 0\n"), "t.toml:4:", "at least 1"),
        (format!("{c}read_chunk = [5, 2]\n"), "t.toml:4:", "1 <= min <= max"),
        (
            "seeds = [1]\n[[clients]]\nexpect = \"refused\"\nmessages = [{ text = \"a\" }]\n".into(),
            "t.toml:4:",
            "sends no `messages`",
        ),
        ("seeds = [1]\n[server]\nbuffer = 0\n[[clients]]\nmessages = []\n".into(), "t.toml:3:10:", "`buffer` must be"),
        ("seeds = [1\n".into(), "t.toml:1:", ""),
        (
            "seeds = [1]\n[network]\ntcp_capacity = 4\n[[clients]]\ncount = 5\nmessages = []\n".into(),
            "t.toml:3:16:",
            "5 clients but `tcp_capacity`",
        ),
        (format!("{c}count = 300\n"), "t.toml:4:9:", "300 clients"),
        (format!("{c}rounds = 1000000\n"), "t.toml:4:10:", "above the limit of 100000 messages"),
        ("seeds = [1]\n[[clients]]\nmessages = [{ random = 99999999999 }]\n".into(), "t.toml:3:", "above the limit"),
        (
            format!("{c}[[timeline]]\nat_ms = 5\naction = \"bounce\"\nrepeat = 3\nevery_ms = 18446744073709551615\n"),
            "t.toml:5:9:",
            "deadline",
        ),
    ];
    for (text, location, message) in cases {
        let err = parse(&text).expect_err(&text);
        assert!(err.starts_with(&format!("scenarios/{location}")), "{err:?} should start with {location}");
        assert!(err.contains(message), "{err:?} should mention {message:?}");
        assert!(!err.contains('\n'), "{err:?} should be one line");
    }
}

#[test]
fn the_embedded_suite_is_the_scenarios_directory() {
    let suite = Scenario::suite();
    let dir = Scenario::load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))).unwrap();
    assert_eq!(suite.len(), dir.len());
    for (embedded, file) in suite.iter().zip(&dir) {
        assert_eq!(embedded.name, file.name);
        assert_eq!(embedded.path, Path::new("scenarios").join(format!("{}.toml", file.name)));
        assert_eq!(embedded.to_toml(), file.to_toml(), "{}", file.name);
    }
    assert_eq!(Scenario::from_suite("slow_reader").unwrap().name, "slow_reader");
    assert_eq!(Scenario::from_suite("scenarios/slow_reader.toml").unwrap().name, "slow_reader");
    assert!(Scenario::from_suite("nope").is_none());
}

#[test]
fn quiet_ends_resolve_with_their_defaults_and_write_back() {
    let s = parse(concat!(
        "seeds = [1]\n[server]\nidle_timeout_ms = 200\n",
        "[[clients]]\nend = \"silent\"\nmessages = [{ text = \"a\" }, { text = \"b\" }]\n",
        "[[clients]]\nend = \"silent\"\n",
        "[[clients]]\nend = \"stop_reading\"\nmessages = [{ text = \"a\" }, { text = \"b\" }]\n",
        "[[clients]]\nend = \"stop_reading\"\nend_after = 1\nmessages = [{ text = \"a\" }, { text = \"b\" }]\n",
    ))
    .unwrap();
    let ends: Vec<(Option<Quiet>, usize, usize)> =
        s.clients.iter().map(|c| (c.quiet(), c.end_after, c.planned())).collect();
    let (silent, stop) = (Some(Quiet::Silent), Some(Quiet::StopReading));
    assert_eq!(ends, vec![(silent, 2, 2), (silent, 0, 0), (stop, 0, 0), (stop, 1, 1)]);
    assert!(s.clients.iter().all(|c| c.end == End::Close && c.expect != Expect::Served));
    assert!(!s.clients[0].misbehaves() && s.clients[2].misbehaves(), "leaving with replies unread is a RST");
    let again = parse(&s.to_toml()).unwrap();
    assert_eq!(again.clients, s.clients);
}

#[test]
fn a_silent_client_needs_an_idle_timeout_to_wait_for() {
    let silent = "[[clients]]\nend = \"silent\"\n";
    let err = parse(&format!("seeds = [1]\n{silent}")).unwrap_err();
    assert!(err.starts_with("scenarios/t.toml:3:7: "), "{err}");
    assert!(err.contains("set `idle_timeout_ms` in `[server]`"), "{err}");
    let short = format!("seeds = [1]\n[network]\nlatency_ms = [1, 5]\n[server]\nidle_timeout_ms = 500\n{silent}[limits]\nio_timeout_ms = 510\n");
    let err = parse(&short).unwrap_err();
    assert!(err.starts_with("scenarios/t.toml:7:7: "), "{err}");
    assert!(err.contains("`io_timeout_ms` (510 ms)") && err.contains("at least 520 ms"), "{err}");
    let err = parse("seeds = [1]\n[[clients]]\nend = \"stop_reading\"\nend_after = 1\nmessages = [{ text = \"a\" }]\n");
    assert!(err.is_ok(), "it may stop reading after its last reply: {err:?}");
    let err = parse("seeds = [1]\n[[clients]]\nend = \"stop_reading\"\nend_after = 2\nmessages = [{ text = \"a\" }]\n")
        .unwrap_err();
    assert!(err.contains("t.toml:4:13: `end_after = 2` needs 2 messages"), "{err}");
    let err = parse("seeds = [1]\n[[clients]]\nend = \"silent\"\nexpect = \"refused\"\n").unwrap_err();
    assert!(err.contains("t.toml:3:7: a client with `expect = \"refused\"` never goes quiet"), "{err}");
}
