//! Row and parameter types for jobs and their logs, shared by both store implementations.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A job's id. Ids grow with insertion order, so sorting by id sorts by creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A point in time, in microseconds since the Unix epoch (UTC).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The host's clock now.
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    /// This time plus `duration` (saturating).
    pub fn plus(self, duration: Duration) -> Timestamp {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(micros))
    }

    /// Milliseconds since the epoch, as a float (what benchmarks and the API report).
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Timestamp {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Timestamp(i64::try_from(after.as_micros()).unwrap_or(i64::MAX)),
            Err(before) => {
                Timestamp(-i64::try_from(before.duration().as_micros()).unwrap_or(i64::MAX))
            }
        }
    }
}

impl From<Timestamp> for SystemTime {
    fn from(time: Timestamp) -> SystemTime {
        if time.0 >= 0 {
            UNIX_EPOCH + Duration::from_micros(time.0 as u64)
        } else {
            UNIX_EPOCH - Duration::from_micros(time.0.unsigned_abs())
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for `run_at` and a free worker.
    Queued,
    /// Leased to a worker.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Finished with an error after its last attempt, or with an error that is not retryable.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl JobStatus {
    /// Every status, in life order.
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// True for the statuses a job never leaves on its own.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<JobStatus, String> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| {
                format!("unknown job status `{text}`; use one of queued, running, succeeded, failed, cancelled")
            })
    }
}

/// One job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    pub queue: String,
    pub tenant: Option<String>,
    pub plugin: Option<String>,
    pub config: Option<String>,
    pub payload: Value,
    pub status: JobStatus,
    pub priority: i32,
    pub run_at: Timestamp,
    pub attempt: i32,
    pub max_attempts: i32,
    pub timeout_ms: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<Timestamp>,
    pub cancel_requested: bool,
    pub error: Option<String>,
    pub result: Option<Value>,
    pub progress: Option<Value>,
    pub unique_key: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// A job to insert. Build one with [`NewJob::new`] and set what differs from the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    /// Default `default`.
    pub queue: String,
    pub tenant: Option<String>,
    pub plugin: Option<String>,
    pub config: Option<String>,
    pub payload: Value,
    /// Lower runs first; default 0.
    pub priority: i32,
    /// Not before this time; default now.
    pub run_at: Option<Timestamp>,
    /// Default 3 (set by `queue/`).
    pub max_attempts: i32,
    /// `None`: the queue's default timeout.
    pub timeout_ms: Option<i64>,
    pub unique_key: Option<String>,
}

impl NewJob {
    /// A job of `kind` in the `default` queue with priority 0, 3 attempts, runnable now.
    pub fn new(kind: impl Into<String>, payload: Value) -> NewJob {
        NewJob {
            kind: kind.into(),
            queue: "default".to_owned(),
            tenant: None,
            plugin: None,
            config: None,
            payload,
            priority: 0,
            run_at: None,
            max_attempts: 3,
            timeout_ms: None,
            unique_key: None,
        }
    }
}

/// The answer to an enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    pub id: JobId,
    /// False when a job with the same unique key already existed; `id` is then that job's.
    pub created: bool,
}

/// Parameters of [`super::Store::job_claim`].
#[derive(Debug, Clone)]
pub struct ClaimParams {
    pub queue: String,
    pub owner: String,
    pub limit: usize,
    pub lease: Duration,
}

/// Parameters of [`super::Store::job_heartbeat`].
#[derive(Debug, Clone)]
pub struct HeartbeatParams {
    pub owner: String,
    pub ids: Vec<JobId>,
    pub lease: Duration,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeartbeatOutcome {
    /// Jobs still leased to the owner (their lease was extended).
    pub held: Vec<JobId>,
    /// Of those, the ones with a cancel request.
    pub cancel_requested: Vec<JobId>,
}

/// How an attempt ended, as decided by `queue/`.
#[derive(Debug, Clone, PartialEq)]
pub enum FinishOutcome {
    /// `succeeded`, with an optional result.
    Succeeded { result: Option<Value> },
    /// Back to `queued`, runnable at `run_at`, keeping the error of this attempt.
    Retry { error: String, run_at: Timestamp },
    /// `failed` for good.
    Failed { error: String },
    /// `cancelled`, with why.
    Cancelled { reason: String },
}

/// The end of one attempt of one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFinish {
    pub id: JobId,
    pub owner: String,
    pub attempt: i32,
    pub outcome: FinishOutcome,
}

/// The answer to a cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job was queued and is now cancelled.
    Cancelled,
    /// The job is running; its worker has been asked to stop.
    Requested,
    /// The job had already finished with this status; nothing changed.
    AlreadyFinished(JobStatus),
    /// No such job.
    NotFound,
}

/// Filters and paging of [`super::Store::job_list`]. Jobs come newest first; pass the smallest id
/// of a page as `before_id` to get the next one.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub kind: Option<String>,
    pub queue: Option<String>,
    pub tenant: Option<String>,
    pub plugin: Option<String>,
    pub before_id: Option<JobId>,
    /// Only jobs created at or after this time.
    pub created_after: Option<Timestamp>,
    /// Only jobs created before this time.
    pub created_before: Option<Timestamp>,
    /// Only jobs whose payload has every one of these values at its path.
    pub payload: Vec<PayloadMatch>,
    /// Default (0) means 50.
    pub limit: usize,
}

/// A value a job's payload must hold at a path: `["customer", "id"]` and `42` match
/// `{"customer": {"id": 42}}`. The value is a string, number, boolean or null; keys are
/// non-empty and hold no `"` or control character (the caller checks, the store relies on it).
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadMatch {
    pub path: Vec<String>,
    pub value: serde_json::Value,
}

/// How many jobs of a queue are in a status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobCount {
    pub queue: String,
    pub status: JobStatus,
    pub count: i64,
}

/// How many jobs wait and run now, over all queues: what the partial indexes of queued and
/// running jobs count without reading the finished history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UnfinishedCounts {
    pub queued: i64,
    pub running: i64,
}

/// How many attempts finished in one minute, by outcome: summed over nodes when read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MinuteCounts {
    /// The minute's first microsecond.
    pub minute: Timestamp,
    pub succeeded: i64,
    pub failed: i64,
    /// Failed attempts that will be tried again.
    pub retried: i64,
    pub cancelled: i64,
}

impl MinuteCounts {
    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.succeeded == 0 && self.failed == 0 && self.retried == 0 && self.cancelled == 0
    }
}

/// Parameters of [`super::Store::job_prune`]; a `None` rule is not applied.
#[derive(Debug, Clone, Default)]
pub struct PruneParams {
    pub finished_before: Option<Timestamp>,
    pub keep_last: Option<u64>,
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl FromStr for LogLevel {
    type Err = String;

    fn from_str(text: &str) -> Result<LogLevel, String> {
        match text {
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warn" => Ok(LogLevel::Warn),
            "error" => Ok(LogLevel::Error),
            other => Err(format!(
                "unknown log level `{other}`; use debug, info, warn or error"
            )),
        }
    }
}

/// A log line to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLogLine {
    pub level: LogLevel,
    pub message: String,
}

/// What one running job produced since its last write: log lines, in order, and its latest
/// progress (if it reported any).
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutput {
    pub job_id: JobId,
    pub lines: Vec<NewLogLine>,
    pub progress: Option<serde_json::Value>,
}

/// A stored log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    pub job_id: JobId,
    pub seq: i64,
    pub time: Timestamp,
    pub level: LogLevel,
    pub message: String,
}

/// How many jobs have one kind and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobKindCount {
    pub kind: String,
    pub status: JobStatus,
    pub count: i64,
}
