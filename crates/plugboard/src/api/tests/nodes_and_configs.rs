//! Nodes, readiness of the worker pool, the metrics this node adds about itself, and configs
//! tested, validated and created concurrently over the API, on both stores.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use plugboard_protocol::methods::ConfigTestResult;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{create_config, tenants_setup, Server, ADMIN, NO_LIMITS};
use crate::api::{LocalNode, LocalPlugin, LocalPlugins, PluginCallError};
use crate::queue::{PoolConfig, Registry, WorkerPool};
use crate::store::{InstalledPlugin, NewNode, NodeQueue, PluginState, Store, Timestamp};

crate::store::testing::for_each_store!(
    nodes_are_listed_and_shown_to_global_tokens_only,
    readyz_fails_with_the_reason_once_the_claim_loops_stop,
    metrics_have_kinds_run_durations_and_plugin_restarts,
    config_test_answers_what_the_running_plugin_says,
    config_test_problems_say_where_the_plugin_runs,
    proposed_configs_are_validated_without_being_stored,
    concurrent_creates_of_one_config_answer_one_201,
);

fn new_node(id: &str, heartbeat_ms: i64, plugins: &[&str]) -> NewNode {
    NewNode {
        id: id.to_owned(),
        hostname: "box".to_owned(),
        pid: 7,
        version: "0.1.0".to_owned(),
        listen: "127.0.0.1:7700".to_owned(),
        queues: vec![NodeQueue {
            name: "default".to_owned(),
            concurrency: 4,
        }],
        plugins: plugins.iter().map(|plugin| (*plugin).to_owned()).collect(),
        heartbeat_ms,
    }
}

async fn nodes_are_listed_and_shown_to_global_tokens_only(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    store
        .node_register(new_node("box-1-aaaa", 60_000, &["uptime"]))
        .await
        .unwrap();
    store
        .node_register(new_node("box-2-bbbb", 1, &[]))
        .await
        .unwrap();
    store
        .node_register(new_node("box-3-cccc", 60_000, &[]))
        .await
        .unwrap();
    store.node_stop("box-3-cccc").await.unwrap();
    // Wait on the store's clock until box-2 missed 3 of its 1 ms heartbeats.
    while store
        .node_get("box-2-bbbb")
        .await
        .unwrap()
        .unwrap()
        .seen_ago_ms
        <= 3
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (_, read) = server.token(None, "read").await;
    let (_, acme) = server.token(Some("acme"), "write").await;
    for token in [ADMIN, read.as_str()] {
        let (status, body) = server.get("/api/v1/nodes", token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let statuses: Vec<(String, String)> = body["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| {
                (
                    node["id"].as_str().unwrap().to_owned(),
                    node["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut statuses = statuses;
        statuses.sort();
        assert_eq!(
            statuses,
            [
                ("box-1-aaaa".to_owned(), "up".to_owned()),
                ("box-2-bbbb".to_owned(), "gone".to_owned()),
                ("box-3-cccc".to_owned(), "stopped".to_owned()),
            ]
        );
    }
    let (status, node) = server.get("/api/v1/nodes/box-1-aaaa", &read).await;
    assert_eq!(status, StatusCode::OK, "{node}");
    assert_eq!(
        node["queues"],
        json!([{"name": "default", "concurrency": 4}])
    );
    assert_eq!(node["plugins"], json!(["uptime"]));
    assert_eq!(node["status"], json!("up"));
    assert!(node["started_at"].as_str().unwrap().ends_with('Z'));
    let (status, body) = server.get("/api/v1/nodes/box-9-none", ADMIN).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    for path in ["/api/v1/nodes", "/api/v1/nodes/box-1-aaaa"] {
        let (status, body) = server.get(path, &acme).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("scoped to tenant"),
            "{body}"
        );
    }
    server.finish().await;
}

/// A pool on the store with short intervals, for tests.
fn pool(store: &Arc<dyn Store>) -> WorkerPool {
    let mut config = PoolConfig::new("api-test-worker");
    config.poll_interval = Duration::from_millis(50);
    config.shutdown_grace = Duration::from_secs(1);
    WorkerPool::start(
        store.clone(),
        Arc::new(Registry::with_builtin_kinds()),
        config,
    )
}

async fn readyz(server: &Server) -> (StatusCode, String) {
    let response = server
        .client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn readyz_fails_with_the_reason_once_the_claim_loops_stop(store: Arc<dyn Store>) {
    let pool = pool(&store);
    let local = LocalNode {
        node_id: Some("api-test-worker".to_owned()),
        workers: Some(pool.stats()),
        plugins: None,
    };
    let server = Server::start_with(store.clone(), NO_LIMITS, local).await;
    let (status, text) = readyz(&server).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "ok\n"));
    let (status, health) = server.get("/api/v1/health", ADMIN).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["checks"]["claim_loops"]["ok"], json!(true));
    assert_eq!(
        health["checks"]["claim_loops"]["queues"][0]["state"],
        json!("alive")
    );

    pool.shutdown().await;
    let (status, text) = readyz(&server).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        text.contains("the claim loop of queue `default` has stopped"),
        "{text}"
    );
    let (status, health) = server.get("/api/v1/health", ADMIN).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert_eq!(health["ok"], json!(false));
    assert_eq!(health["checks"]["claim_loops"]["ok"], json!(false));
    assert_eq!(
        health["checks"]["claim_loops"]["queues"][0]["state"],
        json!("stopped")
    );
    assert!(health["checks"]["claim_loops"]["reason"]
        .as_str()
        .unwrap()
        .contains("has stopped"));
    server.finish().await;
}

