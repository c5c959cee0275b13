//! The `cancel` notification.

use plugboard_sdk::error::CANCELLED;
use serde_json::json;

use crate::harness::TestHost;
use crate::scripted::Scripted;

async fn cancelled_run(action: &str) -> plugboard_sdk::ErrorObject {
    let mut host = TestHost::initialized(Scripted::new()).await;
    let id = host.run(action, None).await;
    let waiting = host.notification("log").await;
    assert_eq!(
        waiting.params.expect("a log has params")["requestId"],
        json!(id)
    );
    host.send(json!({
        "jsonrpc": "2.0",
        "method": "cancel",
        "params": {"requestId": id, "reason": "the job was cancelled by an admin"},
    }))
    .await;
    let error = host.response(id).await.error.expect("the run is cancelled");
    assert_eq!(error.code, CANCELLED);
    error
}

#[tokio::test]
async fn a_cancel_reaches_a_run_waiting_on_its_context() {
    let error = cancelled_run("wait-cancel").await;
    assert_eq!(error.message, "cancelled: the host cancelled the request");
}

#[tokio::test]
async fn until_cancelled_stops_the_work_it_wraps_and_gives_the_reason() {
    let error = cancelled_run("until-cancelled").await;
    assert_eq!(
        error.message,
        "cancelled: the job was cancelled by an admin"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_cancel_for_an_unknown_request_is_ignored() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    host.send(json!({"jsonrpc": "2.0", "method": "cancel", "params": {"requestId": 99}}))
        .await;
    let id = host.request("ping", json!({})).await;
    assert_eq!(host.response(id).await.result, Some(json!({})));
}
