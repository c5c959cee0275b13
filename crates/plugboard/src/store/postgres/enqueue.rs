//! Enqueueing jobs on PostgreSQL, one at a time or in large batches, with the unique-key rule:
//! a key names at most one job, and every enqueue of that key answers with that job's id.
//!
//! `INSERT .. ON CONFLICT DO NOTHING` waits for a concurrent insert of the same key to commit or
//! abort, so exactly one row is made; the losers then read the winner's id. If that row was
//! deleted in between (pruned), the insert is tried again.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::SystemTime;

use deadpool_postgres::{GenericClient, Transaction};
use serde_json::Value;

use super::{database_error, notify};
use crate::store::{Enqueued, JobId, NewJob, StoreError, StoreNotice};

/// Rows per `INSERT` of a batch: large enough to amortise the round trip, small enough to keep
/// each statement's arrays a few megabytes.
const ROWS_PER_STATEMENT: usize = 5_000;

/// How many times an enqueue whose key both clashed and vanished is tried again.
const UNIQUE_KEY_ATTEMPTS: usize = 5;

pub(super) async fn enqueue<C: GenericClient>(
    client: &C,
    channel: &str,
    job: &NewJob,
) -> Result<Enqueued, StoreError> {
    let error = database_error("job_enqueue");
    // One statement inserts and announces, so the notice commits with the row.
    let insert = client
        .prepare_cached(
            "WITH inserted AS ( \
               INSERT INTO jobs (kind, queue, tenant, plugin, config, payload, status, priority, \
                 run_at, max_attempts, timeout_ms, unique_key) \
               VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, COALESCE($8::timestamptz, now()), \
                 $9, $10, $11) \
               ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING \
               RETURNING id) \
             SELECT id, pg_notify($12, $13) FROM inserted",
        )
        .await
        .map_err(&error)?;
    let run_at = job.run_at.map(SystemTime::from);
    let notice = notify::encode(&StoreNotice::JobsAvailable {
        queue: Some(job.queue.clone()),
    });
    for _ in 0..UNIQUE_KEY_ATTEMPTS {
        let inserted = client
            .query_opt(
                &insert,
                &[
                    &job.kind,
                    &job.queue,
                    &job.tenant,
                    &job.plugin,
                    &job.config,
                    &job.payload,
                    &job.priority,
                    &run_at,
                    &job.max_attempts,
                    &job.timeout_ms,
                    &job.unique_key,
                    &channel,
                    &notice,
                ],
            )
            .await
            .map_err(&error)?;
        if let Some(row) = inserted {
            return Ok(Enqueued {
                id: JobId(row.try_get(0).map_err(&error)?),
                created: true,
            });
        }
        let Some(key) = &job.unique_key else {
            return Err(StoreError::Backend {
                op: "job_enqueue",
                message: "the insert of a job without a unique key returned no row".to_owned(),
            });
        };
        if let Some(id) = existing_ids(client, &[key.as_str()]).await?.get(key) {
            return Ok(Enqueued {
                id: *id,
                created: false,
            });
        }
    }
    Err(vanished_key(job.unique_key.as_deref().unwrap_or_default()))
}

pub(super) async fn enqueue_many(
    client: &mut deadpool_postgres::Client,
    channel: &str,
    jobs: &[NewJob],
) -> Result<Vec<Enqueued>, StoreError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let error = database_error("job_enqueue_many");
    let transaction = client.transaction().await.map_err(&error)?;
    let answers = enqueue_many_in(&transaction, channel, jobs).await?;
    transaction.commit().await.map_err(&error)?;
    Ok(answers)
}

