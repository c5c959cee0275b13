//! Job statements for PostgreSQL: reading, claiming, heartbeats and the transitions after a claim.
//! Enqueueing is in `enqueue.rs`, finishing attempts in `finish.rs`.
//!
//! Writes that make jobs available or change what a worker must do announce it with
//! `pg_notify`: inside the transaction when the method needs one, otherwise right after its one
//! statement committed (a notice that cannot be sent then is logged, not returned: the write
//! stands and notices are hints).

use std::collections::HashMap;
use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{database_error, micros, notify};
use crate::store::{
    CancelOutcome, ChangeCursor, ChangeFilter, HeartbeatOutcome, HeartbeatParams, Job, JobChange,
    JobCount, JobFilter, JobId, JobKindCount, JobStatus, PruneParams, StoreError, StoreNotice,
    Timestamp, UnfinishedCounts,
};

/// Every column of a job, in the order [`job_from_row`] reads them. Qualified, so it also works
/// in `UPDATE jobs .. FROM` statements.
pub(super) const COLUMNS: &str = "jobs.id, jobs.kind, jobs.queue, jobs.tenant, jobs.plugin, \
     jobs.config, jobs.payload, jobs.status, jobs.priority, jobs.run_at, jobs.attempt, \
     jobs.max_attempts, jobs.timeout_ms, jobs.lease_owner, jobs.lease_expires_at, \
     jobs.cancel_requested, jobs.error, jobs.result, jobs.progress, jobs.unique_key, \
     jobs.created_at, jobs.started_at, jobs.finished_at";

/// Statuses a job never leaves on its own, as SQL.
const FINISHED: &str = "status IN ('succeeded', 'failed', 'cancelled')";

pub(super) fn job_from_row(row: &Row) -> Result<Job, StoreError> {
    read_job(row).map_err(|error| StoreError::Corrupt(format!("a job row cannot be read: {error}")))
}

fn read_job(row: &Row) -> Result<Job, Box<dyn std::error::Error + Sync + Send>> {
    let time = |index: usize| -> Result<Timestamp, tokio_postgres::Error> {
        row.try_get::<_, SystemTime>(index).map(Timestamp::from)
    };
    let optional_time = |index: usize| -> Result<Option<Timestamp>, tokio_postgres::Error> {
        row.try_get::<_, Option<SystemTime>>(index)
            .map(|time| time.map(Timestamp::from))
    };
    let status: String = row.try_get(7)?;
    Ok(Job {
        id: JobId(row.try_get(0)?),
        kind: row.try_get(1)?,
        queue: row.try_get(2)?,
        tenant: row.try_get(3)?,
        plugin: row.try_get(4)?,
        config: row.try_get(5)?,
        payload: row.try_get(6)?,
        status: status.parse::<JobStatus>()?,
        priority: row.try_get(8)?,
        run_at: time(9)?,
        attempt: row.try_get(10)?,
        max_attempts: row.try_get(11)?,
        timeout_ms: row.try_get(12)?,
        lease_owner: row.try_get(13)?,
        lease_expires_at: optional_time(14)?,
        cancel_requested: row.try_get(15)?,
        error: row.try_get(16)?,
        result: row.try_get(17)?,
        progress: row.try_get(18)?,
        unique_key: row.try_get(19)?,
        created_at: time(20)?,
        started_at: optional_time(21)?,
        finished_at: optional_time(22)?,
    })
}

/// Sends `notices` after the write they announce committed; failing to is logged only.
pub(super) async fn announce_committed<C: GenericClient>(
    client: &C,
    channel: &str,
    notices: &[StoreNotice],
) {
    if let Err(error) = notify::send(client, channel, notices).await {
        tracing::warn!(%error, ?notices, "cannot send notices after a committed write; other nodes will find the change by polling");
    }
}

pub(super) async fn get<C: GenericClient>(
    client: &C,
    id: JobId,
) -> Result<Option<Job>, StoreError> {
    let statement = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM jobs WHERE jobs.id = $1"))
        .await
        .map_err(database_error("job_get"))?;
    client
        .query_opt(&statement, &[&id.0])
        .await
        .map_err(database_error("job_get"))?
        .as_ref()
        .map(job_from_row)
        .transpose()
}