/// Plugins that answer `config/test` by the config's `url`, and remember the values they got.
#[derive(Default)]
struct ScriptedPlugins {
    seen: Mutex<Vec<Value>>,
}

#[async_trait]
impl LocalPlugins for ScriptedPlugins {
    fn plugins(&self) -> Vec<LocalPlugin> {
        vec![LocalPlugin {
            id: "uptime".to_owned(),
            instances: vec![("ready", 2), ("starting", 1)],
            restarts: 3,
        }]
    }

    fn endpoint(&self, _plugin: &str) -> Option<Arc<dyn crate::api::PluginEndpoint>> {
        None
    }

    async fn config_validate(
        &self,
        plugin: &str,
        _tenant: &str,
        _values: Value,
        _timeout: Duration,
    ) -> Result<plugboard_protocol::methods::ConfigValidateResult, PluginCallError> {
        // These tests are about config/test; the real plugin's config/validate is tested
        // through the binary (tests/it/authors.rs).
        Err(PluginCallError::NotLoaded(plugin.to_owned()))
    }

    async fn config_test(
        &self,
        plugin: &str,
        _tenant: &str,
        values: Value,
        timeout: Duration,
    ) -> Result<ConfigTestResult, PluginCallError> {
        self.seen.lock().unwrap().push(values.clone());
        if plugin != "uptime" {
            return Err(PluginCallError::NotLoaded(plugin.to_owned()));
        }
        match values["url"].as_str().unwrap_or("") {
            "https://slow.example" => Err(PluginCallError::TimedOut(format!(
                "plugin `uptime` did not answer `config/test` within {} s",
                timeout.as_secs()
            ))),
            "https://untestable.example" => Err(PluginCallError::NotImplemented {
                plugin: "uptime".to_owned(),
                method: "config/test".to_owned(),
            }),
            "https://broken.example" => Err(PluginCallError::Answered(
                "plugin `uptime` answered `config/test` with an error: boom".to_owned(),
            )),
            "https://down.example" => Ok(ConfigTestResult {
                ok: false,
                message: "connection refused".to_owned(),
                details: None,
            }),
            _ => Ok(ConfigTestResult {
                ok: true,
                message: "reached it".to_owned(),
                details: Some(json!({"status": 200})),
            }),
        }
    }
}

/// A plugin's row in the registry at version 1.0.0.
fn registry_row(id: &str, state: PluginState) -> InstalledPlugin {
    InstalledPlugin {
        id: id.to_owned(),
        active_version: Some("1.0.0".to_owned()),
        previous_version: None,
        state,
        error: None,
        source: None,
        changed_by: None,
        granted_permissions: None,
        updated_at: Timestamp(0),
    }
}

