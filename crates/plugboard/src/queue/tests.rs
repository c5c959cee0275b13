//! Queue behaviour through a real worker pool, on both stores: retries with backoff, timeouts,
//! cancellation, graceful shutdown, rescue, concurrency limits and following logs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{
    JobContext, JobError, JobHandler, PoolConfig, Queue, QueueConfig, QueueError, Registry,
    RetryPolicy, WorkerPool,
};
use crate::store::{CancelOutcome, ClaimParams, JobId, JobStatus, LogLevel, NewJob, Store};

crate::store::testing::for_each_store!(
    jobs_run_to_success,
    failing_job_backs_off_then_fails,
    permanent_error_fails_without_retrying,
    panicking_handler_is_an_error_not_a_crash,
    hung_job_times_out,
    cancel_reaches_a_running_job,
    job_ignoring_cancel_is_stopped_after_grace,
    shutdown_lets_short_jobs_finish,
    shutdown_hands_back_leases_of_long_jobs,
    expired_lease_of_dead_worker_is_rescued_and_run,
    concurrency_limit_per_queue_holds,
    bad_input_is_refused_with_clear_errors,
    follow_logs_replays_then_streams_until_finished,
    pool_prunes_finished_jobs_beyond_the_limit,
);

/// A job kind told by its payload what to do: `fail` (a message), `permanent`, `panic`,
/// `hang`, `ignore_cancel`, `sleep_ms`, `logs` (a number of lines).
#[derive(Default)]
struct Scripted {
    starts: Mutex<Vec<(JobId, i32, Instant)>>,
    active: AtomicUsize,
    most_active: AtomicUsize,
}

#[async_trait]
impl JobHandler for Arc<Scripted> {
    async fn run(&self, context: JobContext) -> Result<Option<Value>, JobError> {
        let job = context.job().clone();
        self.starts
            .lock()
            .unwrap()
            .push((job.id, job.attempt, Instant::now()));
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_active.fetch_max(now, Ordering::SeqCst);
        let outcome = self.act(&context, &job.payload).await;
        self.active.fetch_sub(1, Ordering::SeqCst);
        outcome
    }
}

impl Scripted {
    async fn act(&self, context: &JobContext, payload: &Value) -> Result<Option<Value>, JobError> {
        if let Some(lines) = payload.get("logs").and_then(Value::as_u64) {
            for line in 0..lines {
                context
                    .log(LogLevel::Info, format!("line {line}"))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        if payload.get("panic").is_some() {
            panic!("scripted panic");
        }
        if payload.get("hang").is_some() {
            std::future::pending::<()>().await;
        }
        if payload.get("ignore_cancel").is_some() {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if let Some(sleep) = payload.get("sleep_ms").and_then(Value::as_u64) {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(sleep)) => {}
                () = context.cancelled() => return Err(JobError::permanent("stopped on request")),
            }
        }
        if let Some(message) = payload.get("fail").and_then(Value::as_str) {
            return Err(if payload.get("permanent").is_some() {
                JobError::permanent(message)
            } else {
                JobError::retryable(message)
            });
        }
        Ok(Some(json!({"done": true})))
    }
}

struct Harness {
    queue: Queue,
    pool: Option<WorkerPool>,
    scripted: Arc<Scripted>,
}

fn fast_config(name: &str) -> PoolConfig {
    let mut config = PoolConfig::new(format!("test-{name}-{}", rand::random::<u32>()));
    config.queues = vec![QueueConfig {
        name: "default".into(),
        concurrency: 4,
    }];
    config.lease = Duration::from_secs(5);
    config.heartbeat_interval = Duration::from_millis(200);
    config.rescue_interval = Duration::from_millis(50);
    config.poll_interval = Duration::from_millis(200);
    config.cancel_grace = Duration::from_millis(200);
    config.shutdown_grace = Duration::from_secs(5);
    config.retry = RetryPolicy {
        base: Duration::from_millis(20),
        max: Duration::from_millis(200),
    };
    config
}

fn harness(store: Arc<dyn Store>, config: PoolConfig) -> Harness {
    let scripted = Arc::new(Scripted::default());
    let mut registry = Registry::with_builtin_kinds();
    registry.register("scripted", scripted.clone());
    let registry = Arc::new(registry);
    let pool = WorkerPool::start(store.clone(), registry.clone(), config);
    Harness {
        queue: Queue::new(store, registry),
        pool: Some(pool),
        scripted,
    }
}

impl Harness {
    async fn enqueue(&self, payload: Value, tweak: impl FnOnce(&mut NewJob)) -> JobId {
        let mut job = NewJob::new("scripted", payload);
        tweak(&mut job);
        self.queue.enqueue(job).await.unwrap().id
    }

