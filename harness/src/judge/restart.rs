//! restart: after the server restarts, new connections are served within the scenario's bound.

use std::time::Duration;

use crate::model::property::Property;
use crate::model::trace::Event;

use super::judgement::Judgement;
use super::view::{secs, View};

pub(super) fn restart(view: &View) -> Judgement {
    let (scenario, run) = (view.scenario, view.run);
    if !scenario.restarts_server() {
        return Judgement::skip(Property::Restart, "the scenario does not restart the server");
    }
    let applied: Vec<Duration> = run
        .records
        .iter()
        .filter(|r| matches!(&r.event, Event::Fault { action } if action == "bounce" || action == "start"))
        .map(|r| r.at)
        .collect();
    let scheduled: Vec<Duration> =
        scenario.timeline.iter().filter(|f| f.action.starts_server()).map(|f| f.at).collect();
    if applied.len() < scheduled.len() {
        return Judgement::fail(
            Property::Restart,
            format!(
                "the run ended before the restart at {} happened ({} of {} restarts applied)",
                secs(scheduled[applied.len()]),
                applied.len(),
                scheduled.len()
            ),
        );
    }
    let attempts = view.attempts();
    let bound = scenario.limits.restart_within;
    let mut worst = Duration::ZERO;
    let mut unjudged = 0;
    for &t in &applied {
        let next_kill = view.kills.iter().copied().find(|&k| k > t).unwrap_or(Duration::MAX);
        // Attempts after this restart (and before the next kill) that the scenario did not spoil.
        let mut window = attempts.iter().filter(|a| a.start >= t && a.start < next_kill && !a.cut && !a.restarting);
        let Some(first) = window.next() else {
            unjudged += 1; // no client came after it: nothing to judge by
            continue;
        };
        let served = std::iter::once(first).chain(window).find(|a| a.outcome.is_ok()).and_then(|a| a.served);
        match served {
            Some(at) if at.saturating_sub(first.start) <= bound => worst = worst.max(at.saturating_sub(first.start)),
            Some(at) => {
                return Judgement::fail(
                    Property::Restart,
                    format!(
                        "after the restart at {}, clients tried to connect from {} but were first answered at {} (bound {})",
                        secs(t),
                        secs(first.start),
                        secs(at),
                        secs(bound)
                    ),
                )
            }
            None => {
                let why = run.records.iter().find_map(|r| match &r.event {
                    Event::ServerFailed { reason } if r.at >= t => Some(format!(": the {reason}")),
                    _ => None,
                });
                let first_failure = first.outcome.as_ref().err().cloned().unwrap_or_default();
                return Judgement::fail(
                    Property::Restart,
                    format!(
                        "no connection opened after the restart at {} was served{} (first: {first_failure})",
                        secs(t),
                        why.unwrap_or_default()
                    ),
                );
            }
        }
    }
    if unjudged == applied.len() {
        return Judgement::skip(Property::Restart, "no client connected after any restart");
    }
    Judgement::pass(
        Property::Restart,
        format!(
            "served again after each of {} restarts, at worst {} after the first attempt",
            applied.len() - unjudged,
            secs(worst)
        ),
    )
}
