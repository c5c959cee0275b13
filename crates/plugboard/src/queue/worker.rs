//! The worker pool: claims jobs in batches under a lease, runs them as tasks, renews the leases
//! while they run, applies timeouts and cancellation, records outcomes in batches, and shuts
//! down gracefully.
//!
//! Tasks of a running pool:
//! - one fetcher per queue: claims up to the queue's free slots whenever jobs may be waiting
//!   (a store notice, a freed slot after a full claim, or the fallback poll);
//! - a dispatcher: turns store notices into fetcher wake-ups and cancel requests;
//! - a completer: writes finished attempts in batches (one transaction for everything finished
//!   since the last write);
//! - a heartbeat: renews the leases of running jobs and learns of cancel requests from other
//!   nodes;
//! - maintenance: rescue of expired leases and pruning.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::maintenance::{self, MaintenanceConfig};
use super::registry::{JobContext, JobError, Registry};
use super::retry::RetryPolicy;
use super::stats::PoolStats;
use crate::store::{
    ClaimParams, FinishOutcome, HeartbeatParams, Job, JobFinish, JobId, Store, StoreError,
    StoreNotice, Timestamp,
};

/// The most finished attempts written in one transaction.
const MAX_FINISH_BATCH: usize = 5_000;

/// A named queue and how many of its jobs this pool runs at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    pub name: String,
    pub concurrency: usize,
}

/// How a pool works. [`PoolConfig::new`] gives the defaults documented on each field.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Lease owner name of this pool; unique per process.
    pub worker_id: String,
    /// Default: `default` with concurrency 10.
    pub queues: Vec<QueueConfig>,
    /// Jobs each queue claims beyond its concurrency, to start the next one without a round trip
    /// to the store. They wait in this process, leased, until a slot frees up. Worth it for many
    /// short jobs; keep it 0 when jobs are long, so other nodes can take them. Default 0.
    pub prefetch: usize,
    /// How long a claim holds a job without a heartbeat. Default 15 s.
    pub lease: Duration,
    /// How often running jobs' leases are renewed. Default 5 s (a third of the lease).
    pub heartbeat_interval: Duration,
    /// How often expired leases are looked for. Default 1 s.
    pub rescue_interval: Duration,
    /// Fallback poll when no notice arrives. Default 1 s.
    pub poll_interval: Duration,
    /// Timeout of jobs that set none. Default 5 minutes.
    pub default_timeout: Duration,
    /// How long a cancelled running job may take to stop before it is stopped hard. Default 10 s.
    pub cancel_grace: Duration,
    /// How long shutdown waits for running jobs before handing their leases back. Default 10 s.
    pub shutdown_grace: Duration,
    pub retry: RetryPolicy,
    /// Finished jobs older than this are pruned. Default 7 days.
    pub retention: Option<Duration>,
    /// At most this many finished jobs are kept. Default: no limit.
    pub keep_last: Option<u64>,
    /// How often pruning runs. Default 60 s.
    pub prune_interval: Duration,
}

impl PoolConfig {
    /// The defaults, for a pool named `worker_id`.
    pub fn new(worker_id: impl Into<String>) -> PoolConfig {
        PoolConfig {
            worker_id: worker_id.into(),
            queues: vec![QueueConfig {
                name: "default".to_owned(),
                concurrency: 10,
            }],
            prefetch: 0,
            lease: Duration::from_secs(15),
            heartbeat_interval: Duration::from_secs(5),
            rescue_interval: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
            default_timeout: Duration::from_secs(300),
            cancel_grace: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            retention: Some(Duration::from_secs(7 * 24 * 3600)),
            keep_last: None,
            prune_interval: Duration::from_secs(60),
        }
    }
}

/// A running pool of workers. Stop it with [`WorkerPool::shutdown`].
pub struct WorkerPool {
    shared: Arc<Shared>,
    stop_claiming: CancellationToken,
    stop_background: CancellationToken,
    fetchers: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    completer: JoinHandle<()>,
    committed: watch::Receiver<u64>,
}

