//! echo-harness: a property-based and fault-injection test harness for TCP echo servers.
//!
//! It turns the traps of the classic socket tutorial (empty messages that hang, servers that die with their
//! client, `send` that writes only part, messages that TCP splits and joins, restarts that meet "Address already
//! in use") into checked properties, run on turmoil's simulated network under explicit seeds.
//!
//! # Layout
//!
//! One way through: scenario → runner → events → oracles → verdicts → reporters. One folder per stage; a module
//! imports only from the folders listed before it (and from its own folder), so the import graph has no circle:
//!
//! 1. [`sut`]: the system under test and its seam. [`sut::net`] (`Network`, `Listener`; [`sut::net::Real`] on
//!    tokio, [`sut::net::Sim`] on turmoil), [`sut::server`] (the correct uppercase echo server,
//!    `server::run(listener, config, shutdown)`, its read buffers in [`sut::buffer`]), [`sut::client`] (connect, echo,
//!    half-close, with timeouts).
//! 2. [`model`]: what a run is made of. [`model::scenario`] (types, the TOML format, validation, writing back),
//!    [`model::faults`] (stream shaping turmoil does not do), [`model::script`] (the scenario clients' programs,
//!    written once over a `Wire`), [`model::trace`] (events, [`model::trace::Run`], the trace hash),
//!    [`model::property`] (property names and verdicts), [`model::transform`] (what a correct reply is:
//!    upper-cased or unchanged).
//! 3. [`judge`]: the oracles, one file per property, over a shared view of a run; [`judge::oracles::judge`]
//!    asks them all; [`judge::tally`] gathers many runs into a [`judge::tally::SuiteReport`] with evidence.
//! 4. [`sim`]: the simulated runner. [`sim::target::Target`] is the server under test as a value, with the
//!    policy it declares ([`sim::target::Policy`]); [`sim::runner::run`] plays a scenario under a seed, its
//!    cuts as TCP lives through them; [`sim::process`] models the server's sockets and records its side of
//!    each connection.
//! 5. [`real`]: real sockets on 127.0.0.1. [`real::launch`] (start and kill a server command),
//!    [`real::proxy`] (fault proxy), [`real::runner`] (the scenario files on real sockets), [`real::kernel`]
//!    (kernel checks), [`real::blackbox`] (twelve properties for any server), [`real::load`] (the verifying load
//!    engine). `sim` and `real` never import each other.
//! 6. [`hunt`]: [`hunt::check`] (the suite), [`hunt::twins`], [`hunt::mutants`] (planted bugs, kept apart from
//!    the server), [`hunt::catalogue`] (mutation score), [`hunt::generate`] (proptest strategies for whole
//!    scenarios), [`hunt::explore`] (runs and judges generated cases), [`hunt::explore_real`] (the same cases on
//!    real sockets against any server, each failure confirmed by re-runs, flaky ones apart),
//!    [`hunt::shrink`], [`hunt::matrix`] (every planted bug against every scenario).
//! 7. [`report`]: [`report::check_report::CheckReport`] (the suite with the kernel checks and the catalogue
//!    beside it) and the reporters, pure functions of it: table, JSON, Markdown, JUnit;
//!    [`report::explore_results`] (an exploration's document, and the merge of its shards);
//!    [`report::results`] (`results.json`: every verdict and figure of the latest runs, versioned), drawn by
//!    [`report::html`] and [`report::report_md`] with [`report::charts`], [`report::timeline`] and
//!    [`report::svg`]; [`report::gate`] (benchmark figures against a saved baseline).
//!
//! [`prelude`] re-exports what a user's test needs (`Target`, `Scenario::suite`, `check`, `replay`, the server's
//! building blocks). The binary (`harness/src/main.rs` and `harness/src/cli/`, one module per subcommand) sits
//! above them all.
//! `harness/tests/layout.rs` reads every `use crate::` line and fails on an import against this order.

// Without `--cfg tokio_unstable` (which a dependency's `.cargo/config.toml` cannot set for the crate using it)
// everything works and the harness's own code replays exactly (its `select!`s are biased); only a server under
// test with an unbiased `select!` may then not replay, and the determinism property says how to add the flag.

pub mod sut;

pub mod model;

pub mod judge;

pub mod sim;

pub mod real;

pub mod hunt;

pub mod report;

pub mod prelude;

/// Process exit codes of the `echo-harness` binary.
pub mod exit {
    /// Every property held.
    pub const HELD: u8 = 0;
    /// A property failed.
    pub const FAILED: u8 = 1;
    /// A usage or input error: a bad flag, a malformed scenario file, an address that cannot be bound.
    pub const USAGE: u8 = 2;
}
