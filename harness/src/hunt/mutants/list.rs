//! The catalogue's list: [`Mutant`], every planted bug in catalogue order ([`all`]) and lookup by name
//! ([`find`]). The bugs themselves live in `tutorial.rs` (the socket tutorial's) and `limits.rs` (those that show
//! only under a connection limit, an idle timeout or volume).

use crate::sim::target::Target;

use super::{limits, tutorial};

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
        mutant!(
            "slot_leak_on_error",
            "gives a connection slot back only after a clean end: after a few resets or idle timeouts nobody is served",
            limits::slot_leak_on_error
        ),
        mutant!(
            "unbounded_write",
            "the idle timeout bounds reads, not writes: a client that stops reading keeps its connection and slot",
            limits::unbounded_write
        ),
        mutant!(
            "idle_whole_write",
            "the idle timeout bounds each whole reply, not progress: a slow reader that keeps taking bytes is cut",
            limits::idle_whole_write
        ),
        mutant!(
            "idle_deadline",
            "the idle timer runs from the accept, never reset by progress: a client talking for longer is cut",
            limits::idle_deadline
        ),
        mutant!(
            "early_idle",
            "closes a connection after a fifth of the idle timeout it declares: a client that pauses is cut too soon",
            limits::early_idle
        ),
        mutant!(
            "ring_u16",
            "replies from a 64 KiB ring at a u16 position, dropping what crosses its end: bytes past 64 KiB go missing",
            limits::ring_u16
        ),
    ]
}

/// The mutant called `name`.
pub fn find(name: &str) -> Option<Mutant> {
    all().into_iter().find(|m| m.name == name)
}
