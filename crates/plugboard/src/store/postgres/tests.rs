//! PostgreSQL behaviour the shared conformance suite cannot see: connecting and its errors,
//! migrating from several nodes at once, notices between nodes, the listener reconnecting,
//! large batches and closing. Tests that need a server skip loudly without
//! `PLUGBOARD_TEST_DATABASE_URL`.

use std::time::Duration;

use serde_json::json;
use tokio::sync::broadcast;

use super::{notify, PostgresOptions, PostgresStore};
use crate::store::testing::DATABASE_URL_VARIABLE;
use crate::store::{
    CancelOutcome, ClaimParams, FinishOutcome, JobFinish, JobStatus, LogLevel, NewJob, NewLogLine,
    Store, StoreError, StoreNotice,
};

fn database_url(test_name: &str) -> Option<String> {
    let url = std::env::var(DATABASE_URL_VARIABLE).ok();
    if url.is_none() {
        eprintln!("SKIPPED {test_name} on PostgreSQL: set {DATABASE_URL_VARIABLE} to run it");
    }
    url
}

fn fresh_schema() -> String {
    format!("pb_pgtest_{}_{}", std::process::id(), rand::random::<u32>())
}

async fn open(url: &str, schema: &str) -> Result<PostgresStore, StoreError> {
    PostgresStore::connect(PostgresOptions {
        url: url.to_owned(),
        schema: Some(schema.to_owned()),
        pool_size: 2,
    })
    .await
}

async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the test database answers");
    tokio::spawn(connection);
    client
}

fn claim(owner: &str, limit: usize) -> ClaimParams {
    ClaimParams {
        queue: "default".to_owned(),
        owner: owner.to_owned(),
        limit,
        lease: Duration::from_secs(30),
    }
}

/// Waits up to ten seconds for a notice equal to `wanted`.
async fn expect_notice(notices: &mut broadcast::Receiver<StoreNotice>, wanted: StoreNotice) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, notices.recv()).await {
            Ok(Ok(notice)) if notice == wanted => return,
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(broadcast::error::RecvError::Closed)) => panic!("the notice channel closed"),
            Err(_) => panic!("timed out waiting for {wanted:?}"),
        }
    }
}

#[tokio::test]
async fn malformed_url_is_a_connect_error_without_the_password() {
    let error = PostgresStore::connect(PostgresOptions {
        url: "postgres://app:hunter2@db:notaport/jobs".to_owned(),
        schema: None,
        pool_size: 0,
    })
    .await
    .err()
    .expect("a malformed URL is refused");
    let StoreError::Connect { url, reason } = &error else {
        panic!("expected a connect error, got {error}");
    };
    assert!(!error.to_string().contains("hunter2"), "{error}");
    assert_eq!(url, "postgres://app:***@db:notaport/jobs");
    assert!(reason.contains("malformed"), "{reason}");
}

