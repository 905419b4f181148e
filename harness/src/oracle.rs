//! Oracles: pure functions from a run's events to verdicts on named properties, with evidence.

use std::time::Duration;

use serde::Serialize;

use crate::scenario::Scenario;
use crate::server::upper;
use crate::sim::Run;
use crate::trace::{preview, Event};

/// The outcome of checking one property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The property held.
    Pass,
    /// The property was broken: the evidence says where.
    Fail,
    /// The property does not apply (e.g. restart without a restart in the scenario).
    Skip,
}

/// A property the harness checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Property {
    /// Every reply is the upper-cased message, in order, on its own connection.
    EchoIntegrity,
    /// Every client finishes its script within the deadline: no hang, no stall.
    Liveness,
    /// After a restart, new connections are served.
    Restart,
    /// The same seed gives the same trace.
    Determinism,
}

impl Property {
    /// Every property, in report order.
    pub const ALL: [Property; 4] =
        [Property::EchoIntegrity, Property::Liveness, Property::Restart, Property::Determinism];

    /// The stable name CI scripts read.
    pub fn name(self) -> &'static str {
        match self {
            Property::EchoIntegrity => "echo-integrity",
            Property::Liveness => "liveness",
            Property::Restart => "restart",
            Property::Determinism => "determinism",
        }
    }

    /// One line saying what it means.
    pub fn description(self) -> &'static str {
        match self {
            Property::EchoIntegrity => "every byte echoed upper-cased, in order, on its own connection",
            Property::Liveness => "every client finishes its script before the deadline (no hang, no stall)",
            Property::Restart => "after a server restart, new connections are served",
            Property::Determinism => "the same seed replays to the same trace hash",
        }
    }
}

/// One property's verdict on one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// Which property.
    pub property: Property,
    /// What it came to.
    pub verdict: Verdict,
    /// Why: for a failure the first thing that broke it, located; otherwise a short summary.
    pub detail: String,
}

impl Judgement {
    fn pass(property: Property, detail: impl Into<String>) -> Self {
        Judgement { property, verdict: Verdict::Pass, detail: detail.into() }
    }
    fn fail(property: Property, detail: impl Into<String>) -> Self {
        Judgement { property, verdict: Verdict::Fail, detail: detail.into() }
    }
    fn skip(property: Property, detail: impl Into<String>) -> Self {
        Judgement { property, verdict: Verdict::Skip, detail: detail.into() }
    }
}

/// Judges a run on every property that one run can decide (all but determinism, see [`judge_determinism`]).
pub fn judge(scenario: &Scenario, run: &Run) -> Vec<Judgement> {
    vec![echo_integrity(run), liveness(run), restart(scenario, run)]
}

fn echo_integrity(run: &Run) -> Judgement {
    let mut exchanges = 0;
    for record in &run.records {
        match &record.event {
            Event::Exchange { client, conn, message, sent, received, error } => {
                exchanges += 1;
                let expected = upper(sent);
                if let Some(offset) = first_difference(&expected, received) {
                    return Judgement::fail(
                        Property::EchoIntegrity,
                        format!(
                            "client-{client} conn {conn} msg {message}: first difference at byte {offset} of {}: expected {} got {}",
                            sent.len(),
                            preview(around(&expected, offset)),
                            preview(around(received, offset)),
                        ),
                    );
                }
                if error.is_none() && received.len() != expected.len() {
                    return Judgement::fail(
                        Property::EchoIntegrity,
                        format!(
                            "client-{client} conn {conn} msg {message}: reply has {} of {} bytes",
                            received.len(),
                            sent.len()
                        ),
                    );
                }
            }
            Event::Closed { client, conn, extra, .. } if !extra.is_empty() => {
                return Judgement::fail(
                    Property::EchoIntegrity,
                    format!(
                        "client-{client} conn {conn}: {} bytes after the last reply: {}",
                        extra.len(),
                        preview(extra)
                    ),
                );
            }
            _ => {}
        }
    }
    Judgement::pass(Property::EchoIntegrity, format!("{exchanges} exchanges checked byte for byte"))
}

