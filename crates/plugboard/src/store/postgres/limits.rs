//! Job limit statements for PostgreSQL, and the fair claim.
//!
//! Without limits a claim is one statement: a loose index scan finds the tenants with runnable
//! jobs (starting after the one this node served last), a window of each one's jobs is locked
//! with `SKIP LOCKED`, and the jobs are started in turns. With limits, claims on all nodes take
//! turns through one transaction-scoped advisory lock, so the running jobs they count cannot
//! change under them: the claim reads the running jobs and the buckets, gathers candidates the
//! same way, lets [`admit`] choose, and starts those.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::database_error;
use super::jobs::{job_from_row, COLUMNS};
use super::micros;
use crate::store::limits::{
    admit, interleave, refill, window, Candidate, JobLimit, LimitCounts, LimitScope, LimitUsage,
    Limits, EVERY, MOST_SKIPPED_TENANTS,
};
use crate::store::{ClaimParams, Job, JobId, StoreError};

/// What a claim started, and the tenant the next claim of the queue starts after.
pub(super) struct Claimed {
    pub jobs: Vec<Job>,
    pub last_tenant: Option<String>,
}

const LIMIT_COLUMNS: &str = "scope, name, max_running, rate_per_second, burst";

fn limit_from_row(row: &Row) -> Result<JobLimit, StoreError> {
    let error = database_error("limit_list");
    let scope: String = row.try_get(0).map_err(&error)?;
    let max: Option<i32> = row.try_get(2).map_err(&error)?;
    let burst: Option<i32> = row.try_get(4).map_err(&error)?;
    Ok(JobLimit {
        scope: LimitScope::parse(&scope)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown limit scope `{scope}`")))?,
        name: row.try_get(1).map_err(&error)?,
        max_running: max.and_then(|max| u32::try_from(max).ok()),
        rate_per_second: row.try_get(3).map_err(&error)?,
        burst: burst.and_then(|burst| u32::try_from(burst).ok()),
    })
}

pub(super) async fn list<C: GenericClient>(client: &C) -> Result<Vec<JobLimit>, StoreError> {
    let rows = client
        .query(
            &format!("SELECT {LIMIT_COLUMNS} FROM job_limits ORDER BY scope, name"),
            &[],
        )
        .await
        .map_err(database_error("limit_list"))?;
    rows.iter().map(limit_from_row).collect()
}

pub(super) async fn put(
    client: &mut deadpool_postgres::Client,
    limit: &JobLimit,
) -> Result<(), StoreError> {
    let error = database_error("limit_put");
    let transaction = client.transaction().await.map_err(&error)?;
    let max = limit
        .max_running
        .map(|max| i32::try_from(max).unwrap_or(i32::MAX));
    let burst = limit
        .burst
        .map(|burst| i32::try_from(burst).unwrap_or(i32::MAX));
    transaction
        .execute(
            "INSERT INTO job_limits (scope, name, max_running, rate_per_second, burst) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (scope, name) DO UPDATE SET max_running = excluded.max_running, \
             rate_per_second = excluded.rate_per_second, burst = excluded.burst, updated_at = now()",
            &[
                &limit.scope.as_str(),
                &limit.name,
                &max,
                &limit.rate_per_second,
                &burst,
            ],
        )
        .await
        .map_err(&error)?;
    forget_buckets(&transaction, limit.scope, &limit.name).await?;
    transaction.commit().await.map_err(&error)
}

pub(super) async fn delete(
    client: &mut deadpool_postgres::Client,
    scope: LimitScope,
    name: &str,
) -> Result<bool, StoreError> {
    let error = database_error("limit_delete");
    let transaction = client.transaction().await.map_err(&error)?;
    let deleted = transaction
        .execute(
            "DELETE FROM job_limits WHERE scope = $1 AND name = $2",
            &[&scope.as_str(), &name],
        )
        .await
        .map_err(&error)?;
    forget_buckets(&transaction, scope, name).await?;
    transaction.commit().await.map_err(&error)?;
    Ok(deleted > 0)
}

