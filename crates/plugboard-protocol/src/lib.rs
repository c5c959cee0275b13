//! The plugboard plugin protocol: the wire contract between the host and its plugins.
//!
//! A plugin is a separate process that speaks JSON-RPC 2.0 with the host, one JSON object per
//! line: the host writes to the plugin's stdin, the plugin answers on stdout, and stderr is the
//! plugin's log. This crate owns everything both sides must agree on: the JSON-RPC envelopes,
//! the method names and their params and results, the manifest (`plugin.toml`), the runtime
//! metadata a plugin reports in its handshake, and the protocol version. The Rust SDK
//! (`crates/plugboard-sdk`) depends on it, the host (`crates/plugboard`) will when it starts
//! plugins, and the SDKs for other languages follow the same definitions.
//!
//! Must not touch: I/O of any kind (no processes, pipes, sockets or files) and async runtimes (no
//! tokio). It is types, constants and their (de)serialisation only, so it builds anywhere a plugin
//! might and cannot block or fail on I/O.
//!
//! Known limits: the crate is at its beginning. Today it holds only [`PROTOCOL_VERSION`]; the
//! message, manifest and metadata types are being written.

#![warn(missing_docs)]

/// The plugin protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