pub(super) async fn list<C: GenericClient>(
    client: &C,
    filter: &JobFilter,
) -> Result<Vec<Job>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM jobs WHERE true");
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut add = |clause: &str, value: Box<dyn ToSql + Sync + Send>| {
        values.push(value);
        sql.push_str(&format!(" AND {clause} ${}", values.len()));
    };
    if let Some(status) = filter.status {
        add("jobs.status =", Box::new(status.as_str()));
    }
    if let Some(kind) = &filter.kind {
        add("jobs.kind =", Box::new(kind.clone()));
    }
    if let Some(queue) = &filter.queue {
        add("jobs.queue =", Box::new(queue.clone()));
    }
    if let Some(tenant) = &filter.tenant {
        add("jobs.tenant =", Box::new(tenant.clone()));
    }
    if let Some(plugin) = &filter.plugin {
        add("jobs.plugin =", Box::new(plugin.clone()));
    }
    if let Some(before) = filter.before_id {
        add("jobs.id <", Box::new(before.0));
    }
    if let Some(after) = filter.created_after {
        add("jobs.created_at >=", Box::new(SystemTime::from(after)));
    }
    if let Some(before) = filter.created_before {
        add("jobs.created_at <", Box::new(SystemTime::from(before)));
    }
    for matching in &filter.payload {
        values.push(Box::new(matching.path.clone()));
        values.push(Box::new(matching.value.clone()));
        sql.push_str(&format!(
            " AND jobs.payload #> ${}::text[] = ${}::jsonb",
            values.len() - 1,
            values.len()
        ));
    }
    let limit = if filter.limit == 0 { 50 } else { filter.limit };
    values.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
    sql.push_str(&format!(" ORDER BY jobs.id DESC LIMIT ${}", values.len()));
    // Few filter combinations exist, so caching each one's statement is cheap.
    let statement = client
        .prepare_cached(&sql)
        .await
        .map_err(database_error("job_list"))?;
    let parameters: Vec<&(dyn ToSql + Sync)> = values
        .iter()
        .map(|value| value.as_ref() as &(dyn ToSql + Sync))
        .collect();
    client
        .query(&statement, &parameters)
        .await
        .map_err(database_error("job_list"))?
        .iter()
        .map(job_from_row)
        .collect()
}