/// [`enqueue_many`] inside the caller's transaction (which commits it); the notices go with it.
pub(super) async fn enqueue_many_in(
    transaction: &Transaction<'_>,
    channel: &str,
    jobs: &[NewJob],
) -> Result<Vec<Enqueued>, StoreError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let error = database_error("job_enqueue_many");
    // A key repeated inside the batch is inserted by its first occurrence only; the others
    // answer with that row (created: false), as one-by-one enqueues would.
    let mut first_with_key: HashMap<&str, usize> = HashMap::new();
    let mut answered_by: Vec<usize> = Vec::with_capacity(jobs.len());
    let mut to_insert: Vec<usize> = Vec::with_capacity(jobs.len());
    for (index, job) in jobs.iter().enumerate() {
        let first = match job.unique_key.as_deref() {
            Some(key) => *first_with_key.entry(key).or_insert(index),
            None => index,
        };
        answered_by.push(first);
        if first == index {
            to_insert.push(index);
        }
    }

    // Ids are reserved up front and given out in input order, so a batch's ids grow with its
    // order and each returned id says which input row it is.
    let ids = reserve_ids(transaction, to_insert.len()).await?;
    let mut pending: Vec<(usize, i64)> = to_insert.into_iter().zip(ids).collect();
    // Keyed rows are inserted in key order: two batches sharing keys then take the keys' locks
    // in the same order and cannot deadlock.
    pending.sort_by(|(a, _), (b, _)| jobs[*a].unique_key.cmp(&jobs[*b].unique_key));

    let mut answers: Vec<Option<Enqueued>> = vec![None; jobs.len()];
    for _ in 0..UNIQUE_KEY_ATTEMPTS {
        let mut clashed = Vec::new();
        for chunk in pending.chunks(ROWS_PER_STATEMENT) {
            let created = insert_rows(transaction, jobs, chunk).await?;
            for &(index, id) in chunk {
                if created.contains(&id) {
                    answers[index] = Some(Enqueued {
                        id: JobId(id),
                        created: true,
                    });
                } else {
                    clashed.push((index, id));
                }
            }
        }
        let keys: Vec<&str> = clashed
            .iter()
            .filter_map(|(index, _)| jobs[*index].unique_key.as_deref())
            .collect();
        let existing = existing_ids(transaction, &keys).await?;
        pending = Vec::new();
        for (index, id) in clashed {
            match jobs[index]
                .unique_key
                .as_ref()
                .and_then(|key| existing.get(key))
            {
                Some(existing) => {
                    answers[index] = Some(Enqueued {
                        id: *existing,
                        created: false,
                    })
                }
                None => pending.push((index, id)),
            }
        }
        if pending.is_empty() {
            break;
        }
    }
    if let Some((index, _)) = pending.first() {
        return Err(vanished_key(
            jobs[*index].unique_key.as_deref().unwrap_or_default(),
        ));
    }

    let queues: BTreeSet<&str> = jobs.iter().map(|job| job.queue.as_str()).collect();
    let notices: Vec<StoreNotice> = queues
        .into_iter()
        .map(|queue| StoreNotice::JobsAvailable {
            queue: Some(queue.to_owned()),
        })
        .collect();
    notify::send(transaction, channel, &notices)
        .await
        .map_err(&error)?;

    answered_by
        .iter()
        .enumerate()
        .map(|(index, first)| {
            let answer = answers[*first]
                .as_ref()
                .ok_or_else(|| StoreError::Backend {
                    op: "job_enqueue_many",
                    message: format!("row {index} of the batch got no id"),
                })?;
            Ok(Enqueued {
                id: answer.id,
                created: answer.created && *first == index,
            })
        })
        .collect()
}

