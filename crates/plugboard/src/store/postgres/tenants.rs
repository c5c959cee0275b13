//! Tenant, config, schedule-fire and event-delivery statements for PostgreSQL.
//!
//! A batch of fires is one transaction. Each fire moves its config's cursor with a
//! compare-and-set (`WHERE last_fire_at IS NOT DISTINCT FROM $expected`): under READ COMMITTED a
//! second node's update of the same row waits for the first to commit, then finds the cursor
//! moved and changes nothing, so exactly one node enqueues a fire's jobs. Fires are applied in
//! config id order, so two nodes' batches lock rows in the same order and cannot deadlock.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{database_error, enqueue};
use crate::store::{
    ActiveRule, Config, ConfigFilter, ConfigFire, ConfigPut, EventFilter, EventRecord, FireOutcome,
    StoreError, Tenant, Timestamp,
};

const CONFIG_COLUMNS: &str = "id, tenant, plugin, name, config_values, enabled, schedule, events, \
     invalid_reason, last_fire_at, next_fire_at, created_at, updated_at";

const EVENT_COLUMNS: &str = "id, tenant, type, payload, idempotency_key, source, created_at, \
     delivered_at, deliveries";

fn time(time: Option<Timestamp>) -> Option<SystemTime> {
    time.map(SystemTime::from)
}

fn tenant_from_row(row: &Row) -> Result<Tenant, tokio_postgres::Error> {
    Ok(Tenant {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        created_at: Timestamp::from(row.try_get::<_, SystemTime>(2)?),
    })
}

fn config_from_row(row: &Row) -> Result<Config, tokio_postgres::Error> {
    Ok(Config {
        id: row.try_get(0)?,
        tenant: row.try_get(1)?,
        plugin: row.try_get(2)?,
        name: row.try_get(3)?,
        values: row.try_get(4)?,
        enabled: row.try_get(5)?,
        schedule: row.try_get(6)?,
        events: row.try_get(7)?,
        invalid_reason: row.try_get(8)?,
        last_fire_at: row
            .try_get::<_, Option<SystemTime>>(9)?
            .map(Timestamp::from),
        next_fire_at: row
            .try_get::<_, Option<SystemTime>>(10)?
            .map(Timestamp::from),
        created_at: Timestamp::from(row.try_get::<_, SystemTime>(11)?),
        updated_at: Timestamp::from(row.try_get::<_, SystemTime>(12)?),
    })
}

fn event_from_row(row: &Row) -> Result<EventRecord, tokio_postgres::Error> {
    Ok(EventRecord {
        id: row.try_get(0)?,
        tenant: row.try_get(1)?,
        event_type: row.try_get(2)?,
        payload: row.try_get(3)?,
        idempotency_key: row.try_get(4)?,
        source: row.try_get(5)?,
        created_at: Timestamp::from(row.try_get::<_, SystemTime>(6)?),
        delivered_at: row
            .try_get::<_, Option<SystemTime>>(7)?
            .map(Timestamp::from),
        deliveries: row.try_get(8)?,
    })
}

fn rows_to<T>(
    rows: Vec<Row>,
    from_row: fn(&Row) -> Result<T, tokio_postgres::Error>,
    op: &'static str,
) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(from_row)
        .collect::<Result<Vec<T>, _>>()
        .map_err(database_error(op))
}

pub(super) async fn tenant_create<C: GenericClient>(
    client: &C,
    id: &str,
    name: &str,
) -> Result<Tenant, StoreError> {
    let row = client
        .query_one(
            "INSERT INTO tenants (id, name) VALUES ($1, $2) RETURNING id, name, created_at",
            &[&id, &name],
        )
        .await
        .map_err(|error| match database_error("tenant_create")(error) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("tenant `{id}` already exists"))
            }
            other => other,
        })?;
    tenant_from_row(&row).map_err(database_error("tenant_create"))
}

