//! Job log statements for SQLite.

use rusqlite::{params, Connection, OptionalExtension};

use super::backend_error;
use crate::store::{JobId, LogLine, NewLogLine, StoreError, Timestamp};

pub(super) fn append(
    connection: &Connection,
    job_id: JobId,
    lines: &[NewLogLine],
) -> Result<i64, StoreError> {
    let count = i64::try_from(lines.len()).unwrap_or(i64::MAX);
    // The counter on the job row hands out sequence numbers; the writer thread serialises appends.
    let last: Option<i64> = connection
        .prepare_cached("UPDATE jobs SET log_seq = log_seq + ?2 WHERE id = ?1 RETURNING log_seq")
        .and_then(|mut update| {
            update
                .query_row(params![job_id.0, count], |row| row.get(0))
                .optional()
        })
        .map_err(backend_error("log_append"))?;
    let Some(last) = last else {
        return Err(StoreError::Conflict(format!(
            "job {job_id} does not exist; cannot append logs to it"
        )));
    };
    let now = Timestamp::now();
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO job_logs (job_id, seq, time, level, message) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(backend_error("log_append"))?;
    let first = last - count + 1;
    for (offset, line) in lines.iter().enumerate() {
        insert
            .execute(params![
                job_id.0,
                first + offset as i64,
                now.0,
                line.level.as_str(),
                line.message
            ])
            .map_err(backend_error("log_append"))?;
    }
    Ok(last)
}

pub(super) fn list(
    connection: &Connection,
    job_id: JobId,
    after_seq: i64,
    limit: usize,
) -> Result<Vec<LogLine>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut select = connection
        .prepare_cached(
            "SELECT seq, time, level, message FROM job_logs WHERE job_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )
        .map_err(backend_error("log_list"))?;
    let rows = select
        .query_map(params![job_id.0, after_seq, limit], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        })
        .map_err(backend_error("log_list"))?;
    let mut lines = Vec::new();
    for row in rows {
        let (seq, time, level, message) = row.map_err(backend_error("log_list"))?;
        lines.push(LogLine {
            job_id,
            seq,
            time: Timestamp(time),
            level: level.parse().map_err(StoreError::Corrupt)?,
            message,
        });
    }
    Ok(lines)
}
