//! echo-integrity: every reply is the upper-cased message (or the message itself, when the scenario says the
//! server replies unchanged: `[server] reply = "identity"`), in order, on its own connection.

use crate::model::property::Property;
use crate::model::trace::{preview, Event, Run};
use crate::model::transform::Transform;

use super::judgement::Judgement;
use super::view::View;

#[cfg(test)]
pub(super) fn echo_integrity(run: &Run) -> Judgement {
    echo_integrity_in(run, None)
}

/// Echo integrity; with the view, an early close that a kill or a cut link explains is not held against it.
pub(super) fn echo_integrity_in(run: &Run, view: Option<&View>) -> Judgement {
    let reply = view.map_or(Transform::Upper, |v| v.scenario.server.reply);
    let mut exchanges = 0;
    for record in &run.records {
        match &record.event {
            Event::Exchange { client, conn, message, count, sent, received, error, .. } => {
                exchanges += 1;
                let what =
                    if *count == 1 { format!("msg {message}") } else { format!("msgs {message}..{}", message + count) };
                let expected = reply.apply(sent);
                if let Some(offset) = first_difference(&expected, received) {
                    return Judgement::fail(
                        Property::EchoIntegrity,
                        format!(
                            "client-{client} conn {conn} {what}: first difference at byte {offset} of {}: expected {} got {}",
                            sent.len(),
                            preview(around(&expected, offset)),
                            preview(around(received, offset)),
                        ),
                    );
                }
                // A kill, a cut given up, or the server's idle timeout (the client's half-close had not reached it).
                let explained = || {
                    view.is_some_and(|v| {
                        let opened = v.opened_at(*conn);
                        v.excuse(*client, Some(opened), opened, record.at, false).is_some() || v.closed_idle(*conn)
                    })
                };
                if error.as_deref() == Some("incomplete-at-eof") && !explained() {
                    return Judgement::fail(
                        Property::EchoIntegrity,
                        format!(
                            "client-{client} conn {conn} {what}: the server closed after the client's half-close with {} of {} reply bytes sent",
                            received.len(),
                            sent.len()
                        ),
                    );
                }
                if error.is_none() && received.len() != expected.len() {
                    return Judgement::fail(
                        Property::EchoIntegrity,
                        format!(
                            "client-{client} conn {conn} {what}: reply has {} of {} bytes",
                            received.len(),
                            sent.len()
                        ),
                    );
                }
            }
            Event::IdleClosed { client, conn, extra, .. } if !extra.is_empty() => {
                return Judgement::fail(
                    Property::EchoIntegrity,
                    format!(
                        "client-{client} conn {conn}: {} bytes arrived while it was quiet, after its last reply: {}",
                        extra.len(),
                        preview(extra)
                    ),
                );
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
pub(super) fn first_difference(expected: &[u8], actual: &[u8]) -> Option<usize> {
    if actual.len() > expected.len() {
        return Some(expected.len());
    }
    actual.iter().zip(expected).position(|(a, e)| a != e)
}

/// A few bytes starting a little before `offset`, for evidence.
pub(super) fn around(bytes: &[u8], offset: usize) -> &[u8] {
    let start = offset.saturating_sub(4).min(bytes.len());
    &bytes[start..(offset + 12).min(bytes.len())]
}
