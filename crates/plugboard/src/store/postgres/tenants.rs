//! Tenant, config, schedule-fire and event-delivery statements for PostgreSQL.
//!
//! A batch of fires is one transaction of a few set-based statements. The configs' rows are
//! locked with `FOR UPDATE SKIP LOCKED` (a row another node is moving right now is skipped: its
//! fire will be stale once that node commits), and each cursor moves with a compare-and-set
//! (`last_fire_at IS NOT DISTINCT FROM` the cursor the evaluation read), so exactly one node
//! enqueues a fire's jobs, nodes never wait on each other, and they cannot deadlock.

use std::collections::HashSet;
use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{database_error, enqueue};
use crate::store::{
    ActiveRule, Config, ConfigFilter, ConfigFire, ConfigPut, EventFilter, EventRecord, FireOutcome,
    NewJob, StoreError, Tenant, Timestamp,
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
    // The caller's: intervals count from it, and its first fire was computed from it.
    let created_at = SystemTime::from(config.created_at);
    let row = client
        .query_one(
            &format!(
                "INSERT INTO configs (id, tenant, plugin, name, config_values, enabled, schedule, \
                 events, invalid_reason, last_fire_at, next_fire_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13) \
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
                &created_at,
            ],
        )
        .await
        .map_err(config_write_error(config, "stored", "config_put"))?;
    config_from_row(&row).map_err(database_error("config_put"))
}

/// A broken uniqueness or tenant rule as a conflict that says which rule; other errors as they
/// are.
fn config_write_error<'a>(
    config: &'a Config,
    verb: &'static str,
    op: &'static str,
) -> impl Fn(tokio_postgres::Error) -> StoreError + 'a {
    move |error| {
        let rule_broken = matches!(
            error.code(),
            Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
                | Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
        );
        if rule_broken {
            StoreError::Conflict(format!(
                "config `{}` of plugin {} for tenant {} cannot be {verb}: {}; a tenant's \
                 config names are unique per plugin, and the tenant must exist",
                config.name,
                config.plugin,
                config.tenant,
                super::describe(&error)
            ))
        } else {
            database_error(op)(error)
        }
    }
}

