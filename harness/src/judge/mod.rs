//! The judge: pure functions from a run's events to verdicts on named properties, with evidence. One file per
//! property, the view of a run they share (`view.rs`), [`oracles::judge`] which asks them all, and the tally of
//! many runs into a suite report. It never runs anything: runs come in, verdicts go out.

pub mod determinism;
pub mod judgement;
pub mod oracles;
pub mod tally;

mod integrity;
mod liveness;
mod no_leak;
mod refusal;
mod restart;
mod survival;
mod view;

#[cfg(test)]
mod tests;
