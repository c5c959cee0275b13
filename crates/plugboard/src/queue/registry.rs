//! Job kinds: the [`JobHandler`] trait that modules implement for the kinds they own, and the
//! [`Registry`] that maps a kind's name to its handler. The queue itself knows no kind.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::store::{Job, LogLevel, NewLogLine, Store, StoreError};

/// Why an attempt failed, and whether another attempt could succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    pub message: String,
    /// False: fail the job now, whatever attempts are left.
    pub retryable: bool,
}

impl JobError {
    /// A failure that another attempt may not repeat (a timeout, a flaky network).
    pub fn retryable(message: impl Into<String>) -> JobError {
        JobError {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure that will happen again (bad input, a missing resource): no more attempts.
    pub fn permanent(message: impl Into<String>) -> JobError {
        JobError {
            message: message.into(),
            retryable: false,
        }
    }
}

/// Why a running job was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Someone cancelled it.
    Cancelled,
    /// It ran past its timeout.
    TimedOut,
}

/// What a handler gets for one attempt: the job, a way to learn that it should stop, and the
/// job's log and progress.
pub struct JobContext {
    job: Job,
    worker: String,
    /// Cancelled when someone asks the job to stop.
    cancel: CancellationToken,
    /// Cancelled on a cancel request and when the job's time is up (a child of `cancel`).
    stop: CancellationToken,
    store: Arc<dyn Store>,
}

impl JobContext {
    pub(crate) fn new(
        job: Job,
        worker: String,
        cancel: CancellationToken,
        stop: CancellationToken,
        store: Arc<dyn Store>,
    ) -> JobContext {
        JobContext {
            job,
            worker,
            cancel,
            stop,
            store,
        }
    }

    /// The job, as claimed (status `running`, `attempt` already counting this one).
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The same attempt with the job's payload replaced, for a handler that prepares the
    /// payload before handing the job to another (secrets opened in memory, never stored).
    pub fn with_payload(mut self, payload: Value) -> JobContext {
        self.job.payload = payload;
        self
    }

    /// The id of the worker running this attempt (its lease owner).
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// True once the job should stop: someone cancelled it, or its time is up. Handlers that run
    /// long should check it or await [`JobContext::cancelled`]; the worker stops them hard after
    /// the cancel grace period.
    pub fn is_cancelled(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Completes when the job should stop (a cancel request, or its timeout).
    pub async fn cancelled(&self) {
        self.stop.cancelled().await
    }

    /// Why the job was told to stop, once it was.
    pub fn stop_reason(&self) -> Option<StopReason> {
        if self.cancel.is_cancelled() {
            Some(StopReason::Cancelled)
        } else if self.stop.is_cancelled() {
            Some(StopReason::TimedOut)
        } else {
            None
        }
    }

    /// Appends a line to the job's log.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub async fn log(
        &self,
        level: LogLevel,
        message: impl Into<String>,
    ) -> Result<i64, StoreError> {
        self.store
            .log_append(
                self.job.id,
                vec![NewLogLine {
                    level,
                    message: message.into(),
                }],
            )
            .await
    }

    /// Records the job's progress (any JSON; `{"percent": 34, "step": "downloading"}` is usual).
    ///
    /// # Errors
    /// When the store cannot be written.
    pub async fn progress(&self, progress: Value) -> Result<(), StoreError> {
        self.store.job_progress(self.job.id, progress).await
    }
}

/// The code behind one job kind.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Checks a payload before it is enqueued; the error says what is wrong with it.
    fn validate(&self, _payload: &Value) -> Result<(), String> {
        Ok(())
    }

    /// Fills in what the job's columns should say from its payload (for example the plugin and
    /// tenant a job is for, so lists can be filtered by them). Called after `validate`.
    fn prepare(&self, _job: &mut crate::store::NewJob) {}

    /// Runs one attempt. `Ok` carries the job's result (stored as is).
    async fn run(&self, context: JobContext) -> Result<Option<Value>, JobError>;
}

/// The job kinds this process knows.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: BTreeMap<String, Arc<dyn JobHandler>>,
}

impl Registry {
    /// A registry with the built-in kinds (`noop`).
    pub fn with_builtin_kinds() -> Registry {
        let mut registry = Registry::default();
        registry.register(super::noop::KIND, super::noop::Noop);
        registry
    }

    /// Adds (or replaces) the handler of `kind`.
    pub fn register(&mut self, kind: &str, handler: impl JobHandler) {
        self.handlers.insert(kind.to_owned(), Arc::new(handler));
    }

    /// The handler of `kind`.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn JobHandler>> {
        self.handlers.get(kind)
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        self.handlers.keys().map(String::as_str).collect()
    }
}
