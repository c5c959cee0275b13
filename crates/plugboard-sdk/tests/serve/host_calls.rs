//! Calls from the plugin to the host: kv and emit, answered by the test.

use plugboard_sdk::error::{HOST_ERROR, INTERNAL_ERROR, NOT_RETRYABLE};
use plugboard_sdk::protocol::methods::{KV_GET, KV_SET};
use serde_json::json;

use crate::harness::TestHost;
use crate::scripted::Scripted;

#[tokio::test]
async fn kv_calls_go_to_the_host_for_the_requests_tenant() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    let run = host.run("kv", Some("acme")).await;

    let get = host.next_plugin_request().await;
    assert_eq!(get.method, KV_GET);
    assert_eq!(get.id, plugboard_sdk::Id::String("p-1".to_owned()));
    assert_eq!(get.params, Some(json!({"tenant": "acme", "key": "count"})));
    host.answer(&get.id, json!({"value": 41})).await;

    let set = host.next_plugin_request().await;
    assert_eq!(set.method, KV_SET);
    assert_ne!(set.id, get.id);
    assert_eq!(
        set.params,
        Some(json!({"tenant": "acme", "key": "count", "value": 42}))
    );
    host.answer(&set.id, json!({})).await;

    let response = host.response(run).await;
    assert_eq!(response.result, Some(json!({"result": {"count": 42}})));
}

#[tokio::test]
async fn a_host_error_fails_the_run_with_the_hosts_code() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    let run = host.run("kv", Some("acme")).await;
    let get = host.next_plugin_request().await;
    host.send(json!({
        "jsonrpc": "2.0",
        "id": get.id,
        "error": {"code": HOST_ERROR, "message": "the store is unavailable; try again"},
    }))
    .await;
    let error = host.response(run).await.error.expect("the run fails");
    assert_eq!(error.code, HOST_ERROR);
    assert_eq!(error.message, "kv/get: the store is unavailable; try again");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn an_answer_of_the_wrong_shape_fails_the_call() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    let run = host.run("emit", Some("acme")).await;
    let emit = host.next_plugin_request().await;
    assert_eq!(
        emit.params,
        Some(json!({"tenant": "acme", "type": "hello.greeted", "payload": {"name": "Ada"}}))
    );
    host.answer(&emit.id, json!({"event": 7})).await;
    let error = host.response(run).await.error.expect("the run fails");
    assert_eq!(error.code, INTERNAL_ERROR);
    assert!(error.message.starts_with("emit: "), "{}", error.message);
}

#[tokio::test]
async fn emit_without_a_tenant_fails_without_asking_the_host() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    let run = host.run("emit", None).await;
    let error = host.response(run).await.error.expect("the run fails");
    assert_eq!(error.code, NOT_RETRYABLE);
    assert!(host.unread().is_empty(), "{:?}", host.unread());
}