#[tokio::test]
async fn unreachable_server_says_what_to_check() {
    let error = PostgresStore::connect(PostgresOptions {
        url: "postgres://app:hunter2@127.0.0.1:1/jobs".to_owned(),
        schema: None,
        pool_size: 0,
    })
    .await
    .err()
    .expect("nothing listens on port 1");
    let message = error.to_string();
    assert!(matches!(error, StoreError::Connect { .. }), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(
        message.contains("is running") && message.contains("127.0.0.1:1"),
        "{message}"
    );
}

#[tokio::test]
async fn bad_schema_name_is_refused() {
    let error = open("postgres://app@127.0.0.1:1/jobs", "no-dashes; DROP")
        .await
        .err()
        .expect("the schema name is refused before connecting");
    assert!(error.to_string().contains("schema name"), "{error}");
}

#[tokio::test]
async fn missing_database_says_to_create_it() {
    let Some(url) = database_url("missing_database_says_to_create_it") else {
        return;
    };
    let (server, _) = url.rsplit_once('/').expect("the URL names a database");
    let error = open(
        &format!("{server}/plugboard_no_such_database"),
        &fresh_schema(),
    )
    .await
    .err()
    .expect("the database does not exist");
    let message = error.to_string();
    assert!(
        message.contains("does not exist") && message.contains("createdb"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let Some(url) = database_url("nodes_starting_together_migrate_once") else {
        return;
    };
    let schema = fresh_schema();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let (url, schema) = (url.clone(), schema.clone());
            tokio::spawn(async move { open(&url, &schema).await })
        })
        .collect();
    for start in starts {
        let store = start
            .await
            .expect("the task ran")
            .expect("every node starts");
        store.close().await;
    }
    let client = raw_client(&url).await;
    let row = client
        .query_one(
            &format!("SELECT count(*), count(DISTINCT version) FROM {schema}.schema_migrations"),
            &[],
        )
        .await
        .expect("the migrations table exists");
    let known = super::migrations::MIGRATIONS.len() as i64;
    assert_eq!(
        row.get::<_, i64>(0),
        known,
        "each migration is recorded once"
    );
    PostgresStore::drop_schema(&url, &schema)
        .await
        .expect("the schema drops");
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let Some(url) = database_url("newer_schema_is_refused") else {
        return;
    };
    let schema = fresh_schema();
    open(&url, &schema)
        .await
        .expect("a fresh schema")
        .close()
        .await;
    raw_client(&url)
        .await
        .execute(
            &format!(
                "INSERT INTO {schema}.schema_migrations (version, name) VALUES (999, 'future')"
            ),
            &[],
        )
        .await
        .expect("a future version is recorded");
    let error = open(&url, &schema)
        .await
        .err()
        .expect("a newer schema is refused");
    assert!(
        matches!(
            error,
            StoreError::TooNew { found: 999, known }
                if Some(known) == super::migrations::MIGRATIONS.last().map(|migration| migration.0)
        ),
        "{error}"
    );
    PostgresStore::drop_schema(&url, &schema)
        .await
        .expect("the schema drops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_reach_other_nodes() {
    let Some(url) = database_url("notices_reach_other_nodes") else {
        return;
    };
    let schema = fresh_schema();
    let writer = open(&url, &schema).await.expect("the first node starts");
    let reader = open(&url, &schema).await.expect("the second node starts");
    let mut notices = reader.subscribe();

    let queued = writer
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .expect("enqueue");
    expect_notice(
        &mut notices,
        StoreNotice::JobsAvailable {
            queue: Some("default".to_owned()),
        },
    )
    .await;
    assert_eq!(
        writer.job_cancel(queued.id).await.expect("cancel"),
        CancelOutcome::Cancelled
    );
    expect_notice(
        &mut notices,
        StoreNotice::JobChanged {
            id: queued.id,
            status: JobStatus::Cancelled,
        },
    )
    .await;

    let running = writer
        .job_enqueue(NewJob::new("noop", json!(null)))
        .await
        .expect("enqueue");
    writer.job_claim(claim("w", 1)).await.expect("claim");
    assert_eq!(
        writer.job_cancel(running.id).await.expect("cancel"),
        CancelOutcome::Requested
    );
    expect_notice(
        &mut notices,
        StoreNotice::CancelRequested { id: running.id },
    )
    .await;
    let line = NewLogLine {
        level: LogLevel::Info,
        message: "hello".to_owned(),
    };
    writer
        .log_append(running.id, vec![line.clone(), line])
        .await
        .expect("append");
    expect_notice(
        &mut notices,
        StoreNotice::LogAppended {
            job_id: running.id,
            seq: 2,
        },
    )
    .await;
    assert_eq!(
        writer
            .job_release("w", &[running.id])
            .await
            .expect("release"),
        1
    );
    expect_notice(&mut notices, StoreNotice::JobsAvailable { queue: None }).await;

    writer.close().await;
    reader.close().await;
    PostgresStore::drop_schema(&url, &schema)
        .await
        .expect("the schema drops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_reconnects_and_says_something_may_be_missed() {
    let Some(url) = database_url("listener_reconnects_and_says_something_may_be_missed") else {
        return;
    };
    let schema = fresh_schema();
    let store = open(&url, &schema).await.expect("the store opens");
    let mut notices = store.subscribe();
    let application_name = notify::listener_application_name(&notify::channel_name(Some(&schema)));
    let terminated = raw_client(&url)
        .await
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&application_name],
        )
        .await
        .expect("the listener's backend is terminated");
    assert_eq!(terminated.len(), 1, "exactly our listener is found");
    expect_notice(&mut notices, StoreNotice::JobsAvailable { queue: None }).await;
    let mut new_job = NewJob::new("noop", json!(null));
    new_job.queue = "after-reconnect".to_owned();
    store.job_enqueue(new_job).await.expect("enqueue");
    expect_notice(
        &mut notices,
        StoreNotice::JobsAvailable {
            queue: Some("after-reconnect".to_owned()),
        },
    )
    .await;
    store.close().await;
    PostgresStore::drop_schema(&url, &schema)
        .await
        .expect("the schema drops");
}

#[tokio::test]
async fn large_batches_keep_order_and_keys_across_statements() {
    let Some(url) = database_url("large_batches_keep_order_and_keys_across_statements") else {
        return;
    };
    let schema = fresh_schema();
    let store = open(&url, &schema).await.expect("the store opens");
    let mut jobs: Vec<NewJob> = (0..20_000)
        .map(|i| NewJob::new("noop", json!({ "i": i })))
        .collect();
    // One key at both ends of the batch: the two land in different statements.
    jobs[1].unique_key = Some("shared".to_owned());
    jobs[19_999].unique_key = Some("shared".to_owned());
    let enqueued = store
        .job_enqueue_many(jobs)
        .await
        .expect("the batch is enqueued");
    assert_eq!(enqueued.len(), 20_000);
    assert!(enqueued[1].created && !enqueued[19_999].created);
    assert_eq!(enqueued[19_999].id, enqueued[1].id);
    let distinct: Vec<_> = enqueued[..19_999].iter().map(|entry| entry.id).collect();
    assert!(
        distinct.windows(2).all(|pair| pair[0] < pair[1]),
        "ids grow with input order"
    );
    let job = store
        .job_get(enqueued[12_345].id)
        .await
        .expect("get")
        .expect("the job exists");
    assert_eq!(job.payload, json!({ "i": 12_345 }));
    store.close().await;
    PostgresStore::drop_schema(&url, &schema)
        .await
        .expect("the schema drops");
}

#[tokio::test]
async fn mixed_finishes_apply_in_one_batch() {
    let Some(url) = database_url("mixed_finishes_apply_in_one_batch") else {
        return;
    };
    let schema = fresh_schema();
    let store = open(&url, &schema).await.expect("the store opens");
    store
        .job_enqueue_many(vec![NewJob::new("noop", json!(null)); 4])
        .await
        .expect("enqueue");
    let jobs = store.job_claim(claim("w", 4)).await.expect("claim");
    let finish = |index: usize, attempt: i32, outcome: FinishOutcome| JobFinish {
        id: jobs[index].id,
        owner: "w".to_owned(),
        attempt,
        outcome,
    };
    let later = crate::store::Timestamp::now().plus(Duration::from_secs(60));
    let finishes = vec![
        finish(3, 9, FinishOutcome::Succeeded { result: None }),
        finish(
            3,
            1,
            FinishOutcome::Failed {
                error: "bad\0byte".to_owned(),
            },
        ),
        finish(
            2,
            1,
            FinishOutcome::Cancelled {
                reason: "stop".to_owned(),
            },
        ),
        finish(
            1,
            1,
            FinishOutcome::Retry {
                error: "flaky".to_owned(),
                run_at: later,
            },
        ),
        finish(
            0,
            1,
            FinishOutcome::Succeeded {
                result: Some(json!(1)),
            },
        ),
        finish(
            0,
            1,
            FinishOutcome::Succeeded {
                result: Some(json!(2)),
            },
        ),
    ];
    let applied = store.job_finish_many(finishes).await.expect("finish");
    assert_eq!(
        applied,
        vec![jobs[3].id, jobs[2].id, jobs[1].id, jobs[0].id]
    );
    let get = |index: usize| store.job_get(jobs[index].id);
    let failed = get(3).await.expect("get").expect("exists");
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("bad\u{FFFD}byte"));
    assert_eq!(
        get(2).await.expect("get").expect("exists").status,
        JobStatus::Cancelled
    );
    let retried = get(1).await.expect("get").expect("exists");
    assert_eq!((retried.status, retried.run_at), (JobStatus::Queued, later));
    assert_eq!(
        get(0).await.expect("get").expect("exists").result,
        Some(json!(1))
    );
    store.close().await;
    PostgresStore::drop_schema(&url, &schema)
        .await
        .expect("the schema drops");
}

