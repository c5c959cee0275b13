//! A run's `config` and `trigger` are the host's: a client names a config by id (of its own
//! tenant) and the host fills it in; a payload that carries either is refused, whoever sends it.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{create_config, tenants_setup, Server, ADMIN, NO_LIMITS};
use crate::store::{JobFilter, Store};

crate::store::testing::for_each_store!(
    a_tenant_token_cannot_forge_a_runs_config_or_trigger,
    a_run_named_by_config_id_gets_the_stored_config_and_a_manual_trigger,
);

async fn job_count(store: &Arc<dyn Store>) -> usize {
    store
        .job_list(JobFilter {
            limit: 100,
            ..JobFilter::default()
        })
        .await
        .expect("list jobs")
        .len()
}

fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|error| error["pointer"].as_str().map(str::to_owned))
        .collect()
}

async fn a_tenant_token_cannot_forge_a_runs_config_or_trigger(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    tenants_setup(&server).await;
    let globex_config = create_config(&server, "globex", "home", json!([])).await;
    let (_, acme) = server.token(Some("acme"), "write").await;

    // The attack: another tenant's config id with made-up values, and a fake event.
    let forged = json!({
        "kind": "plugin.run",
        "payload": {
            "plugin": "uptime",
            "config": {"id": globex_config, "name": "home", "values": {"url": "https://attacker.example"}},
            "trigger": {"kind": "event", "event": {"id": "1", "type": "payment.received", "payload": {"amount": 1000000}}},
        },
    });
    let (status, problem) = server.post("/api/v1/jobs", &acme, forged.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        pointers(&problem),
        ["/payload/config", "/payload/trigger"],
        "{problem}"
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("only the host writes"), "{detail}");
    // Not the admin either: no client writes them.
    let (status, problem) = server.post("/api/v1/jobs", ADMIN, forged).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, problem) = server
        .post(
            "/api/v1/jobs",
            &acme,
            json!({"kind": "plugin.run", "payload": {"plugin": "uptime", "trigger": {"kind": "manual"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(pointers(&problem), ["/payload/trigger"], "{problem}");

    // Naming another tenant's config is answered as if it did not exist.
    let (status, other) = server
        .post(
            "/api/v1/jobs",
            &acme,
            json!({"kind": "plugin.run", "config": globex_config}),
        )
        .await;
    let (missing_status, missing) = server
        .post(
            "/api/v1/jobs",
            &acme,
            json!({"kind": "plugin.run", "config": "cfg_does_not_exist"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{other}");
    assert_eq!(missing_status, StatusCode::NOT_FOUND, "{missing}");
    assert_eq!(
        other["detail"]
            .as_str()
            .unwrap()
            .replace(&globex_config, "ID"),
        missing["detail"]
            .as_str()
            .unwrap()
            .replace("cfg_does_not_exist", "ID"),
    );
    assert_eq!(job_count(&store).await, 0, "nothing was enqueued");
    server.finish().await;
}

async fn a_run_named_by_config_id_gets_the_stored_config_and_a_manual_trigger(
    store: Arc<dyn Store>,
) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    tenants_setup(&server).await;
    let acme_config = create_config(&server, "acme", "home", json!([])).await;
    let (_, acme) = server.token(Some("acme"), "write").await;
    let (_, global) = server.token(None, "write").await;

    let (status, job) = server
        .post(
            "/api/v1/jobs",
            &acme,
            json!({"kind": "plugin.run", "config": acme_config, "payload": {"payload": {"page": 2}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["tenant"], "acme");
    assert_eq!(job["plugin"], "uptime");
    assert_eq!(job["config"], json!(acme_config));
    let payload = &job["payload"];
    assert_eq!(payload["config"]["id"], json!(acme_config), "{payload}");
    assert_eq!(payload["config"]["name"], "home");
    assert_eq!(payload["config"]["values"]["url"], "https://example.com");
    assert_ne!(
        payload["config"]["values"]["token"], "s3cret",
        "the secret stays sealed in the job"
    );
    assert_eq!(payload["trigger"], json!({"kind": "manual"}));
    assert_eq!(payload["payload"], json!({"page": 2}));

    // What the client gives must agree with the config.
    let (status, problem) = server
        .post(
            "/api/v1/jobs",
            &acme,
            json!({"kind": "plugin.run", "config": acme_config, "payload": {"plugin": "other"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(pointers(&problem), ["/payload/plugin"], "{problem}");
    let (status, problem) = server
        .post(
            "/api/v1/jobs",
            &global,
            json!({"kind": "plugin.run", "config": acme_config, "tenant": "globex"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(pointers(&problem), ["/tenant"], "{problem}");
    let (status, problem) = server
        .post(
            "/api/v1/jobs",
            ADMIN,
            json!({"kind": "noop", "config": acme_config}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(pointers(&problem), ["/config"], "{problem}");
    // A global token may run any tenant's config; the job is that tenant's.
    let (status, job) = server
        .post(
            "/api/v1/jobs",
            &global,
            json!({"kind": "plugin.run", "config": acme_config}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["tenant"], "acme");
    assert_eq!(job_count(&store).await, 2);
    server.finish().await;
}
