//! `plugboard serve`: probes answer, jobs run, SIGTERM stops it cleanly.

use std::time::Duration;

use plugboard::store::{JobStatus, NewJob};
use serde_json::{json, Value};

use crate::harness::{sqlite_store, temp_dir, wait_all, PostgresSchema, TestHost, FAST_LEASES};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_jobs_answers_probes_and_stops_on_sigterm() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    assert!(
        data.path().join("plugboard.db").is_file(),
        "the SQLite file is created in the data directory"
    );
    assert_eq!(host.get("/livez"), (200, "ok\n".to_owned()));
    assert_eq!(host.get("/readyz"), (200, "ok\n".to_owned()));
    let (status, body) = host.get("/api/v1/health");
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["ok"], json!(true), "{health}");
    assert_eq!(health["checks"]["store"]["backend"], json!("sqlite"));
    assert!(
        health["checks"]["workers"]["noop_round_trip_ms"]
            .as_f64()
            .is_some(),
        "{health}"
    );
    let sandbox = &health["checks"]["sandbox"];
    assert_eq!(sandbox["ok"], json!(true), "{health}");
    assert_eq!(
        sandbox["protections"]["no_new_privs"],
        json!("in_force"),
        "{health}"
    );
    assert_eq!(
        sandbox["landlock_abi"],
        json!(plugboard::plugins::landlock::abi_version().ok()),
        "{health}"
    );
    // Each protection missing on this machine is said once at start, and only those.
    let log = host.log();
    let said = log
        .lines()
        .filter(|line| line.contains("plugin protection missing"))
        .count();
    // What the binary itself reports (the test process is not the plugboard binary, which is
    // the init of plugins' PID namespaces).
    let doctor = crate::harness::plugboard(&[
        "doctor",
        "--json",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let missing: Vec<String> = report["protections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|protection| protection["status"] == json!("missing"))
        .map(|protection| protection["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(said, missing.len(), "{log}");
    for name in missing {
        let line = format!("plugin protection missing, {name}:");
        assert_eq!(log.matches(&line).count(), 1, "{line} in:\n{log}");
    }

    let store = sqlite_store(data.path()).await;
    let ids: Vec<_> = crate::harness::enqueue_all(
        &store,
        (0..50)
            .map(|i| NewJob::new("noop", json!({"i": i})))
            .collect(),
    )
    .await;
    wait_all(&store, &ids, JobStatus::Succeeded, Duration::from_secs(30)).await;
    store.close().await;

    let status = host.terminate();
    assert!(
        status.success(),
        "SIGTERM ends serve with success, got {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_answers_probes() {
    let Some(schema) = PostgresSchema::new("serve_on_postgres_answers_probes") else {
        return;
    };
    let data = temp_dir();
    let mut flags: Vec<String> = FAST_LEASES.iter().map(|s| s.to_string()).collect();
    flags.extend(schema.flags());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let host = TestHost::start(data.path(), &flags);
    let (status, body) = host.get("/api/v1/health");
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["checks"]["store"]["backend"], json!("postgres"));
    assert!(host.terminate().success());
    schema.drop().await;
}