/// A changed limit starts from full buckets.
async fn forget_buckets<C: GenericClient>(
    client: &C,
    scope: LimitScope,
    name: &str,
) -> Result<(), StoreError> {
    let outcome = if name == EVERY {
        client
            .execute(
                "DELETE FROM job_limit_buckets WHERE scope = $1",
                &[&scope.as_str()],
            )
            .await
    } else {
        client
            .execute(
                "DELETE FROM job_limit_buckets WHERE scope = $1 AND name = $2",
                &[&scope.as_str(), &name],
            )
            .await
    };
    outcome.map_err(database_error("limit_put"))?;
    Ok(())
}

/// Running jobs of every limited tenant and plugin, and every bucket refilled up to now.
async fn counts<C: GenericClient>(client: &C, limits: &Limits) -> Result<LimitCounts, StoreError> {
    let error = database_error("job_claim");
    let mut counts = LimitCounts::default();
    let (running, buckets) = tokio::try_join!(
        client.query(
            "SELECT COALESCE(tenant, ''), plugin FROM jobs WHERE status = 'running'",
            &[]
        ),
        client.query(
            "SELECT scope, name, tokens, EXTRACT(EPOCH FROM now() - refilled_at)::float8 \
             FROM job_limit_buckets",
            &[]
        ),
    )
    .map_err(&error)?;
    for row in running {
        let tenant: String = row.try_get(0).map_err(&error)?;
        let plugin: Option<String> = row.try_get(1).map_err(&error)?;
        for key in limits.keys_of(&tenant, plugin.as_deref()) {
            *counts.running.entry(key).or_insert(0) += 1;
        }
    }
    for row in buckets {
        let scope: String = row.try_get(0).map_err(&error)?;
        let name: String = row.try_get(1).map_err(&error)?;
        let tokens: f64 = row.try_get(2).map_err(&error)?;
        let elapsed: f64 = row.try_get(3).map_err(&error)?;
        let Some(scope) = LimitScope::parse(&scope) else {
            continue;
        };
        if let Some(limit) = limits.applying(scope, &name) {
            counts
                .tokens
                .insert((scope, name), refill(limit, tokens, elapsed));
        }
    }
    Ok(counts)
}