pub(super) async fn tenant_get<C: GenericClient>(
    client: &C,
    id: &str,
) -> Result<Option<Tenant>, StoreError> {
    let row = client
        .query_opt(
            "SELECT id, name, created_at FROM tenants WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(database_error("tenant_get"))?;
    row.as_ref()
        .map(tenant_from_row)
        .transpose()
        .map_err(database_error("tenant_get"))
}

pub(super) async fn tenant_list<C: GenericClient>(client: &C) -> Result<Vec<Tenant>, StoreError> {
    let rows = client
        .query("SELECT id, name, created_at FROM tenants ORDER BY id", &[])
        .await
        .map_err(database_error("tenant_list"))?;
    rows_to(rows, tenant_from_row, "tenant_list")
}

pub(super) async fn tenant_delete<C: GenericClient>(
    client: &C,
    id: &str,
) -> Result<bool, StoreError> {
    let deleted = client
        .execute("DELETE FROM tenants WHERE id = $1", &[&id])
        .await
        .map_err(database_error("tenant_delete"))?;
    Ok(deleted > 0)
}

pub(super) async fn config_put<C: GenericClient>(
    client: &C,
    put: &ConfigPut,
) -> Result<Config, StoreError> {
    let config = &put.config;
    let write_cursor = put.cursor.is_some();
    let last_fire = time(put.cursor.and_then(|cursor| cursor.last_fire_at));
    let next_fire = time(put.cursor.and_then(|cursor| cursor.next_fire_at));
    let row = client
        .query_one(
            &format!(
                "INSERT INTO configs (id, tenant, plugin, name, config_values, enabled, schedule, \
                 events, invalid_reason, last_fire_at, next_fire_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, plugin = excluded.plugin, \
                 name = excluded.name, config_values = excluded.config_values, \
                 enabled = excluded.enabled, schedule = excluded.schedule, events = excluded.events, \
                 invalid_reason = excluded.invalid_reason, \
                 last_fire_at = CASE WHEN $12 THEN excluded.last_fire_at ELSE configs.last_fire_at END, \
                 next_fire_at = CASE WHEN $12 THEN excluded.next_fire_at ELSE configs.next_fire_at END, \
                 updated_at = now() \
                 RETURNING {CONFIG_COLUMNS}"
            ),
            &[
                &config.id,
                &config.tenant,
                &config.plugin,
                &config.name,
                &config.values,
                &config.enabled,
                &config.schedule,
                &config.events,
                &config.invalid_reason,
                &last_fire,
                &next_fire,
                &write_cursor,
            ],
        )
        .await
        .map_err(|error| {
            let rule_broken = matches!(
                error.code(),
                Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
                    | Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
            );
            if rule_broken {
                StoreError::Conflict(format!(
                    "config `{}` of plugin {} for tenant {} cannot be stored: {}; a tenant's \
                     config names are unique per plugin, and the tenant must exist",
                    config.name,
                    config.plugin,
                    config.tenant,
                    super::describe(&error)
                ))
            } else {
                database_error("config_put")(error)
            }
        })?;
    config_from_row(&row).map_err(database_error("config_put"))
}

pub(super) async fn config_get<C: GenericClient>(
    client: &C,
    id: &str,
) -> Result<Option<Config>, StoreError> {
    let row = client
        .query_opt(
            &format!("SELECT {CONFIG_COLUMNS} FROM configs WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(database_error("config_get"))?;
    row.as_ref()
        .map(config_from_row)
        .transpose()
        .map_err(database_error("config_get"))
}

pub(super) async fn config_find<C: GenericClient>(
    client: &C,
    tenant: &str,
    plugin: &str,
    name: &str,
) -> Result<Option<Config>, StoreError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {CONFIG_COLUMNS} FROM configs WHERE tenant = $1 AND plugin = $2 AND name = $3"
            ),
            &[&tenant, &plugin, &name],
        )
        .await
        .map_err(database_error("config_find"))?;
    row.as_ref()
        .map(config_from_row)
        .transpose()
        .map_err(database_error("config_find"))
}

