//! The store conformance suite: every behaviour of [`Store`], run against SQLite always and
//! against PostgreSQL when `PLUGBOARD_TEST_DATABASE_URL` is set. Each test gets a fresh store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{
    CancelOutcome, ClaimParams, FinishOutcome, HeartbeatParams, JobFilter, JobFinish, JobId,
    JobOutput, JobStatus, KvQuery, KvScope, LogLevel, MetadataState, NewEvent, NewJob, NewLogLine,
    PluginMetadataRecord, PruneParams, Store, StoreNotice, Timestamp, UnfinishedCounts,
};

crate::store::testing::for_each_store!(
    enqueue_and_get_round_trip,
    claim_takes_priority_then_run_at_then_id,
    delayed_job_is_not_claimed_early,
    claim_respects_queue_and_limit,
    concurrent_claims_never_share_a_job,
    unique_key_returns_the_existing_job,
    unique_key_holds_under_concurrent_enqueue,
    enqueue_many_keeps_order_and_unique_keys,
    finish_applies_once_and_only_for_the_lease_holder,
    retry_outcome_requeues_at_run_at,
    heartbeat_extends_lease_and_reports_cancel,
    expired_lease_is_rescued_as_an_attempt,
    rescue_fails_a_job_out_of_attempts,
    release_returns_job_without_counting_attempt,
    cancel_queued_running_finished_and_missing,
    manual_retry_requeues_failed_job,
    progress_is_stored,
    logs_append_in_sequence_and_replay_from_any_point,
    job_output_writes_lines_and_progress_of_several_jobs,
    prune_by_age_and_by_count_removes_logs_too,
    list_filters_and_pages_without_gaps,
    list_filters_by_payload_values,
    counts_by_queue_and_status,
    counts_unfinished_over_all_queues,
    minutes_add_up_per_node_and_sum_over_nodes,
    enqueue_announces_available_jobs,
    kv_values_are_scoped_listed_in_order_and_deleted,
    events_with_one_idempotency_key_are_recorded_once,
    plugin_metadata_is_cached_with_its_state_and_checksum,
);

fn claim(queue: &str, owner: &str, limit: usize) -> ClaimParams {
    ClaimParams {
        queue: queue.to_owned(),
        owner: owner.to_owned(),
        limit,
        lease: Duration::from_secs(30),
    }
}

fn succeeded(id: JobId, owner: &str, attempt: i32) -> JobFinish {
    JobFinish {
        id,
        owner: owner.to_owned(),
        attempt,
        outcome: FinishOutcome::Succeeded {
            result: Some(json!({"ok": true})),
        },
    }
}

fn deadline_in(duration: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + duration
}

/// Yields briefly between checks of a condition; fails the test once `deadline` has passed.
async fn wait_a_moment(deadline: tokio::time::Instant, what: &str) {
    assert!(
        tokio::time::Instant::now() < deadline,
        "timed out waiting until {what}"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
}

async fn enqueue_and_get_round_trip(store: Arc<dyn Store>) {
    let mut new_job = NewJob::new("noop", json!({"n": 1, "text": "héllo"}));
    new_job.queue = "mail".into();
    new_job.tenant = Some("acme".into());
    new_job.plugin = Some("hello".into());
    new_job.config = Some("7".into());
    new_job.priority = -3;
    new_job.max_attempts = 5;
    new_job.timeout_ms = Some(1500);
    let enqueued = store.job_enqueue(new_job).await.unwrap();
    assert!(enqueued.created);
    let job = store
        .job_get(enqueued.id)
        .await
        .unwrap()
        .expect("job exists");
    assert_eq!(job.kind, "noop");
    assert_eq!(job.queue, "mail");
    assert_eq!(job.tenant.as_deref(), Some("acme"));
    assert_eq!(job.plugin.as_deref(), Some("hello"));
    assert_eq!(job.config.as_deref(), Some("7"));
    assert_eq!(job.payload, json!({"n": 1, "text": "héllo"}));
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.priority, -3);
    assert_eq!((job.attempt, job.max_attempts), (0, 5));
    assert_eq!(job.timeout_ms, Some(1500));
    assert!(job.run_at <= Timestamp::now());
    assert!(job.started_at.is_none() && job.finished_at.is_none());
    assert!(store.job_get(JobId(i64::MAX)).await.unwrap().is_none());
}

async fn claim_takes_priority_then_run_at_then_id(store: Arc<dyn Store>) {
    let past = Timestamp::now().plus(Duration::ZERO);
    let mut ids = Vec::new();
    for (priority, offset_ms) in [(5, 0), (1, 10), (1, 0), (1, 0), (-1, 20)] {
        let mut new_job = NewJob::new("noop", json!(null));
        new_job.priority = priority;
        new_job.run_at = Some(Timestamp(past.0 - 1_000_000 + offset_ms * 1000));
        ids.push(store.job_enqueue(new_job).await.unwrap().id);
    }
    let claimed = store.job_claim(claim("default", "w1", 10)).await.unwrap();
    let order: Vec<JobId> = claimed.iter().map(|job| job.id).collect();
    assert_eq!(order, vec![ids[4], ids[2], ids[3], ids[1], ids[0]]);
    for job in &claimed {
        assert_eq!(job.status, JobStatus::Running);
        assert_eq!(job.attempt, 1);
        assert_eq!(job.lease_owner.as_deref(), Some("w1"));
        assert!(job.lease_expires_at.expect("a lease") > Timestamp::now());
        assert!(job.started_at.is_some());
    }
}

async fn delayed_job_is_not_claimed_early(store: Arc<dyn Store>) {
    let mut later = NewJob::new("noop", json!(null));
    later.run_at = Some(Timestamp::now().plus(Duration::from_secs(3600)));
    store.job_enqueue(later).await.unwrap();
    let mut soon = NewJob::new("noop", json!(null));
    soon.run_at = Some(Timestamp::now().plus(Duration::from_millis(150)));
    let soon_id = store.job_enqueue(soon).await.unwrap().id;
    assert!(store
        .job_claim(claim("default", "w", 10))
        .await
        .unwrap()
        .is_empty());
    let deadline = deadline_in(Duration::from_secs(10));
    let claimed = loop {
        let claimed = store.job_claim(claim("default", "w", 10)).await.unwrap();
        if !claimed.is_empty() {
            break claimed;
        }
        wait_a_moment(deadline, "the delayed job becomes claimable").await;
    };
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, soon_id);
}

async fn claim_respects_queue_and_limit(store: Arc<dyn Store>) {
    for queue in ["a", "a", "a", "b"] {
        let mut new_job = NewJob::new("noop", json!(null));
        new_job.queue = queue.into();
        store.job_enqueue(new_job).await.unwrap();
    }
    assert_eq!(store.job_claim(claim("a", "w", 2)).await.unwrap().len(), 2);
    assert_eq!(store.job_claim(claim("a", "w", 2)).await.unwrap().len(), 1);
    assert_eq!(store.job_claim(claim("a", "w", 2)).await.unwrap().len(), 0);
    let in_b = store.job_claim(claim("b", "w", 5)).await.unwrap();
    assert_eq!(in_b.len(), 1);
    assert_eq!(in_b[0].queue, "b");
}