/// The newest change a reader may see: changes of transactions older than every transaction
/// still running (see `store/changes.rs`).
const VISIBLE: &str = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// Jobs whose latest change comes after `after`, in change order.
pub(super) async fn changes<C: GenericClient>(
    client: &C,
    after: ChangeCursor,
    filter: &ChangeFilter,
    limit: usize,
) -> Result<Vec<JobChange>, StoreError> {
    let mut sql = format!(
        "SELECT {COLUMNS}, jobs.change_seq FROM jobs \
         WHERE (jobs.change_seq, jobs.id) > ($1, $2) AND jobs.change_seq < {VISIBLE}"
    );
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> =
        vec![Box::new(after.seq), Box::new(after.id)];
    let mut add = |clause: &str, value: Box<dyn ToSql + Sync + Send>| {
        values.push(value);
        sql.push_str(&format!(" AND {clause} ${}", values.len()));
    };
    if let Some(id) = filter.job {
        add("jobs.id =", Box::new(id.0));
    }
    for (column, value) in [
        ("jobs.tenant =", &filter.tenant),
        ("jobs.plugin =", &filter.plugin),
        ("jobs.queue =", &filter.queue),
        ("jobs.kind =", &filter.kind),
    ] {
        if let Some(value) = value {
            add(column, Box::new(value.clone()));
        }
    }
    values.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
    sql.push_str(&format!(
        " ORDER BY jobs.change_seq, jobs.id LIMIT ${}",
        values.len()
    ));
    let statement = client
        .prepare_cached(&sql)
        .await
        .map_err(database_error("job_changes"))?;
    let parameters: Vec<&(dyn ToSql + Sync)> = values
        .iter()
        .map(|value| value.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let rows = client
        .query(&statement, &parameters)
        .await
        .map_err(database_error("job_changes"))?;
    rows.iter()
        .map(|row| {
            let job = job_from_row(row)?;
            let seq: i64 = row.try_get(23).map_err(database_error("job_changes"))?;
            Ok(JobChange {
                cursor: ChangeCursor { seq, id: job.id.0 },
                job,
            })
        })
        .collect()
}

/// Just before the oldest transaction still running: every change a reader can see now.
pub(super) async fn change_head<C: GenericClient>(client: &C) -> Result<ChangeCursor, StoreError> {
    let statement = client
        .prepare_cached(&format!("SELECT {VISIBLE} - 1"))
        .await
        .map_err(database_error("job_change_head"))?;
    let row = client
        .query_one(&statement, &[])
        .await
        .map_err(database_error("job_change_head"))?;
    let seq: i64 = row.try_get(0).map_err(database_error("job_change_head"))?;
    Ok(ChangeCursor::after_seq(seq))
}

pub(super) async fn counts<C: GenericClient>(client: &C) -> Result<Vec<JobCount>, StoreError> {
    // Byte order, as SQLite sorts, whatever the database's collation.
    let statement = client
        .prepare_cached(
            "SELECT queue, status, count(*) FROM jobs GROUP BY queue, status \
             ORDER BY queue COLLATE \"C\", status COLLATE \"C\"",
        )
        .await
        .map_err(database_error("job_counts"))?;
    let rows = client
        .query(&statement, &[])
        .await
        .map_err(database_error("job_counts"))?;
    let mut counts = Vec::with_capacity(rows.len());
    for row in rows {
        let (queue, status, count): (String, String, i64) = (
            row.try_get(0).map_err(database_error("job_counts"))?,
            row.try_get(1).map_err(database_error("job_counts"))?,
            row.try_get(2).map_err(database_error("job_counts"))?,
        );
        counts.push(JobCount {
            queue,
            status: status.parse().map_err(StoreError::Corrupt)?,
            count,
        });
    }
    Ok(counts)
}

/// Queued and running jobs, each counted in its partial index (`jobs_claim`, `jobs_lease`).
pub(super) async fn counts_unfinished<C: GenericClient>(
    client: &C,
) -> Result<UnfinishedCounts, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT (SELECT count(*) FROM jobs WHERE status = 'queued'), \
                    (SELECT count(*) FROM jobs WHERE status = 'running')",
        )
        .await
        .map_err(database_error("job_counts_unfinished"))?;
    let row = client
        .query_one(&statement, &[])
        .await
        .map_err(database_error("job_counts_unfinished"))?;
    Ok(UnfinishedCounts {
        queued: row
            .try_get(0)
            .map_err(database_error("job_counts_unfinished"))?,
        running: row
            .try_get(1)
            .map_err(database_error("job_counts_unfinished"))?,
    })
}

pub(super) async fn counts_by_kind<C: GenericClient>(
    client: &C,
) -> Result<Vec<JobKindCount>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT kind, status, count(*) FROM jobs GROUP BY kind, status \
             ORDER BY kind COLLATE \"C\", status COLLATE \"C\"",
        )
        .await
        .map_err(database_error("job_counts_by_kind"))?;
    let rows = client
        .query(&statement, &[])
        .await
        .map_err(database_error("job_counts_by_kind"))?;
    let mut counts = Vec::with_capacity(rows.len());
    for row in rows {
        let (kind, status, count): (String, String, i64) = (
            row.try_get(0)
                .map_err(database_error("job_counts_by_kind"))?,
            row.try_get(1)
                .map_err(database_error("job_counts_by_kind"))?,
            row.try_get(2)
                .map_err(database_error("job_counts_by_kind"))?,
        );
        counts.push(JobKindCount {
            kind,
            status: status.parse().map_err(StoreError::Corrupt)?,
            count,
        });
    }
    Ok(counts)
}