    async fn wait_for(&self, id: JobId, status: JobStatus) -> crate::store::Job {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let job = self.queue.get(id).await.unwrap();
            if job.status == status {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} never became {status}; it is {job:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(pool) = self.pool.take() {
            pool.shutdown().await;
        }
    }
}

async fn jobs_run_to_success(store: Arc<dyn Store>) {
    let h = harness(store, fast_config("success"));
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(h.enqueue(json!({"i": i}), |_| {}).await);
    }
    let noop = h
        .queue
        .enqueue(NewJob::new("noop", json!({"sleep_ms": 1})))
        .await
        .unwrap()
        .id;
    for id in ids {
        let job = h.wait_for(id, JobStatus::Succeeded).await;
        assert_eq!(job.result, Some(json!({"done": true})));
        assert_eq!(job.attempt, 1);
        assert!(job.finished_at.is_some());
    }
    h.wait_for(noop, JobStatus::Succeeded).await;
    h.stop().await;
}

async fn failing_job_backs_off_then_fails(store: Arc<dyn Store>) {
    let h = harness(store, fast_config("backoff"));
    let id = h
        .enqueue(json!({"fail": "upstream said 503"}), |job| {
            job.max_attempts = 3
        })
        .await;
    let job = h.wait_for(id, JobStatus::Failed).await;
    assert_eq!(job.attempt, 3);
    let error = job.error.unwrap();
    assert!(
        error.contains("upstream said 503") && error.contains("gave up after 3 attempts"),
        "{error}"
    );
    let starts: Vec<Instant> = h
        .scripted
        .starts
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, at)| *at)
        .collect();
    assert_eq!(starts.len(), 3);
    // Backoff is at least half the nominal delay: 20 ms after attempt 1, 40 ms after attempt 2.
    assert!(starts[1] - starts[0] >= Duration::from_millis(10));
    assert!(starts[2] - starts[1] >= Duration::from_millis(20));
    let logs = h.queue.logs(id, 0, 10).await.unwrap();
    let messages: Vec<&str> = logs.iter().map(|line| line.message.as_str()).collect();
    assert_eq!(
        messages.len(),
        3,
        "each failed attempt is in the log: {messages:?}"
    );
    assert!(
        messages[0].starts_with("attempt 1 of 3 failed: upstream said 503; retrying in"),
        "{messages:?}"
    );
    assert!(
        messages[2]
            .starts_with("attempt 3 of 3 failed: upstream said 503 (gave up after 3 attempts)"),
        "{messages:?}"
    );
    // One attempt is said in the singular.
    let once = h
        .enqueue(json!({"fail": "upstream said 503"}), |job| {
            job.max_attempts = 1
        })
        .await;
    let error = h.wait_for(once, JobStatus::Failed).await.error.unwrap();
    assert!(error.ends_with("(gave up after 1 attempt)"), "{error}");
    h.stop().await;
}

async fn permanent_error_fails_without_retrying(store: Arc<dyn Store>) {
    let h = harness(store, fast_config("permanent"));
    let id = h
        .enqueue(
            json!({"fail": "config is invalid", "permanent": true}),
            |job| job.max_attempts = 5,
        )
        .await;
    let job = h.wait_for(id, JobStatus::Failed).await;
    assert_eq!(job.attempt, 1);
    assert_eq!(job.error.as_deref(), Some("config is invalid"));
    h.stop().await;
}

async fn panicking_handler_is_an_error_not_a_crash(store: Arc<dyn Store>) {
    let h = harness(store, fast_config("panic"));
    let id = h
        .enqueue(json!({"panic": true}), |job| job.max_attempts = 2)
        .await;
    let job = h.wait_for(id, JobStatus::Failed).await;
    assert!(job.error.unwrap().contains("panicked: scripted panic"));
    let after = h.enqueue(json!({}), |_| {}).await;
    h.wait_for(after, JobStatus::Succeeded).await;
    h.stop().await;
}

