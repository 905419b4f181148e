//! A failing run's timeline, read off its trace: per connection the bytes sent and echoed over simulated time,
//! the faults and abrupt ends as markers, and the point where the property broke. Pure: the caller replays the
//! run (a simulated run replays exactly from its scenario and seed) and draws the result with [`super::svg`].

use std::collections::BTreeMap;

use crate::model::trace::{Event, Run};

use super::svg::{Lane, Marker, MarkerKind, Timeline};

/// A failure as the HTML and Markdown reports show it.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureView {
    /// A heading: what failed, where, under which seed.
    pub title: String,
    /// The oracle's evidence.
    pub detail: String,
    /// The command that replays it.
    pub replay: Option<String>,
    /// The last events of its trace.
    pub trace_tail: Vec<String>,
    /// The timeline of the failing run, as SVG, when it could be replayed.
    pub svg: Option<String>,
    /// Why there is no timeline (a run on real sockets does not replay exactly), when there is none.
    pub why_no_timeline: Option<String>,
}

/// The timeline of `run`, in which `property` broke as `detail` says.
///
/// A message's bytes count as sent when its exchange began (the end of the connection's previous event), and as
/// echoed when its exchange ended: the trace records each exchange once, when it is over. The property broke at
/// the first `at N.NNNs` its evidence names, or else at the end of the run, where its oracle looked.
pub fn timeline(run: &Run, property: &str, detail: &str) -> Timeline {
    let mut lanes: BTreeMap<(usize, usize), (f64, Lane)> = BTreeMap::new();
    let mut markers: Vec<Marker> = Vec::new();
    // A client retrying a refused connect every few milliseconds would draw a wall of markers: one marker per
    // streak of failures (client -> its marker, how many, the last), ended by a connect.
    let mut streaks: BTreeMap<usize, (usize, usize, f64)> = BTreeMap::new();
    let mut end_s: f64 = 0.0;
    for record in &run.records {
        let at = record.at.as_secs_f64();
        end_s = end_s.max(at);
        match &record.event {
            Event::Connected { client, conn, .. } => {
                if let Some(streak) = streaks.remove(client) {
                    close_streak(&mut markers, streak);
                }
                let lane =
                    Lane { label: format!("client-{client} conn {conn}"), sent: vec![(at, 0)], echoed: vec![(at, 0)] };
                lanes.insert((*client, *conn), (at, lane));
            }
            Event::Exchange { client, conn, sent, received, .. } => {
                if let Some((last, lane)) = lanes.get_mut(&(*client, *conn)) {
                    let total_sent = lane.sent.last().map_or(0, |p| p.1) + sent.len() as u64;
                    let total_echoed = lane.echoed.last().map_or(0, |p| p.1) + received.len() as u64;
                    lane.sent.push((*last, total_sent));
                    lane.echoed.push((at, total_echoed));
                    *last = at;
                }
            }
            Event::Fault { action } => {
                markers.push(Marker { at_s: at, label: action.clone(), kind: fault_kind(action) })
            }
            Event::Misbehaved { client, how, .. } => {
                let kind = if how.contains("reset") { MarkerKind::Reset } else { MarkerKind::Close };
                markers.push(Marker { at_s: at, label: format!("client-{client}: {how}"), kind });
            }
            Event::GaveUp { client, .. } => {
                markers.push(Marker { at_s: at, label: format!("client-{client} given up"), kind: MarkerKind::Reset })
            }
            Event::ServerClosed { client, first: true, .. } => markers.push(Marker {
                at_s: at,
                label: format!("server closed client-{client}"),
                kind: MarkerKind::Close,
            }),
            Event::IdleClosed { client, how, .. } => {
                markers.push(Marker { at_s: at, label: format!("client-{client}: {how}"), kind: MarkerKind::Close })
            }
            Event::ConnectFailed { client, error, .. } => match streaks.get_mut(client) {
                Some((_, count, last)) => {
                    *count += 1;
                    *last = at;
                }
                None => {
                    streaks.insert(*client, (markers.len(), 1, at));
                    let label = format!("client-{client} connect {error}");
                    markers.push(Marker { at_s: at, label, kind: MarkerKind::Other });
                }
            },
            Event::ServerFailed { reason } | Event::RunFailed { reason } => {
                markers.push(Marker { at_s: at, label: reason.clone(), kind: MarkerKind::Other })
            }
            _ => {}
        }
    }
    for streak in streaks.into_values() {
        close_streak(&mut markers, streak);
    }
    let broke_at = broke_at(detail).unwrap_or(end_s);
    Timeline {
        title: format!("{} seed {}: {property} broke", run.scenario, run.seed),
        end_s: end_s.max(broke_at).max(0.001),
        lanes: lanes.into_values().map(|(_, lane)| lane).collect(),
        markers,
        broke: Some(Marker { at_s: broke_at, label: format!("{property} broke"), kind: MarkerKind::Other }),
    }
}

