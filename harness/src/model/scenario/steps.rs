//! The `[[timeline]]` steps of a scenario file as serde reads them, each resolved (with `repeat` expanded) into
//! faults at simulated times, with its own checks and limits. Parsing only: nothing here runs a scenario.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::bounds::{At, MAX_STEPS};
use super::types::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StepFile {
    at_ms: Spanned<u64>,
    action: Spanned<ActionFile>,
    clients: Option<Vec<Spanned<String>>>,
    direction: Option<DirectionFile>,
    ms: Option<Spanned<u64>>,
    rate: Option<Spanned<f64>>,
    repeat: Option<Spanned<usize>>,
    every_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum ActionFile {
    Bounce,
    Stop,
    Start,
    Crash,
    Partition,
    Repair,
    Hold,
    Release,
    Latency,
    FailRate,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum DirectionFile {
    Both,
    ToServer,
    FromServer,
}

impl StepFile {
    /// Where its action stands in the file, for errors about the timeline as a whole.
    pub(super) fn span(&self) -> std::ops::Range<usize> {
        self.action.span()
    }

    pub(super) fn resolve(
        &self,
        at: &At,
        names: &[&str],
        deadline: Duration,
        out: &mut Vec<Fault>,
    ) -> Result<(), ScenarioError> {
        let action = *self.action.get_ref();
        let network = matches!(
            action,
            ActionFile::Partition | ActionFile::Repair | ActionFile::Hold | ActionFile::Release | ActionFile::Latency
        );
        let who = match &self.clients {
            None => Who::All,
            Some(_) if !network => {
                return Err(at(self.action.span(), "`clients` only goes with network actions".into()));
            }
            Some(list) => {
                let mut indexes = Vec::new();
                for name in list {
                    match names.iter().position(|n| n == name.get_ref()) {
                        Some(i) => indexes.push(i),
                        None => {
                            return Err(at(
                                name.span(),
                                format!(
                                    "no client is called \"{}\" (they are client-0 to client-{})",
                                    name.get_ref(),
                                    names.len() - 1
                                ),
                            ))
                        }
                    }
                }
                Who::Clients(indexes)
            }
        };
        let direction = match (self.direction, action) {
            (None, _) => Direction::Both,
            (Some(d), ActionFile::Partition | ActionFile::Repair) => match d {
                DirectionFile::Both => Direction::Both,
                DirectionFile::ToServer => Direction::ToServer,
                DirectionFile::FromServer => Direction::FromServer,
            },
            (Some(_), _) => {
                return Err(at(self.action.span(), "`direction` only goes with \"partition\" and \"repair\"".into()))
            }
        };
        if self.ms.is_some() != (action == ActionFile::Latency) {
            return Err(at(self.action.span(), "`ms` is required with \"latency\" and only goes with it".into()));
        }
        if self.rate.is_some() != (action == ActionFile::FailRate) {
            return Err(at(self.action.span(), "`rate` is required with \"fail_rate\" and only goes with it".into()));
        }
        let action = match action {
            ActionFile::Bounce => Action::Bounce,
            ActionFile::Stop => Action::Stop,
            ActionFile::Start => Action::Start,
            ActionFile::Crash => Action::Crash,
            ActionFile::Partition => Action::Partition(who, direction),
            ActionFile::Repair => Action::Repair(who, direction),
            ActionFile::Hold => Action::Hold(who),
            ActionFile::Release => Action::Release(who),
            ActionFile::Latency => Action::Latency(who, Duration::from_millis(*self.ms.as_ref().unwrap().get_ref())),
            ActionFile::FailRate => {
                let rate = self.rate.as_ref().unwrap();
                if !(0.0..=1.0).contains(rate.get_ref()) {
                    return Err(at(rate.span(), format!("`rate` {} is not between 0 and 1", rate.get_ref())));
                }
                Action::FailRate(*rate.get_ref())
            }
        };
        let repeat = self.repeat.as_ref().map_or(1, |r| *r.get_ref());
        if repeat == 0 {
            return Err(at(self.repeat.as_ref().unwrap().span(), "`repeat` must be at least 1".into()));
        }
        let every = match (&self.every_ms, repeat) {
            (Some(e), _) if *e.get_ref() == 0 => return Err(at(e.span(), "`every_ms` must be at least 1".into())),
            (Some(e), _) => *e.get_ref(),
            (None, 1) => 0,
            (None, _) => {
                return Err(at(self.repeat.as_ref().unwrap().span(), "`repeat` needs `every_ms`".into()));
            }
        };
        for i in 0..repeat as u64 {
            let when = i.checked_mul(every).and_then(|t| t.checked_add(*self.at_ms.get_ref())).unwrap_or(u64::MAX);
            if Duration::from_millis(when) >= deadline {
                return Err(at(
                    self.at_ms.span(),
                    format!("this step happens at {when} ms, not before the deadline of {} ms", deadline.as_millis()),
                ));
            }
            if out.len() >= MAX_STEPS {
                return Err(at(
                    self.repeat.as_ref().map_or(self.at_ms.span(), |r| r.span()),
                    format!("the timeline has more than {MAX_STEPS} steps after `repeat`"),
                ));
            }
            out.push(Fault { at: Duration::from_millis(when), action: action.clone() });
        }
        Ok(())
    }
}
