//! Requests no HTTP client library sends, written byte for byte on a TCP connection: a path that
//! is not UTF-8 once percent-decoded is a problem document; an over-long URI and a garbage
//! request line are refused by hyper before the router sees them (with an empty body, hyper has
//! no hook for it), and the server goes on serving.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Server, ADMIN, NO_LIMITS};
use crate::store::Store;

crate::store::testing::for_each_store!(malformed_requests_are_refused_and_the_server_goes_on,);

/// An answer read off the wire: status, headers (lower-case names) and body.
struct RawAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Sends `request` as it is on a new connection and reads until the server closes it.
async fn send_raw(server: &Server, request: &[u8]) -> RawAnswer {
    let address = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("the server accepts connections");
    stream
        .write_all(request)
        .await
        .expect("the request is sent");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes within 10 s")
        .expect("the answer is read");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP answer: {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    RawAnswer {
        status,
        headers,
        body: body.to_owned(),
    }
}

async fn malformed_requests_are_refused_and_the_server_goes_on(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;

    // A percent-encoded byte that is not UTF-8 in a path parameter.
    for path in [
        "/api/v1/jobs/%FF",
        "/api/v1/jobs/%C3%28/logs",
        "/api/v1/plugins/%FE%FF",
    ] {
        let answer = send_raw(
            &server,
            format!("GET {path} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {ADMIN}\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
        assert_eq!(
            answer.header("content-type"),
            Some("application/problem+json"),
            "{path}"
        );
        let problem: serde_json::Value =
            serde_json::from_str(&answer.body).expect("a problem document");
        assert_eq!(problem["type"], "urn:plugboard:problem:bad-request");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|detail| detail.contains("not UTF-8")),
            "{problem}"
        );
    }

    // Refused by hyper before the router: 414 and 400 with no body.
    let long = format!(
        "GET /api/v1/jobs?x={} HTTP/1.1\r\nhost: test\r\n\r\n",
        "a".repeat(70_000)
    );
    let answer = send_raw(&server, long.as_bytes()).await;
    assert_eq!(answer.status, 414);
    assert_eq!(answer.body, "");
    let answer = send_raw(&server, b"HELLO THERE\r\n\r\n").await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body, "");

    // The server goes on serving.
    let (status, _) = server.get("/api/v1/jobs", ADMIN).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    server.finish().await;
}