#[tokio::test]
async fn closed_store_refuses_work() {
    let Some(url) = database_url("closed_store_refuses_work") else {
        return;
    };
    let schema = fresh_schema();
    let store = open(&url, &schema).await.expect("the store opens");
    store.ping().await.expect("an open store answers");
    store.close().await;
    assert!(matches!(store.ping().await, Err(StoreError::Closed)));
    assert!(matches!(
        store.job_enqueue(NewJob::new("noop", json!(null))).await,
        Err(StoreError::Closed)
    ));
    PostgresStore::drop_schema(&url, &schema)
        .await
        .expect("the schema drops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_sharing_keys_agree_without_deadlock() {
    let Some(url) = database_url("concurrent_batches_sharing_keys_agree_without_deadlock") else {
        return;
    };
    // Enough keys that the batches overlap in time.
    const KEYS: usize = 4_000;
    let schema = fresh_schema();
    let store = std::sync::Arc::new(open(&url, &schema).await.expect("the store opens"));
    let batch = |reversed: bool| {
        let mut keys: Vec<usize> = (0..KEYS).collect();
        if reversed {
            keys.reverse();
        }
        keys.into_iter()
            .map(|key| {
                let mut job = NewJob::new("noop", json!({ "key": key }));
                job.unique_key = Some(format!("key-{key}"));
                job
            })
            .collect::<Vec<_>>()
    };
    let batches: Vec<_> = [false, true, false, true]
        .into_iter()
        .map(|reversed| {
            let (store, jobs) = (store.clone(), batch(reversed));
            tokio::spawn(async move { store.job_enqueue_many(jobs).await })
        })
        .collect();
    let mut answers = Vec::new();
    for batch in batches {
        answers.push(batch.await.expect("the task ran").expect("no batch fails"));
    }
    let created: usize = answers
        .iter()
        .flatten()
        .filter(|entry| entry.created)
        .count();
    assert_eq!(created, KEYS, "each key makes one job");
    // Batch 0 and 1 list the keys in opposite orders.
    let forward: Vec<_> = answers[0].iter().map(|entry| entry.id).collect();
    let backward: Vec<_> = answers[1].iter().rev().map(|entry| entry.id).collect();
    assert_eq!(
        forward, backward,
        "every batch answers with the same job per key"
    );
    store.close().await;
    PostgresStore::drop_schema(&url, &schema)
        .await
        .expect("the schema drops");
}
