//! Job log statements for PostgreSQL.
//!
//! Sequence numbers come from the `log_seq` counter on the job row: raising it locks the row, so
//! appends to one job are serialised (on every node) while appends to different jobs run in
//! parallel. One statement raises the counter, inserts the lines and announces the last number.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;

use super::{database_error, storable_text};
use crate::store::{JobId, LogLine, NewLogLine, StoreError, Timestamp};

pub(super) async fn append<C: GenericClient>(
    client: &C,
    channel: &str,
    job_id: JobId,
    lines: &[NewLogLine],
) -> Result<i64, StoreError> {
    let error = database_error("log_append");
    // The notice's JSON is built here rather than by `notify::encode` because only this
    // statement knows the sequence number; `notify::decode` reads it (see its tests).
    let statement = client
        .prepare_cached(
            "WITH counter AS ( \
               UPDATE jobs SET log_seq = log_seq + $2 WHERE id = $1 RETURNING log_seq), \
             inserted AS ( \
               INSERT INTO job_logs (job_id, seq, time, level, message) \
               SELECT $1, counter.log_seq - $2 + line.ordinality, now(), line.level, line.message \
               FROM counter, unnest($3::text[], $4::text[]) WITH ORDINALITY \
                 AS line(level, message, ordinality)) \
             SELECT log_seq, \
               pg_notify($5, json_build_object('t', 'log', 'job', $1::bigint, 'seq', log_seq)::text) \
             FROM counter",
        )
        .await
        .map_err(&error)?;
    let count = i64::try_from(lines.len()).unwrap_or(i64::MAX);
    let levels: Vec<&str> = lines.iter().map(|line| line.level.as_str()).collect();
    let messages: Vec<std::borrow::Cow<'_, str>> = lines
        .iter()
        .map(|line| storable_text(&line.message))
        .collect();
    let messages: Vec<&str> = messages.iter().map(|message| message.as_ref()).collect();
    let row = client
        .query_opt(
            &statement,
            &[&job_id.0, &count, &levels, &messages, &channel],
        )
        .await
        .map_err(&error)?;
    let Some(row) = row else {
        return Err(StoreError::Conflict(format!(
            "job {job_id} does not exist; cannot append logs to it"
        )));
    };
    row.try_get(0).map_err(&error)
}

pub(super) async fn list<C: GenericClient>(
    client: &C,
    job_id: JobId,
    after_seq: i64,
    limit: usize,
) -> Result<Vec<LogLine>, StoreError> {
    let error = database_error("log_list");
    let statement = client
        .prepare_cached(
            "SELECT seq, time, level, message FROM job_logs \
             WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .await
        .map_err(&error)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(&statement, &[&job_id.0, &after_seq, &limit])
        .await
        .map_err(&error)?;
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        let level: String = row.try_get(2).map_err(&error)?;
        lines.push(LogLine {
            job_id,
            seq: row.try_get(0).map_err(&error)?,
            time: Timestamp::from(row.try_get::<_, SystemTime>(1).map_err(&error)?),
            level: level.parse().map_err(StoreError::Corrupt)?,
            message: row.try_get(3).map_err(&error)?,
        });
    }
    Ok(lines)
}
