//! A bank of correct upper-casing echo servers, written in the styles people really use, each generic over the
//! seam's `Listener` and run through every scenario file and a bounded exploration. A correct server that fails
//! here is a false alarm of the harness (as the split reader and writer once were: a read-ahead in the simulated
//! stream's `poll_write` took the reader task's waker).
//!
//! Every style (in `styles.rs`) echoes every byte upper-cased (ASCII only), shuts its write side down after the
//! last reply once the client has sent EOF, ends a connection on a reset or an error without disturbing the
//! others, and serves clients concurrently. None has an idle timeout or a connection limit of its own (the same
//! styles with one, declared, are `idle_styles.rs`): each is a `Target::new` that declares nothing, and runs the
//! scenario files without their `[server]` idle timeout and limit, except those whose clients wait for the idle
//! timeout to close them.
//!
//! `SERVER_STYLES_CASES=5000 cargo test --release --test server_styles -- --nocapture` explores more cases per
//! style (the default is [`DEFAULT_CASES`]); each style prints its cases, findings and seconds.

mod styles;

use echo_harness::hunt::check;
use echo_harness::model::property::Verdict;
use echo_harness::model::scenario::Scenario;
use echo_harness::report::table;

use styles::{style, styles};

/// Cases explored per style unless `SERVER_STYLES_CASES` says otherwise.
const DEFAULT_CASES: u64 = 500;

/// `scenario` as it applies to a server with no idle timeout and no connection limit: without its `[server]`
/// idle timeout and limit, or `None` when a client counts on the idle timeout (`silent`, `stop_reading`: it waits
/// for a close that a server without one never makes). Everything else in the scenario still runs.
fn without_policy(mut scenario: Scenario) -> Option<Scenario> {
    if scenario.clients.iter().any(|c| c.quiet().is_some()) {
        return None;
    }
    scenario.server.config.idle_timeout = None;
    scenario.server.config.max_connections = None;
    Some(scenario)
}

/// The whole scenario suite, every seed, passes (see [`without_policy`]).
fn passes_the_suite(name: &str) {
    let scenarios: Vec<Scenario> = Scenario::suite().into_iter().filter_map(without_policy).collect();
    assert!(scenarios.len() >= 18, "only {} scenarios apply", scenarios.len());
    let report = check::check(&scenarios, &style(name), 2);
    assert_eq!(report.verdict, Verdict::Pass, "{}", table::suite_table(&report));
    assert!(report.scenarios.iter().all(|s| s.verdict != Verdict::Skip), "{}", table::suite_table(&report));
}

/// A bounded exploration finds nothing.
fn explores_clean(name: &str) {
    styles::explores_clean(&style(name), "SERVER_STYLES_CASES", DEFAULT_CASES, 2026);
}

macro_rules! bank {
    ($($name:ident),* $(,)?) => {
        mod suite {
            $(#[test] fn $name() { super::passes_the_suite(stringify!($name)) })*
        }
        mod exploration {
            $(#[test] fn $name() { super::explores_clean(stringify!($name)) })*
        }
        #[test]
        fn every_style_is_tested() {
            let mut tested = vec![$(stringify!($name)),*];
            let mut styles: Vec<String> = styles().iter().map(|t| t.name().to_string()).collect();
            tested.sort_unstable();
            styles.sort_unstable();
            assert_eq!(tested, styles);
        }
    };
}

bank!(split_channel, split_tasks, buffered, framed, select_loop, join_set, copy_upper, unordered);