async fn concurrent_claims_never_share_a_job(store: Arc<dyn Store>) {
    let jobs = (0..300)
        .map(|i| NewJob::new("noop", json!({"i": i})))
        .collect();
    store.job_enqueue_many(jobs).await.unwrap();
    let mut claimers = Vec::new();
    for worker in 0..4 {
        let store = store.clone();
        claimers.push(tokio::spawn(async move {
            let owner = format!("w{worker}");
            let mut mine = Vec::new();
            loop {
                let batch = store.job_claim(claim("default", &owner, 7)).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|job| job.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    for claimer in claimers {
        for id in claimer.await.unwrap() {
            assert!(seen.insert(id), "job {id} was claimed twice");
        }
    }
    assert_eq!(seen.len(), 300);
}

async fn unique_key_returns_the_existing_job(store: Arc<dyn Store>) {
    let mut first = NewJob::new("noop", json!({"v": 1}));
    first.unique_key = Some("config:7:fire:1000".into());
    let created = store.job_enqueue(first.clone()).await.unwrap();
    assert!(created.created);
    let mut again = first.clone();
    again.payload = json!({"v": 2});
    let duplicate = store.job_enqueue(again).await.unwrap();
    assert!(!duplicate.created);
    assert_eq!(duplicate.id, created.id);
    // The key stays taken after the job finished: a late node cannot fire the same time again.
    let claimed = store.job_claim(claim("default", "w", 1)).await.unwrap();
    store
        .job_finish_many(vec![succeeded(claimed[0].id, "w", 1)])
        .await
        .unwrap();
    let after_finish = store.job_enqueue(first).await.unwrap();
    assert_eq!((after_finish.id, after_finish.created), (created.id, false));
    let job = store.job_get(created.id).await.unwrap().unwrap();
    assert_eq!(job.payload, json!({"v": 1}));
}

async fn unique_key_holds_under_concurrent_enqueue(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut new_job = NewJob::new("noop", json!({"from": i}));
            new_job.unique_key = Some("the-one".into());
            store.job_enqueue(new_job).await.unwrap()
        }));
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    for task in tasks {
        let enqueued = task.await.unwrap();
        ids.insert(enqueued.id);
        created += usize::from(enqueued.created);
    }
    assert_eq!(
        ids.len(),
        1,
        "every enqueue of one key must answer the same job"
    );
    assert_eq!(created, 1);
    let all = store
        .job_list(JobFilter {
            limit: 100,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
}

async fn enqueue_many_keeps_order_and_unique_keys(store: Arc<dyn Store>) {
    let mut existing = NewJob::new("noop", json!(null));
    existing.unique_key = Some("k1".into());
    let existing_id = store.job_enqueue(existing).await.unwrap().id;
    let mut batch = Vec::new();
    for (i, key) in [None, Some("k1"), Some("k2"), None, Some("k2")]
        .into_iter()
        .enumerate()
    {
        let mut new_job = NewJob::new("noop", json!({"i": i}));
        new_job.unique_key = key.map(str::to_owned);
        batch.push(new_job);
    }
    let enqueued = store.job_enqueue_many(batch).await.unwrap();
    assert_eq!(enqueued.len(), 5);
    let created: Vec<bool> = enqueued.iter().map(|e| e.created).collect();
    assert_eq!(created, vec![true, false, true, true, false]);
    assert_eq!(enqueued[1].id, existing_id);
    assert_eq!(enqueued[4].id, enqueued[2].id);
    assert!(enqueued[0].id < enqueued[2].id && enqueued[2].id < enqueued[3].id);
    let third = store.job_get(enqueued[3].id).await.unwrap().unwrap();
    assert_eq!(third.payload, json!({"i": 3}));
    let big: Vec<NewJob> = (0..12_000)
        .map(|i| NewJob::new("noop", json!({"i": i})))
        .collect();
    let big = store.job_enqueue_many(big).await.unwrap();
    assert_eq!(big.len(), 12_000);
    assert_eq!(
        big.iter().map(|e| e.id).collect::<HashSet<_>>().len(),
        12_000
    );
}

async fn finish_applies_once_and_only_for_the_lease_holder(store: Arc<dyn Store>) {
    store
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .unwrap();
    let job = store
        .job_claim(claim("default", "w1", 1))
        .await
        .unwrap()
        .remove(0);
    let stranger = succeeded(job.id, "w2", 1);
    let stale_attempt = succeeded(job.id, "w1", 7);
    assert!(store
        .job_finish_many(vec![stranger, stale_attempt])
        .await
        .unwrap()
        .is_empty());
    let applied = store
        .job_finish_many(vec![succeeded(job.id, "w1", 1), succeeded(job.id, "w1", 1)])
        .await
        .unwrap();
    assert_eq!(applied, vec![job.id]);
    let done = store.job_get(job.id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.result, Some(json!({"ok": true})));
    assert!(done.finished_at.is_some());
    assert!(done.lease_owner.is_none());
    let mut failing = NewJob::new("noop", json!(null));
    failing.queue = "f".into();
    store.job_enqueue(failing).await.unwrap();
    let job = store
        .job_claim(claim("f", "w1", 1))
        .await
        .unwrap()
        .remove(0);
    let failed = JobFinish {
        id: job.id,
        owner: "w1".into(),
        attempt: 1,
        outcome: FinishOutcome::Failed {
            error: "boom: not retryable".into(),
        },
    };
    assert_eq!(
        store.job_finish_many(vec![failed]).await.unwrap(),
        vec![job.id]
    );
    let job = store.job_get(job.id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.as_deref(), Some("boom: not retryable"));
}

async fn retry_outcome_requeues_at_run_at(store: Arc<dyn Store>) {
    store
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .unwrap();
    let job = store
        .job_claim(claim("default", "w", 1))
        .await
        .unwrap()
        .remove(0);
    let later = Timestamp::now().plus(Duration::from_secs(60));
    let retry = JobFinish {
        id: job.id,
        owner: "w".into(),
        attempt: 1,
        outcome: FinishOutcome::Retry {
            error: "flaky".into(),
            run_at: later,
        },
    };
    assert_eq!(
        store.job_finish_many(vec![retry]).await.unwrap(),
        vec![job.id]
    );
    let queued = store.job_get(job.id).await.unwrap().unwrap();
    assert_eq!(queued.status, JobStatus::Queued);
    assert_eq!(queued.attempt, 1);
    assert_eq!(queued.error.as_deref(), Some("flaky"));
    assert_eq!(queued.run_at, later);
    assert!(queued.lease_owner.is_none());
    assert!(store
        .job_claim(claim("default", "w", 1))
        .await
        .unwrap()
        .is_empty());
}

async fn heartbeat_extends_lease_and_reports_cancel(store: Arc<dyn Store>) {
    store
        .job_enqueue_many(vec![NewJob::new("noop", json!(null)); 3])
        .await
        .unwrap();
    let mut params = claim("default", "w", 3);
    params.lease = Duration::from_secs(5);
    let jobs = store.job_claim(params).await.unwrap();
    let before = jobs[0].lease_expires_at.unwrap();
    assert_eq!(
        store.job_cancel(jobs[1].id).await.unwrap(),
        CancelOutcome::Requested
    );
    let outcome = store
        .job_heartbeat(HeartbeatParams {
            owner: "w".into(),
            ids: vec![jobs[0].id, jobs[1].id, JobId(i64::MAX)],
            lease: Duration::from_secs(120),
        })
        .await
        .unwrap();
    assert_eq!(outcome.held, vec![jobs[0].id, jobs[1].id]);
    assert_eq!(outcome.cancel_requested, vec![jobs[1].id]);
    let after = store
        .job_get(jobs[0].id)
        .await
        .unwrap()
        .unwrap()
        .lease_expires_at
        .unwrap();
    assert!(after.0 > before.0 + 60_000_000, "lease was extended");
    let stranger = store
        .job_heartbeat(HeartbeatParams {
            owner: "other".into(),
            ids: vec![jobs[2].id],
            lease: Duration::from_secs(120),
        })
        .await
        .unwrap();
    assert!(stranger.held.is_empty());
}

async fn expired_lease_is_rescued_as_an_attempt(store: Arc<dyn Store>) {
    store
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .unwrap();
    let mut params = claim("default", "dead-worker", 1);
    params.lease = Duration::ZERO;
    let job = store.job_claim(params).await.unwrap().remove(0);
    let deadline = deadline_in(Duration::from_secs(10));
    let rescued = loop {
        let rescued = store.job_rescue().await.unwrap();
        if !rescued.is_empty() {
            break rescued;
        }
        wait_a_moment(deadline, "the expired lease is rescued").await;
    };
    assert_eq!(rescued, vec![job.id]);
    let queued = store.job_get(job.id).await.unwrap().unwrap();
    assert_eq!(queued.status, JobStatus::Queued);
    assert_eq!(queued.attempt, 1, "the lost attempt counts");
    assert!(queued.error.unwrap().contains("lease expired"));
    // The dead worker's late finish does not apply to the next attempt.
    let again = store
        .job_claim(claim("default", "live", 1))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(again.attempt, 2);
    assert!(store
        .job_finish_many(vec![succeeded(job.id, "dead-worker", 1)])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .job_finish_many(vec![succeeded(job.id, "live", 2)])
            .await
            .unwrap(),
        vec![job.id]
    );
    // A live lease is never rescued.
    assert!(store.job_rescue().await.unwrap().is_empty());
}

async fn rescue_fails_a_job_out_of_attempts(store: Arc<dyn Store>) {
    let mut new_job = NewJob::new("noop", json!(null));
    new_job.max_attempts = 1;
    let id = store.job_enqueue(new_job).await.unwrap().id;
    let cancelled_id = store
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .unwrap()
        .id;
    let mut params = claim("default", "dead", 2);
    params.lease = Duration::ZERO;
    assert_eq!(store.job_claim(params).await.unwrap().len(), 2);
    store.job_cancel(cancelled_id).await.unwrap();
    let deadline = deadline_in(Duration::from_secs(10));
    let mut rescued = HashSet::new();
    while rescued.len() < 2 {
        rescued.extend(store.job_rescue().await.unwrap());
        if rescued.len() < 2 {
            wait_a_moment(deadline, "both expired leases are rescued").await;
        }
    }
    let failed = store.job_get(id).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(failed.finished_at.is_some());
    assert!(failed.error.unwrap().contains("lease expired"));
    let cancelled = store.job_get(cancelled_id).await.unwrap().unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
}

async fn release_returns_job_without_counting_attempt(store: Arc<dyn Store>) {
    store
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .unwrap();
    let job = store
        .job_claim(claim("default", "w", 1))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        store.job_release("someone-else", &[job.id]).await.unwrap(),
        0
    );
    assert_eq!(store.job_release("w", &[job.id]).await.unwrap(), 1);
    let queued = store.job_get(job.id).await.unwrap().unwrap();
    assert_eq!((queued.status, queued.attempt), (JobStatus::Queued, 0));
    assert!(queued.lease_owner.is_none());
}

async fn cancel_queued_running_finished_and_missing(store: Arc<dyn Store>) {
    let queued = store
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .unwrap()
        .id;
    assert_eq!(
        store.job_cancel(queued).await.unwrap(),
        CancelOutcome::Cancelled
    );
    let job = store.job_get(queued).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert!(job.finished_at.is_some());
    assert_eq!(
        store.job_cancel(queued).await.unwrap(),
        CancelOutcome::AlreadyFinished(JobStatus::Cancelled)
    );
    let running = store
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .unwrap()
        .id;
    let mut notices = store.subscribe();
    store.job_claim(claim("default", "w", 1)).await.unwrap();
    assert_eq!(
        store.job_cancel(running).await.unwrap(),
        CancelOutcome::Requested
    );
    let job = store.job_get(running).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Running);
    assert!(job.cancel_requested);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let notice = tokio::time::timeout_at(deadline, notices.recv())
            .await
            .expect("a cancel notice arrives")
            .expect("the notice channel is open");
        if notice == (StoreNotice::CancelRequested { id: running }) {
            break;
        }
    }
    assert_eq!(
        store.job_cancel(JobId(i64::MAX)).await.unwrap(),
        CancelOutcome::NotFound
    );
}

async fn manual_retry_requeues_failed_job(store: Arc<dyn Store>) {
    let id = store
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .unwrap()
        .id;
    assert_eq!(
        store.job_retry(id).await.unwrap().unwrap().status,
        JobStatus::Queued
    );
    store.job_claim(claim("default", "w", 1)).await.unwrap();
    let failed = JobFinish {
        id,
        owner: "w".into(),
        attempt: 1,
        outcome: FinishOutcome::Failed {
            error: "bad".into(),
        },
    };
    store.job_finish_many(vec![failed]).await.unwrap();
    let retried = store.job_retry(id).await.unwrap().unwrap();
    assert_eq!(retried.status, JobStatus::Queued);
    assert_eq!(retried.attempt, 0);
    assert!(retried.error.is_none() && retried.finished_at.is_none());
    assert_eq!(
        store
            .job_claim(claim("default", "w", 1))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store.job_retry(JobId(i64::MAX)).await.unwrap().is_none());
}

async fn progress_is_stored(store: Arc<dyn Store>) {
    let id = store
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .unwrap()
        .id;
    store
        .job_progress(id, json!({"percent": 34, "step": "downloading"}))
        .await
        .unwrap();
    let job = store.job_get(id).await.unwrap().unwrap();
    assert_eq!(
        job.progress,
        Some(json!({"percent": 34, "step": "downloading"}))
    );
}

async fn job_output_writes_lines_and_progress_of_several_jobs(store: Arc<dyn Store>) {
    let first = store
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .unwrap()
        .id;
    let second = store
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .unwrap()
        .id;
    let line = |message: &str| NewLogLine {
        level: LogLevel::Info,
        message: message.to_owned(),
    };
    store.log_append(first, vec![line("before")]).await.unwrap();
    let gone = store
        .job_output_write(vec![
            JobOutput {
                job_id: first,
                lines: vec![line("a"), line("b")],
                progress: Some(json!({"done": 2})),
            },
            JobOutput {
                job_id: second,
                lines: Vec::new(),
                progress: Some(json!({"done": 1})),
            },
            JobOutput {
                job_id: JobId(i64::MAX),
                lines: vec![line("nobody reads this")],
                progress: None,
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        gone,
        vec![JobId(i64::MAX)],
        "output of a missing job is dropped and named"
    );
    let lines = store.log_list(first, 0, 10).await.unwrap();
    let read: Vec<(i64, &str)> = lines
        .iter()
        .map(|line| (line.seq, line.message.as_str()))
        .collect();
    assert_eq!(read, vec![(1, "before"), (2, "a"), (3, "b")]);
    assert!(store.log_list(second, 0, 10).await.unwrap().is_empty());
    assert_eq!(
        store.job_get(first).await.unwrap().unwrap().progress,
        Some(json!({"done": 2}))
    );
    assert_eq!(
        store.job_get(second).await.unwrap().unwrap().progress,
        Some(json!({"done": 1}))
    );
}

async fn logs_append_in_sequence_and_replay_from_any_point(store: Arc<dyn Store>) {
    let id = store
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .unwrap()
        .id;
    let other = store
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .unwrap()
        .id;
    let line = |level, message: &str| NewLogLine {
        level,
        message: message.to_owned(),
    };
    assert_eq!(
        store
            .log_append(id, vec![line(LogLevel::Info, "one")])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .log_append(
                id,
                vec![
                    line(LogLevel::Warn, "two"),
                    line(LogLevel::Error, "three ✓")
                ]
            )
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .log_append(other, vec![line(LogLevel::Debug, "x")])
            .await
            .unwrap(),
        1
    );
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .log_append(
                    id,
                    vec![NewLogLine {
                        level: LogLevel::Info,
                        message: format!("c{i}"),
                    }],
                )
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let all = store.log_list(id, 0, 1000).await.unwrap();
    assert_eq!(all.len(), 23);
    assert_eq!(
        all.iter().map(|l| l.seq).collect::<Vec<_>>(),
        (1..=23).collect::<Vec<_>>()
    );
    assert_eq!(all[2].message, "three ✓");
    assert_eq!(all[2].level, LogLevel::Error);
    let tail = store.log_list(id, 2, 2).await.unwrap();
    assert_eq!(tail.iter().map(|l| l.seq).collect::<Vec<_>>(), vec![3, 4]);
    assert!(store.log_list(id, 23, 10).await.unwrap().is_empty());
    assert!(store
        .log_append(JobId(i64::MAX), vec![line(LogLevel::Info, "lost")])
        .await
        .is_err());
}

async fn prune_by_age_and_by_count_removes_logs_too(store: Arc<dyn Store>) {
    let jobs: Vec<NewJob> = (0..6)
        .map(|i| NewJob::new("noop", json!({"i": i})))
        .collect();
    store.job_enqueue_many(jobs).await.unwrap();
    let pending = store
        .job_enqueue(NewJob::new("noop", json!("pending")))
        .await
        .unwrap()
        .id;
    let claimed = store.job_claim(claim("default", "w", 6)).await.unwrap();
    for job in &claimed {
        store
            .log_append(
                job.id,
                vec![NewLogLine {
                    level: LogLevel::Info,
                    message: "hi".into(),
                }],
            )
            .await
            .unwrap();
        store
            .job_finish_many(vec![succeeded(job.id, "w", 1)])
            .await
            .unwrap();
    }
    assert_eq!(store.job_prune(PruneParams::default()).await.unwrap(), 0);
    let far_past = PruneParams {
        finished_before: Some(Timestamp(0)),
        keep_last: None,
    };
    assert_eq!(store.job_prune(far_past).await.unwrap(), 0);
    let keep_four = PruneParams {
        finished_before: None,
        keep_last: Some(4),
    };
    assert_eq!(store.job_prune(keep_four).await.unwrap(), 2);
    let left = store
        .job_list(JobFilter {
            status: Some(JobStatus::Succeeded),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    let left_ids: HashSet<JobId> = left.iter().map(|job| job.id).collect();
    let newest_four: HashSet<JobId> = claimed.iter().rev().take(4).map(|job| job.id).collect();
    assert_eq!(left_ids, newest_four);
    assert!(store
        .log_list(claimed[0].id, 0, 10)
        .await
        .unwrap()
        .is_empty());
    let both_rules = PruneParams {
        finished_before: Some(Timestamp(0)),
        keep_last: Some(3),
    };
    assert_eq!(
        store.job_prune(both_rules).await.unwrap(),
        1,
        "either rule is enough to prune"
    );
    let everything = PruneParams {
        finished_before: Some(Timestamp::now().plus(Duration::from_secs(1))),
        keep_last: None,
    };
    assert_eq!(store.job_prune(everything).await.unwrap(), 3);
    assert!(store
        .log_list(claimed[5].id, 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(
        store.job_get(pending).await.unwrap().is_some(),
        "unfinished jobs are never pruned"
    );
}

async fn list_filters_by_payload_values(store: Arc<dyn Store>) {
    let payloads = [
        json!({"customer": {"id": 42, "name": "Ada \"the\" Countess"}, "urgent": true}),
        json!({"customer": {"id": 42.0}, "urgent": false, "note": null}),
        json!({"customer": {"id": "42"}, "urgent": true}),
        json!({"customer": {"name": "Ada"}, "list": [1, 2]}),
        json!("not an object"),
    ];
    let mut ids = Vec::new();
    for payload in payloads {
        ids.push(
            store
                .job_enqueue(NewJob::new("noop", payload))
                .await
                .unwrap()
                .id,
        );
    }
    let find = |matches: Vec<(Vec<&'static str>, serde_json::Value)>| {
        let store = store.clone();
        async move {
            let mut found: Vec<JobId> = store
                .job_list(JobFilter {
                    payload: matches
                        .into_iter()
                        .map(|(path, value)| crate::store::PayloadMatch {
                            path: path.into_iter().map(str::to_owned).collect(),
                            value,
                        })
                        .collect(),
                    ..JobFilter::default()
                })
                .await
                .unwrap()
                .into_iter()
                .map(|job| job.id)
                .collect();
            found.sort();
            found
        }
    };
    // Numbers match as numbers, never a string that reads the same.
    assert_eq!(
        find(vec![(vec!["customer", "id"], json!(42))]).await,
        vec![ids[0], ids[1]]
    );
    assert_eq!(
        find(vec![(vec!["customer", "id"], json!("42"))]).await,
        vec![ids[2]]
    );
    // Booleans are not numbers; every value must match.
    assert_eq!(
        find(vec![(vec!["urgent"], json!(true))]).await,
        vec![ids[0], ids[2]]
    );
    assert_eq!(
        find(vec![
            (vec!["urgent"], json!(true)),
            (vec!["customer", "id"], json!(42))
        ])
        .await,
        vec![ids[0]]
    );
    assert_eq!(
        find(vec![(vec!["urgent"], json!(1))]).await,
        Vec::<JobId>::new()
    );
    // Strings with quotes inside, null, and a missing path.
    assert_eq!(
        find(vec![(
            vec!["customer", "name"],
            json!("Ada \"the\" Countess")
        )])
        .await,
        vec![ids[0]]
    );
    assert_eq!(find(vec![(vec!["note"], json!(null))]).await, vec![ids[1]]);
    assert_eq!(
        find(vec![(vec!["missing"], json!(null))]).await,
        Vec::<JobId>::new()
    );
}

async fn minutes_add_up_per_node_and_sum_over_nodes(store: Arc<dyn Store>) {
    let minute = |n: i64| Timestamp(1_800_000_000_000_000 + n * 60_000_000);
    let counts = |at: i64, succeeded: i64, failed: i64| crate::store::MinuteCounts {
        minute: minute(at),
        succeeded,
        failed,
        retried: 1,
        cancelled: 0,
    };
    store
        .minutes_add("a", vec![counts(0, 5, 1), counts(1, 2, 0)])
        .await
        .unwrap();
    store.minutes_add("a", vec![counts(1, 3, 2)]).await.unwrap();
    store
        .minutes_add("b", vec![counts(1, 10, 0)])
        .await
        .unwrap();
    store.minutes_add("b", vec![counts(3, 1, 0)]).await.unwrap();
    let listed = store.minutes_list(minute(1)).await.unwrap();
    assert_eq!(
        listed,
        vec![
            crate::store::MinuteCounts {
                minute: minute(1),
                succeeded: 15,
                failed: 2,
                retried: 3,
                cancelled: 0
            },
            crate::store::MinuteCounts {
                minute: minute(3),
                succeeded: 1,
                failed: 0,
                retried: 1,
                cancelled: 0
            },
        ]
    );
    assert_eq!(store.minutes_prune(minute(3)).await.unwrap(), 3);
    assert_eq!(store.minutes_list(minute(0)).await.unwrap().len(), 1);
}

async fn list_filters_and_pages_without_gaps(store: Arc<dyn Store>) {
    for i in 0..25 {
        let mut new_job = NewJob::new(if i % 5 == 0 { "special" } else { "noop" }, json!({"i": i}));
        new_job.tenant = Some(if i % 2 == 0 { "even" } else { "odd" }.into());
        new_job.queue = if i % 3 == 0 { "q3" } else { "default" }.into();
        new_job.plugin = Some("p".into());
        store.job_enqueue(new_job).await.unwrap();
    }
    let special = store
        .job_list(JobFilter {
            kind: Some("special".into()),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(special.len(), 5);
    let even = store
        .job_list(JobFilter {
            tenant: Some("even".into()),
            limit: 100,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(even.len(), 13);
    let q3 = store
        .job_list(JobFilter {
            queue: Some("q3".into()),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(q3.len(), 9);
    let none = store
        .job_list(JobFilter {
            plugin: Some("other".into()),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    let mut seen = Vec::new();
    let mut before_id = None;
    loop {
        let page = store
            .job_list(JobFilter {
                before_id,
                limit: 7,
                ..JobFilter::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        before_id = page.last().map(|job| job.id);
        // Jobs added while paging appear on no older page and shift nothing.
        store
            .job_enqueue(NewJob::new("noop", json!("late")))
            .await
            .unwrap();
        seen.extend(page.into_iter().map(|job| job.id));
    }
    assert_eq!(seen.len(), 25);
    assert!(
        seen.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first, no repeats"
    );
}

async fn counts_by_queue_and_status(store: Arc<dyn Store>) {
    let mut jobs = vec![NewJob::new("noop", json!(null)); 3];
    jobs[2].queue = "other".into();
    store.job_enqueue_many(jobs).await.unwrap();
    store.job_claim(claim("default", "w", 1)).await.unwrap();
    let counts = store.job_counts().await.unwrap();
    let find = |queue: &str, status| {
        counts
            .iter()
            .find(|c| c.queue == queue && c.status == status)
            .map(|c| c.count)
    };
    assert_eq!(find("default", JobStatus::Queued), Some(1));
    assert_eq!(find("default", JobStatus::Running), Some(1));
    assert_eq!(find("other", JobStatus::Queued), Some(1));
}

async fn counts_unfinished_over_all_queues(store: Arc<dyn Store>) {
    assert_eq!(
        store.job_counts_unfinished().await.unwrap(),
        UnfinishedCounts::default()
    );
    let mut jobs = vec![NewJob::new("noop", json!(null)); 5];
    jobs[3].queue = "other".into();
    jobs[4].queue = "other".into();
    store.job_enqueue_many(jobs).await.unwrap();
    let running = store.job_claim(claim("default", "w", 2)).await.unwrap();
    store.job_claim(claim("other", "w", 1)).await.unwrap();
    // One finished: no longer counted.
    store
        .job_finish_many(vec![JobFinish {
            id: running[0].id,
            owner: "w".into(),
            attempt: running[0].attempt,
            outcome: FinishOutcome::Failed {
                error: "boom".into(),
            },
        }])
        .await
        .unwrap();
    assert_eq!(
        store.job_counts_unfinished().await.unwrap(),
        UnfinishedCounts {
            queued: 2,
            running: 2
        }
    );
}

async fn enqueue_announces_available_jobs(store: Arc<dyn Store>) {
    let mut notices = store.subscribe();
    let mut new_job = NewJob::new("noop", json!(null));
    new_job.queue = "loud".into();
    store.job_enqueue(new_job).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let notice = tokio::time::timeout_at(deadline, notices.recv())
            .await
            .expect("a notice arrives")
            .expect("the notice channel is open");
        match notice {
            StoreNotice::JobsAvailable { queue: Some(queue) } if queue == "loud" => break,
            _ => continue,
        }
    }
}

async fn kv_values_are_scoped_listed_in_order_and_deleted(store: Arc<dyn Store>) {
    let acme = KvScope {
        plugin: "counter".into(),
        tenant: Some("acme".into()),
    };
    let globex = KvScope {
        plugin: "counter".into(),
        tenant: Some("globex".into()),
    };
    let other_plugin = KvScope {
        plugin: "uptime".into(),
        tenant: Some("acme".into()),
    };
    let no_tenant = KvScope {
        plugin: "counter".into(),
        tenant: None,
    };
    assert_eq!(store.kv_get(&acme, "count").await.unwrap(), None);
    store.kv_set(&acme, "count", json!(1)).await.unwrap();
    store.kv_set(&acme, "count", json!(2)).await.unwrap();
    store
        .kv_set(&globex, "count", json!({"n": 9}))
        .await
        .unwrap();
    store
        .kv_set(&no_tenant, "count", json!("shared"))
        .await
        .unwrap();
    assert_eq!(store.kv_get(&acme, "count").await.unwrap(), Some(json!(2)));
    assert_eq!(
        store.kv_get(&globex, "count").await.unwrap(),
        Some(json!({"n": 9}))
    );
    assert_eq!(store.kv_get(&other_plugin, "count").await.unwrap(), None);
    assert_eq!(
        store.kv_get(&no_tenant, "count").await.unwrap(),
        Some(json!("shared"))
    );
    for key in ["site:b", "site:a", "site:c", "sitez", "site%x", "other"] {
        store.kv_set(&acme, key, json!(key)).await.unwrap();
    }
    let page = |prefix, after, limit| KvQuery {
        prefix,
        after,
        limit,
        max_bytes: usize::MAX,
    };
    let keys = |items: Vec<(String, serde_json::Value)>| {
        items.into_iter().map(|(key, _)| key).collect::<Vec<_>>()
    };
    assert_eq!(
        keys(
            store
                .kv_list(&acme, &page("site:", None, 100))
                .await
                .unwrap()
        ),
        vec!["site:a", "site:b", "site:c"]
    );
    assert_eq!(
        keys(
            store
                .kv_list(&acme, &page("site:", Some("site:a"), 1))
                .await
                .unwrap()
        ),
        vec!["site:b"]
    );
    assert_eq!(
        keys(
            store
                .kv_list(&acme, &page("site%", None, 100))
                .await
                .unwrap()
        ),
        vec!["site%x"]
    );
    assert_eq!(
        store
            .kv_list(&acme, &page("", None, 100))
            .await
            .unwrap()
            .len(),
        7
    );
    // A byte budget ends a page early: values of about 300 KB, a budget of 700 KB, so three
    // values (the third starts below the budget) and then the rest from the last key on.
    let big = json!("x".repeat(300_000));
    for key in ["big:1", "big:2", "big:3", "big:4", "big:5"] {
        store.kv_set(&acme, key, big.clone()).await.unwrap();
    }
    let budget = |after| KvQuery {
        prefix: "big:",
        after,
        limit: 100,
        max_bytes: 700_000,
    };
    let first = keys(store.kv_list(&acme, &budget(None)).await.unwrap());
    assert_eq!(first, vec!["big:1", "big:2", "big:3"]);
    let rest = keys(store.kv_list(&acme, &budget(Some("big:3"))).await.unwrap());
    assert_eq!(rest, vec!["big:4", "big:5"]);
    // One value is always returned, however small the budget.
    let tiny = KvQuery {
        max_bytes: 1,
        ..budget(None)
    };
    assert_eq!(
        keys(store.kv_list(&acme, &tiny).await.unwrap()),
        vec!["big:1"]
    );
    assert!(store.kv_delete(&acme, "count").await.unwrap());
    assert!(!store.kv_delete(&acme, "count").await.unwrap());
    assert_eq!(
        store.kv_get(&globex, "count").await.unwrap(),
        Some(json!({"n": 9}))
    );
}

async fn events_with_one_idempotency_key_are_recorded_once(store: Arc<dyn Store>) {
    let event = |key: Option<&str>, tenant: &str| NewEvent {
        tenant: tenant.into(),
        event_type: "form.submitted".into(),
        payload: json!({"form": 1}),
        idempotency_key: key.map(str::to_owned),
        source: Some("plugin:forms".into()),
    };
    let first = store.event_record(event(Some("k1"), "acme")).await.unwrap();
    assert!(first.created);
    let again = store.event_record(event(Some("k1"), "acme")).await.unwrap();
    assert_eq!((again.id, again.created), (first.id, false));
    let other_tenant = store
        .event_record(event(Some("k1"), "globex"))
        .await
        .unwrap();
    assert!(other_tenant.created && other_tenant.id != first.id);
    let without_key = store.event_record(event(None, "acme")).await.unwrap();
    let without_key_again = store.event_record(event(None, "acme")).await.unwrap();
    assert!(
        without_key.created && without_key_again.created && without_key.id != without_key_again.id
    );
}

async fn plugin_metadata_is_cached_with_its_state_and_checksum(store: Arc<dyn Store>) {
    assert_eq!(
        store.plugin_metadata_get("uptime").await.unwrap(),
        None,
        "missing"
    );
    let record =
        |state, metadata: Option<serde_json::Value>, error: Option<&str>| PluginMetadataRecord {
            plugin: "uptime".into(),
            version: "1.2.0".into(),
            checksum: "abc".into(),
            state,
            metadata,
            error: error.map(str::to_owned),
            updated_at: Timestamp(0),
        };
    let declared = json!({"events": ["site.*"], "configSchema": {"type": "object"}});
    store
        .plugin_metadata_put(record(MetadataState::Fresh, Some(declared.clone()), None))
        .await
        .unwrap();
    let fresh = store.plugin_metadata_get("uptime").await.unwrap().unwrap();
    assert_eq!(
        (fresh.state, fresh.metadata.as_ref()),
        (MetadataState::Fresh, Some(&declared))
    );
    assert!(fresh.updated_at.0 > 0);
    store
        .plugin_metadata_put(record(MetadataState::Error, None, Some("crashed 5 times")))
        .await
        .unwrap();
    let failed = store.plugin_metadata_get("uptime").await.unwrap().unwrap();
    assert_eq!(failed.state, MetadataState::Error);
    assert_eq!(failed.error.as_deref(), Some("crashed 5 times"));
    assert_eq!(
        failed.metadata,
        Some(declared),
        "a failed handshake keeps what the last good one said"
    );
}

/// The plugin registry, kept package versions and the admin lock.
mod plugin_registry {
    use std::sync::Arc;

    use serde_json::json;

    use crate::store::{
        Config, ConfigPut, InstalledPlugin, JobId, KvScope, LockOutcome, MetadataState, NewJob,
        PackageRecord, PluginMetadataRecord, PluginRemoval, PluginState, Store, Timestamp,
    };

    crate::store::testing::for_each_store!(
        registry_rows_are_written_listed_and_removed,
        removing_a_plugin_keeps_or_deletes_its_data,
        package_versions_keep_their_archives,
        the_admin_lock_is_held_by_one_live_job,
        uploads_are_kept_read_deleted_and_pruned,
    );

    async fn uploads_are_kept_read_deleted_and_pruned(store: Arc<dyn Store>) {
        let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        store
            .upload_put("upload-aaaa", "abc123", data.clone())
            .await
            .unwrap();
        store
            .upload_put("upload-bbbb", "def456", b"second".to_vec())
            .await
            .unwrap();
        assert_eq!(
            store.upload_get("upload-aaaa").await.unwrap(),
            Some(("abc123".to_owned(), data)),
            "bytes come back exactly"
        );
        assert_eq!(store.upload_get("upload-none").await.unwrap(), None);
        assert!(store.upload_delete("upload-aaaa").await.unwrap());
        assert!(!store.upload_delete("upload-aaaa").await.unwrap());
        assert_eq!(store.upload_get("upload-aaaa").await.unwrap(), None);
        // Pruning takes what is older than the cut only.
        assert_eq!(store.upload_prune(Timestamp(0)).await.unwrap(), 0);
        assert_eq!(
            store
                .upload_get("upload-bbbb")
                .await
                .unwrap()
                .map(|(sha, _)| sha),
            Some("def456".to_owned())
        );
        let later = Timestamp::now().plus(std::time::Duration::from_secs(1));
        assert_eq!(store.upload_prune(later).await.unwrap(), 1);
        assert_eq!(store.upload_get("upload-bbbb").await.unwrap(), None);
    }

    fn plugin(id: &str, version: Option<&str>, state: PluginState) -> InstalledPlugin {
        InstalledPlugin {
            id: id.to_owned(),
            active_version: version.map(str::to_owned),
            previous_version: None,
            state,
            error: None,
            source: Some("https://example.test/hello.tar.gz".to_owned()),
            changed_by: Some(JobId(7)),
            granted_permissions: None,
            updated_at: Timestamp(0),
        }
    }

    fn package(id: &str, version: &str, archive: &[u8]) -> PackageRecord {
        PackageRecord {
            plugin: id.to_owned(),
            version: version.to_owned(),
            sha256: format!("{:064}", archive.len()),
            archive: archive.to_vec(),
            manifest: format!("id = \"{id}\"\nversion = \"{version}\"\n"),
            source: None,
            created_at: Timestamp(0),
        }
    }

    async fn registry_rows_are_written_listed_and_removed(store: Arc<dyn Store>) {
        assert_eq!(store.plugin_get("hello").await.unwrap(), None);
        store
            .plugin_put(plugin("hello", None, PluginState::Installing))
            .await
            .unwrap();
        store
            .plugin_put(plugin("alpha", Some("2.0.0"), PluginState::Disabled))
            .await
            .unwrap();
        let mut updated = plugin("hello", Some("1.1.0"), PluginState::Failed);
        updated.previous_version = Some("1.0.0".to_owned());
        updated.error = Some("crashed at initialize".to_owned());
        updated.granted_permissions = Some(json!({
            "network": true,
            "read": ["/srv/shared"],
            "write": [],
            "env": ["HTTPS_PROXY"],
        }));
        store.plugin_put(updated.clone()).await.unwrap();
        let read = store.plugin_get("hello").await.unwrap().expect("a row");
        assert!(read.updated_at.0 > 0, "the store sets updated_at");
        assert_eq!(
            read,
            InstalledPlugin {
                updated_at: read.updated_at,
                ..updated
            }
        );
        let ids: Vec<String> = store
            .plugin_list()
            .await
            .unwrap()
            .into_iter()
            .map(|plugin| plugin.id)
            .collect();
        assert_eq!(ids, ["alpha", "hello"]);
        // A grant is kept as given, and one taken back is gone (a row from before grants has none).
        let alpha = store.plugin_get("alpha").await.unwrap().expect("a row");
        assert_eq!(alpha.granted_permissions, None);
        store
            .plugin_put(InstalledPlugin {
                granted_permissions: None,
                ..read.clone()
            })
            .await
            .unwrap();
        let cleared = store.plugin_get("hello").await.unwrap().expect("a row");
        assert_eq!(cleared.granted_permissions, None);
        let removal = |plugin: &str| PluginRemoval {
            plugin: plugin.to_owned(),
            delete_data: false,
        };
        assert!(store.plugin_remove(removal("hello")).await.unwrap());
        assert!(!store.plugin_remove(removal("hello")).await.unwrap());
        assert_eq!(store.plugin_get("hello").await.unwrap(), None);
    }

    async fn removing_a_plugin_keeps_or_deletes_its_data(store: Arc<dyn Store>) {
        store.tenant_create("acme", "Acme").await.unwrap();
        for id in ["keep", "drop"] {
            store
                .config_put(ConfigPut {
                    config: Config {
                        id: format!("config-{id}"),
                        tenant: "acme".to_owned(),
                        plugin: id.to_owned(),
                        name: "main".to_owned(),
                        values: json!({}),
                        enabled: true,
                        schedule: None,
                        events: Vec::new(),
                        invalid_reason: None,
                        last_fire_at: None,
                        next_fire_at: None,
                        created_at: Timestamp(0),
                        updated_at: Timestamp(0),
                    },
                    cursor: None,
                })
                .await
                .unwrap();
            store
                .plugin_put(plugin(id, Some("1.0.0"), PluginState::Enabled))
                .await
                .unwrap();
            store
                .package_put(package(id, "1.0.0", b"archive"))
                .await
                .unwrap();
            let scope = KvScope {
                plugin: id.to_owned(),
                tenant: Some("acme".to_owned()),
            };
            store.kv_set(&scope, "count", json!(3)).await.unwrap();
            store
                .plugin_metadata_put(PluginMetadataRecord {
                    plugin: id.to_owned(),
                    version: "1.0.0".to_owned(),
                    checksum: "abc".to_owned(),
                    state: MetadataState::Fresh,
                    metadata: Some(json!({})),
                    error: None,
                    updated_at: Timestamp(0),
                })
                .await
                .unwrap();
        }
        for (id, delete_data) in [("keep", false), ("drop", true)] {
            store
                .plugin_remove(PluginRemoval {
                    plugin: id.to_owned(),
                    delete_data,
                })
                .await
                .unwrap();
            assert!(store.package_list(id).await.unwrap().is_empty());
            let scope = KvScope {
                plugin: id.to_owned(),
                tenant: Some("acme".to_owned()),
            };
            let value = store.kv_get(&scope, "count").await.unwrap();
            let metadata = store.plugin_metadata_get(id).await.unwrap();
            assert_eq!(value.is_some(), !delete_data, "kv of {id}");
            assert_eq!(metadata.is_some(), !delete_data, "metadata of {id}");
            let config = store.config_get(&format!("config-{id}")).await.unwrap();
            assert_eq!(config.is_some(), !delete_data, "configs of {id}");
        }
    }

    async fn package_versions_keep_their_archives(store: Arc<dyn Store>) {
        let archive: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        store
            .package_put(package("hello", "1.0.0", &archive))
            .await
            .unwrap();
        store
            .package_put(package("hello", "1.1.0", b"second"))
            .await
            .unwrap();
        store
            .package_put(package("other", "1.0.0", b"other"))
            .await
            .unwrap();
        let read = store
            .package_get("hello", "1.0.0")
            .await
            .unwrap()
            .expect("kept");
        assert_eq!(read.archive, archive, "bytes come back exactly");
        assert!(read.created_at.0 > 0);
        let versions: Vec<(String, i64)> = store
            .package_list("hello")
            .await
            .unwrap()
            .into_iter()
            .map(|info| (info.version, info.size))
            .collect();
        assert_eq!(
            versions,
            [("1.0.0".to_owned(), 100_000), ("1.1.0".to_owned(), 6)]
        );
        store
            .package_put(package("hello", "1.1.0", b"replaced"))
            .await
            .unwrap();
        let replaced = store.package_get("hello", "1.1.0").await.unwrap().unwrap();
        assert_eq!(replaced.archive, b"replaced");
        assert!(store.package_delete("hello", "1.0.0").await.unwrap());
        assert!(!store.package_delete("hello", "1.0.0").await.unwrap());
        assert_eq!(store.package_get("hello", "1.0.0").await.unwrap(), None);
        assert_eq!(store.package_list("other").await.unwrap().len(), 1);
    }

    async fn the_admin_lock_is_held_by_one_live_job(store: Arc<dyn Store>) {
        let first = store
            .job_enqueue(NewJob::new("plugin.update", json!({})))
            .await
            .unwrap()
            .id;
        let second = store
            .job_enqueue(NewJob::new("plugin.disable", json!({})))
            .await
            .unwrap()
            .id;
        assert_eq!(
            store.plugin_lock_acquire("hello", first).await.unwrap(),
            LockOutcome::Acquired
        );
        assert_eq!(
            store.plugin_lock_acquire("hello", second).await.unwrap(),
            LockOutcome::Held { by: first }
        );
        assert_eq!(
            store.plugin_lock_acquire("hello", first).await.unwrap(),
            LockOutcome::Acquired,
            "taking it again is fine"
        );
        assert_eq!(
            store.plugin_lock_acquire("other", second).await.unwrap(),
            LockOutcome::Acquired,
            "locks are per plugin"
        );
        assert_eq!(
            store.plugin_lock_holder("hello").await.unwrap(),
            Some(first)
        );
        // The holder ends without releasing (it crashed and gave up): the lock is free.
        store.job_cancel(first).await.unwrap();
        assert_eq!(store.plugin_lock_holder("hello").await.unwrap(), None);
        assert_eq!(
            store.plugin_lock_acquire("hello", second).await.unwrap(),
            LockOutcome::Acquired
        );
        store.plugin_lock_release("hello", first).await.unwrap();
        assert_eq!(
            store.plugin_lock_holder("hello").await.unwrap(),
            Some(second),
            "only the holder releases"
        );
        store.plugin_lock_release("hello", second).await.unwrap();
        assert_eq!(store.plugin_lock_holder("hello").await.unwrap(), None);
    }
}
mod changes;
mod limits;
mod nodes;
mod tenants;

/// API tokens: stored by hash, found by hash, listed and revoked.
mod api_tokens {
    use std::sync::Arc;

    use crate::store::{
        JobFilter, JobId, NewApiToken, NewJob, Store, StoreError, Timestamp, TokenAccess,
    };

    crate::store::testing::for_each_store!(
        tokens_are_found_by_hash_listed_and_revoked,
        jobs_are_listed_by_creation_time,
    );

    fn token(id: &str, hash: &str, tenant: Option<&str>) -> NewApiToken {
        NewApiToken {
            id: id.to_owned(),
            name: format!("{id} for tests"),
            hash: hash.to_owned(),
            tenant: tenant.map(str::to_owned),
            access: TokenAccess::Read,
            expires_at: Some(Timestamp(4_102_444_800_000_000)),
        }
    }

    async fn tokens_are_found_by_hash_listed_and_revoked(store: Arc<dyn Store>) {
        let first = store
            .token_create(token("tok_a", "aa", Some("acme")))
            .await
            .unwrap();
        assert_eq!(first.tenant.as_deref(), Some("acme"));
        assert_eq!(first.access, TokenAccess::Read);
        assert_eq!(first.revoked_at, None);
        assert_eq!(first.expires_at, Some(Timestamp(4_102_444_800_000_000)));
        let mut second = token("tok_b", "bb", None);
        second.access = TokenAccess::Write;
        second.expires_at = None;
        store.token_create(second).await.unwrap();
        assert!(matches!(
            store.token_create(token("tok_c", "aa", None)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.token_create(token("tok_a", "cc", None)).await,
            Err(StoreError::Conflict(_))
        ));

        let found = store.token_find_by_hash("aa").await.unwrap().unwrap();
        assert_eq!(found, first);
        let found = store.token_find_by_hash("bb").await.unwrap().unwrap();
        assert_eq!(found.access, TokenAccess::Write);
        assert_eq!(found.expires_at, None);
        // A console session: a token with the admin's rights.
        let mut session = token("tok_s", "ss", None);
        session.access = TokenAccess::Admin;
        store.token_create(session).await.unwrap();
        let found = store.token_find_by_hash("ss").await.unwrap().unwrap();
        assert_eq!(found.access, TokenAccess::Admin);
        store.token_revoke("tok_s").await.unwrap();
        assert_eq!(store.token_find_by_hash("zz").await.unwrap(), None);
        let mut ids: Vec<String> = store
            .token_list()
            .await
            .unwrap()
            .into_iter()
            .map(|token| token.id)
            .collect();
        ids.sort();
        assert_eq!(ids, ["tok_a", "tok_b", "tok_s"]);

        let revoked = store.token_revoke("tok_a").await.unwrap().unwrap();
        let at = revoked.revoked_at.expect("revoked_at is set");
        let again = store.token_revoke("tok_a").await.unwrap().unwrap();
        assert_eq!(
            again.revoked_at,
            Some(at),
            "a second revoke keeps the first time"
        );
        assert_eq!(
            store
                .token_find_by_hash("aa")
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            Some(at)
        );
        assert_eq!(store.token_revoke("tok_missing").await.unwrap(), None);
    }

    async fn jobs_are_listed_by_creation_time(store: Arc<dyn Store>) {
        let first = store
            .job_enqueue(NewJob::new("noop", serde_json::json!({})))
            .await
            .unwrap()
            .id;
        let created = store.job_get(first).await.unwrap().unwrap().created_at;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let second = store
            .job_enqueue(NewJob::new("noop", serde_json::json!({})))
            .await
            .unwrap()
            .id;
        let ids = |jobs: Vec<crate::store::Job>| {
            jobs.into_iter().map(|job| job.id).collect::<Vec<JobId>>()
        };
        let after = store
            .job_list(JobFilter {
                created_after: Some(Timestamp(created.0 + 1)),
                ..JobFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(ids(after), [second]);
        let before = store
            .job_list(JobFilter {
                created_before: Some(Timestamp(created.0 + 1)),
                ..JobFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(ids(before), [first]);
        let both = store
            .job_list(JobFilter {
                created_after: Some(created),
                ..JobFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(ids(both), [second, first]);
    }
}
