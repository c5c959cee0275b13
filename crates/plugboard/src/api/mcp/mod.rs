//! plugboard as an MCP server: `/mcp`, the Streamable HTTP transport of the Model Context
//! Protocol, for AI agents. It lists tools (every enabled plugin's, named `{plugin}.{tool}`, and
//! the host's own) and calls them; a call of a plugin's tool is a job of kind `plugin.tool`.
//!
//! Both protocol eras are spoken on the one endpoint, chosen per request (`transport.rs`):
//! - **2026-07-28** (modern, stateless): every request carries its version, client info and
//!   capabilities in `_meta`, mirrored in the `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name`
//!   headers; results carry `resultType`; `GET` and `DELETE` are `405`. With the tasks extension
//!   (`io.modelcontextprotocol/tasks`, `tasks.rs`) a long call answers a task backed by its job.
//! - **2025-11-25** (legacy): `initialize` opens a session (`Mcp-Session-Id`, `sessions.rs`),
//!   `GET` opens the session's stream of `notifications/tools/list_changed`, `DELETE` ends it.
//!
//! `transport.rs` takes each request (who calls, which era), `headers.rs` checks the 2026-07-28
//! headers, `methods.rs` answers the methods, `listen.rs` streams list changes.
//! `catalogue.rs` is what tools exist and who sees which; `host_tools.rs` the host's tools (they
//! call the same handlers as `/api/v1`); `calls.rs` turns a plugin tool call into a job and its
//! outcome into a `CallToolResult`; `jsonrpc.rs` the envelopes and error codes.
//!
//! Owns: the MCP wire format, its HTTP status codes and headers, sessions, task ids. Must not
//! touch: SQL (it reads through `Queue` and the `Store` trait) and `plugins/` (the `plugin.tool`
//! kind is enqueued by name). Known limits: legacy sessions live in this node's memory, so a
//! legacy client whose node restarts gets `404` and initializes again (as the 2025-11-25
//! transport says); tasks need no session and survive restarts.

mod calls;
mod catalogue;
mod headers;
mod host_tools;
mod jsonrpc;
mod listen;
mod methods;
mod sessions;
mod tasks;
mod transport;

use std::sync::Arc;

use axum::routing::{any, get};
use axum::Router;

use super::AppState;
use crate::store::Store;

pub use transport::{endpoint, protected_resource};

/// The path of the MCP endpoint.
pub const PATH: &str = "/mcp";
/// Where its OAuth protected resource metadata (RFC 9728) is served, named in every 401.
pub const RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource/mcp";

/// The modern protocol version.
pub const MODERN_VERSION: &str = "2026-07-28";
/// The legacy (session) versions, newest first: `initialize` settles on one of these.
pub const LEGACY_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];
/// The job kind of a plugin tool call.
pub const PLUGIN_TOOL: &str = "plugin.tool";
/// The tasks extension's identifier.
pub const TASKS_EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// What the MCP endpoint keeps between requests: the tool catalogue and the legacy sessions.
pub struct Mcp {
    catalogue: Arc<catalogue::Catalogue>,
    sessions: sessions::Sessions,
}

impl Mcp {
    pub fn new(store: Arc<dyn Store>) -> Arc<Mcp> {
        Arc::new(Mcp {
            catalogue: catalogue::Catalogue::new(store),
            sessions: sessions::Sessions::default(),
        })
    }
}

/// The routes: `/mcp` (every method; the transport answers `405` where an era says so) and the
/// protected resource metadata. Both are outside `/api/v1` and its OpenAPI document.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, any(endpoint))
        .route(RESOURCE_METADATA_PATH, get(protected_resource))
}