/// Labels the marker of a streak of refused connects with its length.
fn close_streak(markers: &mut [Marker], (marker, count, last): (usize, usize, f64)) {
    if count > 1 {
        markers[marker].label.push_str(&format!(" ×{count} (to {last:.2}s)"));
    }
}

/// The marker kind of a timeline fault ([`crate::model::scenario::Action::describe`]'s words).
fn fault_kind(action: &str) -> MarkerKind {
    let a = action.to_ascii_lowercase();
    let word = |w: &str| a.split(|c: char| !c.is_ascii_alphanumeric()).any(|x| x == w);
    if a.contains("partition") || a.contains("fail") || word("repair") {
        MarkerKind::Partition
    } else if a.contains("hold") || a.contains("release") {
        MarkerKind::Hold
    } else if ["restart", "crash", "bounce", "kill", "stop", "start"].iter().any(|w| a.contains(w)) {
        MarkerKind::Restart
    } else if a.contains("reset") {
        MarkerKind::Reset
    } else {
        MarkerKind::Other
    }
}

/// The last `at N.NNNs` in an oracle's evidence: evidence names the cause before the effect ("after client-0
/// closed at 0.011s, client-2's connect at 0.200s failed"), and the effect is where the property broke.
fn broke_at(detail: &str) -> Option<f64> {
    detail
        .match_indices("at ")
        .filter_map(|(i, _)| {
            // `at` as a word: not the end of "that" or "format".
            if detail[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric()) {
                return None;
            }
            let rest = &detail[i + 3..];
            let number: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            let after = rest[number.len()..].chars().next();
            (number.contains('.') && after == Some('s')).then(|| number.parse().ok()).flatten()
        })
        .last()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::trace::Record;

    fn record(ms: u64, event: Event) -> Record {
        Record { at: Duration::from_millis(ms), event }
    }

    #[test]
    fn a_timeline_counts_bytes_per_connection_and_marks_faults_and_the_break() {
        let exchange = |ms, sent: &[u8], received: &[u8]| {
            record(
                ms,
                Event::Exchange {
                    client: 0,
                    conn: 0,
                    message: 0,
                    count: 1,
                    sent: sent.to_vec(),
                    received: received.to_vec(),
                    error: None,
                    first_reply: None,
                },
            )
        };
        let run = Run {
            scenario: "s".into(),
            seed: 7,
            records: vec![
                record(2, Event::Connected { client: 0, conn: 0, waited: Duration::ZERO, port: 49152 }),
                exchange(10, b"hello", b"HELLO"),
                record(20, Event::Fault { action: "partition client-0 both ways for 50 ms".into() }),
                exchange(90, b"abc", b"A"),
                record(95, Event::Misbehaved { client: 0, conn: 0, how: "reset".into() }),
            ],
            hash: 0,
        };
        let t = timeline(&run, "echo-integrity", "client-0 conn 0 msg 1: got \"A\" at 0.090s, expected \"ABC\"");
        assert_eq!(t.lanes.len(), 1);
        assert_eq!(t.lanes[0].label, "client-0 conn 0");
        assert_eq!(t.lanes[0].sent, [(0.002, 0), (0.002, 5), (0.010, 8)]);
        assert_eq!(t.lanes[0].echoed, [(0.002, 0), (0.010, 5), (0.090, 6)]);
        let kinds: Vec<MarkerKind> = t.markers.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, [MarkerKind::Partition, MarkerKind::Reset]);
        assert_eq!(t.broke.as_ref().map(|b| b.at_s), Some(0.090));
        assert!((t.end_s - 0.095).abs() < 1e-9);
    }

    #[test]
    fn the_break_is_read_from_the_evidence_or_put_at_the_end() {
        assert_eq!(broke_at("closed by the server at 0.614s after 612 ms"), Some(0.614));
        assert_eq!(broke_at("look at 3 things, then at 1.5s"), Some(1.5));
        assert_eq!(broke_at("the server kept 2 connections open"), None);
        assert_eq!(
            broke_at("after client-0 closed abruptly (FIN) at 0.011s, client-2's connect at 0.200s failed"),
            Some(0.2),
            "the effect, not the cause"
        );
        assert_eq!(broke_at("a payload that 1.5s long"), None, "`at` inside a word is not a time");
    }
}
