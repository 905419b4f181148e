//! The properties the harness checks and the three verdicts: the vocabulary that scenario files (a twin names
//! the property it must fail), oracles, runners that judge as they go, and reporters share. Names only: nothing
//! here judges anything.

use serde::{Deserialize, Serialize};

/// The outcome of checking one property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The property held.
    Pass,
    /// The property was broken: the evidence says where.
    Fail,
    /// The property does not apply (e.g. restart without a restart in the scenario).
    Skip,
}

impl Verdict {
    /// The word tables print: `pass`, `FAIL` (loud, to be seen) or `skip`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        }
    }
}

/// A property the harness checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Property {
    /// Every reply is the upper-cased message, in order, on its own connection.
    EchoIntegrity,
    /// Every well-behaved client finishes, and nothing stalls or fails on a healthy network.
    Liveness,
    /// After a client misbehaves, a fresh client is served.
    Survival,
    /// After a restart, new connections are served within a bound.
    Restart,
    /// A connect to a down server fails fast with ConnectionRefused.
    Refusal,
    /// The server closes every connection once its client has left.
    NoLeak,
    /// The same seed gives the same trace.
    Determinism,
}

impl Property {
    /// Every property, in report order.
    pub const ALL: [Property; 7] = [
        Property::EchoIntegrity,
        Property::Liveness,
        Property::Survival,
        Property::Restart,
        Property::Refusal,
        Property::NoLeak,
        Property::Determinism,
    ];

    /// The stable name CI scripts read.
    pub fn name(self) -> &'static str {
        match self {
            Property::EchoIntegrity => "echo-integrity",
            Property::Liveness => "liveness",
            Property::Survival => "survival",
            Property::Restart => "restart",
            Property::Refusal => "refusal",
            Property::NoLeak => "no-leak",
            Property::Determinism => "determinism",
        }
    }

    /// One line saying what it means.
    pub fn description(self) -> &'static str {
        match self {
            Property::EchoIntegrity => "every byte echoed upper-cased, in order, on its own connection",
            Property::Liveness => "every well-behaved client finishes; nothing stalls or fails on a healthy link",
            Property::Survival => "after a client resets, vanishes or dies mid-message, a fresh client is served",
            Property::Restart => "after a server restart, new connections are served within a bound",
            Property::Refusal => "connecting to a down server fails fast with ConnectionRefused, never hangs",
            Property::NoLeak => "the server closes every connection after its client has left",
            Property::Determinism => "the same seed replays to the same trace hash",
        }
    }

    /// The property called `name`.
    pub fn from_name(name: &str) -> Option<Property> {
        Property::ALL.into_iter().find(|p| p.name() == name)
    }
}
