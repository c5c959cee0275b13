//! Fairness through real `plugboard serve` processes: a tenant flooding the queue does not hold
//! back another, and a tenant's concurrency limit holds on three nodes sharing PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use plugboard::store::{Job, JobId, JobLimit, JobStatus, LimitScope, NewJob, Store};
use serde_json::json;

use crate::harness::{enqueue_all, temp_dir, wait_all, PostgresSchema, TestHost, FAST_LEASES};

fn tenant_job(tenant: &str, sleep_ms: u64) -> NewJob {
    let mut job = NewJob::new("noop", json!({"sleep_ms": sleep_ms}));
    job.tenant = Some(tenant.to_owned());
    job
}

fn flags(extra: &[String]) -> Vec<String> {
    let mut flags: Vec<String> = FAST_LEASES.iter().map(|s| s.to_string()).collect();
    flags.extend(extra.iter().cloned());
    flags.extend(["--queues".to_string(), "default=4".to_string()]);
    flags
}

/// 10,000 jobs of one tenant are queued and running when another tenant enqueues 10: the ten
/// start within the next few claims, not after the flood.
async fn a_flood_does_not_hold_back_another_tenant(
    store: Arc<dyn Store>,
    data: &std::path::Path,
    node_flags: &[String],
) {
    let flags = flags(node_flags);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let flood: Vec<NewJob> = (0..10_000).map(|_| tenant_job("flood", 20)).collect();
    enqueue_all(&store, flood).await;
    let node = TestHost::start(data, &flags);
    // Let the flood get going.
    while crate::harness::count_with(&store, JobStatus::Succeeded).await < 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let small: Vec<JobId> =
        enqueue_all(&store, (0..10).map(|_| tenant_job("small", 20)).collect()).await;
    let small = wait_all(
        &store,
        &small,
        JobStatus::Succeeded,
        Duration::from_secs(30),
    )
    .await;
    let enqueued = small.iter().map(|job| job.created_at).min().unwrap();
    let last_start = small.iter().filter_map(|job| job.started_at).max().unwrap();
    let flood_started_between = started_between(&store, "flood", enqueued.0, last_start.0).await;
    eprintln!(
        "the small tenant's 10 jobs all started {:.1} ms after they were enqueued; \
         {flood_started_between} flood jobs started in that time",
        (last_start.0 - enqueued.0) as f64 / 1000.0
    );
    // With 4 slots taking turns, each small job waits for at most one flood job per slot.
    assert!(
        flood_started_between <= 40,
        "{flood_started_between} flood jobs started before the small tenant's 10 had"
    );
    drop(node);
}

