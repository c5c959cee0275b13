//! Node registry statements for PostgreSQL. Times are the database's clock, so how long ago a
//! node was seen means the same to every node.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::database_error;
use crate::store::{NewNode, Node, NodeQueue, StoreError, Timestamp};

const COLUMNS: &str = "id, hostname, pid, version, listen, queues, plugins, heartbeat_ms, \
     started_at, last_seen_at, stopped_at, \
     (extract(epoch FROM (now() - last_seen_at)) * 1000)::bigint AS seen_ago_ms";

fn node_from(row: &Row, op: &'static str) -> Result<Node, StoreError> {
    let error = database_error(op);
    let queues: serde_json::Value = row.try_get(5).map_err(&error)?;
    let plugins: serde_json::Value = row.try_get(6).map_err(&error)?;
    let queues: Vec<NodeQueue> = serde_json::from_value(queues)
        .map_err(|error| StoreError::Corrupt(format!("node queues: {error}")))?;
    let plugins: Vec<String> = serde_json::from_value(plugins)
        .map_err(|error| StoreError::Corrupt(format!("node plugins: {error}")))?;
    let time = |index: usize| {
        row.try_get::<_, SystemTime>(index)
            .map(Timestamp::from)
            .map_err(&error)
    };
    Ok(Node {
        id: row.try_get(0).map_err(&error)?,
        hostname: row.try_get(1).map_err(&error)?,
        pid: row.try_get(2).map_err(&error)?,
        version: row.try_get(3).map_err(&error)?,
        listen: row.try_get(4).map_err(&error)?,
        queues,
        plugins,
        heartbeat_ms: row.try_get(7).map_err(&error)?,
        started_at: time(8)?,
        last_seen_at: time(9)?,
        stopped_at: row
            .try_get::<_, Option<SystemTime>>(10)
            .map_err(&error)?
            .map(Timestamp::from),
        seen_ago_ms: row.try_get::<_, i64>(11).map_err(&error)?.max(0),
    })
}

fn json<T: serde::Serialize>(value: &T, what: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|error| StoreError::Corrupt(format!("{what}: {error}")))
}

pub(super) async fn register<C: GenericClient>(
    client: &C,
    node: &NewNode,
) -> Result<Node, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "INSERT INTO nodes (id, hostname, pid, version, listen, queues, plugins, heartbeat_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid, \
             version = excluded.version, listen = excluded.listen, queues = excluded.queues, \
             plugins = excluded.plugins, heartbeat_ms = excluded.heartbeat_ms, \
             started_at = now(), last_seen_at = now(), stopped_at = NULL \
             RETURNING {COLUMNS}"
        ))
        .await
        .map_err(database_error("node_register"))?;
    let queues = json(&node.queues, "node queues")?;
    let plugins = json(&node.plugins, "node plugins")?;
    let row = client
        .query_one(
            &statement,
            &[
                &node.id,
                &node.hostname,
                &node.pid,
                &node.version,
                &node.listen,
                &queues,
                &plugins,
                &node.heartbeat_ms,
            ],
        )
        .await
        .map_err(database_error("node_register"))?;
    node_from(&row, "node_register")
}

pub(super) async fn heartbeat<C: GenericClient>(
    client: &C,
    id: &str,
    plugins: &[String],
) -> Result<bool, StoreError> {
    let plugins = json(&plugins, "node plugins")?;
    let statement = client
        .prepare_cached("UPDATE nodes SET last_seen_at = now(), plugins = $2 WHERE id = $1")
        .await
        .map_err(database_error("node_heartbeat"))?;
    let updated = client
        .execute(&statement, &[&id, &plugins])
        .await
        .map_err(database_error("node_heartbeat"))?;
    Ok(updated > 0)
}

pub(super) async fn stop<C: GenericClient>(client: &C, id: &str) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached("UPDATE nodes SET stopped_at = now(), last_seen_at = now() WHERE id = $1")
        .await
        .map_err(database_error("node_stop"))?;
    let updated = client
        .execute(&statement, &[&id])
        .await
        .map_err(database_error("node_stop"))?;
    Ok(updated > 0)
}

pub(super) async fn list<C: GenericClient>(client: &C) -> Result<Vec<Node>, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM nodes ORDER BY started_at DESC, id COLLATE \"C\""
        ))
        .await
        .map_err(database_error("node_list"))?;
    client
        .query(&statement, &[])
        .await
        .map_err(database_error("node_list"))?
        .iter()
        .map(|row| node_from(row, "node_list"))
        .collect()
}

pub(super) async fn get<C: GenericClient>(
    client: &C,
    id: &str,
) -> Result<Option<Node>, StoreError> {
    let statement = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM nodes WHERE id = $1"))
        .await
        .map_err(database_error("node_get"))?;
    client
        .query_opt(&statement, &[&id])
        .await
        .map_err(database_error("node_get"))?
        .map(|row| node_from(&row, "node_get"))
        .transpose()
}

pub(super) async fn prune<C: GenericClient>(
    client: &C,
    not_seen_for: std::time::Duration,
) -> Result<u64, StoreError> {
    let micros = i64::try_from(not_seen_for.as_micros()).unwrap_or(i64::MAX);
    let statement = client
        .prepare_cached(
            "DELETE FROM nodes WHERE last_seen_at < now() - $1::bigint * interval '1 microsecond'",
        )
        .await
        .map_err(database_error("node_prune"))?;
    client
        .execute(&statement, &[&micros])
        .await
        .map_err(database_error("node_prune"))
}
