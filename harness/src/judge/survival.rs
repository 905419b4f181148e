//! survival: after a client resets, vanishes or dies mid-message, a fresh client is served.

use crate::model::property::Property;
use crate::model::trace::Event;

use super::judgement::Judgement;
use super::view::{secs, Attempt, View};

pub(super) fn survival(view: &View) -> Judgement {
    let run = view.run;
    let attempts = view.attempts();
    let mut checked = 0;
    let mut unjudged = 0;
    for record in &run.records {
        let Event::Misbehaved { client: rude, how, .. } = &record.event else { continue };
        let since = record.at;
        // The first attempt after the misbehaviour that the scenario did not spoil, and what came of it.
        match attempts.iter().find(|a| a.start >= since && (a.outcome.is_ok() || !(a.cut || a.restarting))) {
            Some(Attempt { outcome: Ok(()), .. }) => checked += 1,
            Some(Attempt { outcome: Err(why), .. }) => {
                return Judgement::fail(
                    Property::Survival,
                    format!("after client-{rude} {how} at {}, {why}", secs(since)),
                )
            }
            None => unjudged += 1, // no client came after it: nothing to judge by
        }
    }
    if checked == 0 {
        let why = if unjudged == 0 {
            "no client misbehaves in this scenario".to_string()
        } else {
            format!("no client connected after any of the {unjudged} misbehaving clients")
        };
        return Judgement::skip(Property::Survival, why);
    }
    Judgement::pass(
        Property::Survival,
        format!("a fresh client was served after each of {checked} misbehaving clients"),
    )
}
