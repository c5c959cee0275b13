//! Tenant, config, schedule-fire and event-delivery statements for SQLite. Writers run on the
//! writer thread inside a savepoint, so a fire's cursor move and its jobs commit together.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::{backend_error, jobs};
use crate::store::{
    ActiveRule, Config, ConfigFilter, ConfigFire, ConfigPut, EventFilter, EventRecord, FireOutcome,
    ScheduleCursor, StoreError, Tenant, Timestamp,
};

const CONFIG_COLUMNS: &str = "id, tenant, plugin, name, config_values, enabled, schedule, events, \
     invalid_reason, last_fire_at, next_fire_at, created_at, updated_at";

const EVENT_COLUMNS: &str = "id, tenant, type, payload, idempotency_key, source, created_at, \
     delivered_at, deliveries";

fn json_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Value>> {
    let text: Option<String> = row.get(index)?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        })
    })
    .transpose()
}

fn tenant_from_row(row: &Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant {
        id: row.get(0)?,
        name: row.get(1)?,
        created_at: Timestamp(row.get(2)?),
    })
}

fn config_from_row(row: &Row<'_>) -> rusqlite::Result<Config> {
    let events: Vec<String> = match json_column(row, 7)? {
        Some(value) => serde_json::from_value(value).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                7,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        })?,
        None => Vec::new(),
    };
    Ok(Config {
        id: row.get(0)?,
        tenant: row.get(1)?,
        plugin: row.get(2)?,
        name: row.get(3)?,
        values: json_column(row, 4)?.unwrap_or(Value::Null),
        enabled: row.get(5)?,
        schedule: json_column(row, 6)?,
        events,
        invalid_reason: row.get(8)?,
        last_fire_at: row.get::<_, Option<i64>>(9)?.map(Timestamp),
        next_fire_at: row.get::<_, Option<i64>>(10)?.map(Timestamp),
        created_at: Timestamp(row.get(11)?),
        updated_at: Timestamp(row.get(12)?),
    })
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord {
        id: row.get(0)?,
        tenant: row.get(1)?,
        event_type: row.get(2)?,
        payload: json_column(row, 3)?.unwrap_or(Value::Null),
        idempotency_key: row.get(4)?,
        source: row.get(5)?,
        created_at: Timestamp(row.get(6)?),
        delivered_at: row.get::<_, Option<i64>>(7)?.map(Timestamp),
        deliveries: row.get(8)?,
    })
}

fn collect<T>(
    rows: impl Iterator<Item = rusqlite::Result<T>>,
    op: &'static str,
) -> Result<Vec<T>, StoreError> {
    rows.collect::<rusqlite::Result<Vec<T>>>()
        .map_err(backend_error(op))
}

pub(super) fn tenant_create(
    connection: &Connection,
    id: &str,
    name: &str,
) -> Result<Tenant, StoreError> {
    let now = Timestamp::now();
    connection
        .prepare_cached("INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)")
        .and_then(|mut insert| insert.execute(params![id, name, now.0]))
        .map_err(|error| match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                StoreError::Conflict(format!("tenant `{id}` already exists"))
            }
            _ => backend_error("tenant_create")(error),
        })?;
    Ok(Tenant {
        id: id.to_owned(),
        name: name.to_owned(),
        created_at: now,
    })
}

pub(super) fn tenant_get(connection: &Connection, id: &str) -> Result<Option<Tenant>, StoreError> {
    connection
        .prepare_cached("SELECT id, name, created_at FROM tenants WHERE id = ?1")
        .and_then(|mut select| select.query_row([id], tenant_from_row).optional())
        .map_err(backend_error("tenant_get"))
}

pub(super) fn tenant_list(connection: &Connection) -> Result<Vec<Tenant>, StoreError> {
    let mut select = connection
        .prepare_cached("SELECT id, name, created_at FROM tenants ORDER BY id")
        .map_err(backend_error("tenant_list"))?;
    let rows = select
        .query_map([], tenant_from_row)
        .map_err(backend_error("tenant_list"))?;
    collect(rows, "tenant_list")
}

pub(super) fn tenant_delete(connection: &Connection, id: &str) -> Result<bool, StoreError> {
    let deleted = connection
        .prepare_cached("DELETE FROM tenants WHERE id = ?1")
        .and_then(|mut delete| delete.execute([id]))
        .map_err(backend_error("tenant_delete"))?;
    Ok(deleted > 0)
}

