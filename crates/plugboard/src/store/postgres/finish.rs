//! Applying the outcomes of finished attempts on PostgreSQL, many at once.
//!
//! Finishes are grouped by kind (succeeded, retry, failed or cancelled) and each group is one
//! `UPDATE .. FROM unnest(..)` guarded per row by `status = 'running'`, the lease owner and the
//! attempt, so a batch of any size costs at most three statements. The rare batch that names
//! one job twice is split into rounds, each naming a job once, applied in order: the same
//! result as applying the finishes one by one.

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use serde_json::Value;

use super::jobs::announce_committed;
use super::{database_error, notify, storable_text};
use crate::store::{FinishOutcome, JobFinish, JobId, StoreError, StoreNotice};

const SUCCEEDED: &str =
    "UPDATE jobs SET status = 'succeeded', result = finish.result, error = NULL, \
       finished_at = now(), lease_owner = NULL, lease_expires_at = NULL, \
       change_seq = pg_current_xact_id()::text::bigint \
     FROM unnest($1::bigint[], $2::text[], $3::int[], $4::jsonb[]) \
       AS finish(id, owner, attempt, result) \
     WHERE jobs.id = finish.id AND jobs.status = 'running' \
       AND jobs.lease_owner = finish.owner AND jobs.attempt = finish.attempt \
     RETURNING jobs.id, jobs.queue";

const RETRY: &str = "UPDATE jobs SET status = 'queued', error = finish.error, \
       run_at = finish.run_at, lease_owner = NULL, lease_expires_at = NULL, \
       change_seq = pg_current_xact_id()::text::bigint \
     FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::timestamptz[]) \
       AS finish(id, owner, attempt, error, run_at) \
     WHERE jobs.id = finish.id AND jobs.status = 'running' \
       AND jobs.lease_owner = finish.owner AND jobs.attempt = finish.attempt \
     RETURNING jobs.id, jobs.queue";

const FINAL: &str = "UPDATE jobs SET status = finish.status, error = finish.error, \
       finished_at = now(), lease_owner = NULL, lease_expires_at = NULL, \
       change_seq = pg_current_xact_id()::text::bigint \
     FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::text[]) \
       AS finish(id, owner, attempt, status, error) \
     WHERE jobs.id = finish.id AND jobs.status = 'running' \
       AND jobs.lease_owner = finish.owner AND jobs.attempt = finish.attempt \
     RETURNING jobs.id, jobs.queue";

/// Indices into the caller's finishes, one statement's worth.
#[derive(Default)]
struct Round {
    succeeded: Vec<usize>,
    retry: Vec<usize>,
    final_: Vec<usize>,
}

impl Round {
    fn statements(&self) -> usize {
        [&self.succeeded, &self.retry, &self.final_]
            .iter()
            .filter(|group| !group.is_empty())
            .count()
    }
}

/// What applied: indices of the finishes, and the queues that got a job back.
#[derive(Default)]
struct Applied {
    indices: Vec<usize>,
    requeued: BTreeSet<String>,
}

pub(super) async fn finish_many(
    client: &mut deadpool_postgres::Client,
    channel: &str,
    finishes: &[JobFinish],
) -> Result<Vec<JobId>, StoreError> {
    let error = database_error("job_finish");
    let rounds = rounds(finishes);
    let statements: usize = rounds.iter().map(Round::statements).sum();
    let mut applied = Applied::default();
    if statements <= 1 {
        // One statement is its own transaction; its notice follows the commit.
        for round in &rounds {
            apply_round(&*client, finishes, round, &mut applied).await?;
        }
        announce_committed(&*client, channel, &requeued_notices(&applied)).await;
    } else {
        let transaction = client.transaction().await.map_err(&error)?;
        for round in &rounds {
            apply_round(&transaction, finishes, round, &mut applied).await?;
        }
        notify::send(&transaction, channel, &requeued_notices(&applied))
            .await
            .map_err(&error)?;
        transaction.commit().await.map_err(&error)?;
    }
    applied.indices.sort_unstable();
    Ok(applied
        .indices
        .into_iter()
        .map(|index| finishes[index].id)
        .collect())
}

/// Splits finishes into rounds in which each job appears once, grouped by kind and sorted by id
/// (so concurrent batches lock rows in the same order).
fn rounds(finishes: &[JobFinish]) -> Vec<Round> {
    let mut seen: HashMap<JobId, usize> = HashMap::with_capacity(finishes.len());
    let mut rounds: Vec<Round> = Vec::new();
    for (index, finish) in finishes.iter().enumerate() {
        let count = seen.entry(finish.id).or_insert(0);
        let round_index = *count;
        *count += 1;
        if rounds.len() <= round_index {
            rounds.push(Round::default());
        }
        let round = &mut rounds[round_index];
        match finish.outcome {
            FinishOutcome::Succeeded { .. } => round.succeeded.push(index),
            FinishOutcome::Retry { .. } => round.retry.push(index),
            FinishOutcome::Failed { .. } | FinishOutcome::Cancelled { .. } => {
                round.final_.push(index)
            }
        }
    }
    for round in &mut rounds {
        for group in [&mut round.succeeded, &mut round.retry, &mut round.final_] {
            group.sort_by_key(|index| finishes[*index].id);
        }
    }
    rounds
}