struct Shared {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    config: PoolConfig,
    running: Mutex<HashMap<JobId, CancellationToken>>,
    queues: HashMap<String, Arc<Slots>>,
    finished: mpsc::UnboundedSender<Finished>,
    /// Cancelled when shutdown's grace period is over: running jobs stop and hand back leases.
    abort: CancellationToken,
    idle: Notify,
    jobs: TaskTracker,
    stats: Arc<PoolStats>,
}

struct Slots {
    name: String,
    concurrency: usize,
    /// Concurrency plus prefetch: the most jobs this queue holds leased at once.
    capacity: usize,
    /// Jobs claimed and not yet finished (running or waiting for a permit).
    held: AtomicUsize,
    permits: Arc<Semaphore>,
    available: Notify,
    slot_freed: Notify,
}

enum Finished {
    Attempt(JobFinish),
    Release(JobId),
    /// Answered once everything sent before it is written.
    Drain(oneshot::Sender<()>),
}

impl WorkerPool {
    /// Starts the pool's tasks. Must be called inside a Tokio runtime.
    pub fn start(store: Arc<dyn Store>, registry: Arc<Registry>, config: PoolConfig) -> WorkerPool {
        let (finished, finished_receiver) = mpsc::unbounded_channel();
        let (committed_sender, committed) = watch::channel(0u64);
        let queues = config
            .queues
            .iter()
            .map(|queue| {
                let concurrency = queue.concurrency.max(1);
                let slots = Slots {
                    name: queue.name.clone(),
                    concurrency,
                    capacity: concurrency + config.prefetch,
                    held: AtomicUsize::new(0),
                    permits: Arc::new(Semaphore::new(concurrency)),
                    available: Notify::new(),
                    slot_freed: Notify::new(),
                };
                (queue.name.clone(), Arc::new(slots))
            })
            .collect();
        let stats = Arc::new(PoolStats::new(
            config
                .queues
                .iter()
                .map(|queue| queue.name.clone())
                .collect(),
            registry.kinds().into_iter().map(str::to_owned).collect(),
            config.poll_interval,
        ));
        let shared = Arc::new(Shared {
            store: store.clone(),
            registry,
            config: config.clone(),
            running: Mutex::new(HashMap::new()),
            queues,
            finished,
            abort: CancellationToken::new(),
            idle: Notify::new(),
            jobs: TaskTracker::new(),
            stats,
        });
        let stop_claiming = CancellationToken::new();
        let stop_background = CancellationToken::new();
        let notices = store.subscribe();
        let fetchers = shared
            .queues
            .values()
            .map(|slots| {
                tokio::spawn(fetch_loop(
                    shared.clone(),
                    slots.clone(),
                    stop_claiming.clone(),
                ))
            })
            .collect();
        let maintenance_config = MaintenanceConfig {
            rescue_interval: config.rescue_interval,
            prune_interval: config.prune_interval,
            retention: config.retention,
            keep_last: config.keep_last,
        };
        let background = vec![
            tokio::spawn(dispatch_loop(
                shared.clone(),
                notices,
                stop_background.clone(),
            )),
            tokio::spawn(heartbeat_loop(shared.clone(), stop_background.clone())),
            tokio::spawn(maintenance::run(
                store.clone(),
                maintenance_config,
                stop_background.clone(),
            )),
        ];
        let completer = tokio::spawn(complete_loop(
            store,
            config.worker_id.clone(),
            finished_receiver,
            committed_sender,
        ));
        tracing::info!(worker = %config.worker_id, queues = ?config.queues, "worker pool started");
        WorkerPool {
            shared,
            stop_claiming,
            stop_background,
            fetchers,
            background,
            completer,
            committed,
        }
    }

    /// The lease owner name of this pool.
    pub fn worker_id(&self) -> &str {
        &self.shared.config.worker_id
    }

    /// How many attempts this pool has finished and written to the store, as it changes.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// Whether the claim loops are alive, and the run durations of finished attempts.
    pub fn stats(&self) -> Arc<PoolStats> {
        self.shared.stats.clone()
    }

