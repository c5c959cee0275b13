//! Caps on live streams: a read token that opens streams past its share is refused with a `429`
//! problem document and `Retry-After`, over SSE and WebSocket; the admin token, the probes and
//! other requests still get through; a closed stream frees its place.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{Server, ADMIN, NO_LIMITS};
use crate::settings::StreamLimitSettings;
use crate::store::Store;

crate::store::testing::for_each_store!(
    streams_past_a_cap_are_refused_and_the_admin_and_probes_get_through,
);

const CHANGES: &str = "/api/v1/jobs/changes";

/// Asks for an SSE stream of every job change; the answer, whatever its status.
async fn open(server: &Server, token: &str) -> reqwest::Response {
    server
        .client
        .get(format!("{}{CHANGES}", server.base))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("the server answers")
}

/// Opens a stream that must be accepted.
async fn accepted(server: &Server, token: &str) -> reqwest::Response {
    let response = open(server, token).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a stream within the caps"
    );
    response
}

/// Asks for a stream that must be refused; returns the problem's detail.
async fn refused(server: &Server, token: &str) -> String {
    let response = open(server, token).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok()),
        Some("application/problem+json")
    );
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After in seconds");
    assert_eq!(retry_after, 10);
    let text = response.text().await.expect("a body");
    let problem: Value = serde_json::from_str(&text).expect("a problem document");
    assert_eq!(problem["status"], 429);
    problem["detail"].as_str().expect("a detail").to_owned()
}

async fn streams_past_a_cap_are_refused_and_the_admin_and_probes_get_through(
    store: Arc<dyn Store>,
) {
    let server = Server::start_with_streams(
        store,
        NO_LIMITS,
        super::super::LocalNode::default(),
        StreamLimitSettings {
            per_token: 3,
            per_address: 5,
            total: 8,
        },
    )
    .await;
    let (first_id, first) = server.token(None, "read").await;
    let (_, second) = server.token(None, "read").await;

    // One token: three streams, then refused, over SSE and over WebSocket alike.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(accepted(&server, &first).await);
    }
    let detail = refused(&server, &first).await;
    assert!(
        detail.contains(&first_id) && detail.contains("stream_max_per_token"),
        "{detail}"
    );
    let url = format!("{}{CHANGES}", server.base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("a WebSocket request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("plugboard.v1, bearer.{first}").parse().unwrap(),
    );
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        }
        other => panic!("a WebSocket over the cap must be refused: {other:?}"),
    }

    // One address: five streams whatever the token.
    for _ in 0..2 {
        held.push(accepted(&server, &second).await);
    }
    let detail = refused(&server, &second).await;
    assert!(detail.contains("stream_max_per_address"), "{detail}");

    // The admin token is counted in the total only, and requests that are not streams, the
    // admin's and the probes', are never refused.
    let mut admin_streams = Vec::new();
    for _ in 0..3 {
        admin_streams.push(accepted(&server, ADMIN).await);
    }
    let detail = refused(&server, ADMIN).await;
    assert!(detail.contains("stream_max_total"), "{detail}");
    let (status, _) = server.get("/api/v1/jobs", ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.get("/api/v1/jobs", &first).await;
    assert_eq!(status, StatusCode::OK);
    let (status, health) = server.get("/api/v1/health", ADMIN).await;
    assert!(
        status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
        "{status}: {health}"
    );
    assert!(health.get("checks").is_some(), "{health}");
    for probe in ["/livez", "/readyz"] {
        let response = server
            .client
            .get(format!("{}{probe}", server.base))
            .send()
            .await
            .expect("the probe answers");
        assert_eq!(response.status(), StatusCode::OK, "{probe}");
    }

    // Closing streams frees their places.
    drop(admin_streams.pop());
    drop(held.remove(0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let reopened = loop {
        let response = open(&server, &first).await;
        if response.status() == StatusCode::OK {
            break response;
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            tokio::time::Instant::now() < deadline,
            "a closed stream's place was not freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(reopened);
    drop(held);
    drop(admin_streams);
    server.finish().await;
}
