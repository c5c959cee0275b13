//! Job limit statements for SQLite, and the limit half of a claim. Claims run on the writer
//! thread inside a write transaction, so counting and starting jobs cannot interleave with
//! another claim, in this process or (through SQLite's write lock) in another.

use rusqlite::{params, Connection, Row};

use super::backend_error;
use crate::store::limits::{
    refill, JobLimit, LimitCounts, LimitKey, LimitScope, LimitUsage, Limits, EVERY,
};
use crate::store::{StoreError, Timestamp};

const COLUMNS: &str = "scope, name, max_running, rate_per_second, burst";

fn limit_row(row: &Row<'_>) -> rusqlite::Result<(String, JobLimit)> {
    let max: Option<i64> = row.get(2)?;
    let burst: Option<i64> = row.get(4)?;
    Ok((
        row.get(0)?,
        JobLimit {
            scope: LimitScope::Tenant,
            name: row.get(1)?,
            max_running: max.and_then(|max| u32::try_from(max).ok()),
            rate_per_second: row.get(3)?,
            burst: burst.and_then(|burst| u32::try_from(burst).ok()),
        },
    ))
}

fn with_scope((scope, mut limit): (String, JobLimit)) -> Result<JobLimit, StoreError> {
    limit.scope = LimitScope::parse(&scope)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown limit scope `{scope}`")))?;
    Ok(limit)
}

pub(super) fn list(connection: &Connection) -> Result<Vec<JobLimit>, StoreError> {
    let mut select = connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM job_limits ORDER BY scope, name"
        ))
        .map_err(backend_error("limit_list"))?;
    let rows = select
        .query_map([], limit_row)
        .map_err(backend_error("limit_list"))?;
    rows.map(|row| with_scope(row.map_err(backend_error("limit_list"))?))
        .collect()
}

pub(super) fn load(connection: &Connection) -> Result<Limits, StoreError> {
    Ok(Limits::new(list(connection)?))
}

pub(super) fn put(connection: &Connection, limit: &JobLimit) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO job_limits (scope, name, max_running, rate_per_second, burst, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (scope, name) DO UPDATE SET max_running = excluded.max_running, \
             rate_per_second = excluded.rate_per_second, burst = excluded.burst, \
             updated_at = excluded.updated_at",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                limit.scope.as_str(),
                limit.name,
                limit.max_running,
                limit.rate_per_second,
                limit.burst,
                Timestamp::now().0
            ])
        })
        .map_err(backend_error("limit_put"))?;
    // A changed rate starts from a full bucket.
    forget_buckets(connection, limit.scope, &limit.name)
}

pub(super) fn delete(
    connection: &Connection,
    scope: LimitScope,
    name: &str,
) -> Result<bool, StoreError> {
    let deleted = connection
        .execute(
            "DELETE FROM job_limits WHERE scope = ?1 AND name = ?2",
            params![scope.as_str(), name],
        )
        .map_err(backend_error("limit_delete"))?;
    forget_buckets(connection, scope, name)?;
    Ok(deleted > 0)
}

fn forget_buckets(
    connection: &Connection,
    scope: LimitScope,
    name: &str,
) -> Result<(), StoreError> {
    let deleted = if name == EVERY {
        connection.execute(
            "DELETE FROM job_limit_buckets WHERE scope = ?1",
            params![scope.as_str()],
        )
    } else {
        connection.execute(
            "DELETE FROM job_limit_buckets WHERE scope = ?1 AND name = ?2",
            params![scope.as_str(), name],
        )
    };
    deleted.map_err(backend_error("limit_put"))?;
    Ok(())
}

/// Running jobs of every limited tenant and plugin, and the tokens in every bucket, as of `now`.
pub(super) fn counts(
    connection: &Connection,
    limits: &Limits,
    now: Timestamp,
) -> Result<LimitCounts, StoreError> {
    let mut counts = LimitCounts::default();
    if limits.is_empty() {
        return Ok(counts);
    }
    // Running jobs are few (at most the workers' slots on all nodes), and the lease index holds
    // exactly them, so reading them all beats an index per limited column.
    let mut running = connection
        .prepare_cached("SELECT COALESCE(tenant, ''), plugin FROM jobs WHERE status = 'running'")
        .map_err(backend_error("job_claim"))?;
    let rows = running
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
        })
        .map_err(backend_error("job_claim"))?;
    for row in rows {
        let (tenant, plugin) = row.map_err(backend_error("job_claim"))?;
        for key in limits.keys_of(&tenant, plugin.as_deref()) {
            *counts.running.entry(key).or_insert(0) += 1;
        }
    }
    let mut buckets = connection
        .prepare_cached("SELECT scope, name, tokens, refilled_at FROM job_limit_buckets")
        .map_err(backend_error("job_claim"))?;
    let rows = buckets
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, f64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })
        .map_err(backend_error("job_claim"))?;
    for row in rows {
        let (scope, name, tokens, refilled_at) = row.map_err(backend_error("job_claim"))?;
        let Some(scope) = LimitScope::parse(&scope) else {
            continue;
        };
        if let Some(limit) = limits.applying(scope, &name) {
            let elapsed = (now.0 - refilled_at) as f64 / 1_000_000.0;
            counts
                .tokens
                .insert((scope, name), refill(limit, tokens, elapsed));
        }
    }
    Ok(counts)
}

/// Writes back the buckets a claim drew from.
pub(super) fn store_tokens(
    connection: &Connection,
    tokens: &[(LimitKey, f64)],
    now: Timestamp,
) -> Result<(), StoreError> {
    if tokens.is_empty() {
        return Ok(());
    }
    let mut upsert = connection
        .prepare_cached(
            "INSERT INTO job_limit_buckets (scope, name, tokens, refilled_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (scope, name) DO UPDATE SET tokens = excluded.tokens, \
             refilled_at = excluded.refilled_at",
        )
        .map_err(backend_error("job_claim"))?;
    for ((scope, name), tokens) in tokens {
        upsert
            .execute(params![scope.as_str(), name, tokens, now.0])
            .map_err(backend_error("job_claim"))?;
    }
    Ok(())
}

/// The limits in force for a job of `tenant` running `plugin`, with how full they are.
pub(super) fn usage(
    connection: &Connection,
    tenant: Option<&str>,
    plugin: Option<&str>,
) -> Result<Vec<LimitUsage>, StoreError> {
    let limits = load(connection)?;
    let keys = limits.keys_of(tenant.unwrap_or(""), plugin);
    let counts = counts(connection, &limits, Timestamp::now())?;
    Ok(keys
        .into_iter()
        .filter_map(|key| {
            let limit = limits.applying(key.0, &key.1)?.clone();
            let tokens = limit
                .bucket_size()
                .map(|size| counts.tokens.get(&key).copied().unwrap_or(size));
            Some(LimitUsage {
                running: counts.running.get(&key).copied().unwrap_or(0),
                tokens,
                applies_to: key.1,
                limit,
            })
        })
        .collect())
}