pub(super) async fn heartbeat<C: GenericClient>(
    client: &C,
    params: &HeartbeatParams,
) -> Result<HeartbeatOutcome, StoreError> {
    if params.ids.is_empty() {
        return Ok(HeartbeatOutcome::default());
    }
    let statement = client
        .prepare_cached(
            "UPDATE jobs SET lease_expires_at = now() + $3::bigint * interval '1 microsecond' \
             WHERE id = ANY($1::bigint[]) AND status = 'running' AND lease_owner = $2 \
             RETURNING id, cancel_requested",
        )
        .await
        .map_err(database_error("job_heartbeat"))?;
    let ids: Vec<i64> = params.ids.iter().map(|id| id.0).collect();
    let rows = client
        .query(&statement, &[&ids, &params.owner, &micros(params.lease)])
        .await
        .map_err(database_error("job_heartbeat"))?;
    let mut held: HashMap<i64, bool> = HashMap::with_capacity(rows.len());
    for row in rows {
        held.insert(
            row.try_get(0).map_err(database_error("job_heartbeat"))?,
            row.try_get(1).map_err(database_error("job_heartbeat"))?,
        );
    }
    // Answer in the caller's order.
    let mut outcome = HeartbeatOutcome::default();
    for id in &params.ids {
        if let Some(cancel_requested) = held.get(&id.0) {
            outcome.held.push(*id);
            if *cancel_requested {
                outcome.cancel_requested.push(*id);
            }
        }
    }
    Ok(outcome)
}

pub(super) async fn release<C: GenericClient>(
    client: &C,
    channel: &str,
    owner: &str,
    ids: &[JobId],
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let statement = client
        .prepare_cached(
            "UPDATE jobs SET status = 'queued', attempt = greatest(attempt - 1, 0), \
               lease_owner = NULL, lease_expires_at = NULL, started_at = NULL, change_seq = pg_current_xact_id()::text::bigint \
             WHERE id = ANY($1::bigint[]) AND status = 'running' AND lease_owner = $2",
        )
        .await
        .map_err(database_error("job_release"))?;
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let released = client
        .execute(&statement, &[&ids, &owner])
        .await
        .map_err(database_error("job_release"))?;
    if released > 0 {
        announce_committed(
            client,
            channel,
            &[StoreNotice::JobsAvailable { queue: None }],
        )
        .await;
    }
    Ok(released)
}

pub(super) async fn rescue<C: GenericClient>(
    client: &C,
    channel: &str,
) -> Result<Vec<JobId>, StoreError> {
    // SKIP LOCKED: a job whose worker is heartbeating or finishing right now is not waited for;
    // if its lease is still expired afterwards, the next rescue takes it.
    let statement = client
        .prepare_cached(
            "WITH expired AS ( \
               SELECT id FROM jobs WHERE status = 'running' AND lease_expires_at < now() \
               FOR UPDATE SKIP LOCKED) \
             UPDATE jobs SET \
               status = CASE WHEN jobs.cancel_requested THEN 'cancelled' \
                             WHEN jobs.attempt >= jobs.max_attempts THEN 'failed' \
                             ELSE 'queued' END, \
               error = CASE WHEN jobs.cancel_requested \
                            THEN 'cancelled; its worker stopped answering' \
                            ELSE 'lease expired: the worker holding this job stopped (attempt ' \
                                 || jobs.attempt || ' of ' || jobs.max_attempts || ')' END, \
               finished_at = CASE WHEN jobs.cancel_requested OR jobs.attempt >= jobs.max_attempts \
                                  THEN now() ELSE NULL END, \
               run_at = now(), lease_owner = NULL, lease_expires_at = NULL, change_seq = pg_current_xact_id()::text::bigint \
             FROM expired WHERE jobs.id = expired.id \
             RETURNING jobs.id",
        )
        .await
        .map_err(database_error("job_rescue"))?;
    let rows = client
        .query(&statement, &[])
        .await
        .map_err(database_error("job_rescue"))?;
    let mut rescued = rows
        .iter()
        .map(|row| row.try_get(0).map(JobId))
        .collect::<Result<Vec<_>, _>>()
        .map_err(database_error("job_rescue"))?;
    rescued.sort();
    if !rescued.is_empty() {
        announce_committed(
            client,
            channel,
            &[StoreNotice::JobsAvailable { queue: None }],
        )
        .await;
    }
    Ok(rescued)
}