pub(super) fn config_put(connection: &Connection, put: &ConfigPut) -> Result<Config, StoreError> {
    let config = &put.config;
    let now = Timestamp::now().0;
    let events = serde_json::to_string(&config.events)
        .map_err(|error| StoreError::Corrupt(format!("config events: {error}")))?;
    let (write_cursor, last_fire, next_fire) = match put.cursor {
        Some(cursor) => (
            true,
            cursor.last_fire_at.map(|time| time.0),
            cursor.next_fire_at.map(|time| time.0),
        ),
        None => (false, None, None),
    };
    connection
        .prepare_cached(
            "INSERT INTO configs (id, tenant, plugin, name, config_values, enabled, schedule, events, \
             invalid_reason, last_fire_at, next_fire_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?14, ?12) \
             ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, plugin = excluded.plugin, \
             name = excluded.name, config_values = excluded.config_values, enabled = excluded.enabled, \
             schedule = excluded.schedule, events = excluded.events, invalid_reason = excluded.invalid_reason, \
             last_fire_at = CASE WHEN ?13 THEN excluded.last_fire_at ELSE configs.last_fire_at END, \
             next_fire_at = CASE WHEN ?13 THEN excluded.next_fire_at ELSE configs.next_fire_at END, \
             updated_at = excluded.updated_at",
        )
        .and_then(|mut upsert| {
            upsert.execute(params![
                config.id,
                config.tenant,
                config.plugin,
                config.name,
                config.values.to_string(),
                config.enabled,
                config.schedule.as_ref().map(Value::to_string),
                events,
                config.invalid_reason,
                last_fire,
                next_fire,
                now,
                write_cursor,
                // The caller's: intervals count from it, and its first fire was computed from it.
                config.created_at.0,
            ])
        })
        .map_err(|error| match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict(format!(
                "config `{}` of plugin {} for tenant {} cannot be stored: {error}; a tenant's \
                 config names are unique per plugin, and the tenant must exist",
                config.name, config.plugin, config.tenant
            )),
            _ => backend_error("config_put")(error),
        })?;
    config_get(connection, &config.id)?
        .ok_or_else(|| StoreError::Corrupt(format!("config {} vanished after put", config.id)))
}

/// Inserts a config, never replacing one: any clash of id, of tenant, plugin and name, or a
/// missing tenant is a conflict.
pub(super) fn config_create(
    connection: &Connection,
    put: &ConfigPut,
) -> Result<Config, StoreError> {
    let config = &put.config;
    let now = Timestamp::now().0;
    let events = serde_json::to_string(&config.events)
        .map_err(|error| StoreError::Corrupt(format!("config events: {error}")))?;
    let cursor = put.cursor.unwrap_or(ScheduleCursor {
        last_fire_at: None,
        next_fire_at: None,
    });
    connection
        .prepare_cached(
            "INSERT INTO configs (id, tenant, plugin, name, config_values, enabled, schedule, events, \
             invalid_reason, last_fire_at, next_fire_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?13, ?12)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                config.id,
                config.tenant,
                config.plugin,
                config.name,
                config.values.to_string(),
                config.enabled,
                config.schedule.as_ref().map(Value::to_string),
                events,
                config.invalid_reason,
                cursor.last_fire_at.map(|time| time.0),
                cursor.next_fire_at.map(|time| time.0),
                now,
                config.created_at.0,
            ])
        })
        .map_err(|error| match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict(format!(
                "config `{}` of plugin {} for tenant {} cannot be created: {error}; a tenant's \
                 config names are unique per plugin, and the tenant must exist",
                config.name, config.plugin, config.tenant
            )),
            _ => backend_error("config_create")(error),
        })?;
    config_get(connection, &config.id)?
        .ok_or_else(|| StoreError::Corrupt(format!("config {} vanished after create", config.id)))
}

pub(super) fn config_get(connection: &Connection, id: &str) -> Result<Option<Config>, StoreError> {
    connection
        .prepare_cached(&format!(
            "SELECT {CONFIG_COLUMNS} FROM configs WHERE id = ?1"
        ))
        .and_then(|mut select| select.query_row([id], config_from_row).optional())
        .map_err(backend_error("config_get"))
}

