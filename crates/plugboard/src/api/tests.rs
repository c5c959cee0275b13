//! The API over real HTTP: the router served on 127.0.0.1:0 in this process, on SQLite and on
//! PostgreSQL, called with reqwest. Auth (missing, wrong, short, expired, revoked, wrong scope,
//! read-only), problem documents, paging while jobs are added, the SSE log stream resumed with
//! `Last-Event-ID`, rate limits, and the OpenAPI document's completeness.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{router, AdminToken, ApiParams};
use crate::queue::{Queue, Registry};
use crate::settings::{RateLimitSettings, StreamLimitSettings};
use crate::store::{
    ClaimParams, FinishOutcome, JobFinish, JobId, LogLevel, NewJob, NewLogLine, Store,
};

const ADMIN: &str = "test-admin-token-0123456789abcdef0123456789";

const NO_LIMITS: RateLimitSettings = RateLimitSettings {
    per_token: 0,
    per_address: 0,
    burst: 1,
};

struct Server {
    base: String,
    client: reqwest::Client,
    store: Arc<dyn Store>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    /// The uploads folder (`UploadParams::dir` is a folder inside it, made on the first upload).
    uploads: tempfile::TempDir,
}

/// The package size cap of the test server: 64 KiB.
const UPLOAD_LIMIT: u64 = 64 * 1024;

impl Server {
    async fn start(store: Arc<dyn Store>, rate_limits: RateLimitSettings) -> Server {
        Server::start_with(store, rate_limits, super::LocalNode::default()).await
    }

    /// A server that sees `local` as its own workers and plugins.
    async fn start_with(
        store: Arc<dyn Store>,
        rate_limits: RateLimitSettings,
        local: super::LocalNode,
    ) -> Server {
        Server::start_with_streams(store, rate_limits, local, StreamLimitSettings::default()).await
    }

    /// A server with `stream_limits` as its caps on live streams.
    async fn start_with_streams(
        store: Arc<dyn Store>,
        rate_limits: RateLimitSettings,
        local: super::LocalNode,
        stream_limits: StreamLimitSettings,
    ) -> Server {
        let mut registry = Registry::with_builtin_kinds();
        registry.register(
            crate::plugins::run::PLUGIN_RUN,
            crate::plugins::run::PluginRun::for_validation(),
        );
        registry.register(
            crate::plugins::tool::PLUGIN_TOOL,
            crate::plugins::tool::PluginTool::for_validation(),
        );
        crate::plugins::installer::register(&mut registry, None);
        let queue = Queue::new(store.clone(), Arc::new(registry));
        let uploads = tempfile::tempdir().expect("a temporary uploads folder");
        let app = router(ApiParams {
            queue,
            probe_queue: "default".to_owned(),
            sandbox: json!({"ok": true}),
            admin_token: AdminToken::new(ADMIN).expect("a long enough admin token"),
            rate_limits,
            stream_limits,
            // Room for a batch of 5001 small jobs (tests/batch.rs).
            body_limit: 128 * 1024,
            routes: crate::api::RouteLimits::default(),
            secret_key: crate::tenants::SecretKey::from_bytes(&[7; 32]),
            uploads: super::UploadParams {
                dir: uploads.path().join("uploads"),
                max_bytes: UPLOAD_LIMIT,
            },
            local,
            sign_in: super::SignInCodes::new(),
            console_dir: None,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port on loopback");
        let address = listener.local_addr().expect("the bound address");
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move { stopped.cancelled().await })
            .await
            .expect("the test server runs");
        });
        Server {
            base: format!("http://{address}"),
            client: reqwest::Client::new(),
            store,
            stop,
            task,
            uploads,
        }
    }

    async fn finish(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.text().await.expect("a body");
        // The health document keeps its shape when a check fails (503).
        let health_report = path == "/api/v1/health" && status == StatusCode::SERVICE_UNAVAILABLE;
        if (status.is_client_error() || status.is_server_error()) && !health_report {
            assert_eq!(
                content_type, "application/problem+json",
                "{status} {path}: errors are problem documents: {text}"
            );
        }
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Creates a token as the admin; returns (id, secret).
    async fn token(&self, tenant: Option<&str>, access: &str) -> (String, String) {
        let (status, body) = self
            .post(
                "/api/v1/tokens",
                ADMIN,
                json!({"name": "test", "tenant": tenant, "access": access}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["id"].as_str().expect("an id").to_owned(),
            body["secret"].as_str().expect("a secret").to_owned(),
        )
    }

    async fn enqueue(&self, tenant: Option<&str>) -> JobId {
        let mut job = NewJob::new("noop", json!({}));
        job.tenant = tenant.map(str::to_owned);
        self.store.job_enqueue(job).await.expect("enqueue").id
    }
}

crate::store::testing::for_each_store!(
    every_protected_route_refuses_missing_wrong_short_expired_and_revoked_tokens,
    read_tokens_cannot_write_and_tenant_tokens_see_only_their_tenant,
    jobs_are_created_shown_cancelled_and_retried,
    bad_input_is_answered_with_problem_documents,
    paging_neither_skips_nor_repeats_while_jobs_are_added,
    log_stream_resumes_with_last_event_id_without_loss_or_repeat,
    plugin_actions_answer_202_with_their_job,
    tokens_are_shown_once_listed_and_revoked,
    rate_limits_answer_429_with_retry_after,
    an_address_pays_only_for_requests_without_a_valid_token,
    a_batch_weighs_on_its_tokens_limit_by_its_size,
    metrics_and_health_answer,
    tenants_and_configs_are_created_shown_replaced_run_and_deleted,
    tenant_tokens_reach_only_their_tenant_and_read_tokens_cannot_write,
    config_problems_name_each_failing_field,
    events_fan_out_and_repeat_by_idempotency_key,
    uploads_are_admin_only_capped_and_become_install_jobs,
    the_nul_character_is_refused_in_bodies_queries_and_paths,
);

/// No store keeps U+0000 in text (PostgreSQL cannot): it is refused on both stores alike, with
/// where it was, before it reaches the store.
async fn the_nul_character_is_refused_in_bodies_queries_and_paths(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    let (status, problem) = server.get("/api/v1/jobs?queue=x&kind=a%00b", ADMIN).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], json!("kind"), "{problem}");
    let (status, problem) = server.get("/api/v1/tenants/a%00b", ADMIN).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (status, problem) = server
        .post(
            "/api/v1/jobs",
            ADMIN,
            json!({"kind": "noop", "payload": {"note": "a\u{0}b"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["errors"][0]["pointer"],
        json!("/payload/note"),
        "{problem}"
    );
    let (_, page) = server.get("/api/v1/jobs", ADMIN).await;
    assert_eq!(page["jobs"], json!([]), "nothing was stored: {page}");
    server.finish().await;
}

mod batch;
mod console;
mod forged_runs;
mod nodes_and_configs;
mod plugin_consent;
mod raw_http;
mod stream_caps;
mod streams;

/// Every documented operation, with a concrete path.
fn documented_operations() -> Vec<(Method, String)> {
    let document = serde_json::to_value(super::openapi()).expect("the document serialises");
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            operations.push((
                method,
                path.replace("{id}", "1").replace("{tenant}", "acme"),
            ));
        }
    }
    operations
}