pub(super) async fn usage<C: GenericClient>(
    client: &C,
    tenant: Option<&str>,
    plugin: Option<&str>,
) -> Result<Vec<LimitUsage>, StoreError> {
    let limits = Limits::new(list(client).await?);
    let keys = limits.keys_of(tenant.unwrap_or(""), plugin);
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let counts = counts(client, &limits).await?;
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

/// The tenants with runnable jobs in queue `$1`, stepping through the claim index: those after
/// `$2` first, then from the start up to `$2`, at most `$3` of them, leaving out `$4`.
const GROUPS: &str = "\
    forward(k, n) AS ( \
      SELECT (SELECT COALESCE(tenant, '') FROM jobs \
              WHERE status = 'queued' AND queue = $1 AND run_at <= now() AND COALESCE(tenant, '') > $2 \
              ORDER BY COALESCE(tenant, '') LIMIT 1), 1::bigint \
      UNION ALL \
      SELECT (SELECT COALESCE(tenant, '') FROM jobs \
              WHERE status = 'queued' AND queue = $1 AND run_at <= now() AND COALESCE(tenant, '') > f.k \
              ORDER BY COALESCE(tenant, '') LIMIT 1), f.n + 1 \
      FROM forward f WHERE f.k IS NOT NULL AND f.n < $3::bigint + cardinality($4::text[])), \
    wrapped(k, n) AS ( \
      SELECT (SELECT COALESCE(tenant, '') FROM jobs \
              WHERE status = 'queued' AND queue = $1 AND run_at <= now() AND COALESCE(tenant, '') <= $2 \
              ORDER BY COALESCE(tenant, '') LIMIT 1), 1::bigint \
      UNION ALL \
      SELECT (SELECT COALESCE(tenant, '') FROM jobs \
              WHERE status = 'queued' AND queue = $1 AND run_at <= now() AND COALESCE(tenant, '') > w.k \
                AND COALESCE(tenant, '') <= $2 \
              ORDER BY COALESCE(tenant, '') LIMIT 1), w.n + 1 \
      FROM wrapped w WHERE w.k IS NOT NULL AND w.n < $3::bigint + cardinality($4::text[])), \
    groups AS ( \
      SELECT k, row_number() OVER (ORDER BY part, n) AS g FROM ( \
        SELECT k, n, 0 AS part FROM forward WHERE k IS NOT NULL AND k <> ALL($4::text[]) \
        UNION ALL \
        SELECT k, n, 1 AS part FROM wrapped WHERE k IS NOT NULL AND k <> ALL($4::text[])) found \
      ORDER BY part, n LIMIT $3::bigint), \
    window_size AS ( \
      SELECT GREATEST($5::bigint, CASE WHEN count(*) <= 2 THEN $3::bigint \
                  ELSE LEAST($3::bigint, 2 * CEIL($3::float8 / count(*))::bigint) END) AS w \
      FROM groups), \
    picked AS ( \
      SELECT c.id AS picked_id, groups.k AS picked_tenant, c.plugin AS picked_plugin, \
             c.rank AS picked_rank, groups.g AS picked_group \
      FROM groups CROSS JOIN window_size CROSS JOIN LATERAL ( \
        SELECT id, plugin, row_number() OVER (ORDER BY priority, run_at, id) AS rank FROM ( \
          SELECT id, plugin, priority, run_at FROM jobs \
          WHERE status = 'queued' AND queue = $1 AND run_at <= now() \
            AND COALESCE(tenant, '') = groups.k \
          ORDER BY priority, run_at, id LIMIT window_size.w \
          FOR UPDATE SKIP LOCKED) locked) c)";

/// Claims without limits: one statement.
pub(super) async fn claim_unlimited<C: GenericClient>(
    client: &C,
    params: &ClaimParams,
    after: &str,
) -> Result<Claimed, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "WITH RECURSIVE {GROUPS}, \
             chosen AS (SELECT * FROM picked ORDER BY picked_rank, picked_group LIMIT $3::bigint) \
             UPDATE jobs SET status = 'running', attempt = jobs.attempt + 1, lease_owner = $6, \
               lease_expires_at = now() + $7::bigint * interval '1 microsecond', \
               started_at = now(), change_seq = pg_current_xact_id()::text::bigint \
             FROM chosen WHERE jobs.id = chosen.picked_id \
             RETURNING {COLUMNS}, chosen.picked_rank, chosen.picked_group"
        ))
        .await
        .map_err(database_error("job_claim"))?;
    let limit = i64::try_from(params.limit).unwrap_or(i64::MAX);
    let closed: Vec<String> = Vec::new();
    let rows = client
        .query(
            &statement,
            &[
                &params.queue,
                &after,
                &limit,
                &closed,
                &1_i64,
                &params.owner,
                &micros(params.lease),
            ],
        )
        .await
        .map_err(database_error("job_claim"))?;
    let turn_column = COLUMNS.split(',').count();
    let mut last: Option<((i64, i64), String)> = None;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in &rows {
        let job = job_from_row(row)?;
        let turn: (i64, i64) = (
            row.try_get(turn_column)
                .map_err(database_error("job_claim"))?,
            row.try_get(turn_column + 1)
                .map_err(database_error("job_claim"))?,
        );
        if last.as_ref().is_none_or(|(best, _)| turn > *best) {
            last = Some((turn, job.tenant.clone().unwrap_or_default()));
        }
        jobs.push(job);
    }
    jobs.sort_by_key(|job| (job.priority, job.run_at, job.id));
    Ok(Claimed {
        jobs,
        last_tenant: last.map(|(_, tenant)| tenant),
    })
}

