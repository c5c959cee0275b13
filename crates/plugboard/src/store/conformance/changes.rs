//! Conformance of job changes (`Store::job_changes`), on both stores: every transition moves the
//! job to the end of the change order, readers resume from any position, and a reader paging
//! while jobs change under it ends with every job in its final state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{claim, deadline_in, succeeded, wait_a_moment};
use crate::store::{
    ChangeCursor, ChangeFilter, FinishOutcome, JobChange, JobFinish, JobId, JobStatus, NewJob,
    Store,
};

crate::store::testing::for_each_store!(
    every_transition_is_a_change_in_order,
    changes_resume_from_any_position_and_collapse_to_the_latest_state,
    changes_are_filtered,
    paging_changes_while_jobs_change_ends_in_every_final_state,
);

/// Reads changes after `after` until `wanted` have arrived: on PostgreSQL a change becomes
/// readable once every older transaction of the cluster has ended, which other tests' writes
/// may briefly delay.
async fn read_changes(
    store: &Arc<dyn Store>,
    after: ChangeCursor,
    filter: &ChangeFilter,
    wanted: usize,
) -> Vec<JobChange> {
    let deadline = deadline_in(Duration::from_secs(20));
    let mut seen = Vec::new();
    let mut cursor = after;
    loop {
        let page = store
            .job_changes(cursor, filter.clone(), 100)
            .await
            .unwrap();
        if let Some(last) = page.last() {
            cursor = last.cursor;
        }
        seen.extend(page);
        if seen.len() >= wanted {
            return seen;
        }
        wait_a_moment(deadline, &format!("{wanted} changes were readable")).await;
    }
}

fn statuses(changes: &[JobChange]) -> Vec<(JobId, JobStatus)> {
    changes
        .iter()
        .map(|change| (change.job.id, change.job.status))
        .collect()
}