async fn hung_job_times_out(store: Arc<dyn Store>) {
    let h = harness(store, fast_config("timeout"));
    let id = h
        .enqueue(json!({"hang": true}), |job| {
            job.timeout_ms = Some(50);
            job.max_attempts = 2;
        })
        .await;
    let job = h.wait_for(id, JobStatus::Failed).await;
    assert_eq!(job.attempt, 2);
    assert!(job.error.unwrap().contains("timed out after 50 ms"));
    h.stop().await;
}

async fn cancel_reaches_a_running_job(store: Arc<dyn Store>) {
    let h = harness(store, fast_config("cancel"));
    let id = h.enqueue(json!({"sleep_ms": 60_000}), |_| {}).await;
    h.wait_for(id, JobStatus::Running).await;
    assert_eq!(h.queue.cancel(id).await.unwrap(), CancelOutcome::Requested);
    let job = h.wait_for(id, JobStatus::Cancelled).await;
    assert!(job.error.unwrap().contains("stopped on request"));
    assert!(matches!(
        h.queue.cancel(id).await.unwrap(),
        CancelOutcome::AlreadyFinished(JobStatus::Cancelled)
    ));
    h.stop().await;
}

async fn job_ignoring_cancel_is_stopped_after_grace(store: Arc<dyn Store>) {
    let h = harness(store, fast_config("stubborn"));
    let id = h.enqueue(json!({"ignore_cancel": true}), |_| {}).await;
    h.wait_for(id, JobStatus::Running).await;
    h.queue.cancel(id).await.unwrap();
    let job = h.wait_for(id, JobStatus::Cancelled).await;
    assert!(job.error.unwrap().contains("grace period"));
    h.stop().await;
}

async fn shutdown_lets_short_jobs_finish(store: Arc<dyn Store>) {
    let h = harness(store, fast_config("drain"));
    let id = h.enqueue(json!({"sleep_ms": 300}), |_| {}).await;
    h.wait_for(id, JobStatus::Running).await;
    let queue = h.queue.clone();
    h.stop().await;
    assert_eq!(queue.get(id).await.unwrap().status, JobStatus::Succeeded);
}

async fn shutdown_hands_back_leases_of_long_jobs(store: Arc<dyn Store>) {
    let mut config = fast_config("handback");
    config.shutdown_grace = Duration::from_millis(100);
    let h = harness(store, config);
    let id = h.enqueue(json!({"ignore_cancel": true}), |_| {}).await;
    h.wait_for(id, JobStatus::Running).await;
    let queue = h.queue.clone();
    h.stop().await;
    let job = queue.get(id).await.unwrap();
    assert_eq!((job.status, job.attempt), (JobStatus::Queued, 0), "{job:?}");
    assert!(job.lease_owner.is_none());
}

