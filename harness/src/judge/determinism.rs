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
            "trace hashes {:016x} and {:016x} differ from event {at}: {} / {}{}",
            first.hash,
            second.hash,
            first.records.get(at).map_or("(end)".into(), |r| r.to_string()),
            second.records.get(at).map_or("(end)".into(), |r| r.to_string()),
            missing_flag_hint(cfg!(tokio_unstable)),
        ),
    )
}

/// What to add to a determinism failure when the build lacks `--cfg tokio_unstable` (`flag_set` false): without
/// it tokio does not seed `select!` from the simulation, so a server with an unbiased `select!` cannot replay.
/// The harness's own code is deterministic either way (its `select!`s are biased).
pub fn missing_flag_hint(flag_set: bool) -> &'static str {
    if flag_set {
        ""
    } else {
        "; this build lacks `--cfg tokio_unstable`, so tokio's select! is not seeded by the simulation: add \
         `[build] rustflags = [\"--cfg\", \"tokio_unstable\"]` to .cargo/config.toml in your crate, or make the \
         server's select! `biased;`"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_without_the_flag_says_how_to_add_it() {
        assert_eq!(missing_flag_hint(true), "");
        let hint = missing_flag_hint(false);
        assert!(hint.contains("rustflags = [\"--cfg\", \"tokio_unstable\"]") && hint.contains(".cargo/config.toml"));
    }
}
