//! Two `plugboard serve` processes on one PostgreSQL: a job is never held by both, and when one
//! is killed the other rescues and finishes its jobs.

use std::time::{Duration, Instant};

use plugboard::store::{JobId, JobStatus, NewJob};
use serde_json::json;

use crate::crash::assert_attempts_never_overlap;
use crate::harness::{temp_dir, wait_all, PostgresSchema, TestHost, FAST_LEASES};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_jobs_without_overlap_and_survive_a_kill9() {
    let Some(schema) =
        PostgresSchema::new("two_nodes_share_jobs_without_overlap_and_survive_a_kill9")
    else {
        return;
    };
    let store = schema.store().await;
    let mut flags: Vec<String> = FAST_LEASES.iter().map(|s| s.to_string()).collect();
    flags.extend(schema.flags());
    flags.extend(["--queues".to_string(), "default=4".to_string()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (data_a, data_b) = (temp_dir(), temp_dir());
    let node_a = TestHost::start(data_a.path(), &flags);
    let node_b = TestHost::start(data_b.path(), &flags);
    let killed = node_a.worker_id();
    let survivor = node_b.worker_id();

    let jobs = (0..80)
        .map(|i| NewJob::new("noop", json!({"sleep_ms": 40, "log": true, "i": i})))
        .collect();
    let ids: Vec<JobId> = crate::harness::enqueue_all(&store, jobs).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = crate::harness::count_with(&store, JobStatus::Succeeded).await;
        if done >= 20 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the nodes never got going:\n{}\n{}",
            node_a.log(),
            node_b.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node_a.kill9();

    let finished = wait_all(&store, &ids, JobStatus::Succeeded, Duration::from_secs(60)).await;
    let mut by_worker = std::collections::HashMap::new();
    for job in &finished {
        assert_attempts_never_overlap(&store, job.id, std::slice::from_ref(&killed)).await;
        let worker = job.result.as_ref().unwrap()["worker"]
            .as_str()
            .unwrap()
            .to_owned();
        *by_worker.entry(worker).or_insert(0) += 1;
    }
    assert!(
        by_worker.contains_key(&survivor),
        "the surviving node finished jobs: {by_worker:?}"
    );
    store.close().await;
    assert!(node_b.terminate().success());
    schema.drop().await;
}

/// Waits until `GET /api/v1/nodes` on `host` shows every `(id, status)` of `expected`.
async fn wait_for_nodes(
    host: &TestHost,
    expected: &[(&str, &str)],
    what: &str,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = host.get("/api/v1/nodes");
        assert_eq!(status, 200, "{body}");
        let nodes: serde_json::Value = serde_json::from_str(&body).expect("the nodes as JSON");
        let all_there = expected.iter().all(|(id, state)| {
            nodes["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|node| node["id"] == json!(id) && node["status"] == json!(state))
        });
        if all_there {
            return nodes;
        }
        assert!(Instant::now() < deadline, "{what}: {nodes}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_nodes_are_listed_and_a_killed_one_becomes_gone() {
    let Some(schema) = PostgresSchema::new("both_nodes_are_listed_and_a_killed_one_becomes_gone")
    else {
        return;
    };
    let mut flags: Vec<String> = FAST_LEASES.iter().map(|s| s.to_string()).collect();
    flags.extend(schema.flags());
    flags.extend(["--queues".to_string(), "default=3,mail=1".to_string()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (data_a, data_b) = (temp_dir(), temp_dir());
    let node_a = TestHost::start(data_a.path(), &flags);
    let node_b = TestHost::start(data_b.path(), &flags);
    let (id_a, id_b) = (node_a.worker_id(), node_b.worker_id());

    let nodes = wait_for_nodes(
        &node_b,
        &[(&id_a, "up"), (&id_b, "up")],
        "both nodes are up",
    )
    .await;
    let a = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|node| node["id"] == json!(id_a))
        .unwrap()
        .clone();
    assert_eq!(a["pid"], json!(node_a.pid()));
    assert_eq!(a["listen"], json!(node_a.address));
    assert_eq!(
        a["queues"],
        json!([{"name": "default", "concurrency": 3}, {"name": "mail", "concurrency": 1}])
    );
    assert_eq!(a["heartbeat_ms"], json!(300));

    node_a.kill9();
    wait_for_nodes(
        &node_b,
        &[(&id_a, "gone"), (&id_b, "up")],
        "the killed node is shown gone",
    )
    .await;
    let (status, body) = node_b.get(&format!("/api/v1/nodes/{id_a}"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"gone\""), "{body}");

    assert!(node_b.terminate().success());
    let store = schema.store().await;
    let stopped = store.node_get(&id_b).await.unwrap().expect("node b's row");
    assert!(stopped.stopped_at.is_some(), "a clean shutdown is recorded");
    store.close().await;
    schema.drop().await;
}

/// Waits until node `id`, as `GET /api/v1/nodes/{id}` on `host` shows it, does or does not run
/// `plugin`.
async fn wait_for_plugin_on(host: &TestHost, id: &str, plugin: &str, running: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = host.get(&format!("/api/v1/nodes/{id}"));
        assert_eq!(status, 200, "{body}");
        let node: serde_json::Value = serde_json::from_str(&body).unwrap();
        let listed = node["plugins"]
            .as_array()
            .is_some_and(|plugins| plugins.iter().any(|listed| listed == plugin));
        if listed == running {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} should {}run {plugin}: {node}",
            if running { "" } else { "not " }
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_on_one_node_reach_the_others_without_a_restart() {
    let Some(schema) =
        PostgresSchema::new("admin_actions_on_one_node_reach_the_others_without_a_restart")
    else {
        return;
    };
    let store = schema.store().await;
    let flags_for = |queues: &str| {
        let mut flags: Vec<String> = FAST_LEASES.iter().map(|s| s.to_string()).collect();
        flags.extend(schema.flags());
        flags.extend(["--queues".to_string(), queues.to_string()]);
        flags.extend(["--plugin-sync-interval-ms".to_string(), "200".to_string()]);
        flags
    };
    // Node A receives the upload but works no `default` queue, where admin jobs go: node B runs
    // the install, and every action after it.
    let (flags_a, flags_b) = (flags_for("elsewhere=1"), flags_for("default=2"));
    let (data_a, data_b, work) = (temp_dir(), temp_dir(), temp_dir());
    let node_a = TestHost::start(
        data_a.path(),
        &flags_a.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let node_b = TestHost::start(
        data_b.path(),
        &flags_b.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let archive = crate::harness::packages::tar_gz(&crate::harness::packages::scripted_package(
        work.path(),
        "1.0.0",
        "ok",
    ));
    let sha256 = crate::harness::packages::sha256(&archive);
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/api/v1/plugins?sha256={sha256}",
            node_a.address
        ))
        .bearer_auth(&node_a.admin_token)
        .header("content-type", "application/gzip")
        .body(archive)
        .send()
        .await
        .expect("node A answers");
    assert_eq!(response.status(), 202);
    let job: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let id = JobId(job["id"].as_i64().expect("the install job's id"));
    let finished = wait_all(&store, &[id], JobStatus::Succeeded, Duration::from_secs(60)).await;
    assert_eq!(finished.len(), 1, "{}\n{}", node_a.log(), node_b.log());
    assert!(
        data_b
            .path()
            .join("plugins/scripted/1.0.0/plugin.toml")
            .is_file(),
        "node B installed it from the store's copy:\n{}",
        node_b.log()
    );
    let source = job["payload"]["source"]
        .as_str()
        .expect("the upload as source");
    let name = source.rsplit('/').next().unwrap();
    assert_eq!(
        store.upload_get(name).await.unwrap(),
        None,
        "the store's copy goes with the job"
    );
    for data in [data_a.path(), data_b.path()] {
        let left: Vec<_> = std::fs::read_dir(data.join("plugins/.staging/uploads"))
            .map(|entries| entries.flatten().map(|entry| entry.file_name()).collect())
            .unwrap_or_default();
        assert!(
            left.is_empty(),
            "no upload left in {}: {left:?}",
            data.display()
        );
    }

    // Node A follows the registry: it starts the plugin B installed, then stops it when it is
    // disabled, and removes it when it is uninstalled, all without a restart.
    let (id_a, id_b) = (node_a.worker_id(), node_b.worker_id());
    wait_for_plugin_on(&node_a, &id_b, "scripted", true).await;
    wait_for_plugin_on(&node_a, &id_a, "scripted", true).await;
    assert!(data_a
        .path()
        .join("plugins/scripted/1.0.0/plugin.toml")
        .is_file());
    let client = reqwest::Client::new();
    let act = |method: reqwest::Method, path: &str| {
        let request = client
            .request(
                method,
                format!("http://{}/api/v1/plugins/scripted{path}", node_a.address),
            )
            .bearer_auth(&node_a.admin_token);
        async move {
            let response = request.send().await.expect("node A answers");
            assert_eq!(response.status(), 202);
            let job: serde_json::Value =
                serde_json::from_str(&response.text().await.unwrap()).unwrap();
            JobId(job["id"].as_i64().unwrap())
        }
    };
    // Its routes are served on both nodes, node A's included.
    let route_status = |node: &TestHost| {
        let url = format!("http://{}/plugins/scripted/echo/x", node.address);
        let client = client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("the node answers")
                .status()
                .as_u16()
        }
    };
    wait_for_route(&node_a, &route_status, 200).await;
    wait_for_route(&node_b, &route_status, 200).await;
    let disable = act(reqwest::Method::POST, "/disable").await;
    wait_all(
        &store,
        &[disable],
        JobStatus::Succeeded,
        Duration::from_secs(60),
    )
    .await;
    wait_for_plugin_on(&node_a, &id_a, "scripted", false).await;
    wait_for_route(&node_a, &route_status, 404).await;
    wait_for_route(&node_b, &route_status, 404).await;
    let enable = act(reqwest::Method::POST, "/enable").await;
    wait_all(
        &store,
        &[enable],
        JobStatus::Succeeded,
        Duration::from_secs(60),
    )
    .await;
    wait_for_plugin_on(&node_a, &id_a, "scripted", true).await;
    wait_for_route(&node_a, &route_status, 200).await;
    wait_for_route(&node_b, &route_status, 200).await;
    let uninstall = act(reqwest::Method::DELETE, "").await;
    wait_all(
        &store,
        &[uninstall],
        JobStatus::Succeeded,
        Duration::from_secs(60),
    )
    .await;
    wait_for_plugin_on(&node_a, &id_a, "scripted", false).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while data_a.path().join("plugins/scripted").exists() {
        assert!(
            Instant::now() < deadline,
            "node A removes the uninstalled plugin's folder"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    store.close().await;
    assert!(node_a.terminate().success());
    assert!(node_b.terminate().success());
    schema.drop().await;
}

/// Waits until `status_of(node)` says `expected` for the plugin's route.
async fn wait_for_route<F, Fut>(node: &TestHost, status_of: &F, expected: u16)
where
    F: Fn(&TestHost) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = status_of(node).await;
        if status == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the route answers {status}, not {expected}:\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