async fn apply_round<C: GenericClient>(
    client: &C,
    finishes: &[JobFinish],
    round: &Round,
    applied: &mut Applied,
) -> Result<(), StoreError> {
    if !round.succeeded.is_empty() {
        let results: Vec<Option<&Value>> = round
            .succeeded
            .iter()
            .map(|index| match &finishes[*index].outcome {
                FinishOutcome::Succeeded { result } => result.as_ref(),
                _ => None,
            })
            .collect();
        let (ids, owners, attempts) = keys(finishes, &round.succeeded);
        let rows = run(client, SUCCEEDED, &[&ids, &owners, &attempts, &results]).await?;
        record(&rows, finishes, &round.succeeded, applied, false)?;
    }
    if !round.retry.is_empty() {
        let mut errors = Vec::with_capacity(round.retry.len());
        let mut run_ats = Vec::with_capacity(round.retry.len());
        for index in &round.retry {
            if let FinishOutcome::Retry { error, run_at } = &finishes[*index].outcome {
                errors.push(storable_text(error));
                run_ats.push(SystemTime::from(*run_at));
            }
        }
        let errors: Vec<&str> = errors.iter().map(|error| error.as_ref()).collect();
        let (ids, owners, attempts) = keys(finishes, &round.retry);
        let rows = run(
            client,
            RETRY,
            &[&ids, &owners, &attempts, &errors, &run_ats],
        )
        .await?;
        record(&rows, finishes, &round.retry, applied, true)?;
    }
    if !round.final_.is_empty() {
        let mut statuses = Vec::with_capacity(round.final_.len());
        let mut errors = Vec::with_capacity(round.final_.len());
        for index in &round.final_ {
            match &finishes[*index].outcome {
                FinishOutcome::Failed { error } => {
                    statuses.push("failed");
                    errors.push(storable_text(error));
                }
                FinishOutcome::Cancelled { reason } => {
                    statuses.push("cancelled");
                    errors.push(storable_text(reason));
                }
                FinishOutcome::Succeeded { .. } | FinishOutcome::Retry { .. } => {}
            }
        }
        let errors: Vec<&str> = errors.iter().map(|error| error.as_ref()).collect();
        let (ids, owners, attempts) = keys(finishes, &round.final_);
        let rows = run(
            client,
            FINAL,
            &[&ids, &owners, &attempts, &statuses, &errors],
        )
        .await?;
        record(&rows, finishes, &round.final_, applied, false)?;
    }
    Ok(())
}

/// The guard columns of `group`: ids, lease owners, attempts.
fn keys<'a>(finishes: &'a [JobFinish], group: &[usize]) -> (Vec<i64>, Vec<&'a str>, Vec<i32>) {
    let ids = group.iter().map(|index| finishes[*index].id.0).collect();
    let owners = group
        .iter()
        .map(|index| finishes[*index].owner.as_str())
        .collect();
    let attempts = group.iter().map(|index| finishes[*index].attempt).collect();
    (ids, owners, attempts)
}

async fn run<C: GenericClient>(
    client: &C,
    sql: &str,
    parameters: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let error = database_error("job_finish");
    let statement = client.prepare_cached(sql).await.map_err(&error)?;
    client.query(&statement, parameters).await.map_err(&error)
}

/// Notes which finishes of `group` the returned `(id, queue)` rows applied.
fn record(
    rows: &[tokio_postgres::Row],
    finishes: &[JobFinish],
    group: &[usize],
    applied: &mut Applied,
    requeued: bool,
) -> Result<(), StoreError> {
    let error = database_error("job_finish");
    let by_id: HashMap<JobId, usize> = group
        .iter()
        .map(|index| (finishes[*index].id, *index))
        .collect();
    for row in rows {
        let id = JobId(row.try_get(0).map_err(&error)?);
        if let Some(index) = by_id.get(&id) {
            applied.indices.push(*index);
        }
        if requeued {
            applied.requeued.insert(row.try_get(1).map_err(&error)?);
        }
    }
    Ok(())
}

fn requeued_notices(applied: &Applied) -> Vec<StoreNotice> {
    applied
        .requeued
        .iter()
        .map(|queue| StoreNotice::JobsAvailable {
            queue: Some(queue.clone()),
        })
        .collect()
}
