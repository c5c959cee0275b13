//! The Rust SDK for plugboard plugins.
//!
//! A plugin written with this crate implements one trait and hands it to a `serve()` function,
//! which runs the stdio loop: it reads the host's JSON-RPC messages from stdin, calls the trait,
//! writes answers to stdout, and gives the plugin typed calls to the host (log lines, progress,
//! key-value storage, emitting events).
//!
//! Owns: the trait, the stdio loop and the typed host calls. Must not touch: the shape of the
//! messages, which belongs to `plugboard-protocol` (this crate depends on it and re-exports what
//! plugin authors need), and anything of the host.
//!
//! Known limits: the crate is at its beginning. Today it holds only the re-export of
//! [`PROTOCOL_VERSION`]; the trait and `serve()` are being written.

#![warn(missing_docs)]

/// The plugin protocol version this SDK speaks (defined in `plugboard-protocol`).
pub use plugboard_protocol::PROTOCOL_VERSION;
