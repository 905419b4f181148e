//! refusal: a connect to a down server fails fast with ConnectionRefused, and only when the server was down.

use crate::model::property::Property;
use crate::model::scenario::Expect;
use crate::model::trace::Event;

use super::judgement::Judgement;
use super::view::{secs, View};

pub(super) fn refusal(view: &View) -> Judgement {
    let mut checked = 0;
    let bound = view.scenario.limits.refused_within;
    for (i, spec) in view.scenario.clients.iter().enumerate() {
        if spec.expect != Expect::Refused {
            continue;
        }
        let seen = view.run.records.iter().find_map(|r| match &r.event {
            Event::Connected { client, conn, .. } if *client == i => Some(Err(format!(
                "client-{i} connected (conn {conn}) at {} to a server that should be down",
                secs(r.at)
            ))),
            Event::ConnectFailed { client, waited, .. }
                if *client == i && !view.server_down_at(r.at.saturating_sub(*waited)) =>
            {
                Some(Err(format!(
                    "client-{i} expected a refusal but the timeline has the server up at {}: fix the scenario",
                    secs(r.at.saturating_sub(*waited))
                )))
            }
            Event::ConnectFailed { client, error, waited } if *client == i => Some(if error != "refused" {
                Err(format!(
                    "client-{i}'s connect to a down server ended after {}ms with {error}, not a refusal",
                    waited.as_millis()
                ))
            } else if *waited > bound {
                Err(format!(
                    "client-{i} was refused only after {}ms (bound {}ms)",
                    waited.as_millis(),
                    bound.as_millis()
                ))
            } else {
                Ok(())
            }),
            _ => None,
        });
        match seen {
            Some(Ok(())) => checked += 1,
            Some(Err(why)) => return Judgement::fail(Property::Refusal, why),
            None => return Judgement::fail(Property::Refusal, format!("client-{i} never finished its connect")),
        }
    }
    if checked == 0 {
        return Judgement::skip(Property::Refusal, "no client connects to a down server");
    }
    Judgement::pass(
        Property::Refusal,
        format!("{checked} connects to a down server refused within {}ms", bound.as_millis()),
    )
}