/// Takes `count` ids from the jobs' identity sequence, smallest first.
async fn reserve_ids(transaction: &Transaction<'_>, count: usize) -> Result<Vec<i64>, StoreError> {
    let error = database_error("job_enqueue_many");
    let statement = transaction
        .prepare_cached("SELECT nextval('jobs_id_seq') FROM generate_series(1, $1::bigint)")
        .await
        .map_err(&error)?;
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    let mut ids = transaction
        .query(&statement, &[&count])
        .await
        .map_err(&error)?
        .iter()
        .map(|row| row.try_get::<_, i64>(0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(&error)?;
    ids.sort_unstable();
    Ok(ids)
}

/// Inserts `rows` (input index, reserved id) in one statement; returns the ids it created
/// (the others clashed on their unique key).
async fn insert_rows(
    transaction: &Transaction<'_>,
    jobs: &[NewJob],
    rows: &[(usize, i64)],
) -> Result<HashSet<i64>, StoreError> {
    let error = database_error("job_enqueue_many");
    let statement = transaction
        .prepare_cached(
            "INSERT INTO jobs (id, kind, queue, tenant, plugin, config, payload, status, priority, \
               run_at, max_attempts, timeout_ms, unique_key) \
             OVERRIDING SYSTEM VALUE \
             SELECT id, kind, queue, tenant, plugin, config, payload, 'queued', priority, \
               COALESCE(run_at, now()), max_attempts, timeout_ms, unique_key \
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
               $7::jsonb[], $8::int[], $9::timestamptz[], $10::int[], $11::bigint[], $12::text[]) \
               AS input(id, kind, queue, tenant, plugin, config, payload, priority, run_at, \
                 max_attempts, timeout_ms, unique_key) \
             ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING \
             RETURNING id",
        )
        .await
        .map_err(&error)?;
    let job = |index: usize| &jobs[index];
    let ids: Vec<i64> = rows.iter().map(|(_, id)| *id).collect();
    let kinds: Vec<&str> = rows
        .iter()
        .map(|(index, _)| job(*index).kind.as_str())
        .collect();
    let queues: Vec<&str> = rows
        .iter()
        .map(|(index, _)| job(*index).queue.as_str())
        .collect();
    let tenants: Vec<Option<&str>> = rows
        .iter()
        .map(|(index, _)| job(*index).tenant.as_deref())
        .collect();
    let plugins: Vec<Option<&str>> = rows
        .iter()
        .map(|(index, _)| job(*index).plugin.as_deref())
        .collect();
    let configs: Vec<Option<&str>> = rows
        .iter()
        .map(|(index, _)| job(*index).config.as_deref())
        .collect();
    let payloads: Vec<&Value> = rows.iter().map(|(index, _)| &job(*index).payload).collect();
    let priorities: Vec<i32> = rows.iter().map(|(index, _)| job(*index).priority).collect();
    let run_ats: Vec<Option<SystemTime>> = rows
        .iter()
        .map(|(index, _)| job(*index).run_at.map(SystemTime::from))
        .collect();
    let max_attempts: Vec<i32> = rows
        .iter()
        .map(|(index, _)| job(*index).max_attempts)
        .collect();
    let timeouts: Vec<Option<i64>> = rows
        .iter()
        .map(|(index, _)| job(*index).timeout_ms)
        .collect();
    let unique_keys: Vec<Option<&str>> = rows
        .iter()
        .map(|(index, _)| job(*index).unique_key.as_deref())
        .collect();
    transaction
        .query(
            &statement,
            &[
                &ids,
                &kinds,
                &queues,
                &tenants,
                &plugins,
                &configs,
                &payloads,
                &priorities,
                &run_ats,
                &max_attempts,
                &timeouts,
                &unique_keys,
            ],
        )
        .await
        .map_err(&error)?
        .iter()
        .map(|row| row.try_get::<_, i64>(0))
        .collect::<Result<HashSet<_>, _>>()
        .map_err(&error)
}

/// The ids of the jobs holding `keys` (committed ones, or ones this transaction made).
async fn existing_ids<C: GenericClient>(
    client: &C,
    keys: &[&str],
) -> Result<HashMap<String, JobId>, StoreError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let error = database_error("job_enqueue");
    let statement = client
        .prepare_cached("SELECT unique_key, id FROM jobs WHERE unique_key = ANY($1::text[])")
        .await
        .map_err(&error)?;
    let mut existing = HashMap::with_capacity(keys.len());
    for row in client.query(&statement, &[&keys]).await.map_err(&error)? {
        existing.insert(
            row.try_get(0).map_err(&error)?,
            JobId(row.try_get(1).map_err(&error)?),
        );
    }
    Ok(existing)
}

fn vanished_key(key: &str) -> StoreError {
    StoreError::Conflict(format!(
        "the job with unique key `{key}` kept being deleted while it was enqueued; try again"
    ))
}
