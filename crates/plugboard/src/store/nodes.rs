//! Row and parameter types of the `nodes` table: every `plugboard serve` that registered itself,
//! with when the store last heard from it.
//!
//! The store records and reports; it decides nothing. Whether a node is up or gone is `nodes/`'s
//! rule, applied to [`Node::seen_ago_ms`], which the store computes with its own clock (the
//! database's `now()` on PostgreSQL) so that nodes with skewed clocks agree.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// A queue a node works, and how many of its jobs it runs at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeQueue {
    pub name: String,
    pub concurrency: usize,
}

/// What a node says about itself when it starts (and, for `plugins`, at every heartbeat).
#[derive(Debug, Clone, PartialEq)]
pub struct NewNode {
    /// Unique per process: the worker pool's lease owner name (host, pid, random suffix).
    pub id: String,
    pub hostname: String,
    pub pid: i64,
    /// The plugboard version it runs.
    pub version: String,
    /// The address its HTTP API listens on.
    pub listen: String,
    pub queues: Vec<NodeQueue>,
    /// The plugins loaded on it, by id.
    pub plugins: Vec<String>,
    /// How often it heartbeats, in milliseconds.
    pub heartbeat_ms: i64,
}

/// A registered node as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub id: String,
    pub hostname: String,
    pub pid: i64,
    pub version: String,
    pub listen: String,
    pub queues: Vec<NodeQueue>,
    pub plugins: Vec<String>,
    pub heartbeat_ms: i64,
    pub started_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// Set when the node shut down cleanly.
    pub stopped_at: Option<Timestamp>,
    /// Milliseconds since `last_seen_at`, by the store's clock at the time of the read.
    pub seen_ago_ms: i64,
}
