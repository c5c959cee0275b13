//! Job statements for SQLite. Writers run on the writer thread inside a savepoint; readers on a
//! reading connection.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::backend_error;
use crate::store::limits;
use crate::store::{
    CancelOutcome, ChangeCursor, ChangeFilter, ClaimParams, Enqueued, FinishOutcome,
    HeartbeatOutcome, HeartbeatParams, Job, JobChange, JobCount, JobFilter, JobFinish, JobId,
    JobKindCount, JobStatus, NewJob, PruneParams, StoreError, Timestamp, UnfinishedCounts,
};

const COLUMNS: &str =
    "id, kind, queue, tenant, plugin, config, payload, status, priority, run_at, \
     attempt, max_attempts, timeout_ms, lease_owner, lease_expires_at, cancel_requested, error, \
     result, progress, unique_key, created_at, started_at, finished_at";

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Job> {
    let json = |index: usize| -> rusqlite::Result<Option<Value>> {
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
    };
    let status: String = row.get(7)?;
    let status = status.parse::<JobStatus>().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, error.into())
    })?;
    Ok(Job {
        id: JobId(row.get(0)?),
        kind: row.get(1)?,
        queue: row.get(2)?,
        tenant: row.get(3)?,
        plugin: row.get(4)?,
        config: row.get(5)?,
        payload: json(6)?.unwrap_or(Value::Null),
        status,
        priority: row.get(8)?,
        run_at: Timestamp(row.get(9)?),
        attempt: row.get(10)?,
        max_attempts: row.get(11)?,
        timeout_ms: row.get(12)?,
        lease_owner: row.get(13)?,
        lease_expires_at: row.get::<_, Option<i64>>(14)?.map(Timestamp),
        cancel_requested: row.get(15)?,
        error: row.get(16)?,
        result: json(17)?,
        progress: json(18)?,
        unique_key: row.get(19)?,
        created_at: Timestamp(row.get(20)?),
        started_at: row.get::<_, Option<i64>>(21)?.map(Timestamp),
        finished_at: row.get::<_, Option<i64>>(22)?.map(Timestamp),
    })
}

/// Hands out the next change number, inside the caller's write (see `store/changes.rs`).
pub(super) fn next_change(connection: &Connection) -> Result<i64, StoreError> {
    connection
        .prepare_cached("UPDATE job_change_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq")
        .and_then(|mut bump| bump.query_row([], |row| row.get(0)))
        .map_err(backend_error("job_change"))
}

/// Inserts a job as change `change` (from [`next_change`]; a batch may share one).
pub(super) fn enqueue(
    connection: &Connection,
    job: &NewJob,
    change: i64,
) -> Result<Enqueued, StoreError> {
    let now = Timestamp::now();
    let run_at = job.run_at.unwrap_or(now);
    let payload = job.payload.to_string();
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO jobs (kind, queue, tenant, plugin, config, payload, status, priority, \
             run_at, max_attempts, timeout_ms, unique_key, created_at, change_seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING",
        )
        .map_err(backend_error("job_enqueue"))?;
    let inserted = insert
        .execute(params![
            job.kind,
            job.queue,
            job.tenant,
            job.plugin,
            job.config,
            payload,
            job.priority,
            run_at.0,
            job.max_attempts,
            job.timeout_ms,
            job.unique_key,
            now.0,
            change,
        ])
        .map_err(backend_error("job_enqueue"))?;
    if inserted == 1 {
        return Ok(Enqueued {
            id: JobId(connection.last_insert_rowid()),
            created: true,
        });
    }
    let existing: i64 = connection
        .prepare_cached("SELECT id FROM jobs WHERE unique_key = ?1")
        .and_then(|mut select| select.query_row([&job.unique_key], |row| row.get(0)))
        .map_err(backend_error("job_enqueue"))?;
    Ok(Enqueued {
        id: JobId(existing),
        created: false,
    })
}

pub(super) fn get(connection: &Connection, id: JobId) -> Result<Option<Job>, StoreError> {
    connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"))
        .and_then(|mut select| select.query_row([id.0], job_from_row).optional())
        .map_err(backend_error("job_get"))
}