    /// How many jobs this pool is running now.
    pub fn running(&self) -> usize {
        lock(&self.shared.running).len()
    }

    /// Stops claiming, lets running jobs finish within the shutdown grace period, stops the rest
    /// and hands their leases back (not counted as an attempt), then writes every outcome.
    pub async fn shutdown(self) {
        let shared = self.shared;
        self.stop_claiming.cancel();
        for fetcher in self.fetchers {
            let _ = fetcher.await;
        }
        let grace = tokio::time::sleep(shared.config.shutdown_grace);
        tokio::pin!(grace);
        loop {
            let idle = shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            let running = lock(&shared.running).len();
            if running == 0 {
                break;
            }
            tokio::select! {
                () = idle => continue,
                () = &mut grace => {
                    tracing::warn!(running, "shutdown grace period over; stopping running jobs and handing their leases back");
                    shared.abort.cancel();
                    break;
                }
            }
        }
        shared.jobs.close();
        shared.jobs.wait().await;
        // Outcomes are written with retries while the store fails; when it stays down, give up
        // after the grace period: the leases expire and the jobs are rescued later.
        let (drained, drained_answer) = oneshot::channel();
        let mut completer = self.completer;
        if shared.finished.send(Finished::Drain(drained)).is_ok() {
            let limit = shared.config.shutdown_grace.max(Duration::from_secs(5));
            if tokio::time::timeout(limit, drained_answer).await.is_err() {
                tracing::error!(
                    "could not record the last outcomes within {} ms (is the store reachable?); their jobs will be rescued when their leases expire",
                    limit.as_millis()
                );
                completer.abort();
            }
        }
        self.stop_background.cancel();
        for task in self.background {
            let _ = task.await;
        }
        drop(shared);
        let _ = (&mut completer).await;
        tracing::info!("worker pool stopped");
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Marks a claim loop stopped however it ends (a panic included).
struct LoopEnd<'a>(&'a PoolStats, &'a str);

impl Drop for LoopEnd<'_> {
    fn drop(&mut self) {
        self.0.loop_stopped(self.1);
    }
}

async fn fetch_loop(shared: Arc<Shared>, slots: Arc<Slots>, stop: CancellationToken) {
    let config = &shared.config;
    let _end = LoopEnd(&shared.stats, &slots.name);
    let mut may_have_more = true;
    loop {
        shared.stats.loop_round(&slots.name);
        if stop.is_cancelled() {
            return;
        }
        let held = slots.held.load(Ordering::Acquire);
        let free = slots.capacity.saturating_sub(held);
        // Claim in batches: at once when a worker slot is idle, otherwise once half the room is
        // free, so that many short jobs do not turn into many one-job claims.
        let worth_claiming = free > 0 && (held < slots.concurrency || free * 2 >= slots.capacity);
        if worth_claiming && may_have_more {
            let claim = ClaimParams {
                queue: slots.name.clone(),
                owner: config.worker_id.clone(),
                limit: free,
                lease: config.lease,
            };
            match shared.store.job_claim(claim).await {
                Ok(jobs) => {
                    may_have_more = jobs.len() == free;
                    for job in jobs {
                        start_job(&shared, &slots, job);
                    }
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, queue = %slots.name, "claiming jobs failed; trying again after the poll interval");
                    if let StoreError::Closed = error {
                        return;
                    }
                }
            }
        }
        let wait_for_slot = !worth_claiming;
        tokio::select! {
            () = stop.cancelled() => return,
            () = slots.available.notified() => may_have_more = true,
            () = slots.slot_freed.notified(), if wait_for_slot || may_have_more => {}
            () = tokio::time::sleep(config.poll_interval) => may_have_more = true,
        }
    }
}

fn start_job(shared: &Arc<Shared>, slots: &Arc<Slots>, job: Job) {
    slots.held.fetch_add(1, Ordering::AcqRel);
    let cancel = CancellationToken::new();
    lock(&shared.running).insert(job.id, cancel.clone());
    shared
        .jobs
        .spawn(run_job(shared.clone(), slots.clone(), job, cancel));
}

