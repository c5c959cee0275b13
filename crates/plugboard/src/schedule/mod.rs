//! Schedules: turning configs with an interval or a cron expression into due `plugin.run`
//! jobs, exactly once, on any number of nodes.
//!
//! Owns: the schedule spec a config carries ([`ScheduleSpec`]) and its checks, fire-time
//! computation in a time zone (`cron.rs`, on `croner`), jitter (the same on every node: a hash
//! of config and fire time), the misfire and overlap policies ([`evaluate`]), and the scheduler
//! loop that every node runs in `serve` ([`Scheduler`]).
//!
//! Exactly once: each config row holds a cursor (`last_fire_at`: every fire up to it has been
//! handled). A node evaluates the fires after the cursor and applies them with
//! [`crate::store::Store::config_fire_many`], which moves the cursor only if it is still where
//! the evaluation started and enqueues the fires' jobs in the same transaction. Every job also
//! carries the unique key `schedule:<config id>:<fire time>`. So several nodes evaluating the
//! same config at once produce one job per fire, and a pruned job is never fired again.
//!
//! Must not touch: SQL (everything goes through `Store`), processes, HTTP. It does not run
//! jobs: the worker pool does.
//!
//! Limits: fires are found by polling `config_due` every tick (200 ms by default), so a job
//! starts up to a tick plus the queue's wake-up after its fire time. Nodes' clocks decide when
//! a fire is due; a node whose clock runs ahead enqueues early (the job's `run_at` is still the
//! fire time plus jitter).

mod clock;
mod cron;
mod scheduler;
mod spec;

#[cfg(test)]
mod tests;

pub use clock::{Clock, ManualClock, SystemClock};
pub use scheduler::{fire_job, Scheduler, SchedulerConfig, TickReport, PLUGIN_RUN};
pub use spec::{
    MisfirePolicy, OverlapPolicy, Schedule, ScheduleSpec, DEFAULT_MISFIRE_GRACE_SECONDS,
};

use crate::store::{StoreError, Timestamp};

/// What can go wrong with a schedule. Messages name the field and say what to write.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("the schedule is not a schedule document: {0}; write for example {{\"cron\": \"0 */5 * * * *\", \"timezone\": \"Europe/Berlin\"}} or {{\"interval_seconds\": 300}}")]
    Json(String),
    #[error("invalid schedule {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("invalid cron expression `{expression}`: {reason}")]
    Cron { expression: String, reason: String },
    #[error(
        "unknown time zone `{0}`; use an IANA name such as UTC, Europe/Berlin or America/New_York"
    )]
    UnknownTimeZone(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The most fires one evaluation of one config enqueues (a catch-up within the grace period).
pub const MAX_FIRES_PER_EVALUATION: usize = 1_000;

/// What one evaluation of a schedule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The fires to enqueue, oldest first.
    pub fires: Vec<Timestamp>,
    /// Whether fires older than the grace period were found (and run once or skipped).
    pub misfired: bool,
    /// The cursor after these fires.
    pub cursor: Timestamp,
    /// The next fire after the cursor.
    pub next_fire: Option<Timestamp>,
}

/// Decides which fires after `cursor` are handled at `now`: fires later than the grace period
/// follow the misfire policy, the others are all enqueued (up to [`MAX_FIRES_PER_EVALUATION`]);
/// with the overlap policy `queue` only the first is handled, so fires run one at a time.
pub fn evaluate(schedule: &Schedule, cursor: Timestamp, now: Timestamp) -> Evaluation {
    if schedule.paused {
        return Evaluation {
            fires: Vec::new(),
            misfired: false,
            cursor,
            next_fire: None,
        };
    }
    let boundary = Timestamp(now.0.saturating_sub(schedule.misfire_grace_micros));
    let mut fires = Vec::new();
    let mut position = cursor;
    let mut misfired = false;
    if schedule
        .next_after(position)
        .is_some_and(|first| first < boundary)
    {
        if let Some(last_missed) = schedule.last_between(position, Timestamp(boundary.0 - 1)) {
            misfired = true;
            if schedule.misfire == MisfirePolicy::RunOnce {
                fires.push(last_missed);
            }
            position = last_missed;
        }
    }
    while fires.len() < MAX_FIRES_PER_EVALUATION {
        match schedule.next_after(position) {
            Some(next) if next <= now => {
                fires.push(next);
                position = next;
            }
            _ => break,
        }
    }
    if schedule.overlap == OverlapPolicy::Queue && fires.len() > 1 {
        fires.truncate(1);
        position = fires[0];
    }
    Evaluation {
        fires,
        misfired,
        cursor: position,
        next_fire: schedule.next_after(position),
    }
}

/// The unique key of one fire's job: `schedule:<config id>:<fire time, RFC 3339 UTC>`.
pub fn fire_key(config_id: &str, fire: Timestamp) -> String {
    format!("schedule:{config_id}:{}", format_time(fire))
}

/// A time as RFC 3339 in UTC with microseconds (`2026-03-29T01:30:00.000000Z`).
pub fn format_time(time: Timestamp) -> String {
    spec::to_utc(time).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
