//! What the host should never send: bad lines, long lines, unknown methods.

use plugboard_sdk::error::{INVALID_REQUEST, METHOD_NOT_FOUND};
use plugboard_sdk::protocol::Message;
use plugboard_sdk::MAX_LINE_BYTES;
use serde_json::json;

use crate::harness::TestHost;
use crate::scripted::Scripted;

/// Sends a ping and checks that its answer is the next message.
async fn next_is_pong(host: &mut TestHost) {
    let id = host.request("ping", json!({})).await;
    match host.next_message().await {
        Message::Response(response) => {
            assert_eq!(response.id, plugboard_sdk::Id::Number(id));
            assert_eq!(response.result, Some(json!({})));
        }
        other => panic!("expected the pong, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_lines_are_skipped() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    host.send_raw(b"this is not json\n").await;
    host.send_raw(b"{\"jsonrpc\": \"2.0\"}\n").await;
    host.send_raw(b"[1, 2]\n").await;
    host.send_raw(b"\xff\xfe\n").await;
    host.send_raw(b"\n   \r\n").await;
    // A broken answer to a call nobody made.
    host.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":\"p-9\",\"result\":1,\"error\":{\"code\":1,\"message\":\"x\"}}\n")
        .await;
    host.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}\n")
        .await;
    next_is_pong(&mut host).await;
}

#[tokio::test]
async fn a_broken_request_with_an_id_is_answered() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    host.send(json!({"jsonrpc": "1.0", "id": 77, "method": "ping"}))
        .await;
    assert_eq!(host.error_code(77).await, INVALID_REQUEST);
}

#[tokio::test]
async fn a_line_over_the_limit_is_discarded() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    let mut long_line = vec![b'x'; MAX_LINE_BYTES + 1];
    long_line.push(b'\n');
    host.send_raw(&long_line).await;
    next_is_pong(&mut host).await;
}

#[tokio::test]
async fn an_unknown_method_is_method_not_found() {
    let mut host = TestHost::initialized(Scripted::new()).await;
    let id = host.request("frobnicate", json!({})).await;
    assert_eq!(host.error_code(id).await, METHOD_NOT_FOUND);
    next_is_pong(&mut host).await;
}
