//! The plugboard plugin protocol, version 1: the wire contract between the host and its plugins.
//!
//! A plugin is a separate process that speaks JSON-RPC 2.0 with the host, one JSON object per
//! line (UTF-8, `\n`-terminated, no line longer than [`MAX_LINE_BYTES`]): the host writes to the
//! plugin's stdin, the plugin writes only protocol messages to stdout, and stderr is the plugin's
//! log. Requests go both ways and may overlap; responses are matched to requests by id.
//! `docs/protocol.md` describes the conversation; this crate fixes the names and shapes:
//!
//! - [`message`]: the envelopes ([`Request`], [`Notification`], [`Response`]) and
//!   [`Message::decode`], which never panics on any input;
//! - [`methods`]: every method's name, params and result;
//! - [`metadata`]: what a plugin declares when it answers `initialize`;
//! - [`error`]: error codes, including [`error::NOT_RETRYABLE`];
//! - [`manifest`]: `plugin.toml`, with errors that name the line and field.
//!
//! Must not touch: I/O of any kind (no processes, pipes, sockets or files) and async runtimes
//! (no tokio): it is types, constants and their (de)serialisation, shared by the host
//! (`crates/plugboard`) and the Rust SDK (`crates/plugboard-sdk`); other languages' SDKs follow
//! the same definitions and the golden files in `tests/golden/`.

#![warn(missing_docs)]

pub mod error;
pub mod manifest;
pub mod message;
pub mod metadata;
pub mod methods;

pub use error::ErrorObject;
pub use manifest::{Manifest, ManifestError};
pub use message::{DecodeError, Id, Message, Notification, Request, Response, MAX_LINE_BYTES};
pub use metadata::Metadata;

/// The plugin protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
