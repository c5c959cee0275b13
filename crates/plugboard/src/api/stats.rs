//! `/api/v1/stats`: what the overview's charts show: finished attempts per minute over the last
//! hour or day (kept by every node, `queue::keep_minutes`), and how many jobs wait and run now.
//! For the admin token and global tokens (read is enough): the counts span every tenant.
//!
//! Nothing here reads the finished history: the finished counts come from the per-minute
//! series and the queued and running ones from their own indexes, so the overview stays fast
//! with millions of jobs kept (docs/benchmarks.md).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::problem::{ApiError, Problem, QueryParams};
use super::{time, AppState};
use crate::queue::minute_of;
use crate::store::{MinuteCounts, Timestamp};

/// `GET /api/v1/stats`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// `hour` (60 buckets of a minute, the default) or `day` (144 buckets of ten minutes).
    #[param(pattern = "^(hour|day)$")]
    pub window: Option<String>,
}

/// Finished attempts in one bucket, by outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsBucket {
    /// The bucket's start, RFC 3339.
    pub at: String,
    pub succeeded: i64,
    /// Failed for good.
    pub failed: i64,
    /// Failed and tried again later.
    pub retried: i64,
    pub cancelled: i64,
}

/// How far back a series reaches: an hour in minutes or a day in ten minutes.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used.
pub enum WindowName {
    Hour,
    Day,
}

/// The overview's numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    #[schema(inline, value_type = WindowName)]
    pub window: String,
    pub bucket_seconds: u32,
    /// Oldest first, every bucket of the window (empty ones too), the last one still filling.
    pub buckets: Vec<StatsBucket>,
    /// How many jobs wait and run now, over every queue.
    pub now: NowCounts,
}

/// Jobs queued and running at the moment of the answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct NowCounts {
    pub queued: i64,
    pub running: i64,
}

/// Finished jobs over the last hour or day, and the jobs queued and running now.
#[utoipa::path(get, path = "/api/v1/stats", operation_id = "get_stats", tag = "health", params(StatsQuery),
    responses(
        (status = 200, body = Stats),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    caller.require_global()?;
    let (window, bucket_seconds, count) = match query.window.as_deref().unwrap_or("hour") {
        "hour" => ("hour", 60u32, 60usize),
        "day" => ("day", 600, 144),
        other => {
            return Err(ApiError::invalid(
                "window",
                format!("`{other}` is not a window; use hour or day"),
            ))
        }
    };
    let bucket = i64::from(bucket_seconds) * 1_000_000;
    let now = minute_of(Timestamp::now()).0;
    let last = now - now.rem_euclid(bucket);
    let first = last - bucket * (count as i64 - 1);
    let store = state.queue.store();
    let minutes = store.minutes_list(Timestamp(first)).await?;
    let buckets = fill(&minutes, first, bucket, count);
    let unfinished = store.job_counts_unfinished().await?;
    Ok(Json(Stats {
        window: window.to_owned(),
        bucket_seconds,
        buckets,
        now: NowCounts {
            queued: unfinished.queued,
            running: unfinished.running,
        },
    }))
}

/// `count` buckets of `bucket` microseconds from `first`, each the sum of the minutes in it.
fn fill(minutes: &[MinuteCounts], first: i64, bucket: i64, count: usize) -> Vec<StatsBucket> {
    let mut sums = vec![MinuteCounts::default(); count];
    for minute in minutes {
        let index = (minute.minute.0 - first).div_euclid(bucket);
        if let Some(sum) = usize::try_from(index).ok().and_then(|i| sums.get_mut(i)) {
            sum.succeeded += minute.succeeded;
            sum.failed += minute.failed;
            sum.retried += minute.retried;
            sum.cancelled += minute.cancelled;
        }
    }
    sums.into_iter()
        .enumerate()
        .map(|(index, sum)| StatsBucket {
            at: time::format(Timestamp(first + bucket * index as i64)),
            succeeded: sum.succeeded,
            failed: sum.failed,
            retried: sum.retried,
            cancelled: sum.cancelled,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_land_in_their_buckets() {
        let minute = 60_000_000;
        let minutes = [
            MinuteCounts {
                minute: Timestamp(0),
                succeeded: 1,
                ..MinuteCounts::default()
            },
            MinuteCounts {
                minute: Timestamp(9 * minute),
                succeeded: 2,
                failed: 1,
                ..MinuteCounts::default()
            },
            MinuteCounts {
                minute: Timestamp(10 * minute),
                retried: 4,
                ..MinuteCounts::default()
            },
            // Outside the window: ignored.
            MinuteCounts {
                minute: Timestamp(30 * minute),
                succeeded: 100,
                ..MinuteCounts::default()
            },
        ];
        let buckets = fill(&minutes, 0, 10 * minute, 2);
        assert_eq!(buckets.len(), 2);
        assert_eq!((buckets[0].succeeded, buckets[0].failed), (3, 1));
        assert_eq!(buckets[1].retried, 4);
    }
}
