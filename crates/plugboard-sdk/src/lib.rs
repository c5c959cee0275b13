//! The Rust SDK for plugboard plugins.
//!
//! A plugin written with this crate implements one trait, [`Plugin`], and hands it to
//! [`serve_blocking`] (from `main`) or [`serve`] (inside a tokio runtime), which runs the stdio
//! loop: it reads the host's JSON-RPC messages from stdin, calls the trait, writes answers to
//! stdout, and gives the plugin typed calls to the host through its [`Context`] (log lines,
//! progress, key-value storage, emitting events).
//!
//! ```no_run
//! use plugboard_sdk::{Context, Plugin, PluginError, PluginInfo, RunParams, Value};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn info(&self) -> PluginInfo {
//!         PluginInfo { id: "hello".into(), name: "Hello".into(), version: "1.0.0".into() }
//!     }
//!
//!     async fn run(&self, ctx: Context, _params: RunParams) -> Result<Option<Value>, PluginError> {
//!         ctx.info("saying hello");
//!         Ok(Some(serde_json::json!({"greeting": "hello"})))
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     match plugboard_sdk::serve_blocking(Hello) {
//!         Ok(()) => std::process::ExitCode::SUCCESS,
//!         Err(error) => {
//!             eprintln!("hello: {error}");
//!             std::process::ExitCode::FAILURE
//!         }
//!     }
//! }
//! ```
//!
//! What the loop does for the plugin:
//! - answers `initialize` (refusing a protocol version other than [`PROTOCOL_VERSION`] with
//!   [`error::UNSUPPORTED_PROTOCOL_VERSION`]), `ping` and `shutdown` itself;
//! - runs every `run`, `config/validate`, `config/test`, `tools/call` and `http` request as its own
//!   task, so several are in flight at once, each with its own cancellation (the `cancel`
//!   notification) seen through [`Context::is_cancelled`] and [`Context::cancelled`];
//! - answers a request whose handler panicked with an internal error instead of never;
//! - skips lines over [`MAX_LINE_BYTES`] and lines that are not JSON-RPC, saying so on stderr
//!   (and answers `-32600` to a broken request whose id it can read);
//! - on `shutdown`, takes no new work, waits for the requests in flight (at most
//!   [`SHUTDOWN_GRACE`]), answers `{}` and returns; at the end of stdin it returns at once;
//! - writes stdout from one task, in batches: whatever is ready goes out in one write; stdin and
//!   stdout are read and written by a thread each, which the kernel wakes directly.
//!
//! Owns: the trait, the stdio loop and the typed host calls. Must not touch: the shape of the
//! messages, which belongs to `plugboard-protocol` (this crate depends on it and re-exports what
//! plugin authors need, and the whole crate as [`protocol`]), and anything of the host.
//!
//! Known limits: cancellation is cooperative (a handler that never looks at its context runs
//! until the host gives up on it); log and progress notifications are dropped, and counted on
//! stderr, while more than 8 MiB of output waits for a host that does not read; the loop needs a
//! tokio runtime with time enabled ([`serve_blocking`] builds one); [`Plugin`] uses `async fn`
//! in a trait, so it is implemented by one concrete type per plugin (`serve` is generic over it)
//! rather than used as `dyn Plugin`; a `println!` in plugin code garbles the protocol (log to
//! the context or to stderr).

#![warn(missing_docs)]

mod cancel;
mod context;
mod errors;
mod handlers;
mod host_calls;
pub mod http;
mod lines;
mod outbox;
mod plugin;
mod request;
mod serve;
mod stdio;
pub mod webhooks;

pub use context::Context;
pub use errors::{HostError, PluginError, ServeError};
pub use plugin::Plugin;
pub use serve::{serve, serve_blocking, serve_with, SHUTDOWN_GRACE};

/// The wire contract, re-exported whole for what the names below do not cover.
pub use plugboard_protocol as protocol;
/// Error codes of the protocol, for [`PluginError::new`].
pub use plugboard_protocol::error;
pub use plugboard_protocol::metadata::{
    Route, RouteAuth, Schedule, Tool, ToolAnnotations, UiContribution,
};
pub use plugboard_protocol::methods::{
    ConfigInfo, ConfigParams, ConfigProblem, ConfigTestResult, ConfigValidateResult, Content,
    EmitParams, Event, HttpConfig, HttpParams, HttpResult, JobInfo, KvItem, KvListResult, LogLevel,
    PluginInfo, RunParams, ToolsCallParams, ToolsCallResult, Trigger, TriggerKind,
};
/// The plugin protocol version this SDK speaks (defined in `plugboard-protocol`).
pub use plugboard_protocol::PROTOCOL_VERSION;
pub use plugboard_protocol::{ErrorObject, Id, Metadata, MAX_LINE_BYTES};
/// JSON values, as params, results and stored values carry them.
pub use serde_json::Value;
