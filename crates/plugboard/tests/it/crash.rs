//! `kill -9` of a real server mid-job and of a writer mid-commit: no job is lost, none runs twice
//! at once, and the SQLite file stays intact.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugboard::store::{JobId, JobStatus, NewJob, Store};
use serde_json::json;

use crate::harness::{count_with, sqlite_store, temp_dir, wait_all, TestHost, BINARY, FAST_LEASES};

/// Checks a job's log (written by `noop` with `log: true`): attempts never overlap, except
/// that an attempt of a killed worker may have started and never finished.
pub async fn assert_attempts_never_overlap(
    store: &Arc<dyn Store>,
    id: JobId,
    killed_workers: &[String],
) {
    let lines = store.log_list(id, 0, 10_000).await.unwrap();
    let mut open: Option<String> = None;
    for line in &lines {
        let worker = line
            .message
            .split("worker ")
            .nth(1)
            .unwrap_or("")
            .trim_end_matches(')')
            .to_owned();
        if line.message.starts_with("noop started") {
            if let Some(previous) = &open {
                assert!(
                    killed_workers.contains(previous),
                    "job {id}: a second attempt started while worker {previous} (alive) still ran one: {lines:?}"
                );
            }
            open = Some(worker);
        } else if line.message.starts_with("noop finished") {
            assert_eq!(
                open.as_deref(),
                Some(worker.as_str()),
                "job {id}: finished without a start: {lines:?}"
            );
            open = None;
        }
    }
    assert!(
        open.is_none(),
        "job {id} succeeded but its last attempt never finished: {lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_job_then_restart_runs_every_job_to_success_once() {
    let data = temp_dir();
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--queues", "default=4"]);
    let host = TestHost::start(data.path(), &flags);
    let killed = host.worker_id();
    let store = sqlite_store(data.path()).await;
    let jobs = (0..24)
        .map(|i| NewJob::new("noop", json!({"sleep_ms": 250, "log": true, "i": i})))
        .collect();
    let ids: Vec<JobId> = crate::harness::enqueue_all(&store, jobs).await;

    // Kill it while some jobs have finished and others are running.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if count_with(&store, JobStatus::Succeeded).await >= 4
            && count_with(&store, JobStatus::Running).await >= 1
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never got going:\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    host.kill9();
    let mut interrupted = Vec::new();
    for id in &ids {
        if store.job_get(*id).await.unwrap().unwrap().status == JobStatus::Running {
            interrupted.push(*id);
        }
    }
    assert!(
        !interrupted.is_empty(),
        "some job was mid-run when the server died"
    );

    let host = TestHost::start(data.path(), &flags);
    let finished = wait_all(&store, &ids, JobStatus::Succeeded, Duration::from_secs(60)).await;
    for job in &finished {
        let expected_attempts = if interrupted.contains(&job.id) { 2 } else { 1 };
        assert_eq!(
            job.attempt, expected_attempts,
            "job {} ran {} times: {job:?}",
            job.id, job.attempt
        );
        assert_eq!(
            job.result.as_ref().unwrap()["attempt"],
            json!(job.attempt),
            "the recorded success is the last attempt's"
        );
        assert_attempts_never_overlap(&store, job.id, std::slice::from_ref(&killed)).await;
    }
    store.close().await;
    assert!(host.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_survives_kill9_during_heavy_writes() {
    let data = temp_dir();
    let database = data.path().join("plugboard.db");
    // A server claiming and finishing jobs as fast as it can, and a second process enqueuing.
    let host = TestHost::start(data.path(), &["--queues", "default=50", "--prefetch", "50"]);
    let mut writer = Command::new(BINARY);
    crate::harness::die_with_the_test(&mut writer);
    let mut writer = writer
        .args([
            "bench",
            "writer",
            "--sqlite",
            database.to_str().unwrap(),
            "--batch",
            "200",
            "--batches",
            "100000",
        ])
        .env("PLUGBOARD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the writer starts");
    let acknowledged = Arc::new(Mutex::new(Vec::<i64>::new()));
    let reader = {
        let stdout = writer.stdout.take().unwrap();
        let acknowledged = acknowledged.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(ids) = line.strip_prefix("ACK ") {
                    acknowledged
                        .lock()
                        .unwrap()
                        .extend(ids.split(' ').map(|id| id.parse::<i64>().unwrap()));
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 40 * 200 {
        assert!(
            Instant::now() < deadline,
            "the writer did not get far enough"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    writer.kill().unwrap();
    host.kill9();
    writer.wait().unwrap();
    reader.join().unwrap();

    let connection = rusqlite::Connection::open(&database).unwrap();
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let stored: HashSet<i64> = connection
        .prepare("SELECT id FROM jobs")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let acknowledged = acknowledged.lock().unwrap();
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged enqueues are missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let finished: i64 = connection
        .query_row(
            "SELECT COUNT(*) FROM jobs WHERE status = 'succeeded'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(finished > 0, "the server was really writing too");
}