async fn every_protected_route_refuses_missing_wrong_short_expired_and_revoked_tokens(
    store: Arc<dyn Store>,
) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    let (revoked_id, revoked) = server.token(None, "write").await;
    let (status, _) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{revoked_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let expired = crate::api::auth::mint_secret(crate::api::auth::TOKEN_PREFIX);
    store
        .token_create(crate::store::NewApiToken {
            id: "tok_expired".to_owned(),
            name: "expired".to_owned(),
            hash: crate::api::auth::hash_secret(&expired),
            tenant: None,
            access: crate::store::TokenAccess::Write,
            expires_at: Some(crate::store::Timestamp::now().plus(Duration::from_millis(1))),
        })
        .await
        .unwrap();
    // Past its expiry: wait on the clock, not on a guess.
    while crate::store::Timestamp::now()
        <= store
            .token_find_by_hash(&crate::api::auth::hash_secret(&expired))
            .await
            .unwrap()
            .unwrap()
            .expires_at
            .unwrap()
    {
        tokio::task::yield_now().await;
    }
    let wrong = crate::api::auth::mint_secret(crate::api::auth::TOKEN_PREFIX);
    let cases: [(Option<&str>, &str); 6] = [
        (None, "needs a token"),
        (Some(&wrong), "not the admin token nor a known API token"),
        (Some("short"), "too short"),
        (Some(&expired), "expired"),
        (Some(&revoked), "revoked"),
        (
            Some("x-not-a-plugboard-token-but-long-enough-to-pass"),
            "not the admin token",
        ),
    ];
    for (method, path) in documented_operations() {
        if method == Method::POST && path == "/api/v1/session" {
            // Signing in brings a one-time code instead of a token (tests/console.rs).
            continue;
        }
        for (token, says) in &cases {
            let (status, body) = server.call(method.clone(), &path, *token, None).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}: {body}"
            );
            assert_eq!(body["type"], json!("urn:plugboard:problem:unauthorized"));
            assert!(
                body["detail"].as_str().unwrap().contains(says),
                "{method} {path}: {body}"
            );
        }
    }
    server.finish().await;
}

