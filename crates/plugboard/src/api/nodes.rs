//! `/api/v1/nodes`: the `plugboard serve` processes that registered in the store, whether each
//! is up, gone (not seen for 3 heartbeats) or stopped, and what each works: queues with their
//! concurrency, and loaded plugins. For the admin token and global tokens (read is enough);
//! tenant tokens are refused, since nodes serve every tenant.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::problem::{ApiError, PathParams, Problem};
use super::{time, AppState};
use crate::nodes::NodeStatus;
use crate::store::Node;

/// A queue a node works.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeQueueView {
    pub name: String,
    /// How many of its jobs the node runs at once.
    pub concurrency: usize,
}

/// Whether a node is serving.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used.
pub enum NodeStatusName {
    Up,
    Gone,
    Stopped,
}

/// A node.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeView {
    /// The node's worker name, as in the `lease_owner` of the jobs it runs.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,300}$")]
    pub id: String,
    /// `up`, `gone` (not seen for 3 heartbeats: killed, hung or cut off from the store) or
    /// `stopped` (shut down cleanly).
    #[schema(inline, value_type = NodeStatusName)]
    pub status: NodeStatus,
    pub hostname: String,
    pub pid: i64,
    /// The plugboard version it runs.
    pub version: String,
    /// The address its HTTP API listens on.
    pub listen: String,
    pub queues: Vec<NodeQueueView>,
    /// The plugins loaded on it.
    pub plugins: Vec<String>,
    pub heartbeat_ms: i64,
    pub started_at: String,
    pub last_seen_at: String,
    /// Milliseconds since it was last seen, by the store's clock.
    pub seen_ago_ms: i64,
    #[schema(required = true)]
    pub stopped_at: Option<String>,
}

impl From<Node> for NodeView {
    fn from(node: Node) -> NodeView {
        NodeView {
            status: NodeStatus::of(&node),
            id: node.id,
            hostname: node.hostname,
            pid: node.pid,
            version: node.version,
            listen: node.listen,
            queues: node
                .queues
                .into_iter()
                .map(|queue| NodeQueueView {
                    name: queue.name,
                    concurrency: queue.concurrency,
                })
                .collect(),
            plugins: node.plugins,
            heartbeat_ms: node.heartbeat_ms,
            started_at: time::format(node.started_at),
            last_seen_at: time::format(node.last_seen_at),
            seen_ago_ms: node.seen_ago_ms,
            stopped_at: node.stopped_at.map(time::format),
        }
    }
}

/// Nodes, the most recently started first.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeList {
    pub nodes: Vec<NodeView>,
}

/// List the nodes (admin token or a global token).
#[utoipa::path(get, path = "/api/v1/nodes", operation_id = "list_nodes", tag = "nodes",
    responses(
        (status = 200, body = NodeList),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<NodeList>, ApiError> {
    caller.require_global()?;
    let nodes = state.queue.store().node_list().await?;
    Ok(Json(NodeList {
        nodes: nodes.into_iter().map(NodeView::from).collect(),
    }))
}

/// Show a node (admin token or a global token).
#[utoipa::path(get, path = "/api/v1/nodes/{id}", operation_id = "get_node", tag = "nodes",
    params(("id" = String, Path, description = "Node id", pattern = "^[A-Za-z0-9._-]{1,300}$")),
    responses(
        (status = 200, body = NodeView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<NodeView>, ApiError> {
    caller.require_global()?;
    state
        .queue
        .store()
        .node_get(&id)
        .await?
        .map(|node| Json(node.into()))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "node `{id}` is not registered (nodes not seen for a day are removed); GET /api/v1/nodes lists them"
            ))
        })
}
