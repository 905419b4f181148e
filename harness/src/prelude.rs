//! What a user's test needs, in one import: `use echo_harness::prelude::*;`. Re-exports only, so each item keeps
//! its home in the stage that owns it.

pub use crate::hunt::catalogue;
pub use crate::hunt::check::check;
pub use crate::hunt::mutants::Mutant;
pub use crate::hunt::replay::replay;
pub use crate::judge::tally::SuiteReport;
pub use crate::model::property::{Property, Verdict};
pub use crate::model::scenario::Scenario;
pub use crate::report::table::suite_table;
pub use crate::sim::target::{Policy, Target};
pub use crate::sut::blocks;
pub use crate::sut::net::{Listener, Stream};
pub use crate::sut::server::Config;