pub(super) fn config_find(
    connection: &Connection,
    tenant: &str,
    plugin: &str,
    name: &str,
) -> Result<Option<Config>, StoreError> {
    connection
        .prepare_cached(&format!(
            "SELECT {CONFIG_COLUMNS} FROM configs WHERE tenant = ?1 AND plugin = ?2 AND name = ?3"
        ))
        .and_then(|mut select| {
            select
                .query_row(params![tenant, plugin, name], config_from_row)
                .optional()
        })
        .map_err(backend_error("config_find"))
}

pub(super) fn config_list(
    connection: &Connection,
    filter: &ConfigFilter,
) -> Result<Vec<Config>, StoreError> {
    let limit = if filter.limit == 0 {
        1_000
    } else {
        filter.limit
    };
    let mut select = connection
        .prepare_cached(&format!(
            "SELECT {CONFIG_COLUMNS} FROM configs WHERE (?1 IS NULL OR tenant = ?1) \
             AND (?2 IS NULL OR plugin = ?2) ORDER BY tenant, plugin, name LIMIT ?3"
        ))
        .map_err(backend_error("config_list"))?;
    let rows = select
        .query_map(
            params![
                filter.tenant,
                filter.plugin,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            config_from_row,
        )
        .map_err(backend_error("config_list"))?;
    collect(rows, "config_list")
}

pub(super) fn config_delete(connection: &Connection, id: &str) -> Result<bool, StoreError> {
    let deleted = connection
        .prepare_cached("DELETE FROM configs WHERE id = ?1")
        .and_then(|mut delete| delete.execute([id]))
        .map_err(backend_error("config_delete"))?;
    Ok(deleted > 0)
}

pub(super) fn webhook_put(
    connection: &Connection,
    config_id: &str,
    secret_sha256: &str,
) -> Result<bool, StoreError> {
    let written = connection
        .prepare_cached(
            "INSERT INTO config_webhooks (config_id, secret_sha256, created_at) \
             SELECT id, ?2, ?3 FROM configs WHERE id = ?1 \
             ON CONFLICT (config_id) DO UPDATE SET secret_sha256 = excluded.secret_sha256, \
             created_at = excluded.created_at",
        )
        .and_then(|mut upsert| {
            upsert.execute(params![config_id, secret_sha256, Timestamp::now().0])
        })
        .map_err(backend_error("webhook_put"))?;
    Ok(written > 0)
}

pub(super) fn webhook_get(
    connection: &Connection,
    config_id: &str,
) -> Result<Option<String>, StoreError> {
    connection
        .prepare_cached("SELECT secret_sha256 FROM config_webhooks WHERE config_id = ?1")
        .and_then(|mut select| select.query_row([config_id], |row| row.get(0)).optional())
        .map_err(backend_error("webhook_get"))
}

pub(super) fn webhook_delete(connection: &Connection, config_id: &str) -> Result<bool, StoreError> {
    let deleted = connection
        .prepare_cached("DELETE FROM config_webhooks WHERE config_id = ?1")
        .and_then(|mut delete| delete.execute([config_id]))
        .map_err(backend_error("webhook_delete"))?;
    Ok(deleted > 0)
}

pub(super) fn config_set_invalid(
    connection: &Connection,
    id: &str,
    reason: Option<&str>,
) -> Result<bool, StoreError> {
    let updated = connection
        .prepare_cached("UPDATE configs SET invalid_reason = ?2, updated_at = ?3 WHERE id = ?1")
        .and_then(|mut update| update.execute(params![id, reason, Timestamp::now().0]))
        .map_err(backend_error("config_set_invalid"))?;
    Ok(updated > 0)
}

pub(super) fn config_due(
    connection: &Connection,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Config>, StoreError> {
    let mut select = connection
        .prepare_cached(&format!(
            "SELECT {CONFIG_COLUMNS} FROM configs WHERE enabled = 1 AND invalid_reason IS NULL \
             AND next_fire_at IS NOT NULL AND next_fire_at <= ?1 ORDER BY next_fire_at LIMIT ?2"
        ))
        .map_err(backend_error("config_due"))?;
    let rows = select
        .query_map(
            params![now.0, i64::try_from(limit).unwrap_or(i64::MAX)],
            config_from_row,
        )
        .map_err(backend_error("config_due"))?;
    collect(rows, "config_due")
}

/// Applies one fire; runs inside the writer's savepoint, so the cursor and the jobs commit
/// together or not at all.
pub(super) fn config_fire(
    connection: &Connection,
    fire: &ConfigFire,
) -> Result<FireOutcome, StoreError> {
    let is_active = || -> Result<bool, StoreError> {
        connection
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM jobs WHERE config = ?1 \
                 AND status IN ('queued', 'running'))",
            )
            .and_then(|mut select| select.query_row([&fire.config_id], |row| row.get(0)))
            .map_err(backend_error("config_fire_many"))
    };
    if fire.when_active == ActiveRule::DeferWhileActive && !fire.jobs.is_empty() && is_active()? {
        return Ok(FireOutcome::Deferred);
    }
    let moved = connection
        .prepare_cached(
            "UPDATE configs SET last_fire_at = ?2, next_fire_at = ?3 \
             WHERE id = ?1 AND last_fire_at IS ?4 AND enabled = 1 AND invalid_reason IS NULL",
        )
        .and_then(|mut update| {
            update.execute(params![
                fire.config_id,
                fire.last_fire_at.0,
                fire.next_fire_at.map(|time| time.0),
                fire.expected_last_fire.map(|time| time.0),
            ])
        })
        .map_err(backend_error("config_fire_many"))?;
    if moved == 0 {
        return Ok(FireOutcome::Stale);
    }
    if fire.when_active == ActiveRule::SkipWhileActive && !fire.jobs.is_empty() && is_active()? {
        return Ok(FireOutcome::Applied {
            enqueued: Vec::new(),
            skipped_active: true,
        });
    }
    let change = if fire.jobs.is_empty() {
        0
    } else {
        jobs::next_change(connection)?
    };
    let enqueued = fire
        .jobs
        .iter()
        .map(|job| jobs::enqueue(connection, job, change))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FireOutcome::Applied {
        enqueued,
        skipped_active: false,
    })
}

