//! The catalogue's list: [`Mutant`], every planted bug in catalogue order ([`all`]) and lookup by name
//! ([`find`]). The bugs themselves live in `tutorial.rs` (the socket tutorial's).

use crate::sim::target::Target;

use super::tutorial;

/// One planted bug: the catalogue's own, or a user's (any [`Target`] with a name and a one-line bug), so a user
/// can compute a mutation score for their own server and their own planted bugs with [`crate::hunt::catalogue::run`].
#[derive(Clone)]
pub struct Mutant {
    /// Its name in reports (and, for the catalogue's own, on the command line).
    pub name: String,
    /// The bug, in one line.
    pub bug: String,
    /// The server with the bug.
    pub target: Target,
}

impl Mutant {
    /// A planted bug: `target` is the server with the bug described by `bug`; it is named as the target is.
    pub fn new(bug: impl Into<String>, target: Target) -> Mutant {
        Mutant { name: target.name().to_string(), bug: bug.into(), target }
    }
}

/// Every mutant, in catalogue order.
pub fn all() -> Vec<Mutant> {
    macro_rules! mutant {
        ($name:literal, $bug:literal, $run:path) => {
            Mutant::new(
                $bug,
                Target::configurable($name, |listener, config| Box::pin($run(listener, config))).known_to_binary(),
            )
        };
    }
    vec![
        mutant!(
            "partial_send",
            "replies with one write and ignores how many bytes it took (send, not sendall)",
            tutorial::partial_send
        ),
        mutant!("single_client", "no connection loop: serves one client, then exits", tutorial::single_client),
        mutant!(
            "no_eof_check",
            "does not end a connection on a 0-byte read: spins on EOF, never closes",
            tutorial::no_eof_check
        ),
        mutant!(
            "dies_on_client_error",
            "one client's reset or broken pipe ends the whole server",
            tutorial::dies_on_client_error
        ),
        mutant!(
            "one_read_one_message",
            "takes one read for one message and discards what else is already buffered",
            tutorial::one_read_one_message
        ),
        mutant!(
            "unicode_upper",
            "upper-cases decoded text: binary bytes and 'ß' come back wrong",
            tutorial::unicode_upper
        ),
        mutant!("serial", "serves one client at a time: the next waits until the first leaves", tutorial::serial),
        mutant!("leaks_connections", "never closes a connection whose client left", tutorial::leaks_connections),
        mutant!(
            "shared_buffer",
            "all connections share one reply buffer: replies cross between clients",
            tutorial::shared_buffer
        ),
        mutant!(
            "unflushed_close",
            "buffers replies and returns at EOF without flushing: the last replies are lost",
            tutorial::unflushed_close
        ),
        mutant!(
            "drops_when_slow",
            "drops a reply when the client's socket is not writable at once",
            tutorial::drops_when_slow
        ),
        mutant!("slow_start", "takes 1.5 s after every start before it accepts anyone", tutorial::slow_start),
        Mutant::new(
            "does not set SO_REUSEADDR before bind: a quick restart meets \"Address already in use\"",
            Target::binding("no_reuse_address", |binder, config| {
                Box::pin(async move {
                    // BUG: bind without SO_REUSEADDR.
                    if let Ok(listener) = binder.bind(false).await {
                        crate::sut::server::run(listener, config, std::future::pending::<()>()).await
                    }
                })
            })
            .known_to_binary(),
        ),
    ]
}

/// The mutant called `name`.
pub fn find(name: &str) -> Option<Mutant> {
    all().into_iter().find(|m| m.name == name)
}
