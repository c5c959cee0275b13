//! Key-value and event statements for PostgreSQL.

use deadpool_postgres::GenericClient;
use serde_json::Value;

use super::database_error;
use crate::store::{
    EventRecorded, KvQuery, KvScope, MetadataState, NewEvent, PluginMetadataRecord, StoreError,
    Timestamp,
};

pub(super) async fn get<C: GenericClient>(
    client: &C,
    scope: &KvScope,
    key: &str,
) -> Result<Option<Value>, StoreError> {
    let statement = client
        .prepare_cached("SELECT value FROM kv WHERE plugin = $1 AND tenant = $2 AND key = $3")
        .await
        .map_err(database_error("kv_get"))?;
    let row = client
        .query_opt(&statement, &[&scope.plugin, &scope.tenant_key(), &key])
        .await
        .map_err(database_error("kv_get"))?;
    row.map(|row| row.try_get::<_, Value>(0))
        .transpose()
        .map_err(database_error("kv_get"))
}

pub(super) async fn set<C: GenericClient>(
    client: &C,
    scope: &KvScope,
    key: &str,
    value: &Value,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO kv (plugin, tenant, key, value) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (plugin, tenant, key) DO UPDATE SET value = excluded.value, updated_at = now()",
        )
        .await
        .map_err(database_error("kv_set"))?;
    client
        .execute(
            &statement,
            &[&scope.plugin, &scope.tenant_key(), &key, value],
        )
        .await
        .map_err(database_error("kv_set"))?;
    Ok(())
}

pub(super) async fn delete<C: GenericClient>(
    client: &C,
    scope: &KvScope,
    key: &str,
) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached("DELETE FROM kv WHERE plugin = $1 AND tenant = $2 AND key = $3")
        .await
        .map_err(database_error("kv_delete"))?;
    let deleted = client
        .execute(&statement, &[&scope.plugin, &scope.tenant_key(), &key])
        .await
        .map_err(database_error("kv_delete"))?;
    Ok(deleted > 0)
}

pub(super) async fn list<C: GenericClient>(
    client: &C,
    scope: &KvScope,
    query: &KvQuery<'_>,
) -> Result<Vec<(String, Value)>, StoreError> {
    // `left(key, length(prefix))` rather than LIKE, so `%` and `_` in keys mean themselves; COLLATE
    // "C" orders keys by bytes, as SQLite does. The running total of the values' sizes stops the
    // page once those before a value reach the byte budget.
    let statement = client
        .prepare_cached(
            "SELECT key, value FROM ( \
               SELECT key, value, octet_length(value::text) AS size, \
                      sum(octet_length(value::text)) OVER (ORDER BY key COLLATE \"C\" ROWS UNBOUNDED PRECEDING) AS running \
               FROM kv WHERE plugin = $1 AND tenant = $2 \
               AND left(key, length($3)) = $3 AND key COLLATE \"C\" > $4 \
               ORDER BY key COLLATE \"C\" LIMIT $5 \
             ) page WHERE running - size < $6 ORDER BY key COLLATE \"C\"",
        )
        .await
        .map_err(database_error("kv_list"))?;
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let max_bytes = i64::try_from(query.max_bytes).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &statement,
            &[
                &scope.plugin,
                &scope.tenant_key(),
                &query.prefix,
                &query.after.unwrap_or(""),
                &limit,
                &max_bytes,
            ],
        )
        .await
        .map_err(database_error("kv_list"))?;
    rows.iter()
        .map(|row| Ok((row.try_get::<_, String>(0)?, row.try_get::<_, Value>(1)?)))
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(database_error("kv_list"))
}

pub(super) async fn record_event<C: GenericClient>(
    client: &C,
    event: &NewEvent,
) -> Result<EventRecorded, StoreError> {
    let insert = client
        .prepare_cached(
            "INSERT INTO events (tenant, type, payload, idempotency_key, source) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id",
        )
        .await
        .map_err(database_error("event_record"))?;
    let select = client
        .prepare_cached("SELECT id FROM events WHERE tenant = $1 AND idempotency_key = $2")
        .await
        .map_err(database_error("event_record"))?;
    // A concurrent insert of the same key may commit between the two statements: try again.
    for _ in 0..3 {
        let row = client
            .query_opt(
                &insert,
                &[
                    &event.tenant,
                    &event.event_type,
                    &event.payload,
                    &event.idempotency_key,
                    &event.source,
                ],
            )
            .await
            .map_err(database_error("event_record"))?;
        if let Some(row) = row {
            return Ok(EventRecorded {
                id: row.try_get(0).map_err(database_error("event_record"))?,
                created: true,
            });
        }
        let existing = client
            .query_opt(&select, &[&event.tenant, &event.idempotency_key])
            .await
            .map_err(database_error("event_record"))?;
        if let Some(row) = existing {
            return Ok(EventRecorded {
                id: row.try_get(0).map_err(database_error("event_record"))?,
                created: false,
            });
        }
    }
    Err(StoreError::Backend {
        op: "event_record",
        message: "the event's idempotency key kept changing hands; try again".to_owned(),
    })
}

pub(super) async fn metadata_put<C: GenericClient>(
    client: &C,
    record: &PluginMetadataRecord,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO plugin_metadata (plugin, version, checksum, state, metadata, error) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (plugin) DO UPDATE SET version = excluded.version, checksum = excluded.checksum, \
             state = excluded.state, metadata = COALESCE(excluded.metadata, plugin_metadata.metadata), \
             error = excluded.error, updated_at = now()",
        )
        .await
        .map_err(database_error("plugin_metadata_put"))?;
    client
        .execute(
            &statement,
            &[
                &record.plugin,
                &record.version,
                &record.checksum,
                &record.state.as_str(),
                &record.metadata,
                &record.error,
            ],
        )
        .await
        .map_err(database_error("plugin_metadata_put"))?;
    Ok(())
}

pub(super) async fn metadata_get<C: GenericClient>(
    client: &C,
    plugin: &str,
) -> Result<Option<PluginMetadataRecord>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT plugin, version, checksum, state, metadata, error, \
             (extract(epoch from updated_at) * 1000000)::bigint FROM plugin_metadata WHERE plugin = $1",
        )
        .await
        .map_err(database_error("plugin_metadata_get"))?;
    let Some(row) = client
        .query_opt(&statement, &[&plugin])
        .await
        .map_err(database_error("plugin_metadata_get"))?
    else {
        return Ok(None);
    };
    let error = database_error("plugin_metadata_get");
    let state: String = row.try_get(3).map_err(&error)?;
    Ok(Some(PluginMetadataRecord {
        plugin: row.try_get(0).map_err(&error)?,
        version: row.try_get(1).map_err(&error)?,
        checksum: row.try_get(2).map_err(&error)?,
        state: MetadataState::parse(&state).map_err(StoreError::Corrupt)?,
        metadata: row.try_get(4).map_err(&error)?,
        error: row.try_get(5).map_err(&error)?,
        updated_at: Timestamp(row.try_get(6).map_err(&error)?),
    }))
}
