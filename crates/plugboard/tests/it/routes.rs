//! Plugin routes and webhook addresses through the real server and a real plugin process: each
//! auth level lets the right callers in and keeps the others out before the plugin sees
//! anything; what could escape a path segment is refused; an oversized body is refused before
//! the plugin sees a byte; a crash is a `502` and the next request is served; a hung plugin is a
//! `504` within the route timeout and the request is cancelled in it; a config's webhook
//! address reaches the plugin with the config and its tenant, and only with the right secret.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{temp_dir, TestHost, FAST_LEASES};

fn scripted_package(root: &Path) -> PathBuf {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scripted_plugin.py");
    let package = root.join("scripted");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::copy(script, package.join("scripted_plugin.py")).unwrap();
    std::fs::write(
        package.join("plugin.toml"),
        "id = \"scripted\"\nname = \"Scripted\"\nversion = \"1.0.0\"\nprotocol = 1\ncommand = [\"python3\", \"scripted_plugin.py\"]\n",
    )
    .unwrap();
    package
}

/// A server running the scripted plugin, with tenants `acme` and `beta` and tokens for them.
struct Setup {
    host: TestHost,
    client: reqwest::Client,
    acme_read: String,
    acme_write: String,
    global_write: String,
    _data: tempfile::TempDir,
}

impl Setup {
    async fn start(extra: &[&str]) -> Setup {
        let data = temp_dir();
        let package = scripted_package(data.path());
        Setup::serving(data, package, "/plugins/scripted/echo/ready", extra).await
    }