async fn metrics_text(server: &Server) -> String {
    let response = server
        .client
        .get(format!("{}/metrics", server.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

async fn metrics_have_kinds_run_durations_and_plugin_restarts(store: Arc<dyn Store>) {
    let pool = pool(&store);
    let local = LocalNode {
        node_id: Some("api-test-worker".to_owned()),
        workers: Some(pool.stats()),
        plugins: Some(Arc::new(ScriptedPlugins::default())),
    };
    let server = Server::start_with(store.clone(), NO_LIMITS, local).await;
    let (status, job) = server
        .post("/api/v1/jobs", ADMIN, json!({"kind": "noop"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    // In a queue this pool does not work, so it stays queued.
    let mut elsewhere = crate::store::NewJob::new("someone.elses.kind", json!({}));
    elsewhere.queue = "elsewhere".to_owned();
    store.job_enqueue(elsewhere).await.unwrap();
    let mut committed = pool.committed();
    while *committed.borrow_and_update() < 1 {
        committed.changed().await.unwrap();
    }
    let text = metrics_text(&server).await;
    for expected in [
        "plugboard_jobs_by_kind{kind=\"noop\",status=\"succeeded\"} 1",
        "plugboard_jobs_by_kind{kind=\"other\",status=\"queued\"} 1",
        "# TYPE plugboard_job_run_seconds histogram",
        "plugboard_job_run_seconds_count{kind=\"noop\",outcome=\"succeeded\"} 1",
        "plugboard_job_run_seconds_bucket{kind=\"noop\",outcome=\"succeeded\",le=\"+Inf\"} 1",
        "plugboard_plugin_instances{plugin=\"uptime\",state=\"ready\"} 2",
        "plugboard_plugin_restarts_total{plugin=\"uptime\"} 3",
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
    assert!(
        !text.contains("someone.elses.kind"),
        "unknown kinds are not labels:\n{text}"
    );

    // The plugin list and a plugin's page say the same: restarts of a plugin loaded here, and
    // nothing for one that is not.
    for id in ["uptime", "elsewhere"] {
        store
            .plugin_put(registry_row(id, PluginState::Enabled))
            .await
            .unwrap();
    }
    let (status, list) = server.get("/api/v1/plugins", ADMIN).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let restarts = |id: &str| {
        list["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|plugin| plugin["id"] == id)
            .map(|plugin| plugin.get("restarts").cloned())
    };
    assert_eq!(restarts("uptime"), Some(Some(json!(3))), "{list}");
    assert_eq!(restarts("elsewhere"), Some(None), "{list}");
    let (_, detail) = server.get("/api/v1/plugins/uptime", ADMIN).await;
    assert_eq!(detail["restarts"], 3, "{detail}");
    let (_, detail) = server.get("/api/v1/plugins/elsewhere", ADMIN).await;
    assert!(detail.get("restarts").is_none(), "{detail}");
    server.finish().await;
    pool.shutdown().await;
}

async fn test_status(server: &Server, id: &str, token: &str) -> (StatusCode, Value) {
    server
        .call(
            Method::POST,
            &format!("/api/v1/configs/{id}/test?timeout_seconds=2"),
            Some(token),
            None,
        )
        .await
}

/// Creates a config of `uptime` for `acme` with `url`; returns its id.
async fn config_with_url(server: &Server, name: &str, url: &str) -> String {
    let (status, body) = server
        .post(
            "/api/v1/tenants/acme/configs",
            ADMIN,
            json!({"plugin": "uptime", "name": name, "values": {"url": url, "token": "s3cret"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn config_test_answers_what_the_running_plugin_says(store: Arc<dyn Store>) {
    let plugins = Arc::new(ScriptedPlugins::default());
    let local = LocalNode {
        node_id: Some("box-1-aaaa".to_owned()),
        workers: None,
        plugins: Some(plugins.clone()),
    };
    let server = Server::start_with(store.clone(), NO_LIMITS, local).await;
    tenants_setup(&server).await;
    let fine = config_with_url(&server, "fine", "https://example.com").await;
    let (status, answer) = test_status(&server, &fine, ADMIN).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["ok"], json!(true));
    assert_eq!(answer["message"], json!("reached it"));
    assert_eq!(answer["details"], json!({"status": 200}));
    assert_eq!(answer["node"], json!("box-1-aaaa"));
    assert_eq!(answer["config"], json!(fine));
    assert_eq!(
        plugins.seen.lock().unwrap()[0]["token"],
        json!("s3cret"),
        "the plugin gets the secret opened"
    );

    let down = config_with_url(&server, "down", "https://down.example").await;
    let (status, answer) = test_status(&server, &down, ADMIN).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a failed test is an answer: {answer}"
    );
    assert_eq!(answer["ok"], json!(false));

    let slow = config_with_url(&server, "slow", "https://slow.example").await;
    let (status, problem) = test_status(&server, &slow, ADMIN).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{problem}");
    assert_eq!(
        problem["type"],
        json!("urn:plugboard:problem:plugin-timeout")
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("within 2 s"),
        "{problem}"
    );

    let broken = config_with_url(&server, "broken", "https://broken.example").await;
    let (status, problem) = test_status(&server, &broken, ADMIN).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{problem}");
    assert_eq!(problem["type"], json!("urn:plugboard:problem:plugin-error"));
    assert!(problem["detail"].as_str().unwrap().contains("boom"));
    // A plugin without the optional `config/test` offers no test: a conflict, not its failure.
    let untestable = config_with_url(&server, "untestable", "https://untestable.example").await;
    let (status, problem) = test_status(&server, &untestable, ADMIN).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("does not implement `config/test`")),
        "{problem}"
    );

    // A tenant token tests its own tenant's configs; another tenant's is not there.
    let (_, acme) = server.token(Some("acme"), "write").await;
    let (_, globex) = server.token(Some("globex"), "write").await;
    let (status, _) = test_status(&server, &fine, &acme).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = test_status(&server, &fine, &globex).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, problem) = server
        .call(
            Method::POST,
            &format!("/api/v1/configs/{fine}/test?timeout_seconds=0"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], json!("timeout_seconds"));
    server.finish().await;
}

async fn config_test_problems_say_where_the_plugin_runs(store: Arc<dyn Store>) {
    let local = LocalNode {
        node_id: Some("box-1-aaaa".to_owned()),
        workers: None,
        plugins: None,
    };
    let server = Server::start_with(store.clone(), NO_LIMITS, local).await;
    tenants_setup(&server).await;
    let id = config_with_url(&server, "main", "https://example.com").await;
    let (status, problem) = test_status(&server, &id, ADMIN).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("not running on box-1-aaaa, nor on any other node"),
        "{detail}"
    );

    store
        .node_register(new_node("box-2-bbbb", 60_000, &["uptime"]))
        .await
        .unwrap();
    let (status, problem) = test_status(&server, &id, ADMIN).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("box-2-bbbb (127.0.0.1:7700)"),
        "names the node that runs it: {detail}"
    );

    store
        .plugin_put(registry_row("uptime", PluginState::Disabled))
        .await
        .unwrap();
    let (status, problem) = test_status(&server, &id, ADMIN).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("is disabled"),
        "{problem}"
    );
    server.finish().await;
}

async fn proposed_configs_are_validated_without_being_stored(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    tenants_setup(&server).await;
    let good = json!({"plugin": "uptime", "name": "main", "values": {"url": "https://example.com"},
                      "schedule": {"interval_seconds": 60}, "events": ["site.*"]});
    let (status, body) = server
        .post("/api/v1/tenants/acme/configs/validate", ADMIN, good.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"valid": true}));

    let bad = json!({"plugin": "uptime", "name": "main",
                     "values": {"url": "ftp://example.com", "port": 70000, "extra": 1},
                     "events": ["site.*", "bad pattern"]});
    let bad_values = json!({"plugin": "uptime", "name": "main",
                            "values": {"url": "ftp://example.com", "port": 70000, "extra": 1}});
    for body in [
        bad,
        bad_values,
        json!({"plugin": "uptime", "name": "main", "schedule": {"cron": "nope"}}),
    ] {
        let (validate_status, validate_problem) = server
            .post("/api/v1/tenants/acme/configs/validate", ADMIN, body.clone())
            .await;
        let (create_status, create_problem) = server
            .post("/api/v1/tenants/acme/configs", ADMIN, body.clone())
            .await;
        assert_eq!(
            validate_status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{validate_problem}"
        );
        assert_eq!(
            create_status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{create_problem}"
        );
        assert_eq!(
            validate_problem["errors"], create_problem["errors"],
            "validate answers what create answers for {body}"
        );
    }
    let (status, listed) = server.get("/api/v1/tenants/acme/configs", ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["configs"], json!([]), "validate stores nothing");

    // Tenancy: another tenant's validate is not there; a read token cannot validate.
    let (_, globex) = server.token(Some("globex"), "write").await;
    let (status, _) = server
        .post(
            "/api/v1/tenants/acme/configs/validate",
            &globex,
            good.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, read) = server.token(None, "read").await;
    let (status, _) = server
        .post("/api/v1/tenants/acme/configs/validate", &read, good)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.finish().await;
}

async fn concurrent_creates_of_one_config_answer_one_201(store: Arc<dyn Store>) {
    let server = Arc::new(Server::start(store.clone(), NO_LIMITS).await);
    tenants_setup(&server).await;
    let posts = (0..8).map(|index| {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .post(
                    "/api/v1/tenants/acme/configs",
                    ADMIN,
                    json!({"plugin": "uptime", "name": "racy",
                           "values": {"url": format!("https://example.com/{index}")}}),
                )
                .await
        })
    });
    let mut created = 0;
    for outcome in futures_util::future::join_all(posts).await {
        let (status, body) = outcome.expect("the request task ran");
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("already has config `racy`"),
                "{body}"
            ),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created, 1, "exactly one create wins");
    let (_, listed) = server.get("/api/v1/tenants/acme/configs", ADMIN).await;
    assert_eq!(listed["configs"].as_array().unwrap().len(), 1);
    // The id in a 409 is the stored config's.
    let id = create_config(&server, "globex", "other", json!([])).await;
    assert!(id.starts_with("cfg_"));
    match Arc::try_unwrap(server) {
        Ok(server) => server.finish().await,
        Err(_) => panic!("every request task has ended"),
    }
}
