//! The system under test and its seam: the network trait with its two implementations (tokio and turmoil), the
//! built-in echo server (and its read buffers, sized by load), its building blocks for a user's own variant, and the echo client, each written once against the seam. The bottom layer: it imports
//! nothing else of the crate.

pub mod blocks;
pub mod buffer;
pub mod client;
pub mod net;
pub mod server;
