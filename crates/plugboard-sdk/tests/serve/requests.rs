//! Requests that run as tasks: their answers, logs and progress, their errors, and overlap.

use plugboard_sdk::error::{INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND};
use plugboard_sdk::protocol::Message;
use serde_json::json;

use crate::harness::TestHost;
use crate::scripted::Scripted;

#[tokio::test]
async fn a_run_logs_and_reports_progress_under_its_request_id() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    let id = host.run("greet", Some("acme")).await;

    let mut seen = Vec::new();
    loop {
        match host.next_message().await {
            Message::Response(response) => {
                assert_eq!(response.id, plugboard_sdk::Id::Number(id));
                assert_eq!(response.result, Some(json!({"result": {"greeted": true}})));
                break;
            }
            Message::Notification(notification) => {
                seen.push((notification.method, notification.params))
            }
            Message::Request(request) => panic!("unexpected request {request:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            (
                "log".to_owned(),
                Some(json!({"level": "info", "message": "hello", "requestId": id}))
            ),
            (
                "progress".to_owned(),
                Some(json!({"requestId": id, "progress": 1.0, "total": 2.0, "message": "half"}))
            ),
            (
                "progress".to_owned(),
                Some(json!({"requestId": id, "progress": 2.0, "total": 2.0}))
            ),
        ]
    );
}

#[tokio::test]
async fn two_runs_are_in_flight_at_once() {
    // Each `rendezvous` run waits until the other one has started: run one at a time, neither
    // would ever finish.
    let mut host = TestHost::initialized(Scripted::new()).await;
    let first = host.run("rendezvous", None).await;
    let second = host.run("rendezvous", None).await;
    for id in [second, first] {
        let response = host.response(id).await;
        assert_eq!(response.result, Some(json!({"result": {"met": true}})));
    }
}

#[tokio::test]
async fn a_final_failure_says_it_is_not_retryable() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    let id = host.run("fail-final", None).await;
    let response = host.response(id).await;
    assert_eq!(response.result, None);
    assert_eq!(
        serde_json::to_value(response.error).expect("an error object serialises"),
        json!({
            "code": -32001,
            "message": "the config's name is empty; set `name` in the config",
            "data": {"retryable": false},
        })
    );
}

#[tokio::test]
async fn a_panicking_handler_is_answered_and_the_plugin_goes_on() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    let id = host.run("panic", None).await;
    let error = host.response(id).await.error.expect("a panic is an error");
    assert_eq!(error.code, INTERNAL_ERROR);
    assert!(error.message.contains("`run`"), "{}", error.message);

    let id = host.run("greet", None).await;
    assert!(host.response(id).await.result.is_some());
}

#[tokio::test]
async fn params_that_do_not_fit_are_invalid_params() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    let id = host.request("run", json!({"job": "seven"})).await;
    let error = host
        .response(id)
        .await
        .error
        .expect("the params are refused");
    assert_eq!(error.code, INVALID_PARAMS);
    assert!(error.message.contains("`run`"), "{}", error.message);
}

#[tokio::test]
async fn a_request_id_already_in_flight_is_refused() {
    let plugin = Scripted::new();
    let mut host = TestHost::initialized(plugin.clone()).await;
    let id = host.run("wait-release", None).await;
    host.notification("log").await;
    host.send(json!({"jsonrpc": "2.0", "id": id, "method": "run", "params": crate::harness::run_params(json!({"action": "greet"}))}))
        .await;
    assert_eq!(host.error_code(id).await, INVALID_REQUEST);

    plugin.release.notify_one();
    let response = host.response(id).await;
    assert_eq!(response.result, Some(json!({"result": {"released": true}})));
}

#[tokio::test]
async fn unimplemented_handlers_answer_their_defaults() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    let validate = host
        .request("config/validate", json!({"tenant": "acme", "values": {}}))
        .await;
    assert_eq!(
        host.response(validate).await.result,
        Some(json!({"valid": true, "errors": []}))
    );
    let test = host.request("config/test", json!({"values": {}})).await;
    let error = host.response(test).await.error.expect("no config test");
    assert_eq!(error.code, METHOD_NOT_FOUND);
    assert_eq!(
        error.message,
        "method `config/test` is not implemented by this plugin"
    );
    let tool = host
        .request("tools/call", json!({"name": "echo", "arguments": {}}))
        .await;
    assert_eq!(host.error_code(tool).await, METHOD_NOT_FOUND);
    let http = host
        .request("http", json!({"method": "GET", "path": "/"}))
        .await;
    assert_eq!(host.error_code(http).await, METHOD_NOT_FOUND);
}
