//! The nodes of a cluster: each `plugboard serve` registers itself in the store when it starts,
//! heartbeats while it runs and says when it stops, so anyone can ask which nodes there are,
//! what they run and whether they are still there.
//!
//! Owns: the presence task ([`Presence`]), the rule that makes a node `gone` (not seen for
//! [`MISSED_HEARTBEATS`] of its heartbeats) and the pruning of nodes not seen for
//! [`PRUNE_AFTER`]. Must not touch: SQL (everything goes through `Store`), HTTP, processes (the
//! caller says which plugins are loaded).
//!
//! Limits: `gone` is an observation, not a verdict: a node that was only cut off from the store
//! comes back `up` at its next heartbeat. Rescue of a gone node's jobs is still the leases'
//! business (`queue/`).

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::{NewNode, Node, Store};

/// A node not seen for this many of its heartbeats is `gone`.
pub const MISSED_HEARTBEATS: i64 = 3;

/// Nodes not seen for this long are deleted (by any running node).
pub const PRUNE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// How often a node prunes long-gone nodes.
const PRUNE_EVERY: Duration = Duration::from_secs(300);

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Heartbeating.
    Up,
    /// Not seen for [`MISSED_HEARTBEATS`] heartbeats: killed, hung or cut off from the store.
    Gone,
    /// Shut down cleanly.
    Stopped,
}

impl NodeStatus {
    /// The name shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Up => "up",
            NodeStatus::Gone => "gone",
            NodeStatus::Stopped => "stopped",
        }
    }

    /// The status of a stored node.
    pub fn of(node: &Node) -> NodeStatus {
        if node.stopped_at.is_some() {
            NodeStatus::Stopped
        } else if node.seen_ago_ms > node.heartbeat_ms.max(1).saturating_mul(MISSED_HEARTBEATS) {
            NodeStatus::Gone
        } else {
            NodeStatus::Up
        }
    }
}

impl std::fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What loaded plugins a node has, asked at every heartbeat.
pub type LoadedPlugins = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// This node's presence in the store: registered at start, a heartbeat every
/// `node.heartbeat_ms`, `stopped` at a clean shutdown.
pub struct Presence {
    task: JoinHandle<()>,
    stop: CancellationToken,
}

impl Presence {
    /// Registers `node` and starts heartbeating.
    ///
    /// # Errors
    /// The store refused the registration (the caller decides whether to go on without it).
    pub async fn start(
        store: Arc<dyn Store>,
        node: NewNode,
        plugins: LoadedPlugins,
    ) -> Result<Presence, crate::store::StoreError> {
        store.node_register(node.clone()).await?;
        tracing::info!(node = %node.id, "node registered");
        let stop = CancellationToken::new();
        let task = tokio::spawn(heartbeat_loop(store, node, plugins, stop.clone()));
        Ok(Presence { task, stop })
    }

    /// Stops heartbeating and records that this node stopped.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn heartbeat_loop(
    store: Arc<dyn Store>,
    node: NewNode,
    plugins: LoadedPlugins,
    stop: CancellationToken,
) {
    let every = Duration::from_millis(u64::try_from(node.heartbeat_ms).unwrap_or(5000).max(1));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => break,
        }
        match store.node_heartbeat(&node.id, plugins()).await {
            Ok(true) => {}
            Ok(false) => {
                // Pruned while this node could not reach the store: register again.
                let mut again = node.clone();
                again.plugins = plugins();
                if let Err(error) = store.node_register(again).await {
                    tracing::warn!(%error, "registering this node again failed; retrying at the next heartbeat");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "the node heartbeat failed; other nodes will show this one as gone until it succeeds");
            }
        }
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(tokio::time::Instant::now());
            match store.node_prune(PRUNE_AFTER).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "nodes not seen for a day were removed"),
                Err(error) => tracing::warn!(%error, "pruning long-gone nodes failed"),
            }
        }
    }
    if let Err(error) = store.node_stop(&node.id).await {
        tracing::warn!(%error, "recording that this node stopped failed; it will show as gone");
    }
}