enum Ending {
    Returned(Result<Option<Value>, JobError>),
    Panicked(String),
    /// The time was up; the handler was told to stop and either did (`stopped_by_itself`) or was
    /// dropped after the grace period.
    TimedOut {
        timeout: Duration,
        stopped_by_itself: bool,
    },
    StoppedAfterCancel,
    Aborted,
}

async fn run_job(shared: Arc<Shared>, slots: Arc<Slots>, job: Job, cancel: CancellationToken) {
    let config = &shared.config;
    let timeout = job
        .timeout_ms
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
        .unwrap_or(config.default_timeout);
    let mut started_running = None;
    let ending = match shared.registry.get(&job.kind) {
        None => Ending::Returned(Err(JobError::permanent(format!(
            "no handler for job kind `{}` on worker {}; this plugboard runs: {}",
            job.kind,
            config.worker_id,
            shared.registry.kinds().join(", ")
        )))),
        Some(handler) => {
            let permit = tokio::select! {
                biased;
                () = shared.abort.cancelled() => None,
                permit = slots.permits.clone().acquire_owned() => permit.ok(),
            };
            let Some(_permit) = permit else {
                return finish(&shared, &slots, &job, Finished::Release(job.id));
            };
            if cancel.is_cancelled() {
                let cancelled = Finished::Attempt(JobFinish {
                    id: job.id,
                    owner: config.worker_id.clone(),
                    attempt: job.attempt,
                    outcome: FinishOutcome::Cancelled {
                        reason: "cancelled before it started".to_owned(),
                    },
                });
                return finish(&shared, &slots, &job, cancelled);
            }
            // The handler is told to stop on a cancel request and when its time is up; either
            // way it gets the cancel grace period to stop by itself before it is dropped.
            let stop = cancel.child_token();
            let context = JobContext::new(
                job.clone(),
                config.worker_id.clone(),
                cancel.clone(),
                stop.clone(),
                shared.store.clone(),
            );
            started_running = Some(tokio::time::Instant::now());
            let work = AssertUnwindSafe(handler.run(context)).catch_unwind();
            let cancel_grace = config.cancel_grace;
            let stopped_after_cancel = async {
                cancel.cancelled().await;
                tokio::time::sleep(cancel_grace).await;
            };
            let stopped_after_timeout = async {
                tokio::time::sleep(timeout).await;
                stop.cancel();
                tokio::time::sleep(cancel_grace).await;
            };
            tokio::select! {
                biased;
                () = shared.abort.cancelled() => Ending::Aborted,
                outcome = work => match outcome {
                    Ok(Err(_)) if stop.is_cancelled() && !cancel.is_cancelled() => {
                        Ending::TimedOut { timeout, stopped_by_itself: true }
                    }
                    Ok(result) => Ending::Returned(result),
                    Err(panic) => Ending::Panicked(panic_message(panic.as_ref())),
                },
                () = stopped_after_timeout => Ending::TimedOut { timeout, stopped_by_itself: false },
                () = stopped_after_cancel => Ending::StoppedAfterCancel,
            }
        }
    };
    let finished = match ending {
        Ending::Aborted => Finished::Release(job.id),
        ending => Finished::Attempt(JobFinish {
            id: job.id,
            owner: config.worker_id.clone(),
            attempt: job.attempt,
            outcome: decide(&job, ending, cancel.is_cancelled(), config),
        }),
    };
    if let Finished::Attempt(JobFinish { outcome, .. }) = &finished {
        let took = started_running.map_or(Duration::ZERO, |at| at.elapsed());
        shared.stats.record_run(&job.kind, outcome, took);
        note_failed_attempt(&shared, &job, outcome).await;
        if let FinishOutcome::Retry { run_at, .. } = outcome {
            // Come back for it when it is due, rather than at the next fallback poll.
            let wait =
                Duration::from_micros(u64::try_from(run_at.0 - Timestamp::now().0).unwrap_or(0));
            let slots = slots.clone();
            tokio::spawn(async move {
                tokio::time::sleep(wait + Duration::from_millis(1)).await;
                slots.available.notify_one();
            });
        }
    }
    finish(&shared, &slots, &job, finished);
}