/// Jobs whose latest change comes after `after`, in change order.
pub(super) fn changes(
    connection: &Connection,
    after: ChangeCursor,
    filter: &ChangeFilter,
    limit: usize,
) -> Result<Vec<JobChange>, StoreError> {
    // Two index seeks, merged: the rest of the position's own number (`change_seq = ?1 AND
    // id > ?2`), then the numbers after it. A row-value `(change_seq, id) > (?1, ?2)` would seek
    // on the number only and scan every job of a number shared by many (0 after the migration).
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut values: Vec<rusqlite::types::Value> =
        vec![after.seq.into(), after.id.into(), limit.into()];
    let mut filters = String::new();
    let mut add = |clause: &str, value: rusqlite::types::Value| {
        values.push(value);
        filters.push_str(&format!(" AND {clause} = ?{}", values.len()));
    };
    if let Some(id) = filter.job {
        add("id", id.0.into());
    }
    for (column, value) in [
        ("tenant", &filter.tenant),
        ("plugin", &filter.plugin),
        ("queue", &filter.queue),
        ("kind", &filter.kind),
    ] {
        if let Some(value) = value {
            add(column, value.clone().into());
        }
    }
    let sql = format!(
        "SELECT * FROM (SELECT {COLUMNS}, change_seq FROM jobs \
           WHERE change_seq = ?1 AND id > ?2{filters} ORDER BY id LIMIT ?3) \
         UNION ALL \
         SELECT * FROM (SELECT {COLUMNS}, change_seq FROM jobs \
           WHERE change_seq > ?1{filters} ORDER BY change_seq, id LIMIT ?3) \
         ORDER BY change_seq, id LIMIT ?3"
    );
    let mut select = connection
        .prepare_cached(&sql)
        .map_err(backend_error("job_changes"))?;
    let rows = select
        .query_map(rusqlite::params_from_iter(values), |row| {
            let job = job_from_row(row)?;
            let seq: i64 = row.get(23)?;
            Ok(JobChange {
                cursor: ChangeCursor { seq, id: job.id.0 },
                job,
            })
        })
        .map_err(backend_error("job_changes"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(backend_error("job_changes"))
}

/// After every change committed so far.
pub(super) fn change_head(connection: &Connection) -> Result<ChangeCursor, StoreError> {
    connection
        .prepare_cached("SELECT seq FROM job_change_counter WHERE id = 1")
        .and_then(|mut select| select.query_row([], |row| row.get(0)))
        .map(ChangeCursor::after_seq)
        .map_err(backend_error("job_change_head"))
}

pub(super) fn list(connection: &Connection, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM jobs WHERE 1 = 1");
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    let mut add = |clause: &str, value: rusqlite::types::Value| {
        values.push(value);
        sql.push_str(&format!(" AND {clause} ?{}", values.len()));
    };
    if let Some(status) = filter.status {
        add("status =", status.as_str().to_owned().into());
    }
    if let Some(kind) = &filter.kind {
        add("kind =", kind.clone().into());
    }
    if let Some(queue) = &filter.queue {
        add("queue =", queue.clone().into());
    }
    if let Some(tenant) = &filter.tenant {
        add("tenant =", tenant.clone().into());
    }
    if let Some(plugin) = &filter.plugin {
        add("plugin =", plugin.clone().into());
    }
    if let Some(before) = filter.before_id {
        add("id <", before.0.into());
    }
    if let Some(after) = filter.created_after {
        add("created_at >=", after.0.into());
    }
    if let Some(before) = filter.created_before {
        add("created_at <", before.0.into());
    }
    for matching in &filter.payload {
        let path = format!(
            "$.{}",
            matching
                .path
                .iter()
                .map(|key| format!("\"{key}\""))
                .collect::<Vec<_>>()
                .join(".")
        );
        match &matching.value {
            // Numbers compare as numbers (42 matches 42.0); `json_extract` gives a string or a
            // boolean as text or 1/0, which never equals a number bound as one.
            serde_json::Value::Number(number) => {
                values.push(path.into());
                let at = values.len();
                values.push(match number.as_i64() {
                    Some(integer) => integer.into(),
                    None => number.as_f64().unwrap_or(f64::NAN).into(),
                });
                sql.push_str(&format!(
                    " AND json_type(payload, ?{at}) IN ('integer', 'real') AND json_extract(payload, ?{at}) = ?{}",
                    values.len()
                ));
            }
            // Strings, booleans and null compare as their JSON text.
            other => {
                values.push(path.into());
                values.push(other.to_string().into());
                sql.push_str(&format!(
                    " AND payload -> ?{} = ?{}",
                    values.len() - 1,
                    values.len()
                ));
            }
        }
    }
    let limit = if filter.limit == 0 { 50 } else { filter.limit };
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    let mut select = connection
        .prepare(&sql)
        .map_err(backend_error("job_list"))?;
    let rows = select
        .query_map(rusqlite::params_from_iter(values), job_from_row)
        .map_err(backend_error("job_list"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(backend_error("job_list"))
}

pub(super) fn counts(connection: &Connection) -> Result<Vec<JobCount>, StoreError> {
    Ok(counts_by(connection, "queue", "job_counts")?
        .into_iter()
        .map(|(queue, status, count)| JobCount {
            queue,
            status,
            count,
        })
        .collect())
}

pub(super) fn counts_by_kind(connection: &Connection) -> Result<Vec<JobKindCount>, StoreError> {
    Ok(counts_by(connection, "kind", "job_counts_by_kind")?
        .into_iter()
        .map(|(kind, status, count)| JobKindCount {
            kind,
            status,
            count,
        })
        .collect())
}

/// Queued and running jobs, each counted in its partial index (`jobs_claim`, `jobs_lease`).
pub(super) fn counts_unfinished(connection: &Connection) -> Result<UnfinishedCounts, StoreError> {
    let count = |status: &str| -> Result<i64, StoreError> {
        connection
            .prepare_cached(&format!(
                "SELECT COUNT(*) FROM jobs WHERE status = '{status}'"
            ))
            .and_then(|mut select| select.query_row([], |row| row.get(0)))
            .map_err(backend_error("job_counts_unfinished"))
    };
    Ok(UnfinishedCounts {
        queued: count("queued")?,
        running: count("running")?,
    })
}

/// How many jobs have each (`column`, status), ordered by both; `column` is a fixed name.
fn counts_by(
    connection: &Connection,
    column: &'static str,
    op: &'static str,
) -> Result<Vec<(String, JobStatus, i64)>, StoreError> {
    let mut select = connection
        .prepare_cached(&format!(
            "SELECT {column}, status, COUNT(*) FROM jobs GROUP BY {column}, status \
             ORDER BY {column}, status"
        ))
        .map_err(backend_error(op))?;
    let rows = select
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .map_err(backend_error(op))?;
    let mut counts = Vec::new();
    for row in rows {
        let (value, status, count) = row.map_err(backend_error(op))?;
        counts.push((value, status.parse().map_err(StoreError::Corrupt)?, count));
    }
    Ok(counts)
}

/// What a claim started, and what the next claim of the queue needs to know.
pub(super) struct Claimed {
    pub jobs: Vec<Job>,
    /// The tenant served last (`""` for jobs without one): the next claim starts after it.
    pub last_tenant: Option<String>,
    /// Whether any limit is set; finishes then wake claimers, since a finish may free a slot.
    pub limited: bool,
}

/// Above every tenant id (ids are printable ASCII), so a range up to it is open-ended.
const PAST_EVERY_TENANT: &str = "\u{10FFFF}";

/// Claims up to `params.limit` jobs, taking turns between tenants from the one after `after`
/// (see `store::limits`) and within the limits in force.
pub(super) fn claim(
    connection: &Connection,
    params: &ClaimParams,
    after: &str,
) -> Result<Claimed, StoreError> {
    let now = Timestamp::now();
    let limits = super::limits::load(connection)?;
    let counts = super::limits::counts(connection, &limits, now)?;
    let scan = claim_groups(connection, params, after, now, |tenant| {
        counts.tenant_open(&limits, tenant)
    })?;
    let mut claimed = Claimed {
        jobs: Vec::new(),
        last_tenant: scan.last_scanned,
        limited: !limits.is_empty(),
    };
    let groups = scan.open;
    if groups.is_empty() {
        return Ok(claimed);
    }
    if groups.len() == 1 && limits.is_empty() {
        // One tenant and no limits: the queue order as it is, in one statement.
        claimed.jobs = claim_in_order(connection, params, &groups[0], now)?;
        claimed.last_tenant = groups.into_iter().next();
        return Ok(claimed);
    }
    let window = limits::window(params.limit, groups.len(), !limits.is_empty());
    let mut windows = Vec::with_capacity(groups.len());
    for group in &groups {
        windows.push(claim_window(connection, params, group, now, window)?);
    }
    let candidates = limits::interleave(windows);
    let admission = limits::admit(&limits, &candidates, &counts, params.limit);
    super::limits::store_tokens(connection, &admission.tokens, now)?;
    let expires = now.plus(params.lease);
    let change = next_change(connection)?;
    let mut start = connection
        .prepare_cached(&format!(
            "UPDATE jobs SET status = 'running', attempt = attempt + 1, lease_owner = ?1, \
             lease_expires_at = ?2, started_at = ?3, change_seq = ?5 \
             WHERE id = ?4 AND status = 'queued' RETURNING {COLUMNS}"
        ))
        .map_err(backend_error("job_claim"))?;
    for id in &admission.ids {
        let job = start
            .query_row(
                params![params.owner, expires.0, now.0, id.0, change],
                job_from_row,
            )
            .optional()
            .map_err(backend_error("job_claim"))?;
        claimed.jobs.extend(job);
    }
    claimed
        .jobs
        .sort_by_key(|job| (job.priority, job.run_at, job.id));
    if admission.last_tenant.is_some() {
        claimed.last_tenant = admission.last_tenant;
    }
    Ok(claimed)
}

/// The tenants a claim looks at.
struct GroupScan {
    /// Tenants with runnable jobs that their limits let start, in turn order.
    open: Vec<String>,
    /// The last tenant looked at, open or not.
    last_scanned: Option<String>,
    /// How many tenants were stepped over.
    skipped: usize,
}

/// The tenants with runnable jobs in the queue, at most `params.limit` open ones: those after
/// `after` first, then from the start up to `after`. Tenants `open` refuses are stepped over (at
/// most [`limits::MOST_SKIPPED_TENANTS`] of them).
fn claim_groups(
    connection: &Connection,
    params: &ClaimParams,
    after: &str,
    now: Timestamp,
    open: impl Fn(&str) -> bool,
) -> Result<GroupScan, StoreError> {
    let mut next = connection
        .prepare_cached(
            "SELECT COALESCE(tenant, '') FROM jobs \
             WHERE status = 'queued' AND queue = ?1 AND COALESCE(tenant, '') > ?2 \
             AND COALESCE(tenant, '') <= ?3 AND run_at <= ?4 \
             ORDER BY COALESCE(tenant, '') LIMIT 1",
        )
        .map_err(backend_error("job_claim"))?;
    let mut probe = |above: &str, up_to: &str| -> Result<Option<String>, StoreError> {
        next.query_row(params![params.queue, above, up_to, now.0], |row| row.get(0))
            .optional()
            .map_err(backend_error("job_claim"))
    };
    let mut scan = GroupScan {
        open: Vec::new(),
        last_scanned: None,
        skipped: 0,
    };
    let take = |scan: &mut GroupScan, group: String| {
        scan.last_scanned = Some(group.clone());
        if open(&group) {
            scan.open.push(group);
        } else {
            scan.skipped += 1;
        }
    };
    let mut above = after.to_owned();
    while scan.open.len() < params.limit && scan.skipped < limits::MOST_SKIPPED_TENANTS {
        let Some(group) = probe(&above, PAST_EVERY_TENANT)? else {
            break;
        };
        above.clone_from(&group);
        take(&mut scan, group);
    }
    // Then from the start: '' (jobs without a tenant) is the lowest key, and `> ''` skips it.
    if scan.open.len() < params.limit && claim_has_untenanted(connection, params, now)? {
        take(&mut scan, String::new());
    }
    let mut above = String::new();
    while scan.open.len() < params.limit
        && scan.skipped < limits::MOST_SKIPPED_TENANTS
        && above.as_str() < after
    {
        let Some(group) = probe(&above, after)? else {
            break;
        };
        above.clone_from(&group);
        take(&mut scan, group);
    }
    Ok(scan)
}

/// Whether jobs without a tenant are runnable in the queue.
fn claim_has_untenanted(
    connection: &Connection,
    params: &ClaimParams,
    now: Timestamp,
) -> Result<bool, StoreError> {
    connection
        .prepare_cached(
            // '' as a parameter: with the literal SQLite scans the table instead of the index.
            "SELECT 1 FROM jobs WHERE status = 'queued' AND queue = ?1 \
             AND COALESCE(tenant, '') = ?3 AND run_at <= ?2 LIMIT 1",
        )
        .and_then(|mut statement| statement.exists(params![params.queue, now.0, ""]))
        .map_err(backend_error("job_claim"))
}

/// The first `window` runnable jobs of one tenant, in queue order.
fn claim_window(
    connection: &Connection,
    params: &ClaimParams,
    tenant: &str,
    now: Timestamp,
    window: usize,
) -> Result<Vec<limits::Candidate>, StoreError> {
    let mut select = connection
        .prepare_cached(
            "SELECT id, plugin FROM jobs \
             WHERE status = 'queued' AND queue = ?1 AND COALESCE(tenant, '') = ?2 AND run_at <= ?3 \
             ORDER BY priority, run_at, id LIMIT ?4",
        )
        .map_err(backend_error("job_claim"))?;
    let window = i64::try_from(window).unwrap_or(i64::MAX);
    let rows = select
        .query_map(params![params.queue, tenant, now.0, window], |row| {
            Ok(limits::Candidate {
                id: JobId(row.get(0)?),
                tenant: tenant.to_owned(),
                plugin: row.get(1)?,
            })
        })
        .map_err(backend_error("job_claim"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(backend_error("job_claim"))
}

/// Starts the first `params.limit` runnable jobs of one tenant in one statement.
fn claim_in_order(
    connection: &Connection,
    params: &ClaimParams,
    tenant: &str,
    now: Timestamp,
) -> Result<Vec<Job>, StoreError> {
    let expires = now.plus(params.lease);
    let change = next_change(connection)?;
    let mut update = connection
        .prepare_cached(&format!(
            "UPDATE jobs SET status = 'running', attempt = attempt + 1, lease_owner = ?1, \
             lease_expires_at = ?2, started_at = ?3, change_seq = ?7 \
             WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' AND queue = ?4 \
             AND COALESCE(tenant, '') = ?6 AND run_at <= ?3 ORDER BY priority, run_at, id LIMIT ?5) \
             RETURNING {COLUMNS}"
        ))
        .map_err(backend_error("job_claim"))?;
    let limit = i64::try_from(params.limit).unwrap_or(i64::MAX);
    let rows = update
        .query_map(
            params![
                params.owner,
                expires.0,
                now.0,
                params.queue,
                limit,
                tenant,
                change
            ],
            job_from_row,
        )
        .map_err(backend_error("job_claim"))?;
    let mut jobs = rows
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend_error("job_claim"))?;
    jobs.sort_by_key(|job| (job.priority, job.run_at, job.id));
    Ok(jobs)
}

pub(super) fn heartbeat(
    connection: &Connection,
    params: &HeartbeatParams,
) -> Result<HeartbeatOutcome, StoreError> {
    let expires = Timestamp::now().plus(params.lease);
    let mut update = connection
        .prepare_cached(
            "UPDATE jobs SET lease_expires_at = ?1 \
             WHERE id = ?2 AND status = 'running' AND lease_owner = ?3 \
             RETURNING cancel_requested",
        )
        .map_err(backend_error("job_heartbeat"))?;
    let mut outcome = HeartbeatOutcome::default();
    for id in &params.ids {
        let cancel: Option<bool> = update
            .query_row(params![expires.0, id.0, params.owner], |row| row.get(0))
            .optional()
            .map_err(backend_error("job_heartbeat"))?;
        if let Some(cancel) = cancel {
            outcome.held.push(*id);
            if cancel {
                outcome.cancel_requested.push(*id);
            }
        }
    }
    Ok(outcome)
}

/// Applies finishes; returns the ids that applied and the queues that got runnable jobs back.
pub(super) fn finish_many(
    connection: &Connection,
    finishes: &[JobFinish],
) -> Result<(Vec<JobId>, Vec<String>), StoreError> {
    let now = Timestamp::now();
    if finishes.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let change = next_change(connection)?;
    let guard = "WHERE id = ?1 AND status = 'running' AND lease_owner = ?2 AND attempt = ?3";
    let mut applied = Vec::with_capacity(finishes.len());
    let mut requeued = Vec::new();
    for finish in finishes {
        let key = params![finish.id.0, finish.owner, finish.attempt];
        let changed = match &finish.outcome {
            FinishOutcome::Succeeded { result } => connection
                .prepare_cached(&format!(
                    "UPDATE jobs SET status = 'succeeded', result = ?4, finished_at = ?5, error = NULL, \
                     lease_owner = NULL, lease_expires_at = NULL, change_seq = ?6 {guard}"
                ))
                .and_then(|mut update| {
                    update.execute(params![
                        key[0],
                        key[1],
                        key[2],
                        result.as_ref().map(Value::to_string),
                        now.0,
                        change
                    ])
                }),
            FinishOutcome::Retry { error, run_at } => connection
                .prepare_cached(&format!(
                    "UPDATE jobs SET status = 'queued', error = ?4, run_at = ?5, \
                     lease_owner = NULL, lease_expires_at = NULL, change_seq = ?6 {guard} \
                     RETURNING queue"
                ))
                .and_then(|mut update| {
                    update
                        .query_row(
                            params![key[0], key[1], key[2], error, run_at.0, change],
                            |row| row.get::<_, String>(0),
                        )
                        .optional()
                })
                .map(|queue| match queue {
                    Some(queue) => {
                        requeued.push(queue);
                        1
                    }
                    None => 0,
                }),
            FinishOutcome::Failed { error } => {
                finish_final(connection, guard, finish, ("failed", error), now, change)
            }
            FinishOutcome::Cancelled { reason } => {
                finish_final(connection, guard, finish, ("cancelled", reason), now, change)
            }
        }
        .map_err(backend_error("job_finish"))?;
        if changed == 1 {
            applied.push(finish.id);
        }
    }
    requeued.sort();
    requeued.dedup();
    Ok((applied, requeued))
}

fn finish_final(
    connection: &Connection,
    guard: &str,
    finish: &JobFinish,
    (status, error): (&str, &str),
    now: Timestamp,
    change: i64,
) -> rusqlite::Result<usize> {
    connection
        .prepare_cached(&format!(
            "UPDATE jobs SET status = ?4, error = ?5, finished_at = ?6, \
             lease_owner = NULL, lease_expires_at = NULL, change_seq = ?7 {guard}"
        ))?
        .execute(params![
            finish.id.0,
            finish.owner,
            finish.attempt,
            status,
            error,
            now.0,
            change
        ])
}

pub(super) fn release(
    connection: &Connection,
    owner: &str,
    ids: &[JobId],
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let change = next_change(connection)?;
    let mut update = connection
        .prepare_cached(
            "UPDATE jobs SET status = 'queued', attempt = MAX(attempt - 1, 0), lease_owner = NULL, \
             lease_expires_at = NULL, started_at = NULL, change_seq = ?3 \
             WHERE id = ?1 AND status = 'running' AND lease_owner = ?2",
        )
        .map_err(backend_error("job_release"))?;
    let mut released = 0;
    for id in ids {
        released += update
            .execute(params![id.0, owner, change])
            .map_err(backend_error("job_release"))? as u64;
    }
    Ok(released)
}

pub(super) fn rescue(connection: &Connection) -> Result<Vec<JobId>, StoreError> {
    let now = Timestamp::now();
    let expired: bool = connection
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'running' AND lease_expires_at < ?1)",
        )
        .and_then(|mut select| select.query_row([now.0], |row| row.get(0)))
        .map_err(backend_error("job_rescue"))?;
    if !expired {
        return Ok(Vec::new());
    }
    let change = next_change(connection)?;
    let mut update = connection
        .prepare_cached(
            "UPDATE jobs SET \
               status = CASE WHEN cancel_requested THEN 'cancelled' \
                             WHEN attempt >= max_attempts THEN 'failed' ELSE 'queued' END, \
               error = CASE WHEN cancel_requested THEN 'cancelled; its worker stopped answering' \
                            ELSE 'lease expired: the worker holding this job stopped (attempt ' \
                                 || attempt || ' of ' || max_attempts || ')' END, \
               finished_at = CASE WHEN cancel_requested OR attempt >= max_attempts THEN ?1 ELSE NULL END, \
               run_at = ?1, lease_owner = NULL, lease_expires_at = NULL, change_seq = ?2 \
             WHERE status = 'running' AND lease_expires_at < ?1 \
             RETURNING id",
        )
        .map_err(backend_error("job_rescue"))?;
    let rows = update
        .query_map([now.0, change], |row| row.get::<_, i64>(0).map(JobId))
        .map_err(backend_error("job_rescue"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(backend_error("job_rescue"))
}

pub(super) fn cancel(connection: &Connection, id: JobId) -> Result<CancelOutcome, StoreError> {
    let now = Timestamp::now();
    let status: Option<String> = connection
        .prepare_cached("SELECT status FROM jobs WHERE id = ?1")
        .and_then(|mut select| select.query_row([id.0], |row| row.get(0)).optional())
        .map_err(backend_error("job_cancel"))?;
    let Some(status) = status else {
        return Ok(CancelOutcome::NotFound);
    };
    match status.parse::<JobStatus>().map_err(StoreError::Corrupt)? {
        JobStatus::Queued => {
            let change = next_change(connection)?;
            connection
                .prepare_cached(
                    "UPDATE jobs SET status = 'cancelled', error = 'cancelled before it started', \
                     finished_at = ?2, change_seq = ?3 WHERE id = ?1",
                )
                .and_then(|mut update| update.execute(params![id.0, now.0, change]))
                .map_err(backend_error("job_cancel"))?;
            Ok(CancelOutcome::Cancelled)
        }
        JobStatus::Running => {
            let change = next_change(connection)?;
            connection
                .prepare_cached(
                    "UPDATE jobs SET cancel_requested = 1, change_seq = ?2 WHERE id = ?1",
                )
                .and_then(|mut update| update.execute([id.0, change]))
                .map_err(backend_error("job_cancel"))?;
            Ok(CancelOutcome::Requested)
        }
        finished => Ok(CancelOutcome::AlreadyFinished(finished)),
    }
}

pub(super) fn retry(connection: &Connection, id: JobId) -> Result<Option<Job>, StoreError> {
    let change = next_change(connection)?;
    connection
        .prepare_cached(
            "UPDATE jobs SET status = 'queued', run_at = ?2, attempt = 0, error = NULL, \
             cancel_requested = 0, finished_at = NULL, started_at = NULL, result = NULL, \
             change_seq = ?3 WHERE id = ?1 AND status IN ('failed', 'cancelled')",
        )
        .and_then(|mut update| update.execute(params![id.0, Timestamp::now().0, change]))
        .map_err(backend_error("job_retry"))?;
    get(connection, id)
}

pub(super) fn progress(
    connection: &Connection,
    id: JobId,
    progress: &Value,
) -> Result<(), StoreError> {
    let change = next_change(connection)?;
    connection
        .prepare_cached("UPDATE jobs SET progress = ?2, change_seq = ?3 WHERE id = ?1")
        .and_then(|mut update| update.execute(params![id.0, progress.to_string(), change]))
        .map_err(backend_error("job_progress"))?;
    Ok(())
}

pub(super) fn prune(connection: &Connection, params: &PruneParams) -> Result<u64, StoreError> {
    let finished = "status IN ('succeeded', 'failed', 'cancelled')";
    let mut doomed = String::new();
    if let Some(before) = params.finished_before {
        doomed = format!(
            "SELECT id FROM jobs WHERE {finished} AND finished_at < {}",
            before.0
        );
    }
    if let Some(keep) = params.keep_last {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let by_count = format!(
            "SELECT id FROM (SELECT id FROM jobs WHERE {finished} \
             ORDER BY finished_at DESC, id DESC LIMIT -1 OFFSET {keep})"
        );
        doomed = if doomed.is_empty() {
            by_count
        } else {
            format!("{doomed} UNION {by_count}")
        };
    }
    if doomed.is_empty() {
        return Ok(0);
    }
    connection
        .execute_batch(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS prune_ids (id INTEGER PRIMARY KEY);
             DELETE FROM prune_ids;
             INSERT INTO prune_ids {doomed};
             DELETE FROM job_logs WHERE job_id IN (SELECT id FROM prune_ids);"
        ))
        .map_err(backend_error("job_prune"))?;
    let deleted = connection
        .execute(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM prune_ids)",
            [],
        )
        .map_err(backend_error("job_prune"))?;
    connection
        .execute_batch("DELETE FROM prune_ids")
        .map_err(backend_error("job_prune"))?;
    Ok(deleted as u64)
}

pub(super) fn minutes_add(
    connection: &Connection,
    node: &str,
    counts: &[crate::store::MinuteCounts],
) -> Result<(), StoreError> {
    let mut upsert = connection
        .prepare_cached(
            "INSERT INTO job_minutes (minute, node, succeeded, failed, retried, cancelled) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (minute, node) DO UPDATE SET \
             succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed, \
             retried = retried + excluded.retried, cancelled = cancelled + excluded.cancelled",
        )
        .map_err(backend_error("minutes_add"))?;
    for count in counts {
        upsert
            .execute(params![
                count.minute.0,
                node,
                count.succeeded,
                count.failed,
                count.retried,
                count.cancelled
            ])
            .map_err(backend_error("minutes_add"))?;
    }
    Ok(())
}

pub(super) fn minutes_list(
    connection: &Connection,
    since: Timestamp,
) -> Result<Vec<crate::store::MinuteCounts>, StoreError> {
    let mut select = connection
        .prepare_cached(
            "SELECT minute, SUM(succeeded), SUM(failed), SUM(retried), SUM(cancelled) \
             FROM job_minutes WHERE minute >= ?1 GROUP BY minute ORDER BY minute",
        )
        .map_err(backend_error("minutes_list"))?;
    let rows = select
        .query_map(params![since.0], |row| {
            Ok(crate::store::MinuteCounts {
                minute: Timestamp(row.get(0)?),
                succeeded: row.get(1)?,
                failed: row.get(2)?,
                retried: row.get(3)?,
                cancelled: row.get(4)?,
            })
        })
        .map_err(backend_error("minutes_list"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(backend_error("minutes_list"))
}

pub(super) fn minutes_prune(connection: &Connection, before: Timestamp) -> Result<u64, StoreError> {
    connection
        .prepare_cached("DELETE FROM job_minutes WHERE minute < ?1")
        .and_then(|mut delete| delete.execute(params![before.0]))
        .map(|deleted| deleted as u64)
        .map_err(backend_error("minutes_prune"))
}
