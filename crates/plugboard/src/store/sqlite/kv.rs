//! Key-value and event statements for SQLite.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::backend_error;
use crate::store::{
    EventRecorded, KvQuery, KvScope, MetadataState, NewEvent, PluginMetadataRecord, StoreError,
    Timestamp,
};

fn parse(text: String) -> Result<Value, StoreError> {
    serde_json::from_str(&text)
        .map_err(|error| StoreError::Corrupt(format!("a kv value is not JSON: {error}")))
}

pub(super) fn get(
    connection: &Connection,
    scope: &KvScope,
    key: &str,
) -> Result<Option<Value>, StoreError> {
    let text: Option<String> = connection
        .prepare_cached("SELECT value FROM kv WHERE plugin = ?1 AND tenant = ?2 AND key = ?3")
        .and_then(|mut select| {
            select
                .query_row(params![scope.plugin, scope.tenant_key(), key], |row| {
                    row.get(0)
                })
                .optional()
        })
        .map_err(backend_error("kv_get"))?;
    text.map(parse).transpose()
}

pub(super) fn set(
    connection: &Connection,
    scope: &KvScope,
    key: &str,
    value: &Value,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO kv (plugin, tenant, key, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (plugin, tenant, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .and_then(|mut upsert| upsert.execute(params![scope.plugin, scope.tenant_key(), key, value.to_string(), Timestamp::now().0]))
        .map_err(backend_error("kv_set"))?;
    Ok(())
}

pub(super) fn delete(
    connection: &Connection,
    scope: &KvScope,
    key: &str,
) -> Result<bool, StoreError> {
    let deleted = connection
        .prepare_cached("DELETE FROM kv WHERE plugin = ?1 AND tenant = ?2 AND key = ?3")
        .and_then(|mut delete| delete.execute(params![scope.plugin, scope.tenant_key(), key]))
        .map_err(backend_error("kv_delete"))?;
    Ok(deleted > 0)
}

pub(super) fn list(
    connection: &Connection,
    scope: &KvScope,
    query: &KvQuery<'_>,
) -> Result<Vec<(String, Value)>, StoreError> {
    // Compare by prefix with substr rather than LIKE, so `%` and `_` in keys mean themselves.
    // The running total of the values' sizes stops the page once those before a value reach
    // the byte budget, without reading the values that are not returned into memory.
    let mut select = connection
        .prepare_cached(
            "SELECT key, value FROM ( \
               SELECT key, value, length(CAST(value AS BLOB)) AS size, \
                      sum(length(CAST(value AS BLOB))) OVER (ORDER BY key ROWS UNBOUNDED PRECEDING) AS running \
               FROM kv WHERE plugin = ?1 AND tenant = ?2 \
               AND substr(key, 1, length(?3)) = ?3 AND key > ?4 ORDER BY key LIMIT ?5 \
             ) WHERE running - size < ?6 ORDER BY key",
        )
        .map_err(backend_error("kv_list"))?;
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let max_bytes = i64::try_from(query.max_bytes).unwrap_or(i64::MAX);
    let rows = select
        .query_map(
            params![
                scope.plugin,
                scope.tenant_key(),
                query.prefix,
                query.after.unwrap_or(""),
                limit,
                max_bytes
            ],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
        )
        .map_err(backend_error("kv_list"))?;
    let mut items = Vec::new();
    for row in rows {
        let (key, value) = row.map_err(backend_error("kv_list"))?;
        items.push((key, parse(value)?));
    }
    Ok(items)
}

pub(super) fn record_event(
    connection: &Connection,
    event: &NewEvent,
) -> Result<EventRecorded, StoreError> {
    let inserted = connection
        .prepare_cached(
            "INSERT INTO events (tenant, type, payload, idempotency_key, source, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
        )
        .and_then(|mut insert| {
            insert.execute(params![event.tenant, event.event_type, event.payload.to_string(), event.idempotency_key, event.source, Timestamp::now().0])
        })
        .map_err(backend_error("event_record"))?;
    if inserted == 1 {
        return Ok(EventRecorded {
            id: connection.last_insert_rowid(),
            created: true,
        });
    }
    let id: i64 = connection
        .prepare_cached("SELECT id FROM events WHERE tenant = ?1 AND idempotency_key = ?2")
        .and_then(|mut select| {
            select.query_row(params![event.tenant, event.idempotency_key], |row| {
                row.get(0)
            })
        })
        .map_err(backend_error("event_record"))?;
    Ok(EventRecorded { id, created: false })
}

pub(super) fn metadata_put(
    connection: &Connection,
    record: &PluginMetadataRecord,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO plugin_metadata (plugin, version, checksum, state, metadata, error, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (plugin) DO UPDATE SET version = excluded.version, checksum = excluded.checksum, \
             state = excluded.state, metadata = COALESCE(excluded.metadata, plugin_metadata.metadata), \
             error = excluded.error, updated_at = excluded.updated_at",
        )
        .and_then(|mut upsert| {
            upsert.execute(params![
                record.plugin,
                record.version,
                record.checksum,
                record.state.as_str(),
                record.metadata.as_ref().map(Value::to_string),
                record.error,
                Timestamp::now().0
            ])
        })
        .map_err(backend_error("plugin_metadata_put"))?;
    Ok(())
}

pub(super) fn metadata_get(
    connection: &Connection,
    plugin: &str,
) -> Result<Option<PluginMetadataRecord>, StoreError> {
    let row = connection
        .prepare_cached("SELECT plugin, version, checksum, state, metadata, error, updated_at FROM plugin_metadata WHERE plugin = ?1")
        .and_then(|mut select| {
            select
                .query_row([plugin], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, Option<String>>(4)?,
                        row.get::<_, Option<String>>(5)?,
                        row.get::<_, i64>(6)?,
                    ))
                })
                .optional()
        })
        .map_err(backend_error("plugin_metadata_get"))?;
    let Some((plugin, version, checksum, state, metadata, error, updated_at)) = row else {
        return Ok(None);
    };
    Ok(Some(PluginMetadataRecord {
        plugin,
        version,
        checksum,
        state: MetadataState::parse(&state).map_err(StoreError::Corrupt)?,
        metadata: metadata.map(parse).transpose()?,
        error,
        updated_at: Timestamp(updated_at),
    }))
}