/// Writes a failed attempt's error into the job's log, so the log tells why each attempt ended
/// (the job's `error` keeps only the last).
async fn note_failed_attempt(shared: &Shared, job: &Job, outcome: &FinishOutcome) {
    let line = match outcome {
        FinishOutcome::Retry { error, run_at } => {
            let wait = (run_at.0 - Timestamp::now().0).max(0) as f64 / 1_000_000.0;
            format!(
                "attempt {} of {} failed: {error}; retrying in {wait:.1} s",
                job.attempt, job.max_attempts
            )
        }
        FinishOutcome::Failed { error } if job.attempt < job.max_attempts => format!(
            "attempt {} of {} failed, and this error is not retried: {error}",
            job.attempt, job.max_attempts
        ),
        FinishOutcome::Failed { error } => format!(
            "attempt {} of {} failed: {error}",
            job.attempt, job.max_attempts
        ),
        FinishOutcome::Succeeded { .. } | FinishOutcome::Cancelled { .. } => return,
    };
    let lines = vec![crate::store::NewLogLine {
        level: crate::store::LogLevel::Error,
        message: line,
    }];
    if let Err(error) = shared.store.log_append(job.id, lines).await {
        tracing::warn!(%error, job = %job.id, "writing a failed attempt to the job's log failed");
    }
}

fn finish(shared: &Shared, slots: &Slots, job: &Job, finished: Finished) {
    let _ = shared.finished.send(finished);
    let now_idle = {
        let mut running = lock(&shared.running);
        running.remove(&job.id);
        running.is_empty()
    };
    slots.held.fetch_sub(1, Ordering::AcqRel);
    slots.slot_freed.notify_one();
    if now_idle {
        shared.idle.notify_waiters();
    }
}

