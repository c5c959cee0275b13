//! The job queue: the job model's rules on top of the store.
//!
//! Owns: validating what is enqueued (the kind is registered, the payload is what the kind
//! accepts), the retry policy, timeouts, cancellation, leases and their heartbeats, rescue of
//! expired leases, pruning, the watch API for job logs, and the worker pool that runs jobs
//! ([`WorkerPool`]). Job kinds are registered by the modules that own them ([`Registry`]); the
//! queue knows only the built-in `noop`.
//!
//! Must not touch: SQL (everything goes through [`Store`]), HTTP, processes.

mod changes;
pub mod limits;
mod maintenance;
mod noop;
mod registry;
mod retry;
mod stats;
mod watch;
mod worker;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::Value;

use crate::store::{
    CancelOutcome, ChangeCursor, ChangeFilter, Enqueued, Job, JobChange, JobFilter, JobId,
    JobStatus, LogLine, NewJob, Store, StoreError,
};

pub use changes::SharedChange;
pub use registry::{JobContext, JobError, JobHandler, Registry, StopReason};
pub use retry::RetryPolicy;
pub use stats::{
    keep_minutes, minute_of, Histogram, Liveness, PoolStats, QueueLiveness, MINUTES_KEPT,
    OTHER_KIND, RUN_SECONDS_BUCKETS,
};
pub use worker::{PoolConfig, QueueConfig, WorkerPool};

/// The built-in `noop` handler, for callers that wrap it (the benchmark records start times).
pub fn noop_handler() -> impl JobHandler {
    noop::Noop
}

/// What can go wrong when asking the queue for something. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("unknown job kind `{kind}`; this plugboard runs: {known}")]
    UnknownKind { kind: String, known: String },
    #[error("the payload is not valid JSON: {reason}")]
    PayloadNotJson { reason: String },
    #[error("invalid payload for a `{kind}` job: {reason}")]
    InvalidPayload { kind: String, reason: String },
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("job {0} does not exist")]
    NotFound(JobId),
    #[error("job {id} is {status}; only failed or cancelled jobs can be retried")]
    NotRetryable { id: JobId, status: JobStatus },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The front door of the queue: enqueue, inspect, cancel and retry jobs, read and follow logs.
#[derive(Clone)]
pub struct Queue {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    changes: Arc<changes::ChangeHub>,
}

impl Queue {
    pub fn new(store: Arc<dyn Store>, registry: Arc<Registry>) -> Queue {
        let changes = Arc::new(changes::ChangeHub::new(store.clone()));
        Queue {
            store,
            registry,
            changes,
        }
    }

    /// The store behind the queue.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The job kinds this queue accepts.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Parses a payload given as text (from a flag, a file or a request body).
    ///
    /// # Errors
    /// [`QueueError::PayloadNotJson`] with where the text stopped being JSON.
    pub fn parse_payload(text: &str) -> Result<Value, QueueError> {
        serde_json::from_str(text).map_err(|error| QueueError::PayloadNotJson {
            reason: error.to_string(),
        })
    }

    /// Checks a job before it is stored.
    ///
    /// # Errors
    /// An unknown kind, a payload the kind refuses, a bad queue name or limits out of range.
    pub fn validate(&self, job: &NewJob) -> Result<(), QueueError> {
        let Some(handler) = self.registry.get(&job.kind) else {
            return Err(QueueError::UnknownKind {
                kind: job.kind.clone(),
                known: self.registry.kinds().join(", "),
            });
        };
        handler
            .validate(&job.payload)
            .map_err(|reason| QueueError::InvalidPayload {
                kind: job.kind.clone(),
                reason,
            })?;
        check_queue_name(&job.queue).map_err(|reason| QueueError::Invalid {
            field: "queue",
            reason,
        })?;
        if !(1..=1000).contains(&job.max_attempts) {
            return Err(QueueError::Invalid {
                field: "max_attempts",
                reason: format!("{} is out of range; use 1 to 1000", job.max_attempts),
            });
        }
        if let Some(timeout) = job.timeout_ms {
            if timeout <= 0 {
                return Err(QueueError::Invalid {
                    field: "timeout_ms",
                    reason: format!("{timeout} is not a positive number of milliseconds"),
                });
            }
        }
        if let Some(key) = &job.unique_key {
            if key.is_empty() || key.len() > 512 {
                return Err(QueueError::Invalid {
                    field: "unique_key",
                    reason: "use 1 to 512 characters".to_owned(),
                });
            }
        }
        Ok(())
    }

    fn prepare(&self, job: &mut NewJob) {
        if let Some(handler) = self.registry.get(&job.kind) {
            handler.prepare(job);
        }
    }

    /// Whether the queue would take this job (its kind, payload and fields), without storing it.
    pub fn check(&self, job: &NewJob) -> Result<(), QueueError> {
        self.validate(job)
    }

