//! Node registry statements for SQLite. Times are the host's clock.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::backend_error;
use crate::store::{NewNode, Node, NodeQueue, StoreError, Timestamp};

const COLUMNS: &str = "id, hostname, pid, version, listen, queues, plugins, heartbeat_ms, \
     started_at, last_seen_at, stopped_at";

fn json_text<T: serde::Serialize>(value: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::Corrupt(format!("{what}: {error}")))
}

fn node_from_row(row: &Row<'_>, now: Timestamp) -> rusqlite::Result<Node> {
    let json = |index: usize| -> rusqlite::Result<serde_json::Value> {
        let text: String = row.get(index)?;
        serde_json::from_str(&text).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        })
    };
    let queues: Vec<NodeQueue> = serde_json::from_value(json(5)?).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, Box::new(error))
    })?;
    let plugins: Vec<String> = serde_json::from_value(json(6)?).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(error))
    })?;
    let last_seen_at = Timestamp(row.get(9)?);
    Ok(Node {
        id: row.get(0)?,
        hostname: row.get(1)?,
        pid: row.get(2)?,
        version: row.get(3)?,
        listen: row.get(4)?,
        queues,
        plugins,
        heartbeat_ms: row.get(7)?,
        started_at: Timestamp(row.get(8)?),
        last_seen_at,
        stopped_at: row.get::<_, Option<i64>>(10)?.map(Timestamp),
        seen_ago_ms: (now.0 - last_seen_at.0).max(0) / 1000,
    })
}

pub(super) fn register(connection: &Connection, node: &NewNode) -> Result<Node, StoreError> {
    let now = Timestamp::now();
    let queues = json_text(&node.queues, "node queues")?;
    let plugins = json_text(&node.plugins, "node plugins")?;
    connection
        .prepare_cached(
            "INSERT INTO nodes (id, hostname, pid, version, listen, queues, plugins, heartbeat_ms, \
             started_at, last_seen_at, stopped_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, NULL) \
             ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid, \
             version = excluded.version, listen = excluded.listen, queues = excluded.queues, \
             plugins = excluded.plugins, heartbeat_ms = excluded.heartbeat_ms, \
             started_at = excluded.started_at, last_seen_at = excluded.last_seen_at, \
             stopped_at = NULL",
        )
        .and_then(|mut upsert| {
            upsert.execute(params![
                node.id,
                node.hostname,
                node.pid,
                node.version,
                node.listen,
                queues,
                plugins,
                node.heartbeat_ms,
                now.0,
            ])
        })
        .map_err(backend_error("node_register"))?;
    get(connection, &node.id)?
        .ok_or_else(|| StoreError::Corrupt(format!("node {} vanished after its register", node.id)))
}

pub(super) fn heartbeat(
    connection: &Connection,
    id: &str,
    plugins: &[String],
) -> Result<bool, StoreError> {
    let plugins = json_text(&plugins, "node plugins")?;
    let updated = connection
        .prepare_cached("UPDATE nodes SET last_seen_at = ?2, plugins = ?3 WHERE id = ?1")
        .and_then(|mut update| update.execute(params![id, Timestamp::now().0, plugins]))
        .map_err(backend_error("node_heartbeat"))?;
    Ok(updated > 0)
}

pub(super) fn stop(connection: &Connection, id: &str) -> Result<bool, StoreError> {
    let now = Timestamp::now().0;
    let updated = connection
        .prepare_cached("UPDATE nodes SET stopped_at = ?2, last_seen_at = ?2 WHERE id = ?1")
        .and_then(|mut update| update.execute(params![id, now]))
        .map_err(backend_error("node_stop"))?;
    Ok(updated > 0)
}

pub(super) fn list(connection: &Connection) -> Result<Vec<Node>, StoreError> {
    let now = Timestamp::now();
    let mut select = connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM nodes ORDER BY started_at DESC, id"
        ))
        .map_err(backend_error("node_list"))?;
    let rows = select
        .query_map([], |row| node_from_row(row, now))
        .map_err(backend_error("node_list"))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend_error("node_list"))
}

pub(super) fn get(connection: &Connection, id: &str) -> Result<Option<Node>, StoreError> {
    let now = Timestamp::now();
    connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM nodes WHERE id = ?1"))
        .and_then(|mut select| {
            select
                .query_row([id], |row| node_from_row(row, now))
                .optional()
        })
        .map_err(backend_error("node_get"))
}

pub(super) fn prune(
    connection: &Connection,
    not_seen_for: std::time::Duration,
) -> Result<u64, StoreError> {
    let micros = i64::try_from(not_seen_for.as_micros()).unwrap_or(i64::MAX);
    let before = Timestamp::now().0.saturating_sub(micros);
    let deleted = connection
        .prepare_cached("DELETE FROM nodes WHERE last_seen_at < ?1")
        .and_then(|mut delete| delete.execute([before]))
        .map_err(backend_error("node_prune"))?;
    Ok(deleted as u64)
}