/// Turns how an attempt ended into what the store records: the retry policy lives here.
fn decide(job: &Job, ending: Ending, cancel_requested: bool, config: &PoolConfig) -> FinishOutcome {
    let error = match ending {
        Ending::Returned(Ok(result)) => return FinishOutcome::Succeeded { result },
        Ending::StoppedAfterCancel => {
            return FinishOutcome::Cancelled {
                reason: format!(
                    "cancelled; the job did not stop by itself within the grace period of {} ms and was stopped",
                    config.cancel_grace.as_millis()
                ),
            }
        }
        Ending::Aborted => unreachable!("aborted attempts are released, not finished"),
        Ending::Returned(Err(error)) => error,
        Ending::Panicked(message) => JobError::retryable(format!("the job handler panicked: {message}")),
        Ending::TimedOut {
            timeout,
            stopped_by_itself,
        } => JobError::retryable(format!(
            "timed out after {} ms (attempt {} of {}){}; raise timeout_ms if the job needs longer",
            timeout.as_millis(),
            job.attempt,
            job.max_attempts,
            if stopped_by_itself {
                ""
            } else {
                " and did not stop within the grace period, so it was stopped"
            }
        )),
    };
    if cancel_requested {
        // A plugin's own answer to the cancel usually says so already (the protocol's example
        // and the SDKs answer `cancelled: <the host's reason>`): said once is enough.
        let reason = if error.message.to_ascii_lowercase().starts_with("cancelled") {
            error.message
        } else {
            format!("cancelled: {}", error.message)
        };
        return FinishOutcome::Cancelled { reason };
    }
    if !error.retryable {
        return FinishOutcome::Failed {
            error: error.message,
        };
    }
    if job.attempt >= job.max_attempts {
        return FinishOutcome::Failed {
            error: format!(
                "{} (gave up after {})",
                error.message,
                crate::words::count(job.attempt.max(0) as u64, "attempt")
            ),
        };
    }
    FinishOutcome::Retry {
        error: error.message,
        run_at: Timestamp::now().plus(config.retry.delay(job.attempt)),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

async fn dispatch_loop(
    shared: Arc<Shared>,
    mut notices: broadcast::Receiver<StoreNotice>,
    stop: CancellationToken,
) {
    let wake_all = |shared: &Shared| {
        for slots in shared.queues.values() {
            slots.available.notify_one();
        }
    };
    loop {
        let notice = tokio::select! {
            () = stop.cancelled() => return,
            notice = notices.recv() => notice,
        };
        match notice {
            Ok(StoreNotice::JobsAvailable { queue: Some(queue) }) => {
                if let Some(slots) = shared.queues.get(&queue) {
                    slots.available.notify_one();
                }
            }
            Ok(StoreNotice::JobsAvailable { queue: None }) => wake_all(&shared),
            Ok(StoreNotice::CancelRequested { id }) => {
                if let Some(cancel) = lock(&shared.running).get(&id) {
                    tracing::info!(job = %id, "cancel requested; telling the job to stop");
                    cancel.cancel();
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => wake_all(&shared),
            Err(broadcast::error::RecvError::Closed) => {
                // No more notices: the fetchers' poll keeps the pool going.
                stop.cancelled().await;
                return;
            }
        }
    }
}

async fn heartbeat_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let config = &shared.config;
    let mut ticks = tokio::time::interval(config.heartbeat_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let ids: Vec<JobId> = lock(&shared.running).keys().copied().collect();
        if ids.is_empty() {
            continue;
        }
        let params = HeartbeatParams {
            owner: config.worker_id.clone(),
            ids: ids.clone(),
            lease: config.lease,
        };
        let outcome = match shared.store.job_heartbeat(params).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(%error, "renewing leases failed; will try again at the next heartbeat");
                continue;
            }
        };
        let running = lock(&shared.running);
        for id in &outcome.cancel_requested {
            if let Some(cancel) = running.get(id) {
                cancel.cancel();
            }
        }
        for id in ids.iter().filter(|id| !outcome.held.contains(id)) {
            // Another worker may run this job now; stop ours so the two never overlap for long.
            if let Some(cancel) = running.get(id) {
                tracing::warn!(job = %id, "lost the lease of a running job (it expired and was rescued); stopping it here");
                cancel.cancel();
            }
        }
    }
}

async fn complete_loop(
    store: Arc<dyn Store>,
    owner: String,
    mut finished: mpsc::UnboundedReceiver<Finished>,
    committed: watch::Sender<u64>,
) {
    let mut attempts = Vec::new();
    let mut releases: Vec<JobId> = Vec::new();
    let mut drained = Vec::new();
    while let Some(first) = finished.recv().await {
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Finished::Attempt(finish) => attempts.push(finish),
                Finished::Release(id) => releases.push(id),
                Finished::Drain(answer) => drained.push(answer),
            }
            if attempts.len() < MAX_FINISH_BATCH {
                next = finished.try_recv().ok();
            }
        }
        if !attempts.is_empty() {
            let count = write_with_retries("recording finished jobs", || {
                store.job_finish_many(attempts.clone())
            })
            .await;
            if let Some(applied) = count {
                if applied.len() < attempts.len() {
                    tracing::warn!(
                        skipped = attempts.len() - applied.len(),
                        "some finished jobs were not recorded: their lease had expired and another attempt owns them"
                    );
                }
                committed.send_modify(|total| *total += applied.len() as u64);
            }
            attempts.clear();
        }
        if !releases.is_empty() {
            write_with_retries("handing leases back", || {
                store.job_release(&owner, &releases)
            })
            .await;
            releases.clear();
        }
        for answer in drained.drain(..) {
            let _ = answer.send(());
        }
    }
}

/// Retries a write while the store is reachable but failing; gives up when it is closed.
async fn write_with_retries<T, F, Fut>(what: &str, mut write: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut delay = Duration::from_millis(50);
    loop {
        match write().await {
            Ok(value) => return Some(value),
            Err(StoreError::Closed) => {
                tracing::error!("{what} failed: the store is closed; the leases will expire and the jobs will be rescued");
                return None;
            }
            Err(error) => {
                tracing::warn!(%error, "{what} failed; retrying in {} ms", delay.as_millis());
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
