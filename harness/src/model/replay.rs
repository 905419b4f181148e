//! How a failure is replayed: the one line printed beside every failed property, for a target the binary can
//! rebuild from its name (`echo-harness run FILE --seed N --target NAME`) or for one that exists only in a
//! user's crate (an environment variable their own test honours, or a library call). Text only: nothing here
//! runs a replay (see `hunt::replay`).

use std::path::Path;

/// The environment variable a user's test honours (through `hunt::check::check` or `hunt::replay`) to replay
/// one scenario under one seed, with the trace printed: `TARGET:SEED:SCENARIO`, where SCENARIO is a file or a
/// scenario of the embedded suite (`scenarios/NAME.toml` or `NAME`).
pub const REPLAY_ENV: &str = "ECHO_HARNESS_REPLAY";

/// Where the target under test can be rebuilt for a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// The binary knows it by name (the built-in server, a planted bug, a command line with `{port}`).
    Binary {
        /// The `--target` value (`builtin` is the default and is left out).
        target: String,
        /// `sim` or `real` (`sim` is the default and is left out).
        backend: String,
    },
    /// Only the user's crate can build it: their test replays it.
    Library {
        /// The target's name, which the environment variable must repeat.
        target: String,
    },
}

impl Replay {
    /// The command that replays `scenario` under `seed`, trace included.
    pub fn command(&self, scenario: &Path, seed: u64) -> String {
        let path = scenario.display();
        match self {
            Replay::Binary { target, backend } => {
                let target = match target.as_str() {
                    "builtin" => String::new(),
                    t if t.contains(char::is_whitespace) => format!(" --target '{t}'"),
                    t => format!(" --target {t}"),
                };
                let backend = if backend == "sim" { String::new() } else { format!(" --backend {backend}") };
                format!("echo-harness run {path} --seed {seed}{target}{backend} --trace")
            }
            Replay::Library { target } => format!(
                "{REPLAY_ENV}='{target}:{seed}:{path}' cargo test -- --nocapture \
                 (your test that checks `{target}` replays it; or call echo_harness::hunt::replay::replay(\"{path}\", {seed}, &target))"
            ),
        }
    }
}

/// A replay asked for through [`REPLAY_ENV`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The target it is for.
    pub target: String,
    /// The seed.
    pub seed: u64,
    /// The scenario: a file, or a scenario of the embedded suite.
    pub scenario: String,
}

impl Request {
    /// Parses `TARGET:SEED:SCENARIO`; the error says what the variable should look like.
    pub fn parse(value: &str) -> Result<Request, String> {
        let bad = || {
            format!(
                "{REPLAY_ENV}={value:?}: expected TARGET:SEED:SCENARIO, e.g. my_server:7:scenarios/slow_reader.toml"
            )
        };
        let mut parts = value.splitn(3, ':');
        let (Some(target), Some(seed), Some(scenario)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let seed = seed.trim().parse().map_err(|_| bad())?;
        if target.trim().is_empty() || scenario.trim().is_empty() {
            return Err(bad());
        }
        Ok(Request { target: target.trim().into(), seed, scenario: scenario.trim().into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_targets_replay_with_the_binary_and_library_targets_with_the_variable() {
        let builtin = Replay::Binary { target: "builtin".into(), backend: "sim".into() };
        assert_eq!(builtin.command(Path::new("s.toml"), 3), "echo-harness run s.toml --seed 3 --trace");
        let real = Replay::Binary { target: "python3 x.py {port}".into(), backend: "real".into() };
        assert_eq!(
            real.command(Path::new("s.toml"), 3),
            "echo-harness run s.toml --seed 3 --target 'python3 x.py {port}' --backend real --trace"
        );
        let mine = Replay::Library { target: "mine".into() }.command(Path::new("scenarios/a.toml"), 7);
        assert!(mine.starts_with("ECHO_HARNESS_REPLAY='mine:7:scenarios/a.toml' cargo test"), "{mine}");
        let request = Request::parse("mine:7:scenarios/a.toml").unwrap();
        assert_eq!(request, Request { target: "mine".into(), seed: 7, scenario: "scenarios/a.toml".into() });
        assert_eq!(Request::parse("mine:7:c:/x.toml").unwrap().scenario, "c:/x.toml");
        for bad in ["", "mine", "mine:x:a.toml", ":7:a.toml", "mine:7:"] {
            assert!(Request::parse(bad).unwrap_err().contains("TARGET:SEED:SCENARIO"), "{bad}");
        }
    }
}
