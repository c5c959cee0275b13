//! `initialize`, `ping`, and the end of the input.

use plugboard_sdk::error::{INVALID_REQUEST, UNSUPPORTED_PROTOCOL_VERSION};
use plugboard_sdk::PROTOCOL_VERSION;
use serde_json::json;

use crate::harness::{initialize_params, TestHost};
use crate::scripted::Scripted;

#[tokio::test]
async fn initialize_answers_identity_and_metadata() {
    let mut host = TestHost::start(Scripted::new());
    let id = host
        .request("initialize", initialize_params(PROTOCOL_VERSION))
        .await;
    let result = host.response(id).await.result.expect("initialize succeeds");
    assert_eq!(result["protocolVersion"], json!(PROTOCOL_VERSION));
    assert_eq!(
        result["plugin"],
        json!({"id": "scripted", "name": "Scripted", "version": "1.2.3"})
    );
    assert_eq!(result["metadata"]["events"], json!(["form.submitted"]));
    assert_eq!(result["metadata"]["tools"][0]["name"], json!("echo"));
    assert_eq!(
        result["metadata"]["tools"][0]["inputSchema"],
        json!({"type": "object"})
    );

    let id = host.request("ping", json!({})).await;
    assert_eq!(host.response(id).await.result, Some(json!({})));

    host.close_input();
    host.finished()
        .await
        .expect("the end of the input is a clean stop");
}

#[tokio::test]
async fn another_protocol_version_is_refused_and_initialize_can_be_retried() {
    let mut host = TestHost::start(Scripted::new());
    let id = host
        .request("initialize", initialize_params(PROTOCOL_VERSION + 1))
        .await;
    let error = host
        .response(id)
        .await
        .error
        .expect("the version is refused");
    assert_eq!(error.code, UNSUPPORTED_PROTOCOL_VERSION);
    assert_eq!(error.data, Some(json!({"supported": [PROTOCOL_VERSION]})));
    assert!(error.message.contains("protocol 2"), "{}", error.message);

    // Not initialized yet: work is refused, a ping is not.
    let run = host.run("greet", None).await;
    assert_eq!(host.error_code(run).await, INVALID_REQUEST);
    let ping = host.request("ping", json!({})).await;
    assert_eq!(host.response(ping).await.result, Some(json!({})));

    let id = host
        .request("initialize", initialize_params(PROTOCOL_VERSION))
        .await;
    assert!(host.response(id).await.result.is_some());
    let run = host.run("greet", None).await;
    assert!(host.response(run).await.result.is_some());
}