/// Claims under limits: one transaction that holds the limits lock.
pub(super) async fn claim_limited(
    client: &mut deadpool_postgres::Client,
    params: &ClaimParams,
    after: &str,
    limits: &Limits,
    lock_key: i64,
) -> Result<Claimed, StoreError> {
    let error = database_error("job_claim");
    let transaction = client.transaction().await.map_err(&error)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])
        .await
        .map_err(&error)?;
    let counts = counts(&transaction, limits).await?;
    let mut closed: Vec<String> = counts
        .running
        .keys()
        .chain(counts.tokens.keys())
        .filter(|(scope, _)| *scope == LimitScope::Tenant)
        .map(|(_, tenant)| tenant.clone())
        .filter(|tenant| !counts.tenant_open(limits, tenant))
        .collect();
    closed.sort();
    closed.dedup();
    closed.truncate(MOST_SKIPPED_TENANTS);
    let statement = transaction
        .prepare_cached(&format!(
            "WITH RECURSIVE {GROUPS} \
             SELECT picked_id, picked_tenant, picked_plugin FROM picked \
             ORDER BY picked_rank, picked_group"
        ))
        .await
        .map_err(&error)?;
    let limit = i64::try_from(params.limit).unwrap_or(i64::MAX);
    // At least the window the limits need (see `window`); more when the claim is large.
    let window_size = i64::try_from(window(1, 1, true)).unwrap_or(32);
    let rows = transaction
        .query(
            &statement,
            &[&params.queue, &after, &limit, &closed, &window_size],
        )
        .await
        .map_err(&error)?;
    let mut windows: Vec<Vec<Candidate>> = Vec::new();
    for row in &rows {
        windows.push(vec![Candidate {
            id: JobId(row.try_get(0).map_err(&error)?),
            tenant: row.try_get(1).map_err(&error)?,
            plugin: row.try_get(2).map_err(&error)?,
        }]);
    }
    // The statement returned the candidates already in turns.
    let candidates = interleave(windows);
    let admission = admit(limits, &candidates, &counts, params.limit);
    if !admission.tokens.is_empty() {
        let scopes: Vec<&str> = admission
            .tokens
            .iter()
            .map(|((s, _), _)| s.as_str())
            .collect();
        let names: Vec<&str> = admission
            .tokens
            .iter()
            .map(|((_, name), _)| name.as_str())
            .collect();
        let tokens: Vec<f64> = admission.tokens.iter().map(|(_, tokens)| *tokens).collect();
        transaction
            .execute(
                "INSERT INTO job_limit_buckets (scope, name, tokens, refilled_at) \
                 SELECT scope, name, tokens, now() \
                 FROM unnest($1::text[], $2::text[], $3::float8[]) AS b(scope, name, tokens) \
                 ON CONFLICT (scope, name) DO UPDATE SET tokens = excluded.tokens, \
                 refilled_at = excluded.refilled_at",
                &[&scopes, &names, &tokens],
            )
            .await
            .map_err(&error)?;
    }
    let ids: Vec<i64> = admission.ids.iter().map(|id| id.0).collect();
    let mut jobs = Vec::new();
    if !ids.is_empty() {
        let rows = transaction
            .query(
                &format!(
                    // clock_timestamp(), not now(): this transaction may have waited for the
                    // lock, and a job started under a limit must not seem to start before the
                    // finish that made room for it.
                    "UPDATE jobs SET status = 'running', attempt = jobs.attempt + 1, \
                     lease_owner = $2, \
                     lease_expires_at = clock_timestamp() + $3::bigint * interval '1 microsecond', \
                     started_at = clock_timestamp(), change_seq = pg_current_xact_id()::text::bigint \
                     WHERE jobs.id = ANY($1::bigint[]) AND status = 'queued' \
                     RETURNING {COLUMNS}"
                ),
                &[&ids, &params.owner, &micros(params.lease)],
            )
            .await
            .map_err(&error)?;
        jobs = rows.iter().map(job_from_row).collect::<Result<_, _>>()?;
    }
    transaction.commit().await.map_err(&error)?;
    jobs.sort_by_key(|job: &Job| (job.priority, job.run_at, job.id));
    let last_tenant = admission.last_tenant.or_else(|| closed.last().cloned());
    Ok(Claimed { jobs, last_tenant })
}

/// When limits were last read, for the cache in the store.
pub(super) type LimitsRead = (std::time::Instant, std::sync::Arc<Limits>);