    /// Validates and stores one job; a duplicate unique key answers the existing job.
    pub async fn enqueue(&self, mut job: NewJob) -> Result<Enqueued, QueueError> {
        self.validate(&job)?;
        self.prepare(&mut job);
        Ok(self.store.job_enqueue(job).await?)
    }

    /// Validates every job, then stores them all in one transaction (or none, if one is invalid).
    pub async fn enqueue_many(&self, mut jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, QueueError> {
        for job in &mut jobs {
            self.validate(job)?;
            self.prepare(job);
        }
        Ok(self.store.job_enqueue_many(jobs).await?)
    }

    /// Reads one job.
    pub async fn get(&self, id: JobId) -> Result<Job, QueueError> {
        self.store
            .job_get(id)
            .await?
            .ok_or(QueueError::NotFound(id))
    }

    /// Lists jobs, newest first.
    pub async fn list(&self, filter: JobFilter) -> Result<Vec<Job>, QueueError> {
        Ok(self.store.job_list(filter).await?)
    }

    /// Cancels a job: at once when queued; a running one is told, and stopped after the worker's
    /// cancel grace period if it does not stop by itself.
    pub async fn cancel(&self, id: JobId) -> Result<CancelOutcome, QueueError> {
        match self.store.job_cancel(id).await? {
            CancelOutcome::NotFound => Err(QueueError::NotFound(id)),
            outcome => Ok(outcome),
        }
    }

    /// Puts a failed or cancelled job back in the queue with fresh attempts.
    pub async fn retry(&self, id: JobId) -> Result<Job, QueueError> {
        let current = self.get(id).await?;
        if !matches!(current.status, JobStatus::Failed | JobStatus::Cancelled) {
            return Err(QueueError::NotRetryable {
                id,
                status: current.status,
            });
        }
        let job = self
            .store
            .job_retry(id)
            .await?
            .ok_or(QueueError::NotFound(id))?;
        if job.status != JobStatus::Queued {
            // Someone else retried it first; it is queued or running again either way.
            return Err(QueueError::NotRetryable {
                id,
                status: job.status,
            });
        }
        Ok(job)
    }

    /// Log lines of a job after sequence number `after_seq`.
    pub async fn logs(
        &self,
        id: JobId,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<LogLine>, QueueError> {
        Ok(self.store.log_list(id, after_seq, limit).await?)
    }

    /// Follows a job's log: every line after `after_seq`, then new lines as they are appended,
    /// until the job has finished and its last line was sent. Lines arrive in order, each once.
    pub fn follow_logs(
        &self,
        id: JobId,
        after_seq: i64,
    ) -> tokio::sync::mpsc::Receiver<Result<LogLine, QueueError>> {
        watch::follow_logs(self.store.clone(), id, after_seq)
    }

    /// Waits until a job has finished (succeeded, failed or cancelled) and answers it then: what
    /// a caller that waits for a job's outcome uses (an MCP tool call), woken by store notices
    /// and reading the job a few times a second at most without one.
    pub async fn wait_finished(&self, id: JobId) -> Result<Job, QueueError> {
        watch::wait_finished(self.store.clone(), id, |_| {}).await
    }

    /// [`Queue::wait_finished`], showing `seen` each state of the job read while it runs (its
    /// progress, for one).
    pub async fn wait_finished_watching(
        &self,
        id: JobId,
        seen: impl FnMut(&Job) + Send,
    ) -> Result<Job, QueueError> {
        watch::wait_finished(self.store.clone(), id, seen).await
    }

    /// A page of jobs whose latest change comes after `after`, in change order.
    pub async fn changes(
        &self,
        after: ChangeCursor,
        filter: ChangeFilter,
        limit: usize,
    ) -> Result<Vec<JobChange>, QueueError> {
        Ok(self.store.job_changes(after, filter, limit).await?)
    }

    /// A position after every change readable now.
    pub async fn change_head(&self) -> Result<ChangeCursor, QueueError> {
        Ok(self.store.job_change_head().await?)
    }

    /// Follows job changes live: every change matching `filter` after `after`, in order, each
    /// once. With `until_finished` the stream ends once a job reaches a finished status (for
    /// following one job).
    pub fn follow_changes(
        &self,
        filter: ChangeFilter,
        after: ChangeCursor,
        until_finished: bool,
    ) -> tokio::sync::mpsc::Receiver<Result<Arc<SharedChange>, QueueError>> {
        changes::follow(self.changes.clone(), filter, after, until_finished)
    }
}

/// The rule for queue names: 1 to 64 letters, digits, `_`, `-` or `.`; the error says so.
pub fn check_queue_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` must be 1 to 64 letters, digits, `_`, `-` or `.`"
        ))
    }
}
