//! `POST /api/v1/jobs/batch` over real HTTP on both stores: many jobs in one transaction, unique
//! keys per job, a bad job refusing the whole batch with its place, the size cap, and tenant
//! tokens kept to their tenant.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{Server, ADMIN, NO_LIMITS};
use crate::store::{JobFilter, Store};

crate::store::testing::for_each_store!(
    a_batch_is_stored_in_order_with_unique_keys_per_job,
    a_bad_job_refuses_the_whole_batch_and_names_its_place,
    tenant_tokens_batch_only_their_tenants_runs,
);

async fn count(store: &Arc<dyn Store>) -> usize {
    store
        .job_list(JobFilter {
            limit: 10_000,
            ..JobFilter::default()
        })
        .await
        .expect("list")
        .len()
}

async fn a_batch_is_stored_in_order_with_unique_keys_per_job(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    let (status, first) = server
        .post(
            "/api/v1/jobs",
            ADMIN,
            json!({"kind": "noop", "unique_key": "k1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let jobs: Vec<Value> = (0..1000)
        .map(|n| json!({"kind": "noop", "payload": {"n": n}, "queue": "bulk"}))
        .chain([
            json!({"kind": "noop", "unique_key": "k1"}),
            json!({"kind": "noop", "unique_key": "k2"}),
            json!({"kind": "noop", "unique_key": "k2"}),
        ])
        .collect();
    let (status, answer) = server
        .post("/api/v1/jobs/batch", ADMIN, json!({"jobs": jobs}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["created"], json!(1001), "{answer}");
    let items = answer["jobs"].as_array().expect("jobs");
    assert_eq!(items.len(), 1003);
    // In the order sent, each with its own id, the payload where it was.
    let ids: Vec<i64> = items[..1000]
        .iter()
        .map(|item| item["id"].as_i64().expect("an id"))
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "ids grow");
    let (_, shown) = server
        .get(&format!("/api/v1/jobs/{}", ids[999]), ADMIN)
        .await;
    assert_eq!(shown["payload"], json!({"n": 999}), "{shown}");
    // An existing key answers the existing job; a key twice in one batch makes one job.
    assert_eq!(items[1000], json!({"id": first["id"], "created": false}));
    assert_eq!(items[1001]["created"], json!(true));
    assert_eq!(
        items[1002],
        json!({"id": items[1001]["id"], "created": false})
    );
    assert_eq!(count(&store).await, 1002);
    server.finish().await;
}

async fn a_bad_job_refuses_the_whole_batch_and_names_its_place(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    for (jobs, pointer, says) in [
        (
            json!([{"kind": "noop"}, {"kind": "noop", "max_attempts": 0}]),
            "/jobs/1/max_attempts",
            "out of range",
        ),
        (
            json!([{"kind": "noop"}, {"kind": "noop"}, {"kind": "no.such.kind"}]),
            "/jobs/2/kind",
            "no.such.kind",
        ),
        (
            json!([{"kind": "noop", "config": "cfg_1"}]),
            "/jobs/0/config",
            "plugin.run",
        ),
        (json!([]), "/jobs", "send 1 to 5000"),
    ] {
        let (status, problem) = server
            .post("/api/v1/jobs/batch", ADMIN, json!({"jobs": jobs}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["errors"][0]["pointer"], json!(pointer), "{problem}");
        assert!(
            problem["detail"].as_str().unwrap_or("").contains(says),
            "{problem}"
        );
    }
    let too_many: Vec<Value> = (0..5001).map(|_| json!({"kind": "noop"})).collect();
    let (status, problem) = server
        .post("/api/v1/jobs/batch", ADMIN, json!({"jobs": too_many}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("holds 5001 jobs"),
        "{problem}"
    );
    // Nothing of any refused batch was stored.
    assert_eq!(count(&store).await, 0);
    server.finish().await;
}

async fn tenant_tokens_batch_only_their_tenants_runs(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    let (_, acme) = server.token(Some("acme"), "write").await;
    let (_, acme_read) = server.token(Some("acme"), "read").await;
    let run = |key: &str| json!({"kind": "plugin.run", "payload": {"plugin": "hello"}, "unique_key": key});
    let (status, problem) = server
        .post(
            "/api/v1/jobs/batch",
            &acme,
            json!({"jobs": [run("a"), {"kind": "noop"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("/jobs/1: "),
        "{problem}"
    );
    let (status, problem) = server
        .post(
            "/api/v1/jobs/batch",
            &acme,
            json!({"jobs": [{"kind": "plugin.run", "payload": {"plugin": "hello"}, "tenant": "globex"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let (status, problem) = server
        .post(
            "/api/v1/jobs/batch",
            &acme_read,
            json!({"jobs": [run("b")]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(count(&store).await, 0);
    // Another tenant's job with the same key is neither shown nor doubled.
    let (status, _) = server
        .post(
            "/api/v1/jobs",
            ADMIN,
            json!({"kind": "plugin.run", "payload": {"plugin": "hello"}, "tenant": "globex", "unique_key": "shared"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, answer) = server
        .post(
            "/api/v1/jobs/batch",
            &acme,
            json!({"jobs": [run("shared"), run("mine")]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["jobs"][0]["id"], Value::Null, "{answer}");
    assert_eq!(answer["jobs"][0]["created"], json!(false), "{answer}");
    assert!(answer["jobs"][0]["error"].is_string(), "{answer}");
    assert_eq!(answer["jobs"][1]["created"], json!(true), "{answer}");
    let (_, mine) = server
        .get(&format!("/api/v1/jobs/{}", answer["jobs"][1]["id"]), &acme)
        .await;
    assert_eq!(mine["tenant"], json!("acme"), "{mine}");
    assert_eq!(mine["payload"]["tenant"], json!("acme"), "{mine}");
    assert_eq!(count(&store).await, 2);
    server.finish().await;
}