async fn expired_lease_of_dead_worker_is_rescued_and_run(store: Arc<dyn Store>) {
    let id = store
        .job_enqueue(NewJob::new("scripted", json!({})))
        .await
        .unwrap()
        .id;
    let claimed = store
        .job_claim(ClaimParams {
            queue: "default".into(),
            owner: "dead".into(),
            limit: 1,
            lease: Duration::from_millis(100),
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let h = harness(store, fast_config("rescue"));
    let job = h.wait_for(id, JobStatus::Succeeded).await;
    assert_eq!(job.attempt, 2, "the dead worker's attempt counts");
    h.stop().await;
}

async fn concurrency_limit_per_queue_holds(store: Arc<dyn Store>) {
    let mut config = fast_config("limit");
    config.queues = vec![
        QueueConfig {
            name: "default".into(),
            concurrency: 3,
        },
        QueueConfig {
            name: "bulk".into(),
            concurrency: 1,
        },
    ];
    let h = harness(store, config);
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(h.enqueue(json!({"sleep_ms": 20}), |_| {}).await);
    }
    for id in &ids {
        h.wait_for(*id, JobStatus::Succeeded).await;
    }
    assert_eq!(h.scripted.most_active.load(Ordering::SeqCst), 3);
    h.stop().await;
}

async fn bad_input_is_refused_with_clear_errors(store: Arc<dyn Store>) {
    let h = harness(store.clone(), fast_config("bad-input"));
    let before = h
        .enqueue(json!({"keep": "me"}), |job| {
            job.run_at = Some(crate::store::Timestamp::now().plus(Duration::from_secs(3600)))
        })
        .await;
    let unknown = h
        .queue
        .enqueue(NewJob::new("frobnicate", json!({})))
        .await
        .unwrap_err();
    assert!(matches!(unknown, QueueError::UnknownKind { .. }));
    assert!(
        unknown
            .to_string()
            .contains("unknown job kind `frobnicate`; this plugboard runs: noop, scripted"),
        "{unknown}"
    );
    let not_json = Queue::parse_payload("{\"sleep_ms\": 5,").unwrap_err();
    assert!(
        not_json
            .to_string()
            .starts_with("the payload is not valid JSON: EOF while parsing"),
        "{not_json}"
    );
    let bad_noop = h
        .queue
        .enqueue(NewJob::new("noop", json!({"sleep_ms": "soon"})))
        .await
        .unwrap_err();
    assert!(
        bad_noop
            .to_string()
            .contains("`sleep_ms` must be a whole number of milliseconds"),
        "{bad_noop}"
    );
    let mut bad_queue = NewJob::new("noop", json!({}));
    bad_queue.queue = "no spaces/please".into();
    assert!(h
        .queue
        .enqueue(bad_queue)
        .await
        .unwrap_err()
        .to_string()
        .starts_with("invalid queue:"));
    let mut many = vec![NewJob::new("noop", json!({})); 3];
    many[2].max_attempts = 0;
    assert!(h.queue.enqueue_many(many).await.is_err());
    assert!(matches!(
        h.queue.retry(before).await.unwrap_err(),
        QueueError::NotRetryable { .. }
    ));
    assert!(matches!(
        h.queue.cancel(JobId(i64::MAX)).await.unwrap_err(),
        QueueError::NotFound(_)
    ));
    // Nothing stored was lost or added by the refused requests.
    let all = h.queue.list(Default::default()).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].payload, json!({"keep": "me"}));
    h.stop().await;
}

async fn follow_logs_replays_then_streams_until_finished(store: Arc<dyn Store>) {
    let h = harness(store, fast_config("follow"));
    let id = h.enqueue(json!({"logs": 40}), |_| {}).await;
    h.wait_for(id, JobStatus::Running).await;
    let mut follower = h.queue.follow_logs(id, 0);
    let mut seqs = Vec::new();
    while let Some(line) = follower.recv().await {
        let line = line.unwrap();
        assert_eq!(line.message, format!("line {}", line.seq - 1));
        seqs.push(line.seq);
    }
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    assert_eq!(h.queue.get(id).await.unwrap().status, JobStatus::Succeeded);
    // Resuming from a sequence number gives exactly the rest.
    let mut resumed = h.queue.follow_logs(id, 37);
    let mut rest = Vec::new();
    while let Some(line) = resumed.recv().await {
        rest.push(line.unwrap().seq);
    }
    assert_eq!(rest, vec![38, 39, 40]);
    h.stop().await;
}

async fn pool_prunes_finished_jobs_beyond_the_limit(store: Arc<dyn Store>) {
    let mut config = fast_config("prune");
    config.keep_last = Some(2);
    config.prune_interval = Duration::from_millis(50);
    let h = harness(store, config);
    let waiting = h
        .enqueue(json!({}), |job| {
            job.run_at = Some(crate::store::Timestamp::now().plus(Duration::from_secs(3600)))
        })
        .await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(h.enqueue(json!({}), |_| {}).await);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = h.queue.list(Default::default()).await.unwrap();
        let finished: Vec<JobId> = left
            .iter()
            .filter(|job| job.status.is_finished())
            .map(|job| job.id)
            .collect();
        let all_ran = ids.iter().all(|id| {
            h.scripted
                .starts
                .lock()
                .unwrap()
                .iter()
                .any(|(started, _, _)| started == id)
        });
        if all_ran && finished.len() == 2 {
            assert!(
                left.iter().any(|job| job.id == waiting),
                "queued jobs are never pruned"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pruning never left exactly 2 finished jobs: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.stop().await;
}
