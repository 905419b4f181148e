//! determinism: the same seed replays to the same trace. Judged from two runs of one scenario and seed.

use crate::model::property::Property;
use crate::model::trace::Run;

use super::judgement::Judgement;

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
