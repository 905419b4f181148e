//! The catalogue of planted bugs: echo servers that are the correct server with exactly one realistic bug each,
//! written apart from the real server (`server.rs` has no bug switches). They prove the harness catches what
//! the socket tutorial warns about, and what shows only under a connection limit, an idle timeout or volume:
//! each scenario has a mutant (or a broken expectation) that fails it.
//!
//! Every mutant is generic over [`crate::sut::net::Listener`], like the real server, so it could serve real
//! sockets too. `list.rs` holds [`Mutant`] and the list, `tutorial.rs` and `limits.rs` the servers.

mod limits;
mod list;
mod tutorial;

pub use list::{all, find, Mutant};