/// Inserts a config, never replacing one: any clash of id, of tenant, plugin and name, or a
/// missing tenant is a conflict.
pub(super) async fn config_create<C: GenericClient>(
    client: &C,
    put: &ConfigPut,
) -> Result<Config, StoreError> {
    let config = &put.config;
    let last_fire = time(put.cursor.and_then(|cursor| cursor.last_fire_at));
    let next_fire = time(put.cursor.and_then(|cursor| cursor.next_fire_at));
    // The caller's: intervals count from it, and its first fire was computed from it.
    let created_at = SystemTime::from(config.created_at);
    let row = client
        .query_one(
            &format!(
                "INSERT INTO configs (id, tenant, plugin, name, config_values, enabled, schedule, \
                 events, invalid_reason, last_fire_at, next_fire_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
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
                &created_at,
            ],
        )
        .await
        .map_err(config_write_error(config, "created", "config_create"))?;
    config_from_row(&row).map_err(database_error("config_create"))
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

pub(super) async fn webhook_put<C: GenericClient>(
    client: &C,
    config_id: &str,
    secret_sha256: &str,
) -> Result<bool, StoreError> {
    let written = client
        .execute(
            "INSERT INTO config_webhooks (config_id, secret_sha256) \
             SELECT id, $2 FROM configs WHERE id = $1 \
             ON CONFLICT (config_id) DO UPDATE SET secret_sha256 = excluded.secret_sha256, \
             created_at = now()",
            &[&config_id, &secret_sha256],
        )
        .await
        .map_err(database_error("webhook_put"))?;
    Ok(written > 0)
}

pub(super) async fn webhook_get<C: GenericClient>(
    client: &C,
    config_id: &str,
) -> Result<Option<String>, StoreError> {
    let row = client
        .query_opt(
            "SELECT secret_sha256 FROM config_webhooks WHERE config_id = $1",
            &[&config_id],
        )
        .await
        .map_err(database_error("webhook_get"))?;
    Ok(row.map(|row| row.get(0)))
}

pub(super) async fn webhook_delete<C: GenericClient>(
    client: &C,
    config_id: &str,
) -> Result<bool, StoreError> {
    let deleted = client
        .execute(
            "DELETE FROM config_webhooks WHERE config_id = $1",
            &[&config_id],
        )
        .await
        .map_err(database_error("webhook_delete"))?;
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
    let mut outcomes: Vec<Option<FireOutcome>> = vec![None; fires.len()];
    if fires.is_empty() {
        return Ok(Vec::new());
    }
    let transaction = client.transaction().await.map_err(&error)?;

    // Which configs have a run going, for the fires whose rule asks.
    let asking: Vec<&str> = fires
        .iter()
        .filter(|fire| fire.when_active != ActiveRule::Enqueue && !fire.jobs.is_empty())
        .map(|fire| fire.config_id.as_str())
        .collect();
    let active: HashSet<String> = if asking.is_empty() {
        HashSet::new()
    } else {
        transaction
            .query(
                "SELECT DISTINCT config FROM jobs WHERE config = ANY($1::text[]) \
                 AND status IN ('queued', 'running')",
                &[&asking],
            )
            .await
            .map_err(&error)?
            .iter()
            .map(|row| row.try_get::<_, String>(0))
            .collect::<Result<_, _>>()
            .map_err(&error)?
    };
    for (index, fire) in fires.iter().enumerate() {
        if fire.when_active == ActiveRule::DeferWhileActive
            && !fire.jobs.is_empty()
            && active.contains(&fire.config_id)
        {
            outcomes[index] = Some(FireOutcome::Deferred);
        }
    }

    // Lock the rows to move; rows another node is moving right now are skipped (they will be
    // stale when it commits), so nodes never wait on each other nor deadlock. Then move each
    // cursor only if it is still where this evaluation read it.
    let pending: Vec<usize> = (0..fires.len())
        .filter(|index| outcomes[*index].is_none())
        .collect();
    let ids: Vec<&str> = pending
        .iter()
        .map(|index| fires[*index].config_id.as_str())
        .collect();
    let lasts: Vec<SystemTime> = pending
        .iter()
        .map(|index| SystemTime::from(fires[*index].last_fire_at))
        .collect();
    let nexts: Vec<Option<SystemTime>> = pending
        .iter()
        .map(|index| time(fires[*index].next_fire_at))
        .collect();
    let expected: Vec<Option<SystemTime>> = pending
        .iter()
        .map(|index| time(fires[*index].expected_last_fire))
        .collect();
    let moved: HashSet<String> = transaction
        .query(
            "WITH locked AS ( \
               SELECT id FROM configs WHERE id = ANY($1::text[]) ORDER BY id \
               FOR UPDATE SKIP LOCKED) \
             UPDATE configs c SET last_fire_at = u.last_fire_at, next_fire_at = u.next_fire_at \
             FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[]) \
               AS u(id, last_fire_at, next_fire_at, expected) \
             WHERE c.id = u.id AND c.id IN (SELECT id FROM locked) \
               AND c.last_fire_at IS NOT DISTINCT FROM u.expected \
               AND c.enabled AND c.invalid_reason IS NULL \
             RETURNING c.id",
            &[&ids, &lasts, &nexts, &expected],
        )
        .await
        .map_err(&error)?
        .iter()
        .map(|row| row.try_get::<_, String>(0))
        .collect::<Result<_, _>>()
        .map_err(&error)?;

    // The jobs of the fires that moved, in one batch.
    let mut jobs: Vec<NewJob> = Vec::new();
    let mut owners: Vec<(usize, usize)> = Vec::new();
    for index in pending {
        let fire = &fires[index];
        if !moved.contains(&fire.config_id) {
            outcomes[index] = Some(FireOutcome::Stale);
            continue;
        }
        if fire.when_active == ActiveRule::SkipWhileActive
            && !fire.jobs.is_empty()
            && active.contains(&fire.config_id)
        {
            outcomes[index] = Some(FireOutcome::Applied {
                enqueued: Vec::new(),
                skipped_active: true,
            });
            continue;
        }
        owners.push((index, fire.jobs.len()));
        jobs.extend(fire.jobs.iter().cloned());
    }
    let mut enqueued = enqueue::enqueue_many_in(&transaction, channel, &jobs)
        .await?
        .into_iter();
    for (index, count) in owners {
        outcomes[index] = Some(FireOutcome::Applied {
            enqueued: enqueued.by_ref().take(count).collect(),
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