pub(super) async fn cancel(
    client: &mut deadpool_postgres::Client,
    channel: &str,
    id: JobId,
) -> Result<CancelOutcome, StoreError> {
    let error = database_error("job_cancel");
    let transaction = client.transaction().await.map_err(&error)?;
    let select = transaction
        .prepare_cached("SELECT status FROM jobs WHERE id = $1 FOR UPDATE")
        .await
        .map_err(&error)?;
    let Some(row) = transaction
        .query_opt(&select, &[&id.0])
        .await
        .map_err(&error)?
    else {
        return Ok(CancelOutcome::NotFound);
    };
    let status: String = row.try_get(0).map_err(&error)?;
    let (outcome, update, notice) =
        match status.parse::<JobStatus>().map_err(StoreError::Corrupt)? {
            JobStatus::Queued => (
                CancelOutcome::Cancelled,
                "UPDATE jobs SET status = 'cancelled', error = 'cancelled before it started', \
             finished_at = now(), change_seq = pg_current_xact_id()::text::bigint WHERE id = $1",
                StoreNotice::JobChanged {
                    id,
                    status: JobStatus::Cancelled,
                },
            ),
            JobStatus::Running => (
                CancelOutcome::Requested,
                "UPDATE jobs SET cancel_requested = true, change_seq = pg_current_xact_id()::text::bigint WHERE id = $1",
                StoreNotice::CancelRequested { id },
            ),
            finished => return Ok(CancelOutcome::AlreadyFinished(finished)),
        };
    let update = transaction.prepare_cached(update).await.map_err(&error)?;
    transaction
        .execute(&update, &[&id.0])
        .await
        .map_err(&error)?;
    notify::send(&transaction, channel, &[notice])
        .await
        .map_err(&error)?;
    transaction.commit().await.map_err(&error)?;
    Ok(outcome)
}

pub(super) async fn retry<C: GenericClient>(
    client: &C,
    channel: &str,
    id: JobId,
) -> Result<Option<Job>, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "UPDATE jobs SET status = 'queued', run_at = now(), attempt = 0, error = NULL, \
               cancel_requested = false, finished_at = NULL, started_at = NULL, result = NULL, \
               change_seq = pg_current_xact_id()::text::bigint WHERE jobs.id = $1 AND jobs.status IN ('failed', 'cancelled') \
             RETURNING {COLUMNS}"
        ))
        .await
        .map_err(database_error("job_retry"))?;
    let row = client
        .query_opt(&statement, &[&id.0])
        .await
        .map_err(database_error("job_retry"))?;
    match row {
        Some(row) => {
            let job = job_from_row(&row)?;
            let notice = StoreNotice::JobsAvailable {
                queue: Some(job.queue.clone()),
            };
            announce_committed(client, channel, &[notice]).await;
            Ok(Some(job))
        }
        // Missing, or in a status that cannot be retried: answer with what is there.
        None => get(client, id).await,
    }
}

pub(super) async fn progress<C: GenericClient>(
    client: &C,
    id: JobId,
    progress: &Value,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached("UPDATE jobs SET progress = $2, change_seq = pg_current_xact_id()::text::bigint WHERE id = $1")
        .await
        .map_err(database_error("job_progress"))?;
    client
        .execute(&statement, &[&id.0, progress])
        .await
        .map_err(database_error("job_progress"))?;
    Ok(())
}