/// The offset of the first byte where `actual` is not a prefix of `expected`.
fn first_difference(expected: &[u8], actual: &[u8]) -> Option<usize> {
    if actual.len() > expected.len() {
        return Some(expected.len());
    }
    actual.iter().zip(expected).position(|(a, e)| a != e)
}

/// A few bytes starting a little before `offset`, for evidence.
fn around(bytes: &[u8], offset: usize) -> &[u8] {
    let start = offset.saturating_sub(4).min(bytes.len());
    &bytes[start..(offset + 12).min(bytes.len())]
}

fn liveness(run: &Run) -> Judgement {
    if let Some((at, reason)) = run.records.iter().find_map(|r| match &r.event {
        Event::RunFailed { reason } => Some((r.at, reason)),
        _ => None,
    }) {
        let busy = clients_not_done(run);
        return Judgement::fail(Property::Liveness, format!("at {}: {reason}; clients still busy: {busy}", secs(at)));
    }
    for record in &run.records {
        if let Event::ClientDone { client, answered, of } = record.event {
            if answered < of {
                let last = last_error(run, client).unwrap_or_else(|| "no error recorded".into());
                return Judgement::fail(
                    Property::Liveness,
                    format!(
                        "client-{client} gave up at {} with {answered} of {of} messages answered: {last}",
                        secs(record.at)
                    ),
                );
            }
        }
    }
    let end = run.records.last().map_or(Duration::ZERO, |r| r.at);
    Judgement::pass(Property::Liveness, format!("every client finished by {}", secs(end)))
}

fn clients_not_done(run: &Run) -> String {
    let mut seen = Vec::new();
    let mut done = Vec::new();
    for r in &run.records {
        match r.event {
            Event::Connected { client, .. } | Event::ConnectFailed { client, .. } | Event::Exchange { client, .. }
                if !seen.contains(&client) =>
            {
                seen.push(client)
            }
            Event::ClientDone { client, .. } => done.push(client),
            _ => {}
        }
    }
    let busy: Vec<String> = seen.iter().filter(|c| !done.contains(c)).map(|c| format!("client-{c}")).collect();
    if busy.is_empty() {
        "none".into()
    } else {
        busy.join(", ")
    }
}

fn last_error(run: &Run, who: usize) -> Option<String> {
    run.records.iter().rev().find_map(|r| match &r.event {
        Event::Exchange { client, conn, message, error: Some(e), received, .. } if *client == who => {
            Some(format!("msg {message} on conn {conn} failed ({e}) after {} reply bytes", received.len()))
        }
        Event::ConnectFailed { client, error } if *client == who => Some(format!("connect failed ({error})")),
        _ => None,
    })
}

fn restart(scenario: &Scenario, run: &Run) -> Judgement {
    if !scenario.restarts_server() {
        return Judgement::skip(Property::Restart, "the scenario does not restart the server");
    }
    let restarts: Vec<Duration> = run
        .records
        .iter()
        .filter(|r| matches!(&r.event, Event::Fault { action } if action == "bounce"))
        .map(|r| r.at)
        .collect();
    let scheduled = scenario.timeline.iter().filter(|f| f.action == crate::scenario::Action::Bounce).count();
    if restarts.len() < scheduled {
        let missed =
            scenario.timeline.iter().filter(|f| f.action == crate::scenario::Action::Bounce).nth(restarts.len());
        return Judgement::fail(
            Property::Restart,
            format!(
                "the run ended before the restart at {} happened ({} of {scheduled} restarts applied)",
                secs(missed.map_or(Duration::ZERO, |f| f.at)),
                restarts.len()
            ),
        );
    }
    let mut connected_at = Vec::new();
    for r in &run.records {
        if let Event::Connected { conn, .. } = r.event {
            connected_at.push((conn, r.at));
        }
    }
    for &t in &restarts {
        let served = run.records.iter().any(|r| match &r.event {
            Event::Exchange { conn, error: None, .. } => connected_at.iter().any(|&(c, at)| c == *conn && at >= t),
            _ => false,
        });
        if !served {
            return Judgement::fail(
                Property::Restart,
                format!("no connection opened after the restart at {} was served", secs(t)),
            );
        }
    }
    Judgement::pass(Property::Restart, format!("served again after each of {} restarts", restarts.len()))
}