pub(super) async fn config_list<C: GenericClient>(
    client: &C,
    filter: &ConfigFilter,
) -> Result<Vec<Config>, StoreError> {
    let limit = i64::try_from(if filter.limit == 0 {
        1_000
    } else {
        filter.limit
    })
    .unwrap_or(i64::MAX);
    let rows = client
        .query(
            &format!(
                "SELECT {CONFIG_COLUMNS} FROM configs WHERE ($1::text IS NULL OR tenant = $1) \
                 AND ($2::text IS NULL OR plugin = $2) \
                 ORDER BY tenant COLLATE \"C\", plugin COLLATE \"C\", name COLLATE \"C\" LIMIT $3"
            ),
            &[&filter.tenant, &filter.plugin, &limit],
        )
        .await
        .map_err(database_error("config_list"))?;
    rows_to(rows, config_from_row, "config_list")
}

pub(super) async fn config_delete<C: GenericClient>(
    client: &C,
    id: &str,
) -> Result<bool, StoreError> {
    let deleted = client
        .execute("DELETE FROM configs WHERE id = $1", &[&id])
        .await
        .map_err(database_error("config_delete"))?;
    Ok(deleted > 0)
}

pub(super) async fn config_set_invalid<C: GenericClient>(
    client: &C,
    id: &str,
    reason: Option<&str>,
) -> Result<bool, StoreError> {
    let updated = client
        .execute(
            "UPDATE configs SET invalid_reason = $2, updated_at = now() WHERE id = $1",
            &[&id, &reason],
        )
        .await
        .map_err(database_error("config_set_invalid"))?;
    Ok(updated > 0)
}

pub(super) async fn config_due<C: GenericClient>(
    client: &C,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Config>, StoreError> {
    let rows = client
        .query(
            &format!(
                "SELECT {CONFIG_COLUMNS} FROM configs WHERE enabled AND invalid_reason IS NULL \
                 AND next_fire_at IS NOT NULL AND next_fire_at <= $1 ORDER BY next_fire_at LIMIT $2"
            ),
            &[
                &SystemTime::from(now),
                &i64::try_from(limit).unwrap_or(i64::MAX),
            ],
        )
        .await
        .map_err(database_error("config_due"))?;
    rows_to(rows, config_from_row, "config_due")
}

pub(super) async fn config_fire_many(
    client: &mut deadpool_postgres::Client,
    channel: &str,
    fires: &[ConfigFire],
) -> Result<Vec<FireOutcome>, StoreError> {
    let error = database_error("config_fire_many");
    let mut order: Vec<usize> = (0..fires.len()).collect();
    order.sort_by(|a, b| fires[*a].config_id.cmp(&fires[*b].config_id));
    let transaction = client.transaction().await.map_err(&error)?;
    let update = transaction
        .prepare_cached(
            "UPDATE configs SET last_fire_at = $2, next_fire_at = $3 \
             WHERE id = $1 AND last_fire_at IS NOT DISTINCT FROM $4 AND enabled \
             AND invalid_reason IS NULL",
        )
        .await
        .map_err(&error)?;
    let active = transaction
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE config = $1 AND status IN ('queued', 'running'))",
        )
        .await
        .map_err(&error)?;
    let mut outcomes: Vec<Option<FireOutcome>> = vec![None; fires.len()];
    for index in order {
        let fire = &fires[index];
        let has_jobs = !fire.jobs.is_empty();
        if fire.when_active == ActiveRule::DeferWhileActive && has_jobs {
            let busy: bool = transaction
                .query_one(&active, &[&fire.config_id])
                .await
                .and_then(|row| row.try_get(0))
                .map_err(&error)?;
            if busy {
                outcomes[index] = Some(FireOutcome::Deferred);
                continue;
            }
        }
        let moved = transaction
            .execute(
                &update,
                &[
                    &fire.config_id,
                    &SystemTime::from(fire.last_fire_at),
                    &time(fire.next_fire_at),
                    &time(fire.expected_last_fire),
                ],
            )
            .await
            .map_err(&error)?;
        if moved == 0 {
            outcomes[index] = Some(FireOutcome::Stale);
            continue;
        }
        if fire.when_active == ActiveRule::SkipWhileActive && has_jobs {
            let busy: bool = transaction
                .query_one(&active, &[&fire.config_id])
                .await
                .and_then(|row| row.try_get(0))
                .map_err(&error)?;
            if busy {
                outcomes[index] = Some(FireOutcome::Applied {
                    enqueued: Vec::new(),
                    skipped_active: true,
                });
                continue;
            }
        }
        let mut enqueued = Vec::with_capacity(fire.jobs.len());
        for job in &fire.jobs {
            enqueued.push(enqueue::enqueue(&transaction, channel, job).await?);
        }
        outcomes[index] = Some(FireOutcome::Applied {
            enqueued,
            skipped_active: false,
        });
    }
    transaction.commit().await.map_err(&error)?;
    Ok(outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap_or(FireOutcome::Stale))
        .collect())
}

