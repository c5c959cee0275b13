//! `shutdown`: waits for the requests in flight, for a bounded time, then answers and returns.

use plugboard_sdk::error::{CANCELLED, JOB_FAILED};
use plugboard_sdk::protocol::Message;
use serde_json::json;

use crate::harness::TestHost;
use crate::scripted::Scripted;

#[tokio::test]
async fn shutdown_waits_for_requests_in_flight() {
    let plugin = Scripted::new();
    let mut host = TestHost::initialized(plugin.clone()).await;
    let run = host.run("wait-release", None).await;
    host.notification("log").await;

    let shutdown = host.request("shutdown", json!({})).await;
    // Lines are handled in order: once the ping is answered, the shutdown has been seen.
    let ping = host.request("ping", json!({})).await;
    assert_eq!(host.response(ping).await.result, Some(json!({})));
    assert!(
        host.unread().is_empty(),
        "answered early: {:?}",
        host.unread()
    );

    let late = host.run("greet", None).await;
    assert_eq!(host.error_code(late).await, JOB_FAILED);

    plugin.release.notify_one();
    match host.next_message().await {
        Message::Response(response) => {
            assert_eq!(response.id, plugboard_sdk::Id::Number(run));
            assert_eq!(response.result, Some(json!({"result": {"released": true}})));
        }
        other => panic!("expected the run's answer first, got {other:?}"),
    }
    assert_eq!(host.response(shutdown).await.result, Some(json!({})));
    host.finished().await.expect("shutdown is a clean stop");
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_requests_still_in_flight_after_the_grace_period() {
    // The clock is paused: it jumps to the end of the grace period once everything waits.
    let mut host = TestHost::initialized(Scripted::new()).await;
    let abandoned = host.run("hang", None).await;
    host.notification("log").await;
    let ignored_cancel = host.run("hang", None).await;
    host.notification("log").await;
    host.send(json!({
        "jsonrpc": "2.0",
        "method": "cancel",
        "params": {"requestId": ignored_cancel, "reason": "the deadline passed"},
    }))
    .await;
    let shutdown = host.request("shutdown", json!({})).await;

    // Abandoned work may run again elsewhere; cancelled work stays cancelled.
    let error = host.response(abandoned).await.error.expect("stopped");
    assert_eq!(error.code, JOB_FAILED);
    assert!(error.is_retryable());
    let error = host.response(ignored_cancel).await.error.expect("stopped");
    assert_eq!(error.code, CANCELLED);
    assert_eq!(error.message, "cancelled: the deadline passed");
    assert_eq!(host.response(shutdown).await.result, Some(json!({})));
    host.finished().await.expect("shutdown is a clean stop");
}

#[tokio::test]
async fn the_end_of_the_input_stops_the_loop_and_its_requests() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    let run = host.run("hang", None).await;
    host.notification("log").await;
    host.close_input();
    assert_eq!(host.error_code(run).await, JOB_FAILED);
    host.finished()
        .await
        .expect("the end of the input is a clean stop");
}
