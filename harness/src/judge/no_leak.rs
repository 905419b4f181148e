//! no-leak: the server closes every connection once its client has left, and with an idle timeout it keeps none
//! long past that timeout without progress (a client that stops reading must not pin a connection).

use std::time::Duration;

use crate::model::property::Property;
use crate::model::scenario::Action;
use crate::model::trace::Event;

use super::judgement::Judgement;
use super::view::{secs, View};

pub(super) fn no_leak(view: &View) -> Judgement {
    let run = view.run;
    if run.records.iter().any(|r| matches!(r.event, Event::RunFailed { .. })) {
        return Judgement::skip(Property::NoLeak, "the run did not finish");
    }
    if let Some(kept) = kept_past_idle_timeout(view) {
        return Judgement::fail(Property::NoLeak, kept);
    }
    let left = run.records.iter().rev().find_map(|r| match r.event {
        Event::ServerConnections { open } => Some((r.at, open)),
        _ => None,
    });
    // Without an idle timeout (within the drain time) a server cannot learn that a client vanished behind a
    // cut link given up: its FIN was lost with the connection. Those connections are allowed.
    let idle = view.scenario.server.config.idle_timeout;
    let counted_at = left.map_or(Duration::ZERO, |(at, _)| at);
    let abandoned = if idle.is_some_and(|t| t <= view.scenario.limits.drain) { 0 } else { abandoned(view, counted_at) };
    match left {
        Some((_, 0)) => Judgement::pass(Property::NoLeak, "the server closed every connection"),
        Some((_, open)) if open <= abandoned => Judgement::pass(
            Property::NoLeak,
            format!("the server holds only the {open} connections whose clients vanished behind a cut link"),
        ),
        Some((at, open)) => Judgement::fail(
            Property::NoLeak,
            format!(
                "the server still held {open} connections at {}, {} after the last client left",
                secs(at),
                secs(view.scenario.limits.drain)
            ),
        ),
        None => Judgement::skip(Property::NoLeak, "the run recorded no connection count"),
    }
}

/// Connections a cut may have orphaned: a cut given up that overlapped the connection's life or caught its last
/// segments (a FIN) in flight, or a cut still holding them back when the connections are counted (`counted_at`).
pub(super) fn abandoned(view: &View, counted_at: Duration) -> usize {
    // How long a client's last segment may be in flight: the network's latency or one the timeline set.
    let in_flight = |client: usize| {
        let set = view.scenario.timeline.iter().filter_map(|f| match &f.action {
            Action::Latency(who, d) if who.includes(client) => Some(*d),
            _ => None,
        });
        set.chain([view.scenario.network.latency.end]).max().unwrap_or_default() + Duration::from_millis(2)
    };
    view.opened
        .iter()
        .filter(|&&(conn, opened)| {
            let mut last = None;
            for r in &view.run.records {
                match &r.event {
                    Event::Exchange { client, conn: c, .. }
                    | Event::Closed { client, conn: c, .. }
                    | Event::Misbehaved { client, conn: c, .. }
                    | Event::IdleClosed { client, conn: c, .. }
                    | Event::Connected { client, conn: c, .. }
                        if *c == conn =>
                    {
                        last = Some((*client, r.at))
                    }
                    _ => {}
                }
            }
            let Some((client, ended)) = last else { return false };
            view.cuts[client].iter().any(|c| {
                let caught = c.since <= ended + in_flight(client) && opened <= c.end;
                let server_down = c.what.starts_with("stop") || c.what.starts_with("crash");
                caught && !server_down && (c.lossy || c.end >= counted_at)
            })
        })
        .count()
}

/// A connection the server's side held without progress (no byte read or written) well past its idle timeout:
/// longer than the timeout plus a quarter of it, 20 ms and the server's own pauses (a server may check for idle
/// connections a little late, never much).
fn kept_past_idle_timeout(view: &View) -> Option<String> {
    let idle = view.scenario.server.config.idle_timeout?;
    let shaping = &view.scenario.server.shaping;
    let pauses = shaping.read_pause.unwrap_or_default() + shaping.write_pause.unwrap_or_default();
    let allowed = idle + idle / 4 + Duration::from_millis(20) + pauses;
    view.run.records.iter().find_map(|r| match r.event {
        Event::ServerClosed { client, port, quiet, first } if quiet > allowed => Some(format!(
            "the server kept client-{client}'s connection (port {port}) open {} ms without progress (no byte read or \
             written) until {} closed it at {}: past its idle timeout of {} ms",
            quiet.as_millis(),
            if first { "it" } else { "the client" },
            secs(r.at),
            idle.as_millis()
        )),
        _ => None,
    })
}