async fn every_transition_is_a_change_in_order(store: Arc<dyn Store>) {
    let everything = ChangeFilter::default();
    let head = store.job_change_head().await.unwrap();
    assert!(store
        .job_changes(head, everything.clone(), 10)
        .await
        .unwrap()
        .is_empty());

    let first = store
        .job_enqueue(NewJob::new("noop", json!(1)))
        .await
        .unwrap()
        .id;
    let second = store
        .job_enqueue(NewJob::new("noop", json!(2)))
        .await
        .unwrap()
        .id;
    let enqueued = read_changes(&store, head, &everything, 2).await;
    assert_eq!(
        statuses(&enqueued),
        [(first, JobStatus::Queued), (second, JobStatus::Queued)]
    );
    assert!(head < enqueued[0].cursor && enqueued[0].cursor < enqueued[1].cursor);
    let mut at = enqueued[1].cursor;

    // Each step shows exactly the job it changed, after everything before it.
    let claimed = store.job_claim(claim("default", "w1", 1)).await.unwrap();
    assert_eq!(claimed[0].id, first);
    let step = read_changes(&store, at, &everything, 1).await;
    assert_eq!(statuses(&step), [(first, JobStatus::Running)]);
    assert!(step[0].cursor > at);
    at = step[0].cursor;

    store
        .job_progress(first, json!({"percent": 50}))
        .await
        .unwrap();
    let step = read_changes(&store, at, &everything, 1).await;
    assert_eq!(step[0].job.progress, Some(json!({"percent": 50})));
    at = step[0].cursor;

    store.job_cancel(first).await.unwrap();
    let step = read_changes(&store, at, &everything, 1).await;
    assert!(step[0].job.cancel_requested, "a cancel request is a change");
    at = step[0].cursor;

    let applied = store
        .job_finish_many(vec![succeeded(first, "w1", 1)])
        .await
        .unwrap();
    assert_eq!(applied, [first]);
    let step = read_changes(&store, at, &everything, 1).await;
    assert_eq!(statuses(&step), [(first, JobStatus::Succeeded)]);
    at = step[0].cursor;

    store.job_cancel(second).await.unwrap();
    let step = read_changes(&store, at, &everything, 1).await;
    assert_eq!(statuses(&step), [(second, JobStatus::Cancelled)]);
    at = step[0].cursor;

    store.job_retry(second).await.unwrap();
    let step = read_changes(&store, at, &everything, 1).await;
    assert_eq!(statuses(&step), [(second, JobStatus::Queued)]);
    at = step[0].cursor;

    // A heartbeat is not a change; nothing new is readable.
    let claimed = store.job_claim(claim("default", "w2", 1)).await.unwrap();
    let step = read_changes(&store, at, &everything, 1).await;
    at = step[0].cursor;
    store
        .job_heartbeat(crate::store::HeartbeatParams {
            owner: "w2".into(),
            ids: vec![claimed[0].id],
            lease: Duration::from_secs(30),
        })
        .await
        .unwrap();
    assert!(store
        .job_changes(at, everything.clone(), 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.job_change_head().await.unwrap() >= at);

    // Release and retry-later outcomes are changes too.
    store.job_release("w2", &[second]).await.unwrap();
    let step = read_changes(&store, at, &everything, 1).await;
    assert_eq!(statuses(&step), [(second, JobStatus::Queued)]);
    at = step[0].cursor;
    let claimed = store.job_claim(claim("default", "w3", 1)).await.unwrap();
    let retry = JobFinish {
        id: second,
        owner: "w3".into(),
        attempt: claimed[0].attempt,
        outcome: FinishOutcome::Retry {
            error: "try later".into(),
            run_at: crate::store::Timestamp::now().plus(Duration::from_secs(60)),
        },
    };
    store.job_finish_many(vec![retry]).await.unwrap();
    let step = read_changes(&store, at, &everything, 1).await;
    assert_eq!(
        step.last()
            .map(|change| (change.job.status, change.job.error.clone())),
        Some((JobStatus::Queued, Some("try later".to_owned())))
    );
}

async fn changes_resume_from_any_position_and_collapse_to_the_latest_state(store: Arc<dyn Store>) {
    let everything = ChangeFilter::default();
    let head = store.job_change_head().await.unwrap();
    let jobs = store
        .job_enqueue_many((0..5).map(|n| NewJob::new("noop", json!(n))).collect())
        .await
        .unwrap();
    let ids: Vec<JobId> = jobs.iter().map(|job| job.id).collect();
    let enqueued = read_changes(&store, head, &everything, 5).await;
    assert_eq!(
        enqueued
            .iter()
            .map(|change| change.job.id)
            .collect::<Vec<_>>(),
        ids,
        "one batch shares a change number and is ordered by job id"
    );

    // A reader that resumes after the third change sees the last two only.
    let resumed = store
        .job_changes(enqueued[2].cursor, everything.clone(), 10)
        .await
        .unwrap();
    assert_eq!(resumed, enqueued[3..].to_vec());

    // Changing the first job twice moves it to the end once, in its latest state.
    let claimed = store.job_claim(claim("default", "w1", 1)).await.unwrap();
    assert_eq!(claimed[0].id, ids[0]);
    store
        .job_finish_many(vec![succeeded(ids[0], "w1", 1)])
        .await
        .unwrap();
    let later = read_changes(&store, head, &everything, 5).await;
    assert_eq!(later.len(), 5);
    assert_eq!(later[4].job.id, ids[0]);
    assert_eq!(later[4].job.status, JobStatus::Succeeded);
    assert_eq!(later[..4].to_vec(), enqueued[1..].to_vec());

    // From the start: every job there is, once each.
    let all = store
        .job_changes(ChangeCursor::START, everything, 1000)
        .await
        .unwrap();
    let mut seen: Vec<JobId> = all.iter().map(|change| change.job.id).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), all.len());
    assert!(ids.iter().all(|id| seen.contains(id)));
}