/// Judges determinism from two runs of the same scenario and seed.
pub fn judge_determinism(first: &Run, second: &Run) -> Judgement {
    if first.hash == second.hash {
        return Judgement::pass(Property::Determinism, format!("trace hash {:016x} twice", first.hash));
    }
    let diverged = first.records.iter().zip(&second.records).position(|(a, b)| a != b);
    let at = diverged.unwrap_or(first.records.len().min(second.records.len()));
    Judgement::fail(
        Property::Determinism,
        format!(
            "trace hashes {:016x} and {:016x} differ from event {at}: {} / {}",
            first.hash,
            second.hash,
            first.records.get(at).map_or("(end)".into(), |r| r.to_string()),
            second.records.get(at).map_or("(end)".into(), |r| r.to_string()),
        ),
    )
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{trace_hash, Record};

    fn run_of(events: Vec<Event>) -> Run {
        let records: Vec<Record> = events
            .into_iter()
            .enumerate()
            .map(|(i, event)| Record { at: Duration::from_millis(i as u64), event })
            .collect();
        Run { scenario: "t".into(), seed: 1, hash: trace_hash(&records), records }
    }

    fn exchange(sent: &[u8], received: &[u8], error: Option<&str>) -> Event {
        Event::Exchange {
            client: 0,
            conn: 0,
            message: 0,
            sent: sent.to_vec(),
            received: received.to_vec(),
            error: error.map(String::from),
        }
    }

    #[test]
    fn integrity_locates_the_first_wrong_byte() {
        let j = echo_integrity(&run_of(vec![exchange(b"hello world", b"HELLO_WORLD", None)]));
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.detail.contains("first difference at byte 5 of 11"), "{}", j.detail);
        assert!(j.detail.contains("expected \"ELLO WORLD\" got \"ELLO_WORLD\""), "{}", j.detail);
    }

    #[test]
    fn integrity_accepts_a_correct_prefix_only_when_the_exchange_failed() {
        assert_eq!(echo_integrity(&run_of(vec![exchange(b"abc\xff", b"AB", Some("reset"))])).verdict, Verdict::Pass);
        let short = echo_integrity(&run_of(vec![exchange(b"abc", b"AB", None)]));
        assert_eq!(short.verdict, Verdict::Fail);
        assert!(short.detail.contains("reply has 2 of 3 bytes"));
        assert_eq!(echo_integrity(&run_of(vec![exchange(b"\xc3\x9fa", b"\xc3\x9fA", None)])).verdict, Verdict::Pass);
    }

    #[test]
    fn integrity_flags_bytes_after_the_last_reply() {
        let j = echo_integrity(&run_of(vec![Event::Closed { client: 0, conn: 0, extra: b"X".to_vec(), error: None }]));
        assert_eq!(j.verdict, Verdict::Fail);
    }

    #[test]
    fn liveness_fails_on_a_give_up_or_a_deadline() {
        let gave_up = liveness(&run_of(vec![
            exchange(b"a", b"", Some("stalled")),
            Event::ClientDone { client: 0, answered: 0, of: 1 },
        ]));
        assert_eq!(gave_up.verdict, Verdict::Fail);
        assert!(gave_up.detail.contains("msg 0 on conn 0 failed (stalled)"), "{}", gave_up.detail);
        let hung = liveness(&run_of(vec![
            Event::Connected { client: 0, conn: 0 },
            Event::RunFailed { reason: "Ran for duration: 30s".into() },
        ]));
        assert_eq!(hung.verdict, Verdict::Fail);
        assert!(hung.detail.contains("client-0"), "{}", hung.detail);
    }

    #[test]
    fn determinism_points_at_the_divergence() {
        let a = run_of(vec![exchange(b"a", b"A", None), exchange(b"b", b"B", None)]);
        let b = run_of(vec![exchange(b"a", b"A", None), exchange(b"c", b"C", None)]);
        assert_eq!(judge_determinism(&a, &a.clone()).verdict, Verdict::Pass);
        let j = judge_determinism(&a, &b);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.detail.contains("differ from event 1"), "{}", j.detail);
    }
}