pub(super) fn config_subscribed(
    connection: &Connection,
    tenant: &str,
) -> Result<Vec<Config>, StoreError> {
    let mut select = connection
        .prepare_cached(&format!(
            "SELECT {CONFIG_COLUMNS} FROM configs WHERE tenant = ?1 AND events <> '[]' \
             AND enabled = 1 AND invalid_reason IS NULL ORDER BY id"
        ))
        .map_err(backend_error("config_subscribed"))?;
    let rows = select
        .query_map([tenant], config_from_row)
        .map_err(backend_error("config_subscribed"))?;
    collect(rows, "config_subscribed")
}

pub(super) fn event_get(
    connection: &Connection,
    id: i64,
) -> Result<Option<EventRecord>, StoreError> {
    connection
        .prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1"))
        .and_then(|mut select| select.query_row([id], event_from_row).optional())
        .map_err(backend_error("event_get"))
}

pub(super) fn event_list(
    connection: &Connection,
    filter: &EventFilter,
) -> Result<Vec<EventRecord>, StoreError> {
    let limit = if filter.limit == 0 { 50 } else { filter.limit };
    let mut select = connection
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE (?1 IS NULL OR tenant = ?1) \
             AND (?2 IS NULL OR type = ?2) AND (?3 = 0 OR delivered_at IS NULL) \
             AND (?4 IS NULL OR created_at < ?4) AND (?5 IS NULL OR id < ?5) \
             ORDER BY id DESC LIMIT ?6"
        ))
        .map_err(backend_error("event_list"))?;
    let rows = select
        .query_map(
            params![
                filter.tenant,
                filter.event_type,
                filter.undelivered_only,
                filter.created_before.map(|time| time.0),
                filter.before_id,
                i64::try_from(limit).unwrap_or(i64::MAX),
            ],
            event_from_row,
        )
        .map_err(backend_error("event_list"))?;
    collect(rows, "event_list")
}

pub(super) fn event_mark_delivered(
    connection: &Connection,
    id: i64,
    deliveries: i64,
) -> Result<bool, StoreError> {
    let updated = connection
        .prepare_cached(
            "UPDATE events SET delivered_at = ?2, deliveries = ?3 WHERE id = ?1 AND delivered_at IS NULL",
        )
        .and_then(|mut update| update.execute(params![id, Timestamp::now().0, deliveries]))
        .map_err(backend_error("event_mark_delivered"))?;
    Ok(updated > 0)
}

pub(super) fn event_prune(
    connection: &Connection,
    created_before: Timestamp,
) -> Result<u64, StoreError> {
    let deleted = connection
        .prepare_cached("DELETE FROM events WHERE created_at < ?1 AND delivered_at IS NOT NULL")
        .and_then(|mut delete| delete.execute([created_before.0]))
        .map_err(backend_error("event_prune"))?;
    Ok(deleted as u64)
}