/// How many jobs of `tenant` started between two times (microseconds).
async fn started_between(store: &Arc<dyn Store>, tenant: &str, from: i64, to: i64) -> usize {
    let mut count = 0;
    let mut before = None;
    loop {
        let page = store
            .job_list(plugboard::store::JobFilter {
                tenant: Some(tenant.to_owned()),
                status: Some(JobStatus::Succeeded),
                before_id: before,
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else {
            return count;
        };
        before = Some(last.id);
        count += page
            .iter()
            .filter_map(|job| job.started_at)
            .filter(|started| started.0 >= from && started.0 <= to)
            .count();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_tenant_does_not_hold_back_another_on_sqlite() {
    let data = temp_dir();
    let store = crate::harness::sqlite_store(data.path()).await;
    a_flood_does_not_hold_back_another_tenant(store.clone(), data.path(), &[]).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_tenant_does_not_hold_back_another_on_postgres() {
    let Some(schema) =
        PostgresSchema::new("a_flooding_tenant_does_not_hold_back_another_on_postgres")
    else {
        return;
    };
    let store = schema.store().await;
    let data = temp_dir();
    a_flood_does_not_hold_back_another_tenant(store.clone(), data.path(), &schema.flags()).await;
    store.close().await;
    schema.drop().await;
}

/// The most jobs that ran at once, from their start and finish times.
fn most_at_once(jobs: &[Job]) -> usize {
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for job in jobs {
        let (Some(start), Some(end)) = (job.started_at, job.finished_at) else {
            continue;
        };
        edges.push((start.0, 1));
        edges.push((end.0, -1));
    }
    // At one instant a finish comes before a start.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_limit_of_two_holds_on_three_nodes() {
    let Some(schema) = PostgresSchema::new("a_tenant_limit_of_two_holds_on_three_nodes") else {
        return;
    };
    let store = schema.store().await;
    store
        .limit_put(JobLimit {
            scope: LimitScope::Tenant,
            name: "acme".to_owned(),
            max_running: Some(2),
            rate_per_second: None,
            burst: None,
        })
        .await
        .unwrap();
    let flags = flags(&schema.flags());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let dirs = [temp_dir(), temp_dir(), temp_dir()];
    let nodes: Vec<TestHost> = dirs
        .iter()
        .map(|dir| TestHost::start(dir.path(), &flags))
        .collect();
    let limited = enqueue_all(&store, (0..30).map(|_| tenant_job("acme", 60)).collect()).await;
    let free = enqueue_all(&store, (0..30).map(|_| tenant_job("other", 60)).collect()).await;
    let limited = wait_all(
        &store,
        &limited,
        JobStatus::Succeeded,
        Duration::from_secs(60),
    )
    .await;
    let free = wait_all(&store, &free, JobStatus::Succeeded, Duration::from_secs(60)).await;
    let workers: std::collections::HashSet<String> = limited
        .iter()
        .chain(&free)
        .filter_map(|job| job.result.as_ref()?["worker"].as_str().map(str::to_owned))
        .collect();
    assert!(workers.len() >= 2, "the nodes shared the work: {workers:?}");
    let acme = most_at_once(&limited);
    let other = most_at_once(&free);
    eprintln!("at most {acme} of acme's jobs ran at once; {other} of the unlimited tenant's");
    assert_eq!(acme, 2, "acme's limit of 2 holds across three nodes");
    assert!(other > 2, "the other tenant is not limited: {other}");
    drop(nodes);
    store.close().await;
    schema.drop().await;
}

fn cli(host: &TestHost, args: &[&str]) -> (bool, String, String) {
    let url = format!("http://{}", host.address);
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--url", &url, "--token", &host.admin_token]);
    let output = crate::harness::plugboard(&all);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `plugboard limit` over the API, and a job held back by a limit says so in `job show`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_set_from_the_cli_and_a_waiting_job_says_why() {
    let data = temp_dir();
    let flags = flags(&[]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let node = TestHost::start(data.path(), &flags);
    let store = crate::harness::sqlite_store(data.path()).await;

    let (ok, _, stderr) = cli(
        &node,
        &["limit", "set", "tenant", "acme", "--max-running", "0"],
    );
    assert!(!ok, "a limit of 0 is refused");
    assert!(stderr.contains("max_running"), "{stderr}");
    let (ok, _, stderr) = cli(
        &node,
        &["limit", "set", "tenant", "acme", "--max-running", "1"],
    );
    assert!(ok, "{stderr}");
    let (ok, listed, _) = cli(&node, &["limit", "list"]);
    assert!(ok && listed.contains("acme"), "{listed}");

    // A change reaches the server's claims within a second (it reads limits afresh each claim on
    // SQLite); two long jobs of acme: one runs, the other waits for the limit.
    let ids = enqueue_all(&store, (0..2).map(|_| tenant_job("acme", 3_000)).collect()).await;
    let (running, waiting) = loop {
        let jobs = [
            store.job_get(ids[0]).await.unwrap().unwrap(),
            store.job_get(ids[1]).await.unwrap().unwrap(),
        ];
        if let Some(running) = jobs.iter().find(|job| job.status == JobStatus::Running) {
            let other = jobs.iter().find(|job| job.id != running.id).unwrap();
            break (running.id, other.id);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (ok, shown, stderr) = cli(&node, &["job", "show", &waiting.to_string(), "--json"]);
    assert!(ok, "{stderr}");
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["status"], "queued");
    assert_eq!(
        shown["waiting_for"][0], "tenant acme has 1 of its 1 allowed jobs running",
        "{shown}"
    );
    let (_, shown, _) = cli(&node, &["job", "show", &running.to_string(), "--json"]);
    assert!(!shown.contains("waiting_for"), "{shown}");

    let (ok, _, stderr) = cli(&node, &["limit", "delete", "tenant", "acme"]);
    assert!(ok, "{stderr}");
    let (ok, listed, _) = cli(&node, &["limit", "list", "--json"]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&listed).unwrap()["limits"],
        json!([])
    );
    // Without the limit the waiting job starts at once.
    wait_all(
        &store,
        &[waiting],
        JobStatus::Running,
        Duration::from_secs(2),
    )
    .await;
    store.close().await;
    drop(node);
}