pub(super) async fn config_subscribed<C: GenericClient>(
    client: &C,
    tenant: &str,
) -> Result<Vec<Config>, StoreError> {
    let rows = client
        .query(
            &format!(
                "SELECT {CONFIG_COLUMNS} FROM configs WHERE tenant = $1 AND cardinality(events) > 0 \
                 AND enabled AND invalid_reason IS NULL ORDER BY id"
            ),
            &[&tenant],
        )
        .await
        .map_err(database_error("config_subscribed"))?;
    rows_to(rows, config_from_row, "config_subscribed")
}

pub(super) async fn event_get<C: GenericClient>(
    client: &C,
    id: i64,
) -> Result<Option<EventRecord>, StoreError> {
    let row = client
        .query_opt(
            &format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(database_error("event_get"))?;
    row.as_ref()
        .map(event_from_row)
        .transpose()
        .map_err(database_error("event_get"))
}

pub(super) async fn event_list<C: GenericClient>(
    client: &C,
    filter: &EventFilter,
) -> Result<Vec<EventRecord>, StoreError> {
    let limit =
        i64::try_from(if filter.limit == 0 { 50 } else { filter.limit }).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE ($1::text IS NULL OR tenant = $1) \
                 AND ($2::text IS NULL OR type = $2) AND (NOT $3 OR delivered_at IS NULL) \
                 AND ($4::timestamptz IS NULL OR created_at < $4) \
                 AND ($5::bigint IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"
            ),
            &[
                &filter.tenant,
                &filter.event_type,
                &filter.undelivered_only,
                &time(filter.created_before),
                &filter.before_id,
                &limit,
            ],
        )
        .await
        .map_err(database_error("event_list"))?;
    rows_to(rows, event_from_row, "event_list")
}

pub(super) async fn event_mark_delivered<C: GenericClient>(
    client: &C,
    id: i64,
    deliveries: i64,
) -> Result<bool, StoreError> {
    let updated = client
        .execute(
            "UPDATE events SET delivered_at = now(), deliveries = $2 WHERE id = $1 AND delivered_at IS NULL",
            &[&id, &deliveries],
        )
        .await
        .map_err(database_error("event_mark_delivered"))?;
    Ok(updated > 0)
}

pub(super) async fn event_prune<C: GenericClient>(
    client: &C,
    created_before: Timestamp,
) -> Result<u64, StoreError> {
    client
        .execute(
            "DELETE FROM events WHERE created_at < $1 AND delivered_at IS NOT NULL",
            &[&SystemTime::from(created_before)],
        )
        .await
        .map_err(database_error("event_prune"))
}