pub(super) async fn prune<C: GenericClient>(
    client: &C,
    params: &PruneParams,
) -> Result<u64, StoreError> {
    let mut rules = Vec::new();
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    if let Some(before) = params.finished_before {
        values.push(Box::new(SystemTime::from(before)));
        rules.push(format!(
            "SELECT id FROM jobs WHERE {FINISHED} AND finished_at < ${}",
            values.len()
        ));
    }
    if let Some(keep) = params.keep_last {
        values.push(Box::new(i64::try_from(keep).unwrap_or(i64::MAX)));
        rules.push(format!(
            "SELECT id FROM (SELECT id FROM jobs WHERE {FINISHED} \
               ORDER BY finished_at DESC NULLS LAST, id DESC OFFSET ${}) AS beyond_kept",
            values.len()
        ));
    }
    if rules.is_empty() {
        return Ok(0);
    }
    let statement = client
        .prepare_cached(&format!(
            "WITH doomed AS ({}), \
                  logs AS (DELETE FROM job_logs WHERE job_id IN (SELECT id FROM doomed)) \
             DELETE FROM jobs WHERE id IN (SELECT id FROM doomed)",
            rules.join(" UNION ")
        ))
        .await
        .map_err(database_error("job_prune"))?;
    let parameters: Vec<&(dyn ToSql + Sync)> = values
        .iter()
        .map(|value| value.as_ref() as &(dyn ToSql + Sync))
        .collect();
    client
        .execute(&statement, &parameters)
        .await
        .map_err(database_error("job_prune"))
}

pub(super) async fn minutes_add<C: GenericClient>(
    client: &C,
    node: &str,
    counts: &[crate::store::MinuteCounts],
) -> Result<(), StoreError> {
    let minutes: Vec<SystemTime> = counts.iter().map(|c| SystemTime::from(c.minute)).collect();
    let column = |pick: fn(&crate::store::MinuteCounts) -> i64| -> Vec<i64> {
        counts.iter().map(pick).collect()
    };
    client
        .execute(
            "INSERT INTO job_minutes (minute, node, succeeded, failed, retried, cancelled) \
             SELECT minute, $2, succeeded, failed, retried, cancelled \
             FROM unnest($1::timestamptz[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) \
               AS counts(minute, succeeded, failed, retried, cancelled) \
             ON CONFLICT (minute, node) DO UPDATE SET \
             succeeded = job_minutes.succeeded + excluded.succeeded, \
             failed = job_minutes.failed + excluded.failed, \
             retried = job_minutes.retried + excluded.retried, \
             cancelled = job_minutes.cancelled + excluded.cancelled",
            &[
                &minutes,
                &node,
                &column(|c| c.succeeded),
                &column(|c| c.failed),
                &column(|c| c.retried),
                &column(|c| c.cancelled),
            ],
        )
        .await
        .map_err(database_error("minutes_add"))?;
    Ok(())
}

pub(super) async fn minutes_list<C: GenericClient>(
    client: &C,
    since: Timestamp,
) -> Result<Vec<crate::store::MinuteCounts>, StoreError> {
    client
        .query(
            "SELECT minute, SUM(succeeded)::bigint, SUM(failed)::bigint, SUM(retried)::bigint, \
             SUM(cancelled)::bigint FROM job_minutes WHERE minute >= $1 \
             GROUP BY minute ORDER BY minute",
            &[&SystemTime::from(since)],
        )
        .await
        .map_err(database_error("minutes_list"))?
        .iter()
        .map(|row| {
            Ok(crate::store::MinuteCounts {
                minute: Timestamp::from(row.try_get::<_, SystemTime>(0)?),
                succeeded: row.try_get(1)?,
                failed: row.try_get(2)?,
                retried: row.try_get(3)?,
                cancelled: row.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(database_error("minutes_list"))
}

pub(super) async fn minutes_prune<C: GenericClient>(
    client: &C,
    before: Timestamp,
) -> Result<u64, StoreError> {
    client
        .execute(
            "DELETE FROM job_minutes WHERE minute < $1",
            &[&SystemTime::from(before)],
        )
        .await
        .map_err(database_error("minutes_prune"))
}