async fn changes_are_filtered(store: Arc<dyn Store>) {
    let head = store.job_change_head().await.unwrap();
    let mut mine = NewJob::new("plugin.run", json!({}));
    mine.tenant = Some("acme".into());
    mine.plugin = Some("hello".into());
    mine.queue = "mail".into();
    let mine = store.job_enqueue(mine).await.unwrap().id;
    let mut theirs = NewJob::new("noop", json!({}));
    theirs.tenant = Some("globex".into());
    let theirs = store.job_enqueue(theirs).await.unwrap().id;
    read_changes(&store, head, &ChangeFilter::default(), 2).await;

    let only = |filter: ChangeFilter| {
        let store = store.clone();
        async move {
            store
                .job_changes(head, filter, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|change| change.job.id)
                .collect::<Vec<_>>()
        }
    };
    let tenant = ChangeFilter {
        tenant: Some("acme".into()),
        ..ChangeFilter::default()
    };
    assert_eq!(only(tenant).await, [mine]);
    let plugin = ChangeFilter {
        plugin: Some("hello".into()),
        ..ChangeFilter::default()
    };
    assert_eq!(only(plugin).await, [mine]);
    let queue = ChangeFilter {
        queue: Some("default".into()),
        ..ChangeFilter::default()
    };
    assert_eq!(only(queue).await, [theirs]);
    let kind = ChangeFilter {
        kind: Some("noop".into()),
        ..ChangeFilter::default()
    };
    assert_eq!(only(kind).await, [theirs]);
    let job = ChangeFilter {
        job: Some(theirs),
        ..ChangeFilter::default()
    };
    assert_eq!(only(job.clone()).await, [theirs]);
    let nobody = ChangeFilter {
        tenant: Some("acme".into()),
        ..job
    };
    assert!(only(nobody).await.is_empty());
}

fn absorb(page: Vec<JobChange>, cursor: &mut ChangeCursor, latest: &mut HashMap<JobId, JobStatus>) {
    for change in page {
        assert!(change.cursor > *cursor, "positions only grow");
        *cursor = change.cursor;
        latest.insert(change.job.id, change.job.status);
    }
}

async fn paging_changes_while_jobs_change_ends_in_every_final_state(store: Arc<dyn Store>) {
    const JOBS: usize = 120;
    let head = store.job_change_head().await.unwrap();
    // Several writers at once: enqueues, claims and finishes in overlapping transactions.
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                let owner = format!("w{writer}");
                for n in 0..JOBS / 4 {
                    store
                        .job_enqueue(NewJob::new("noop", json!({"writer": writer, "n": n})))
                        .await
                        .unwrap();
                    for job in store.job_claim(claim("default", &owner, 2)).await.unwrap() {
                        store
                            .job_finish_many(vec![succeeded(job.id, &owner, job.attempt)])
                            .await
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    // Meanwhile a reader pages through changes, small pages, resuming from its last position.
    let mut cursor = head;
    let mut latest: HashMap<JobId, JobStatus> = HashMap::new();
    while !writers.iter().all(|writer| writer.is_finished()) {
        let page = store
            .job_changes(cursor, ChangeFilter::default(), 7)
            .await
            .unwrap();
        absorb(page, &mut cursor, &mut latest);
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    // Drain what is left and whatever is still queued, then catch up.
    loop {
        let claimed = store
            .job_claim(claim("default", "drain", 50))
            .await
            .unwrap();
        if claimed.is_empty() {
            break;
        }
        let finishes = claimed
            .iter()
            .map(|job| succeeded(job.id, "drain", job.attempt))
            .collect();
        store.job_finish_many(finishes).await.unwrap();
    }
    let deadline = deadline_in(Duration::from_secs(20));
    loop {
        let page = store
            .job_changes(cursor, ChangeFilter::default(), 7)
            .await
            .unwrap();
        let empty = page.is_empty();
        absorb(page, &mut cursor, &mut latest);
        if empty
            && latest.len() == JOBS
            && latest
                .values()
                .all(|status| *status == JobStatus::Succeeded)
        {
            break;
        }
        if empty {
            wait_a_moment(deadline, "every job's final state was read").await;
        }
    }
    for (id, status) in &latest {
        let stored = store.job_get(*id).await.unwrap().unwrap();
        assert_eq!(stored.status, *status, "job {id:?}");
    }
}