async fn read_tokens_cannot_write_and_tenant_tokens_see_only_their_tenant(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    let (_, read) = server.token(None, "read").await;
    let (_, acme) = server.token(Some("acme"), "write").await;
    let (_, acme_read) = server.token(Some("acme"), "read").await;
    let acme_job = server.enqueue(Some("acme")).await;
    let globex_job = server.enqueue(Some("globex")).await;

    // A read token is refused on every operation that is not a GET.
    for (method, path) in documented_operations() {
        // Signing in needs no token, and any token may sign out (tests/console.rs).
        if method == Method::GET || path == "/api/v1/session" {
            continue;
        }
        for token in [&read, &acme_read] {
            let (status, body) = server
                .call(method.clone(), &path, Some(token), Some(json!({})))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
            assert!(
                body["detail"].as_str().unwrap().contains("may only read"),
                "{body}"
            );
        }
    }
    // A tenant token sees its tenant's jobs and not the other's.
    let (status, page) = server.get("/api/v1/jobs", &acme).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<i64> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [acme_job.0]);
    let (status, _) = server.get(&format!("/api/v1/jobs/{acme_job}"), &acme).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        format!("/api/v1/jobs/{globex_job}"),
        format!("/api/v1/jobs/{globex_job}/logs"),
    ] {
        let (status, body) = server.get(&path, &acme).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    for action in ["cancel", "retry"] {
        let (status, _) = server
            .post(
                &format!("/api/v1/jobs/{globex_job}/{action}"),
                &acme,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}");
    }
    let (status, _) = server.get("/api/v1/jobs?tenant=globex", &acme).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A tenant token enqueues plugin.run jobs of its tenant only, and no built-in kind.
    let (status, body) = server
        .post("/api/v1/jobs", &acme, json!({"kind": "noop"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = server
        .post(
            "/api/v1/jobs",
            &acme,
            json!({"kind": "plugin.run", "payload": {"plugin": "hello"}, "tenant": "globex"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = server
        .post(
            "/api/v1/jobs",
            &acme,
            json!({"kind": "plugin.run", "payload": {"plugin": "hello"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["tenant"], json!("acme"));
    assert_eq!(body["payload"]["tenant"], json!("acme"));
    // Plugin actions and tokens are not for tenant tokens.
    let (status, _) = server
        .post("/api/v1/plugins/hello/disable", &acme, json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.get("/api/v1/tokens", &acme).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.finish().await;
}

async fn jobs_are_created_shown_cancelled_and_retried(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    let (status, job) = server
        .post(
            "/api/v1/jobs",
            ADMIN,
            json!({"kind": "noop", "payload": {"n": 1}, "queue": "mail", "priority": 5,
                   "run_at": "2099-01-01T00:00:00Z", "max_attempts": 2, "timeout_ms": 1000,
                   "unique_key": "once"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["status"], json!("queued"));
    assert_eq!(job["queue"], json!("mail"));
    assert_eq!(job["run_at"], json!("2099-01-01T00:00:00.000000Z"));
    let id = job["id"].as_i64().unwrap();
    let (status, again) = server
        .post(
            "/api/v1/jobs",
            ADMIN,
            json!({"kind": "noop", "unique_key": "once"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a known unique key answers the first job"
    );
    assert_eq!(again["id"], json!(id));
    let (status, shown) = server.get(&format!("/api/v1/jobs/{id}"), ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["payload"], json!({"n": 1}));
    let (status, retried) = server
        .post(&format!("/api/v1/jobs/{id}/retry"), ADMIN, json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a queued job is not retried: {retried}"
    );
    let (status, cancelled) = server
        .post(&format!("/api/v1/jobs/{id}/cancel"), ADMIN, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["outcome"], json!("cancelled"));
    assert_eq!(cancelled["job"]["status"], json!("cancelled"));
    let (status, retried) = server
        .post(&format!("/api/v1/jobs/{id}/retry"), ADMIN, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(retried["status"], json!("queued"));
    let (status, page) = server
        .get("/api/v1/jobs?status=queued&kind=noop&queue=mail", ADMIN)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(page["next_cursor"], Value::Null);
    let (status, page) = server.get("/api/v1/jobs?queue=other", ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["jobs"], json!([]));
    let (status, page) = server
        .get("/api/v1/jobs?created_after=2099-01-01T00:00:00Z", ADMIN)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["jobs"], json!([]));
    let (status, _) = server.get("/api/v1/jobs/999999", ADMIN).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.finish().await;
}

async fn bad_input_is_answered_with_problem_documents(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    let raw = |body: &'static str, content_type: &'static str| {
        server
            .client
            .post(format!("{}/api/v1/jobs", server.base))
            .bearer_auth(ADMIN)
            .header("content-type", content_type)
            .body(body)
    };
    let response = raw("{\"kind\": \"noop\",\n \"payload\": {", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let problem: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(problem["type"], json!("urn:plugboard:problem:bad-request"));
    assert!(
        problem["detail"].as_str().unwrap().contains("line 2"),
        "malformed JSON says where: {problem}"
    );
    let response = raw("{}", "text/plain").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let big = format!(
        "{{\"kind\": \"noop\", \"payload\": \"{}\"}}",
        "x".repeat(200 * 1024)
    );
    let response = server
        .client
        .post(format!("{}/api/v1/jobs", server.base))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let (status, problem) = server
        .post(
            "/api/v1/jobs",
            ADMIN,
            json!({"kind": "noop", "max_attempts": "three"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem["errors"][0]["pointer"],
        json!("/max_attempts"),
        "{problem}"
    );
    let (status, problem) = server
        .post("/api/v1/jobs", ADMIN, json!({"kind": "nope"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["pointer"], json!("/kind"));
    assert!(
        problem["detail"].as_str().unwrap().contains("noop"),
        "says what exists: {problem}"
    );
    let (status, problem) = server
        .post(
            "/api/v1/jobs",
            ADMIN,
            json!({"kind": "noop", "max_attempts": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["pointer"], json!("/max_attempts"));
    let (status, problem) = server
        .post(
            "/api/v1/jobs",
            ADMIN,
            json!({"kind": "noop", "surprise": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _) = server.get("/api/v1/jobs?status=lost", ADMIN).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = server.get("/api/v1/jobs?limit=many", ADMIN).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server.get("/api/v1/jobs?cursor=abc", ADMIN).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = server.get("/api/v1/jobs/abc", ADMIN).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, problem) = server.get("/api/v1/nothing-here", ADMIN).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["type"], json!("urn:plugboard:problem:not-found"));
    let (status, problem) = server
        .call(Method::PUT, "/api/v1/jobs", Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{problem}");
    server.finish().await;
}

async fn paging_neither_skips_nor_repeats_while_jobs_are_added(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    let mut existing = Vec::new();
    for _ in 0..25 {
        existing.push(server.enqueue(None).await.0);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        // Jobs keep arriving between pages.
        server.enqueue(None).await;
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/jobs?limit=4&cursor={cursor}"),
            None => "/api/v1/jobs?limit=4".to_owned(),
        };
        let (status, page) = server.get(&path, ADMIN).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for job in page["jobs"].as_array().unwrap() {
            seen.push(job["id"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let first_page_newest = seen[0];
    let expected: Vec<i64> = {
        let mut all: Vec<i64> = existing.clone();
        all.push(first_page_newest);
        all.sort_unstable_by(|a, b| b.cmp(a));
        all.dedup();
        all
    };
    assert_eq!(
        seen, expected,
        "every job up to the first page once, newest first"
    );
    server.finish().await;
}

/// Reads SSE events (`id`, `event`, `data`) until `stop` says so.
async fn read_events(
    response: reqwest::Response,
    mut stop: impl FnMut(&(Option<String>, String, String)) -> bool,
) -> Vec<(Option<String>, String, String)> {
    use futures_util::StreamExt;
    let mut events = Vec::new();
    let mut buffer = String::new();
    let mut stream = response.bytes_stream();
    let (mut id, mut event, mut data) = (None, String::new(), String::new());
    // One deadline for the whole read: keep-alive comments must not keep a stuck test waiting.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Some(chunk) = tokio::time::timeout_at(deadline, stream.next())
        .await
        .expect("the stream sends what the test waits for within 30 s")
    {
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("a chunk")));
        while let Some(end) = buffer.find('\n') {
            let line = buffer[..end].trim_end_matches('\r').to_owned();
            buffer.drain(..=end);
            if line.is_empty() {
                if !event.is_empty() || !data.is_empty() {
                    let complete = (
                        id.take(),
                        std::mem::take(&mut event),
                        std::mem::take(&mut data),
                    );
                    let done = stop(&complete);
                    events.push(complete);
                    if done {
                        return events;
                    }
                }
            } else if let Some(value) = line.strip_prefix("id:") {
                id = Some(value.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("event:") {
                event = value.trim().to_owned();
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push_str(value.trim_start());
            }
        }
    }
    events
}

async fn log_stream_resumes_with_last_event_id_without_loss_or_repeat(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    let id = server.enqueue(None).await;
    let claimed = store
        .job_claim(ClaimParams {
            queue: "default".to_owned(),
            owner: "test".to_owned(),
            limit: 1,
            lease: Duration::from_secs(60),
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let line = |n: usize| NewLogLine {
        level: LogLevel::Info,
        message: format!("line {n}"),
    };
    store
        .log_append(id, (1..=5).map(line).collect())
        .await
        .unwrap();
    let url = format!("{}/api/v1/jobs/{id}/logs", server.base);
    let response = server
        .client
        .get(&url)
        .bearer_auth(ADMIN)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Read three lines, then drop the connection mid-stream.
    let first = read_events(response, |event| event.0.as_deref() == Some("3")).await;
    let last_id = first.last().unwrap().0.clone().unwrap();
    // Lines written while the client is away, and after it is back.
    store
        .log_append(id, (6..=8).map(line).collect())
        .await
        .unwrap();
    let response = server
        .client
        .get(&url)
        .bearer_auth(ADMIN)
        .header("accept", "text/event-stream")
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .log_append(id, (9..=10).map(line).collect())
                .await
                .unwrap();
            store
                .job_finish_many(vec![JobFinish {
                    id,
                    owner: "test".to_owned(),
                    attempt: 1,
                    outcome: FinishOutcome::Succeeded { result: None },
                }])
                .await
                .unwrap();
        })
    };
    let second = read_events(response, |event| event.1 == "end").await;
    writer.await.unwrap();
    let mut messages = Vec::new();
    for (event_id, kind, data) in first.iter().chain(second.iter()) {
        if kind == "log" {
            let line: Value = serde_json::from_str(data).unwrap();
            assert_eq!(event_id.as_deref(), Some(line["seq"].to_string().as_str()));
            messages.push(line["message"].as_str().unwrap().to_owned());
        }
    }
    let expected: Vec<String> = (1..=10).map(|n| format!("line {n}")).collect();
    assert_eq!(messages, expected, "every line exactly once, in order");
    let end = second.last().unwrap();
    assert_eq!(end.1, "end");
    assert_eq!(
        serde_json::from_str::<Value>(&end.2).unwrap()["status"],
        json!("succeeded")
    );

    // The same log as JSON pages.
    let (status, page) = server
        .get(
            &format!("/api/v1/jobs/{id}/logs?after_seq=8&limit=5"),
            ADMIN,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["lines"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_after_seq"], json!(10));
    assert_eq!(page["status"], json!("succeeded"));
    server.finish().await;
}

async fn plugin_actions_answer_202_with_their_job(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    let (_, global_write) = server.token(None, "write").await;
    let (status, body) = server.get("/api/v1/plugins", &global_write).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["plugins"], json!([]));
    let (status, _) = server.get("/api/v1/plugins/hello", &global_write).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let calls = [
        (
            Method::POST,
            "/api/v1/plugins",
            json!({"source": "https://example.test/hello.tar.gz", "sha256": "a".repeat(64)}),
            "plugin.install",
        ),
        (
            Method::POST,
            "/api/v1/plugins/hello/update",
            json!({"version": "1.0.0"}),
            "plugin.update",
        ),
        (
            Method::POST,
            "/api/v1/plugins/hello/rollback",
            json!({}),
            "plugin.rollback",
        ),
        (
            Method::POST,
            "/api/v1/plugins/hello/enable",
            json!({}),
            "plugin.enable",
        ),
        (
            Method::POST,
            "/api/v1/plugins/hello/disable",
            json!({}),
            "plugin.disable",
        ),
        (
            Method::DELETE,
            "/api/v1/plugins/hello?delete_data=true",
            json!({}),
            "plugin.uninstall",
        ),
    ];
    for (method, path, body, kind) in calls {
        let (status, job) = server
            .call(method, path, Some(&global_write), Some(body))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{path}: {job}");
        assert_eq!(job["kind"], json!(kind));
        assert_eq!(job["status"], json!("queued"));
    }
    let (status, problem) = server
        .post("/api/v1/plugins", ADMIN, json!({"source": "relative/path"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["pointer"], json!("/source"));
    let (status, _) = server
        .post("/api/v1/plugins/hello/update", ADMIN, json!({}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    server.finish().await;
}

async fn tokens_are_shown_once_listed_and_revoked(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    let (status, created) = server
        .post(
            "/api/v1/tokens",
            ADMIN,
            json!({"name": "ci", "tenant": "acme", "access": "read", "expires_in_seconds": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pb_") && secret.len() == 67, "{secret}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, list) = server.get("/api/v1/tokens", ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["tokens"][0]["id"], json!(id));
    assert!(
        list["tokens"][0].get("secret").is_none(),
        "never shown again"
    );
    assert!(!list.to_string().contains(&secret));
    let stored = store
        .token_find_by_hash(&crate::api::auth::hash_secret(&secret))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.hash, secret, "only the hash is stored");
    let (status, _) = server.get("/api/v1/jobs", &secret).await;
    assert_eq!(status, StatusCode::OK);
    let (status, revoked) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked["revoked_at"].is_string());
    let (status, _) = server.get("/api/v1/jobs", &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .call(
            Method::DELETE,
            "/api/v1/tokens/tok_missing",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, problem) = server
        .post(
            "/api/v1/tokens",
            ADMIN,
            json!({"name": "x", "access": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["pointer"], json!("/access"));
    server.finish().await;
}

async fn rate_limits_answer_429_with_retry_after(store: Arc<dyn Store>) {
    let server = Server::start(
        store,
        RateLimitSettings {
            per_token: 1,
            per_address: 0,
            burst: 3,
        },
    )
    .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let response = server
            .client
            .get(format!("{}/api/v1/jobs", server.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|value| value.to_str().unwrap().to_owned());
            let problem: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
            assert_eq!(problem["type"], json!("urn:plugboard:problem:rate-limited"));
        }
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    // The probes are not limited.
    for _ in 0..5 {
        let response = server
            .client
            .get(format!("{}/livez", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    server.finish().await;
}

/// A busy client with a valid token is limited by its token alone; the address's bucket is for
/// guesses and floods, and once spent it refuses even a valid token before looking it up.
async fn an_address_pays_only_for_requests_without_a_valid_token(store: Arc<dyn Store>) {
    let server = Server::start(
        store,
        RateLimitSettings {
            per_token: 0,
            per_address: 1,
            burst: 2,
        },
    )
    .await;
    for _ in 0..10 {
        let (status, _) = server.get("/api/v1/jobs", ADMIN).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "a valid token does not spend the address"
        );
    }
    let wrong = "pb_wrong-token-that-is-long-enough-0000";
    let statuses = [
        server.get("/api/v1/jobs", wrong).await.0,
        server.get("/api/v1/jobs", wrong).await.0,
        server.get("/api/v1/jobs", wrong).await.0,
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let (status, problem) = server.get("/api/v1/jobs", ADMIN).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("this client address")),
        "{problem}"
    );
    server.finish().await;
}

/// A batch is admitted like any request, then weighs one more request for every 50 jobs: the
/// token's next requests wait until its rate has paid that back.
async fn a_batch_weighs_on_its_tokens_limit_by_its_size(store: Arc<dyn Store>) {
    let server = Server::start(
        store,
        RateLimitSettings {
            per_token: 1,
            per_address: 0,
            burst: 10,
        },
    )
    .await;
    let jobs: Vec<Value> = (0..500)
        .map(|n| json!({"kind": "noop", "queue": "weighed", "payload": {"n": n}}))
        .collect();
    let (status, answer) = server
        .post("/api/v1/jobs/batch", ADMIN, json!({"jobs": jobs}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["created"], json!(500));
    // 10 - 1 - 500/50 = -1 left: two seconds at one a second until a request fits.
    let response = server
        .client
        .get(format!("{}/api/v1/jobs", server.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        Some("2")
    );
    server.finish().await;
}

async fn metrics_and_health_answer(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    server.enqueue(None).await;
    let (status, _) = server.get("/api/v1/jobs", ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    let response = server
        .client
        .get(format!("{}/metrics", server.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Every answer says how long the server took, for the browser's network panel.
    let timing = response
        .headers()
        .get("server-timing")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let duration: f64 = timing
        .strip_prefix("app;dur=")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("Server-Timing `{timing}` is not app;dur=MS"));
    assert!((0.0..60_000.0).contains(&duration), "{timing}");
    let text = response.text().await.unwrap();
    assert!(
        text.contains("plugboard_jobs{queue=\"default\",status=\"queued\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("plugboard_queue_depth{queue=\"default\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "plugboard_http_requests_total{route=\"/api/v1/jobs\",method=\"GET\",status=\"200\"} 1"
        ),
        "{text}"
    );
    let (status, _) = server.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = server
        .client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _) = server.call(Method::GET, "/api/v1/health", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.finish().await;
}

/// `docs/openapi.json` is what the server serves before plugins add routes, so that every change
/// of the API shows up in review and clients can be generated without a server.
#[test]
fn docs_openapi_json_is_the_servers_document() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let served = format!(
        "{}\n",
        serde_json::to_string_pretty(&super::openapi()).expect("the document serialises")
    );
    if std::env::var_os("PLUGBOARD_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &served).expect("docs/openapi.json is writable");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == served,
        "docs/openapi.json differs from the document the server serves: run \
         `PLUGBOARD_UPDATE_OPENAPI=1 cargo nextest run -p plugboard docs_openapi_json`, \
         review the change and commit it"
    );
}

#[tokio::test]
async fn every_route_is_in_the_openapi_document() {
    let document = serde_json::to_value(super::openapi()).unwrap();
    assert_eq!(document["openapi"], json!("3.1.0"));
    let paths = document["paths"].as_object().unwrap();
    // Every operation has an id of its own.
    let mut ids = std::collections::HashSet::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation
                .get("operationId")
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                ids.insert(id.clone()),
                "{method} {path}: operationId {id} is taken"
            );
        }
    }
    assert!(ids.contains(&json!("get_job")), "{ids:?}");
    // Routes are registered with `.route(` only for the undocumented list; everything else goes
    // through `routes!`, which documents it. Look at the source for any other `.route(`.
    let sources = [
        include_str!("mod.rs"),
        include_str!("jobs.rs"),
        include_str!("plugins.rs"),
        include_str!("tenants.rs"),
        include_str!("events.rs"),
        include_str!("tokens.rs"),
        include_str!("nodes.rs"),
        include_str!("health.rs"),
        include_str!("metrics.rs"),
        include_str!("docs.rs"),
    ];
    let needle = concat!(".route", "(\"");
    for source in sources {
        for (index, _) in source.match_indices(needle) {
            let rest = &source[index + needle.len()..];
            let path = &rest[..rest.find('"').unwrap()];
            assert!(
                super::UNDOCUMENTED_ROUTES.contains(&path) || paths.contains_key(path),
                "route {path} is not in the OpenAPI document; register it with routes!"
            );
        }
    }
    // Every documented operation is served (answers something other than the 404 fallback).
    let test_store = crate::store::testing::TestStore::sqlite().await;
    let server = Server::start(test_store.store.clone(), NO_LIMITS).await;
    for (method, path) in documented_operations() {
        let (status, body) = server
            .call(method.clone(), &path, Some(ADMIN), Some(json!({})))
            .await;
        assert!(
            !(status == StatusCode::NOT_FOUND
                && body["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("the API's routes are listed")),
            "{method} {path} is documented but not routed: {body}"
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    for path in [
        "/api/v1/openapi.json",
        "/api/v1/docs",
        "/api/v1/docs/assets/redoc.standalone.js",
    ] {
        let response = server
            .client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path} needs no token");
        if path == "/api/v1/docs" {
            let html = response.text().await.unwrap();
            for (index, _) in html.match_indices("src=\"") {
                let source = &html[index + 5..];
                assert!(
                    source.starts_with('/'),
                    "the page loads only from this server: {html}"
                );
            }
            assert!(
                !html.contains("https://") && !html.contains("http://"),
                "{html}"
            );
        }
    }
    server.finish().await;
    test_store.finish().await;
}

fn uptime_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": {"type": "string", "pattern": "^https?://"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "token": {"type": "string", "writeOnly": true}
        },
        "additionalProperties": false
    })
}

/// Puts the metadata of plugin `uptime` with its config schema straight into the store, as a
/// handshake would have, and creates tenants `acme` and `globex` as the admin.
async fn tenants_setup(server: &Server) {
    server
        .store
        .plugin_metadata_put(crate::store::PluginMetadataRecord {
            plugin: "uptime".into(),
            version: "1.0.0".into(),
            checksum: "abc".into(),
            state: crate::store::MetadataState::Fresh,
            metadata: Some(json!({"configSchema": uptime_schema()})),
            error: None,
            updated_at: crate::store::Timestamp(0),
        })
        .await
        .unwrap();
    for tenant in ["acme", "globex"] {
        let (status, body) = server
            .post(
                "/api/v1/tenants",
                ADMIN,
                json!({"id": tenant, "name": tenant.to_uppercase()}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

/// Creates a config of `uptime` for `tenant`; returns its id.
async fn create_config(server: &Server, tenant: &str, name: &str, events: Value) -> String {
    let (status, body) = server
        .post(
            &format!("/api/v1/tenants/{tenant}/configs"),
            ADMIN,
            json!({
                "plugin": "uptime",
                "name": name,
                "values": {"url": "https://example.com", "token": "s3cret"},
                "schedule": {"interval_seconds": 300},
                "events": events,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn tenants_and_configs_are_created_shown_replaced_run_and_deleted(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    tenants_setup(&server).await;
    let (status, body) = server.get("/api/v1/tenants/acme", ADMIN).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], json!("ACME"));
    let (status, body) = server.get("/api/v1/tenants", ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = body["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tenant| tenant["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme", "globex"]);
    let (status, body) = server
        .post("/api/v1/tenants", ADMIN, json!({"id": "acme"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let id = create_config(&server, "acme", "main", json!([])).await;
    // The secret is sealed and never answered.
    let (status, config) = server.get(&format!("/api/v1/configs/{id}"), ADMIN).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["values"]["token"], json!("********"));
    assert_eq!(config["values"]["url"], json!("https://example.com"));
    assert_eq!(config["next_fires"].as_array().unwrap().len(), 5);
    assert!(!config.to_string().contains("s3cret"), "{config}");
    let (status, list) = server.get("/api/v1/tenants/acme/configs", ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["configs"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("s3cret"), "{list}");
    // A second create of the same name is refused and points at PUT.
    let (status, body) = server
        .post(
            "/api/v1/tenants/acme/configs",
            ADMIN,
            json!({"plugin": "uptime", "name": "main", "values": {"url": "https://x.org"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("PUT"), "{body}");

    let (status, fires) = server
        .get(&format!("/api/v1/configs/{id}/next-fires?count=3"), ADMIN)
        .await;
    assert_eq!(status, StatusCode::OK, "{fires}");
    assert_eq!(fires["fires"].as_array().unwrap().len(), 3);
    let (status, body) = server
        .get(&format!("/api/v1/configs/{id}/next-fires?count=0"), ADMIN)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // A schedule not saved yet: the fires saving it would give. An interval counts from the
    // config's creation when it is for that config, from now for a new one.
    let created = super::time::parse(config["created_at"].as_str().unwrap()).unwrap();
    let (status, preview) = server
        .post(
            "/api/v1/schedules/next-fires",
            ADMIN,
            json!({"schedule": {"interval_seconds": 7200}, "config": id, "count": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let fires: Vec<i64> = preview["fires"]
        .as_array()
        .unwrap()
        .iter()
        .map(|fire| super::time::parse(fire.as_str().unwrap()).unwrap().0)
        .collect();
    assert_eq!(
        fires,
        [created.0 + 7_200_000_000, created.0 + 14_400_000_000],
        "{preview}"
    );
    let (status, preview) = server
        .post(
            "/api/v1/schedules/next-fires",
            ADMIN,
            json!({"schedule": {"cron": "0 9 * * MON-FRI", "timezone": "Europe/Berlin"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let fires = preview["fires"].as_array().unwrap();
    assert_eq!(fires.len(), 5, "{preview}");
    for fire in fires {
        let fire = fire.as_str().unwrap();
        // 09:00 in Berlin is 08:00 UTC in winter, 07:00 in summer.
        assert!(
            fire.contains("T08:00:00") || fire.contains("T07:00:00"),
            "{fire}"
        );
    }
    // A bad schedule answers the field errors a save would; a paused one has no fires.
    let (status, problem) = server
        .post(
            "/api/v1/schedules/next-fires",
            ADMIN,
            json!({"schedule": {"cron": "61 * * * *"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["errors"][0]["pointer"], "/schedule/cron",
        "{problem}"
    );
    let (status, preview) = server
        .post(
            "/api/v1/schedules/next-fires",
            ADMIN,
            json!({"schedule": {"interval_seconds": 60, "paused": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["fires"], json!([]));
    // Another tenant's config is not there for a tenant's token.
    let (_, globex) = server.token(Some("globex"), "write").await;
    let (status, _) = server
        .post(
            "/api/v1/schedules/next-fires",
            &globex,
            json!({"schedule": {"interval_seconds": 60}, "config": id}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // PUT replaces; a secret sent as ******** keeps its value.
    let (status, replaced) = server
        .call(
            Method::PUT,
            &format!("/api/v1/configs/{id}"),
            Some(ADMIN),
            Some(json!({
                "values": {"url": "https://example.org", "port": 8443, "token": "********"},
                "schedule": {"cron": "0 9 * * MON-FRI", "timezone": "Europe/Berlin"},
                "events": ["form.*"],
                "enabled": true,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["values"]["port"], json!(8443));
    assert_eq!(replaced["events"], json!(["form.*"]));
    assert_eq!(replaced["schedule"]["cron"], json!("0 9 * * MON-FRI"));
    let stored = server.store.config_get(&id).await.unwrap().unwrap();
    let tenants = crate::tenants::Tenants::new(
        server.store.clone(),
        crate::tenants::SecretKey::from_bytes(&[7; 32]),
    );
    assert_eq!(
        tenants.open_values(&stored).unwrap()["token"],
        json!("s3cret")
    );

    let (status, check) = server
        .post(&format!("/api/v1/configs/{id}/validate"), ADMIN, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(check, json!({"valid": true, "problems": []}));

    let (status, job) = server
        .post(&format!("/api/v1/configs/{id}/run"), ADMIN, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["kind"], json!("plugin.run"));
    assert_eq!(job["tenant"], json!("acme"));
    assert_eq!(job["config"], json!(id));
    assert!(
        !job.to_string().contains("s3cret"),
        "the job carries sealed values: {job}"
    );

    let (status, _) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/configs/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.get(&format!("/api/v1/configs/{id}"), ADMIN).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .call(Method::DELETE, "/api/v1/tenants/globex", Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = server.get("/api/v1/tenants/globex", ADMIN).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    server.finish().await;
}

async fn tenant_tokens_reach_only_their_tenant_and_read_tokens_cannot_write(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    tenants_setup(&server).await;
    let globex_config = create_config(&server, "globex", "main", json!([])).await;
    let acme_config = create_config(&server, "acme", "main", json!([])).await;
    let (_, global_write) = server.token(None, "write").await;
    let (_, global_read) = server.token(None, "read").await;
    let (_, acme) = server.token(Some("acme"), "write").await;
    let (_, acme_read) = server.token(Some("acme"), "read").await;

    // Missing and wrong tokens.
    let (status, _) = server
        .call(Method::GET, "/api/v1/tenants", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let wrong = crate::api::auth::mint_secret(crate::api::auth::TOKEN_PREFIX);
    let (status, _) = server.get("/api/v1/tenants/acme/configs", &wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Creating and deleting tenants: admin and global write tokens only.
    let (status, body) = server
        .post("/api/v1/tenants", &global_write, json!({"id": "initech"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for token in [&acme, &global_read] {
        let (status, body) = server
            .post("/api/v1/tenants", token, json!({"id": "hooli"}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (status, _) = server
        .call(Method::DELETE, "/api/v1/tenants/acme", Some(&acme), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A tenant token sees its tenant only; the other answers 404 everywhere.
    let (status, body) = server.get("/api/v1/tenants", &acme_read).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["tenants"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["tenants"][0]["id"], json!("acme"));
    for path in [
        "/api/v1/tenants/globex".to_owned(),
        "/api/v1/tenants/globex/configs".to_owned(),
        format!("/api/v1/configs/{globex_config}"),
        format!("/api/v1/configs/{globex_config}/next-fires"),
    ] {
        let (status, body) = server.get(&path, &acme).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    for path in [
        format!("/api/v1/configs/{globex_config}/run"),
        format!("/api/v1/configs/{globex_config}/validate"),
        "/api/v1/tenants/globex/configs".to_owned(),
    ] {
        let (status, body) = server
            .post(
                &path,
                &acme,
                json!({"plugin": "uptime", "name": "x", "values": {"url": "https://x.org"}}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, _) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/configs/{globex_config}"),
            Some(&acme),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(server
        .store
        .config_get(&globex_config)
        .await
        .unwrap()
        .is_some());
    // Its own tenant's configs it reads, runs and writes.
    let (status, body) = server.get("/api/v1/tenants/acme/configs", &acme_read).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .post(
            &format!("/api/v1/configs/{acme_config}/run"),
            &acme,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // Read tokens cannot write.
    for token in [&acme_read, &global_read] {
        let (status, body) = server
            .post(
                &format!("/api/v1/configs/{acme_config}/run"),
                token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, body) = server
            .post(
                "/api/v1/events",
                token,
                json!({"type": "form.submitted", "tenant": "acme"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    // Events: a tenant token posts and lists its own tenant's only.
    let (status, body) = server
        .post(
            "/api/v1/events",
            &acme,
            json!({"type": "form.submitted", "tenant": "globex"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = server
        .post("/api/v1/events", &acme, json!({"type": "form.submitted"}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["event"]["tenant"], json!("acme"));
    let (status, body) = server
        .post(
            "/api/v1/events",
            ADMIN,
            json!({"type": "form.submitted", "tenant": "globex"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let globex_event = body["event_id"].as_i64().unwrap();
    let (status, body) = server.get("/api/v1/events", &acme_read).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["events"].as_array().unwrap().len(), 1, "{body}");
    let (status, _) = server.get("/api/v1/events?tenant=globex", &acme_read).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .get(&format!("/api/v1/events/{globex_event}"), &acme_read)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.finish().await;
}

async fn config_problems_name_each_failing_field(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    tenants_setup(&server).await;
    let shared = &server;
    let create = |body: Value| async move {
        shared
            .post("/api/v1/tenants/acme/configs", ADMIN, body)
            .await
    };
    // A schema violation lists each failing path under /values.
    let (status, body) = create(json!({
        "plugin": "uptime", "name": "main",
        "values": {"url": "ftp://x", "port": 70000, "extra": 1}
    }))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["type"], json!("urn:plugboard:problem:invalid"));
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["pointer"].as_str().unwrap())
        .collect();
    for expected in ["/values/url", "/values/port", "/values"] {
        assert!(pointers.contains(&expected), "{expected} missing: {body}");
    }
    assert!(body.to_string().contains("extra"), "{body}");
    // An invalid cron names the field.
    let (status, body) = create(json!({
        "plugin": "uptime", "name": "main", "values": {"url": "https://x.org"},
        "schedule": {"cron": "61 * * * *"}
    }))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["errors"][0]["pointer"],
        json!("/schedule/cron"),
        "{body}"
    );
    // An unknown time zone.
    let (status, body) = create(json!({
        "plugin": "uptime", "name": "main", "values": {"url": "https://x.org"},
        "schedule": {"cron": "0 9 * * *", "timezone": "Mars/Olympus"}
    }))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["errors"][0]["pointer"],
        json!("/schedule/timezone"),
        "{body}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("Mars/Olympus"),
        "{body}"
    );
    // An unknown schedule field, a bad event pattern, a plugin without metadata.
    let (status, body) = create(json!({
        "plugin": "uptime", "name": "main", "values": {"url": "https://x.org"},
        "schedule": {"every": 5}
    }))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["pointer"], json!("/schedule"), "{body}");
    let (status, body) = create(json!({
        "plugin": "uptime", "name": "main", "values": {"url": "https://x.org"},
        "events": ["form.*", "bad pattern"]
    }))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["pointer"], json!("/events/1"), "{body}");
    // A plugin that is not installed is an invalid field: the tenant in the path exists.
    let (status, body) = create(json!({"plugin": "nometa", "name": "main"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["pointer"], json!("/plugin"), "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("no plugin `nometa` is installed")),
        "{body}"
    );
    // Nothing was stored.
    assert!(server
        .store
        .config_find("acme", "uptime", "main")
        .await
        .unwrap()
        .is_none());
    // An unknown tenant: 404 on its routes, 422 naming `tenant` for an event, 404 for a token
    // trying to see it.
    let (status, body) = server
        .post(
            "/api/v1/tenants/nobody/configs",
            ADMIN,
            json!({"plugin": "uptime", "name": "main", "values": {"url": "https://x.org"}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = server
        .post(
            "/api/v1/events",
            ADMIN,
            json!({"type": "form.submitted", "tenant": "nobody"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("nobody"),
        "{body}"
    );
    let (status, body) = server
        .post("/api/v1/events", ADMIN, json!({"type": "form.submitted"}))
        .await;
    // A tenant token's events are its tenant's; a token of every tenant must name one.
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("name the event's tenant"),
        "{body}"
    );
    let (status, body) = server
        .post("/api/v1/tenants", ADMIN, json!({"id": "no spaces"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["pointer"], json!("/id"), "{body}");
    // PUT checks the same way.
    let id = create_config(&server, "acme", "main", json!([])).await;
    let (status, body) = server
        .call(
            Method::PUT,
            &format!("/api/v1/configs/{id}"),
            Some(ADMIN),
            Some(json!({"values": {"port": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/values/port"), "{body}");
    assert!(pointers.contains(&"/values"), "url is required: {body}");
    server.finish().await;
}

async fn events_fan_out_and_repeat_by_idempotency_key(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    tenants_setup(&server).await;
    let config = create_config(&server, "acme", "forms", json!(["form.*"])).await;
    create_config(&server, "acme", "other", json!(["billing.*"])).await;
    let event = json!({
        "type": "form.submitted", "tenant": "acme",
        "payload": {"form": 7}, "idempotency_key": "submission-7"
    });
    let (status, first) = server.post("/api/v1/events", ADMIN, event.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["created"], json!(true));
    assert_eq!(first["jobs"], json!(1));
    assert_eq!(first["event"]["type"], json!("form.submitted"));
    assert_eq!(first["event"]["deliveries"], json!(1));
    let (status, again) = server.post("/api/v1/events", ADMIN, event).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["created"], json!(false));
    assert_eq!(again["jobs"], json!(0));
    assert_eq!(again["event_id"], first["event_id"]);
    let (status, jobs) = server.get("/api/v1/jobs?tenant=acme", ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    let configs: Vec<&Value> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| &job["config"])
        .collect();
    assert_eq!(configs, [&json!(config)], "{jobs}");
    // Listing: filters and paging.
    for n in 0..3 {
        let (status, body) = server
            .post(
                "/api/v1/events",
                ADMIN,
                json!({"type": "billing.paid", "tenant": "acme", "payload": {"n": n}}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let (status, page) = server
        .get(
            "/api/v1/events?tenant=acme&type=billing.paid&limit=2",
            ADMIN,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    assert_eq!(page["events"][0]["payload"], json!({"n": 2}));
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (status, rest) = server
        .get(
            &format!("/api/v1/events?tenant=acme&type=billing.paid&limit=2&cursor={cursor}"),
            ADMIN,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    let (status, shown) = server
        .get(&format!("/api/v1/events/{}", first["event_id"]), ADMIN)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["idempotency_key"], json!("submission-7"));
    server.finish().await;
}

impl Server {
    /// POSTs `bytes` as `content_type`; `chunked` leaves `Content-Length` out.
    async fn upload(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        bytes: Vec<u8>,
        chunked: bool,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request = if chunked {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes
                .chunks(8 * 1024)
                .map(|chunk| Ok(chunk.to_vec()))
                .collect();
            request.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
        } else {
            request.body(bytes)
        };
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The files in the uploads folder.
    fn uploads(&self) -> Vec<std::path::PathBuf> {
        match std::fs::read_dir(self.uploads.path().join("uploads")) {
            Ok(entries) => entries.map(|entry| entry.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

async fn uploads_are_admin_only_capped_and_become_install_jobs(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    let archive = b"\x1f\x8b not really a package, the job would find out".to_vec();
    let sha256 = crate::plugins::package::hex(&<sha2::Sha256 as sha2::Digest>::digest(&archive));
    let (_, read) = server.token(None, "read").await;
    let (_, write) = server.token(None, "write").await;
    let (_, tenant) = server.token(Some("acme"), "write").await;
    let refusals = [
        (None, StatusCode::UNAUTHORIZED, "needs a token"),
        (Some(read.as_str()), StatusCode::FORBIDDEN, "may only read"),
        (
            Some(write.as_str()),
            StatusCode::FORBIDDEN,
            "only the admin token",
        ),
        (
            Some(tenant.as_str()),
            StatusCode::FORBIDDEN,
            "scoped to tenant acme",
        ),
    ];
    for path in ["/api/v1/plugins", "/api/v1/plugins/hello/update"] {
        for (token, status, says) in &refusals {
            let (answered, body) = server
                .upload(path, *token, "application/gzip", archive.clone(), false)
                .await;
            assert_eq!(answered, *status, "{path} {token:?}: {body}");
            assert!(body["detail"].as_str().unwrap().contains(says), "{body}");
        }
    }
    assert!(server.uploads().is_empty());

    // The admin's upload becomes a plugin.install job whose source is the staged file.
    let (status, job) = server
        .upload(
            &format!("/api/v1/plugins?sha256={sha256}"),
            Some(ADMIN),
            "application/gzip",
            archive.clone(),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["kind"], json!("plugin.install"));
    assert_eq!(job["payload"]["sha256"], json!(sha256));
    // The store keeps the package for the job, whichever node runs it; no file stays here.
    let source = std::path::PathBuf::from(job["payload"]["source"].as_str().unwrap());
    let name = source.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("upload-"), "{source:?}");
    assert_eq!(
        server.store.upload_get(name).await.unwrap(),
        Some((sha256.clone(), archive.clone()))
    );
    assert!(server.uploads().is_empty());
    let (status, job) = server
        .upload(
            "/api/v1/plugins/hello/update?allow_downgrade=true",
            Some(ADMIN),
            "application/octet-stream",
            archive.clone(),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["kind"], json!("plugin.update"));
    assert_eq!(job["payload"]["plugin"], json!("hello"));
    assert_eq!(job["payload"]["allow_downgrade"], json!(true));
    assert!(server.uploads().is_empty());

    // Refused uploads leave nothing behind.
    let (status, problem) = server
        .upload(
            &format!("/api/v1/plugins?sha256={}", "0".repeat(64)),
            Some(ADMIN),
            "application/gzip",
            archive.clone(),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], json!("sha256"));
    assert!(
        problem["detail"].as_str().unwrap().contains(&sha256),
        "{problem}"
    );
    let (status, problem) = server
        .upload(
            "/api/v1/plugins?sha256=xyz",
            Some(ADMIN),
            "application/gzip",
            archive.clone(),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    // A name to show as the source: no control characters, none that turn the text around.
    for name in [
        "",
        "evil%0Aname",
        "gpj.%E2%80%AEexe.tar.gz",
        &"n".repeat(256),
    ] {
        let (status, problem) = server
            .upload(
                &format!("/api/v1/plugins?filename={name}"),
                Some(ADMIN),
                "application/gzip",
                archive.clone(),
                false,
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {problem}"
        );
        assert_eq!(
            problem["errors"][0]["pointer"],
            json!("filename"),
            "{problem}"
        );
    }
    let large = vec![7u8; UPLOAD_LIMIT as usize + 1];
    for chunked in [false, true] {
        let (status, problem) = server
            .upload(
                "/api/v1/plugins",
                Some(ADMIN),
                "application/zip",
                large.clone(),
                chunked,
            )
            .await;
        assert_eq!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "chunked {chunked}: {problem}"
        );
        assert_eq!(
            problem["type"],
            json!("urn:plugboard:problem:payload-too-large")
        );
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("package_max_mb"),
            "{problem}"
        );
    }
    let (status, problem) = server
        .upload(
            "/api/v1/plugins",
            Some(ADMIN),
            "application/x-tar",
            Vec::new(),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, problem) = server
        .upload(
            "/api/v1/plugins",
            Some(ADMIN),
            "text/plain",
            archive.clone(),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{problem}");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("application/gzip"));
    let (status, problem) = server
        .call(
            Method::POST,
            &format!("/api/v1/plugins?sha256={sha256}"),
            Some(ADMIN),
            Some(json!({"source": "https://example.test/hello.tar.gz"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(server.uploads().is_empty(), "{:?}", server.uploads());
    server.finish().await;
}