    /// A server running the plugin in `package`, once `ready_path` answers.
    async fn serving(
        data: tempfile::TempDir,
        package: PathBuf,
        ready_path: &str,
        extra: &[&str],
    ) -> Setup {
        let mut flags = FAST_LEASES.to_vec();
        flags.extend(["--plugin", package.to_str().unwrap()]);
        flags.extend(extra);
        let host = TestHost::start(data.path(), &flags);
        let client = reqwest::Client::new();
        let mut setup = Setup {
            host,
            client,
            acme_read: String::new(),
            acme_write: String::new(),
            global_write: String::new(),
            _data: data,
        };
        for tenant in ["acme", "beta"] {
            let (status, body) = setup
                .api(Method::POST, "/api/v1/tenants", json!({"id": tenant}))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        setup.acme_read = setup.token(Some("acme"), "read").await;
        setup.acme_write = setup.token(Some("acme"), "write").await;
        setup.global_write = setup.token(None, "write").await;
        setup.wait_ready(ready_path).await;
        setup
    }

    async fn api(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, format!("http://{}{path}", self.host.address))
            .bearer_auth(&self.host.admin_token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn token(&self, tenant: Option<&str>, access: &str) -> String {
        let (status, body) = self
            .api(
                Method::POST,
                "/api/v1/tokens",
                json!({"name": format!("{tenant:?} {access}"), "tenant": tenant, "access": access}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["secret"].as_str().unwrap().to_owned()
    }

    /// Calls a plugin route (or any path) with an optional token; returns the response.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.host.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        request.send().await.expect("the server answers")
    }

    async fn json(&self, method: Method, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let response = self.call(method, path, token, None).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn wait_ready(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, _) = self.json(Method::GET, path, Some(&self.acme_read)).await;
            if status == StatusCode::OK {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the plugin's routes never answered ({status}):\n{}",
                self.host.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many route requests reached the plugin so far.
    async fn seen(&self) -> i64 {
        let (status, body) = self
            .json(Method::GET, "/plugins/scripted/cancelled", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["seen"].as_i64().unwrap()
    }

    /// Sends `request_line` as it is, over a raw socket (no client normalises the path), and
    /// returns the status.
    fn raw_status(&self, target: &str) -> u16 {
        let mut stream = std::net::TcpStream::connect(&self.host.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            self.host.address, self.host.admin_token
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status line")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_route_auth_level_lets_in_the_right_callers_only() {
    let setup = Setup::start(&[]).await;
    let before = setup.seen().await;

    // public: anyone; the plugin gets the decoded parameter and never the caller's credentials.
    let response = setup
        .client
        .get(format!(
            "http://{}/plugins/scripted/echo/Ada%20Lovelace?x=1",
            setup.host.address
        ))
        .bearer_auth(&setup.acme_write)
        .header("cookie", "session=secret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["x-plugin"], "scripted");
    for origin_wide in ["set-cookie", "clear-site-data", "strict-transport-security"] {
        assert!(
            headers.get(origin_wide).is_none(),
            "a plugin cannot send {origin_wide} on the host's origin"
        );
    }
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("sandbox"));
    let got: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let got = &got["got"];
    assert_eq!(got["params"], json!({"name": "Ada Lovelace"}));
    assert_eq!(got["route"], "/echo/{name}");
    assert_eq!(got["path"], "/echo/Ada%20Lovelace");
    assert_eq!(got["query"], "x=1");
    assert_eq!(got["access"], "public");
    assert!(got.get("tenant").is_none());
    let forwarded = got["headers"].as_object().unwrap();
    assert!(
        !forwarded.contains_key("authorization") && !forwarded.contains_key("cookie"),
        "credentials never reach the plugin: {forwarded:?}"
    );

    // tenant: a tenant's token; read tokens only GET.
    let tenant_path = "/plugins/scripted/tenant";
    let response = setup.call(Method::GET, tenant_path, None, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    let (status, body) = setup
        .json(Method::GET, tenant_path, Some("pb_not-a-token"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = setup
        .json(Method::GET, tenant_path, Some(&setup.acme_read))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["got"]["tenant"], &body["got"]["access"]),
        (&json!("acme"), &json!("read"))
    );
    let (status, body) = setup
        .json(Method::POST, tenant_path, Some(&setup.acme_read))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("may only read"));
    let (status, body) = setup
        .json(Method::POST, tenant_path, Some(&setup.acme_write))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["got"]["access"], "write");
    for token in [&setup.host.admin_token, &setup.global_write] {
        let (status, body) = setup.json(Method::GET, tenant_path, Some(token)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body["detail"]
            .as_str()
            .unwrap()
            .contains("scoped to a tenant"));
    }

    // admin: the admin token only.
    let admin_path = "/plugins/scripted/admin";
    for token in [
        None,
        Some(setup.acme_write.as_str()),
        Some(&setup.global_write),
    ] {
        let (status, body) = setup.json(Method::GET, admin_path, token).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
            "{status} {body}"
        );
    }
    let (status, body) = setup
        .json(Method::GET, admin_path, Some(&setup.host.admin_token))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["got"]["access"], "admin");

    // A token as the WebSocket subprotocol (which the API takes for its streams) admits no
    // one to a route, and never reaches the plugin.
    let response = setup
        .client
        .get(format!("http://{}{tenant_path}", setup.host.address))
        .header(
            "sec-websocket-protocol",
            format!("plugboard.v1, bearer.{}", setup.acme_write),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = setup
        .client
        .get(format!(
            "http://{}/plugins/scripted/echo/ws",
            setup.host.address
        ))
        .header(
            "sec-websocket-protocol",
            format!("bearer.{}", setup.acme_write),
        )
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "hop-by-hop")
        .send()
        .await
        .unwrap();
    let got: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let forwarded = got["got"]["headers"].as_object().unwrap();
    assert!(
        !forwarded.contains_key("sec-websocket-protocol") && !forwarded.contains_key("x-hop"),
        "{forwarded:?}"
    );

    // A token whose tenant was deleted acts for no one.
    let (status, _) = setup
        .api(Method::POST, "/api/v1/tenants", json!({"id": "gone"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let orphan = setup.token(Some("gone"), "write").await;
    let (status, _) = setup
        .api(Method::DELETE, "/api/v1/tenants/gone", json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = setup.json(Method::GET, tenant_path, Some(&orphan)).await;
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED,
        "{status} {body}"
    );

    // Refused requests never reached the plugin: only the 5 that were let in did.
    assert_eq!(setup.seen().await - before, 5);

    // A method a client makes up is counted as OTHER: labels stay bounded.
    let odd = Method::from_bytes(b"M123").unwrap();
    let (status, _) = setup.json(odd, "/plugins/nobody/q", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // No such plugin, route or method.
    for (method, path, expected) in [
        (Method::GET, "/plugins/nobody/echo/x", StatusCode::NOT_FOUND),
        (
            Method::GET,
            "/plugins/scripted/nothing",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/plugins/scripted/echo/x",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ] {
        let (status, body) = setup.json(method, path, None).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:plugboard:problem:"));
    }
    // HEAD reaches a GET route, without a body.
    let response = setup
        .call(Method::HEAD, "/plugins/scripted/echo/x", None, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.unwrap().is_empty());

    // Metrics by plugin, declared route and status; the OpenAPI document lists the routes.
    let (status, metrics) = setup
        .json(Method::GET, "/metrics", Some(&setup.host.admin_token))
        .await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(!metrics.contains("M123"), "{metrics}");
    assert!(metrics.contains("method=\"OTHER\""), "{metrics}");
    assert!(
        metrics.contains(
            "plugboard_plugin_route_requests_total{plugin=\"scripted\",route=\"/tenant\",method=\"POST\",status=\"403\"} 1"
        ),
        "{metrics}"
    );
    let (status, document) = setup.json(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let operation = &document["paths"]["/plugins/scripted/echo/{name}"]["get"];
    assert_eq!(operation["tags"], json!(["plugin:scripted"]));
    assert_eq!(operation["security"], json!([]));
    assert_eq!(
        document["paths"]["/plugins/scripted/tenant"]["post"]["security"],
        json!([{"bearer": []}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_that_could_escape_and_oversized_bodies_are_refused_before_the_plugin() {
    let setup = Setup::start(&[]).await;
    let before = setup.seen().await;
    for target in [
        "/plugins/scripted/echo/..",
        "/plugins/scripted/echo/%2e%2e",
        "/plugins/scripted/echo/%2E%2e",
        "/plugins/scripted/echo/a%2fb",
        "/plugins/scripted/echo/a%2Fb",
        "/plugins/scripted/echo/a%5cb",
        "/plugins/scripted/echo/%00",
        "/plugins/scripted/../../api/v1/health",
        "/plugins/scripted/%2e%2e/%2e%2e/api/v1/health",
        "/plugins/%2e%2e/api/v1/health",
        "/plugins/scripted/echo/%ff",
    ] {
        assert_eq!(setup.raw_status(target), 400, "{target}");
    }
    assert_eq!(setup.raw_status("/plugins/scripted/echo/%2e%2e%2e"), 200);

    // 50 MB announced by Content-Length: refused from the header, before a byte is sent.
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(&setup.host.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /plugins/scripted/echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        50 * 1024 * 1024
    )
    .unwrap();
    let mut answer = vec![0u8; 4096];
    let read = stream.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("route_max_body_mb"), "{answer}");
    drop(stream);
    // Sent whole by a client: a 413, or the connection closed while it still sends.
    match setup
        .client
        .post(format!(
            "http://{}/plugins/scripted/echo",
            setup.host.address
        ))
        .body(vec![b'x'; 50 * 1024 * 1024])
        .send()
        .await
    {
        Ok(response) => assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(error) => assert!(error.is_request() || error.is_body(), "{error}"),
    }
    // Streamed without a length: cut off once past the cap.
    let chunks = futures_util::stream::iter(
        (0..50).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 1024 * 1024])),
    );
    let response = setup
        .client
        .post(format!(
            "http://{}/plugins/scripted/echo",
            setup.host.address
        ))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE),
        // The server may close the connection while the client still sends.
        Err(error) => assert!(error.is_request() || error.is_body(), "{error}"),
    }
    assert_eq!(
        setup.seen().await - before,
        1,
        "only the `%2e%2e%2e` request reached the plugin (in {:?})",
        started.elapsed()
    );
    // A body under the cap goes through whole.
    let body = vec![b'z'; 3 * 1024 * 1024];
    let response = setup
        .call(Method::POST, "/plugins/scripted/echo", None, Some(body))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let got: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(
        got["got"]["body"].as_str().unwrap().len(),
        4 * 1024 * 1024,
        "3 MiB as base64"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_errors_and_hangs_are_problems_and_the_next_request_is_served() {
    let setup = Setup::start(&["--route-timeout-ms", "700"]).await;

    let (status, body) = setup
        .json(Method::GET, "/plugins/scripted/crash", None)
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("ended while"));
    // The next request waits for the restarted process and is served by it.
    let (status, body) = setup
        .json(Method::GET, "/plugins/scripted/echo/again", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", setup.host.log());

    let (status, body) = setup
        .json(Method::GET, "/plugins/scripted/error", None)
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("the route failed on purpose"));

    let started = Instant::now();
    let (status, body) = setup
        .json(Method::GET, "/plugins/scripted/hang", None)
        .await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(5),
        "answered after {took:?}"
    );
    let (_, body) = setup
        .json(Method::GET, "/plugins/scripted/cancelled", None)
        .await;
    assert_eq!(
        body["cancelled"].as_array().map(Vec::len),
        Some(1),
        "the hung request was cancelled in the plugin: {body}"
    );
    // A client that goes away cancels its request in the plugin too.
    let gone = setup
        .client
        .get(format!(
            "http://{}/plugins/scripted/hang",
            setup.host.address
        ))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(gone.is_err());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = setup
            .json(Method::GET, "/plugins/scripted/cancelled", None)
            .await;
        if body["cancelled"].as_array().map(Vec::len) == Some(2) {
            break;
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_webhook_reaches_the_plugin_with_its_config_and_only_with_the_secret() {
    let setup = Setup::start(&[]).await;
    let (status, config) = setup
        .api(
            Method::POST,
            "/api/v1/tenants/acme/configs",
            json!({"plugin": "scripted", "name": "main", "values": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{config}");
    let id = config["id"].as_str().unwrap().to_owned();

    // Another tenant's token cannot make it; a read token cannot either.
    let beta = setup.token(Some("beta"), "write").await;
    for token in [&beta, &setup.acme_read] {
        let (status, body) = setup
            .json(
                Method::POST,
                &format!("/api/v1/configs/{id}/webhook"),
                Some(token),
            )
            .await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
            "{status} {body}"
        );
    }
    let (status, made) = setup
        .json(
            Method::POST,
            &format!("/api/v1/configs/{id}/webhook"),
            Some(&setup.acme_write),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let path = made["path"].as_str().unwrap().to_owned();
    assert!(path.starts_with(&format!("/hooks/{id}/wh_")));

    let delivery = || {
        setup
            .client
            .post(format!("http://{}{path}", setup.host.address))
            .header("x-github-event", "push")
            .body("{\"ref\":\"main\"}")
            .send()
    };
    let response = delivery().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let got: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let got = &got["got"];
    assert_eq!(got["route"], "/hook");
    assert_eq!(got["access"], "webhook");
    assert_eq!(got["tenant"], "acme");
    assert_eq!(got["config"]["id"], id.as_str());
    assert_eq!(got["config"]["name"], "main");
    assert_eq!(got["headers"]["x-github-event"], "push");

    // A wrong secret and an unknown config look the same.
    let wrong = format!("/hooks/{id}/wh_{}", "0".repeat(64));
    let unknown = format!("/hooks/nope/{}", path.rsplit('/').next().unwrap());
    for target in [&wrong, &unknown] {
        let (status, body) = setup.json(Method::POST, target, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{target}: {body}");
        assert_eq!(
            body["detail"],
            json!("no webhook has this address; the config's owner can make a new one with POST /api/v1/configs/{id}/webhook")
        );
    }
    let (status, _) = setup.json(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // A new secret retires the old address.
    let (status, again) = setup
        .json(
            Method::POST,
            &format!("/api/v1/configs/{id}/webhook"),
            Some(&setup.acme_write),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(delivery().await.unwrap().status(), StatusCode::NOT_FOUND);
    let path = again["path"].as_str().unwrap().to_owned();
    let response = setup
        .call(Method::POST, &path, None, Some(b"{}".to_vec()))
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // A disabled config takes no deliveries; a removed address is gone.
    let (status, body) = setup
        .api(
            Method::PUT,
            &format!("/api/v1/configs/{id}"),
            json!({"values": {}, "enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = setup.json(Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = setup
        .api(
            Method::DELETE,
            &format!("/api/v1/configs/{id}/webhook"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = setup.json(Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`, in lower-case hex: what GitHub sends in
/// `X-Hub-Signature-256`.
fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn the_hmac_of_the_tests_is_githubs() {
    // GitHub's own example (docs: "Validating webhook deliveries").
    assert_eq!(
        hmac_sha256_hex(b"It's a Secret to Everybody", b"Hello, World!"),
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_github_example_turns_signed_deliveries_into_events_whose_fan_out_runs() {
    let data = temp_dir();
    let package = crate::plugins::python_example_package(data.path(), "github-webhook-python");
    let setup = Setup::serving(data, package, "/plugins/github-webhook/deliveries", &[]).await;
    let (status, config) = setup
        .api(
            Method::POST,
            "/api/v1/tenants/acme/configs",
            json!({"plugin": "github-webhook", "name": "octo", "values": {"secret": "s3cret"}, "events": ["github.push"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{config}");
    assert_eq!(
        config["values"]["secret"], "********",
        "the secret is sealed"
    );
    let id = config["id"].as_str().unwrap().to_owned();
    let (status, made) = setup
        .json(
            Method::POST,
            &format!("/api/v1/configs/{id}/webhook"),
            Some(&setup.acme_write),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let url = format!(
        "http://{}{}",
        setup.host.address,
        made["path"].as_str().unwrap()
    );
    let body = br#"{"ref":"refs/heads/main","repository":{"full_name":"octo/hello"},"sender":{"login":"ada"}}"#;
    let deliver = |signature: String| {
        setup
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
            .header("x-hub-signature-256", signature)
            .body(body.to_vec())
            .send()
    };

    // Signed with another secret: the plugin refuses it, and no event is raised.
    let forged = format!("sha256={}", hmac_sha256_hex(b"guess", body));
    let response = deliver(forged).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let refused: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert!(refused["error"]
        .as_str()
        .unwrap()
        .contains("does not match"));

    // Signed with the config's secret: an event of acme, whose fan-out runs the config.
    let signed = format!("sha256={}", hmac_sha256_hex(b"s3cret", body));
    let response = deliver(signed.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let event = accepted["event"].as_str().unwrap().to_owned();
    let (status, shown) = setup
        .json(
            Method::GET,
            &format!("/api/v1/events/{event}"),
            Some(&setup.acme_read),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["type"], "github.push");
    assert_eq!(shown["payload"]["repository"], "octo/hello");
    // GitHub redelivers with the same delivery id: still one event.
    let again = deliver(signed).await.unwrap();
    let again: Value = serde_json::from_str(&again.text().await.unwrap()).unwrap();
    assert_eq!(again["event"], event.as_str());

    let deadline = Instant::now() + Duration::from_secs(30);
    let run = loop {
        let (_, jobs) = setup
            .json(
                Method::GET,
                "/api/v1/jobs?kind=plugin.run&status=succeeded",
                Some(&setup.acme_read),
            )
            .await;
        if let Some(job) = jobs["jobs"].as_array().and_then(|jobs| jobs.first()) {
            break job.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no run of the event:\n{}",
            setup.host.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        run["result"],
        json!({"event": "github.push", "repository": "octo/hello"})
    );
    let (status, count) = setup
        .json(
            Method::GET,
            "/plugins/github-webhook/deliveries",
            Some(&setup.acme_read),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{count}");
    assert_eq!(count["deliveries"], 2, "both deliveries were received");
}

/// Sends one request on `stream` and reads its answer (a `Content-Length` body): status, the
/// headers in lower case, and the body.
fn exchange(stream: &mut std::net::TcpStream, request: &str) -> (u16, String, String) {
    // The head first, the body a moment later: the server decides before the body is there.
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    stream
        .write_all(format!("{head}\r\n\r\n").as_bytes())
        .unwrap();
    if !body.is_empty() {
        std::thread::sleep(Duration::from_millis(30));
        stream.write_all(body.as_bytes()).unwrap();
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = stream
            .read(&mut byte)
            .expect("an answer on the same connection");
        assert_eq!(
            read,
            1,
            "the server closed the connection: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map(|value| value.trim().parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_with_a_body_keeps_its_keep_alive_connection() {
    // One API request a second per token: the second post is refused before its body is read.
    let data = temp_dir();
    let limited = TestHost::start(
        data.path(),
        &[
            "--rate-limit-per-token",
            "1",
            "--rate-limit-burst",
            "1",
            "--rate-limit-per-address",
            "0",
        ],
    );
    let (address, token) = (limited.address.clone(), limited.admin_token.clone());
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let body = r#"{"kind":"noop","queue":"idle","payload":{}}"#;
        let post = format!(
            "POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let statuses: Vec<u16> = (0..4).map(|_| exchange(&mut stream, &post).0).collect();
        assert_eq!(statuses[0], 201, "{statuses:?}");
        assert!(statuses[1..].contains(&429), "{statuses:?}");
    })
    .await
    .unwrap();
    drop(limited);

    let setup = Setup::start(&[]).await;
    let address = setup.host.address.clone();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // A route refused (no token) with a body, then a request on the same connection.
        let refused =
            "POST /plugins/scripted/tenant HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        let (status, head, _) = exchange(&mut stream, refused);
        assert_eq!(status, 401);
        assert!(!head.contains("connection: close"), "{head}");
        let (status, _, body) = exchange(
            &mut stream,
            "GET /plugins/scripted/echo/again HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert_eq!(status, 200, "{body}");
        // A body far over what is drained is not waited for: the answer says to reconnect.
        let mut big = std::net::TcpStream::connect(&address).unwrap();
        big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = format!(
            "POST /plugins/scripted/tenant HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            1024 * 1024
        );
        big.write_all(head.as_bytes()).unwrap();
        let mut answer = vec![0u8; 4096];
        let read = big.read(&mut answer).unwrap();
        let answer = String::from_utf8_lossy(&answer[..read]).to_ascii_lowercase();
        assert!(answer.starts_with("http/1.1 401"), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
    })
    .await
    .unwrap();
}
