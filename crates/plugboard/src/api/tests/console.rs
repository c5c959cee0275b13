//! What the console needs from the server, over real HTTP on both stores: the one-time sign-in
//! codes and the sessions they become, what `GET /api/v1/session` says of each kind of token,
//! bulk cancel and retry, the payload filter, the per-minute stats, and the bundle served at `/`
//! with its policy, caching and compression.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{Server, ADMIN, NO_LIMITS};
use crate::store::{JobId, MinuteCounts, NewJob, Store, Timestamp};

crate::store::testing::for_each_store!(
    a_sign_in_code_becomes_an_admin_session_once,
    the_session_says_what_each_token_may_do,
    bulk_cancel_and_retry_answer_each_job_in_order,
    jobs_are_filtered_by_payload_values,
    stats_sum_the_minutes_of_every_node,
);

async fn a_sign_in_code_becomes_an_admin_session_once(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    let (status, link) = server
        .call(Method::POST, "/api/v1/session/links", Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let code = link["code"].as_str().expect("a code").to_owned();
    assert_eq!(link["path"], json!(format!("/#/sign-in?code={code}")));

    // The exchange needs no token; the code is the credential.
    let (status, session) = server
        .call(
            Method::POST,
            "/api/v1/session",
            None,
            Some(json!({ "code": code })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(session["access"], "admin");
    let token = session["token"].as_str().expect("a token").to_owned();
    assert!(token.starts_with("pb_"), "{token}");

    // Once only, and a made-up code gets the same answer.
    for code in [code.as_str(), "0123456789abcdef0123456789abcdef"] {
        let (status, refused) = server
            .call(
                Method::POST,
                "/api/v1/session",
                None,
                Some(json!({ "code": code })),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
        assert!(
            refused["detail"]
                .as_str()
                .unwrap()
                .contains("plugboard console-link"),
            "{refused}"
        );
    }

    // The session does what the admin token does, and is listed as a token.
    let (status, me) = server.get("/api/v1/session", &token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["access"], "admin");
    assert_eq!(me["tenant"], Value::Null);
    assert!(me["token"]["expires_at"].is_string(), "{me}");
    let (status, tokens) = server.get("/api/v1/tokens", &token).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(
        tokens["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|listed| listed["id"] == me["token"]["id"] && listed["access"] == "admin"),
        "{tokens}"
    );
    let (status, link) = server
        .call(Method::POST, "/api/v1/session/links", Some(&token), None)
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a session may make links: {link}"
    );

    // Signing out revokes the session.
    let (status, _) = server
        .call(Method::DELETE, "/api/v1/session", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = server.get("/api/v1/session", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        gone["detail"].as_str().unwrap().contains("revoked"),
        "{gone}"
    );

    // Nobody makes an admin-rights token by hand.
    let (status, refused) = server
        .post(
            "/api/v1/tokens",
            ADMIN,
            json!({"name": "sneaky", "access": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["errors"][0]["pointer"], "/access", "{refused}");
    server.finish().await;
}

async fn the_session_says_what_each_token_may_do(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    let (status, admin) = server.get("/api/v1/session", ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        admin,
        json!({"access": "admin", "tenant": null, "token": null})
    );

    let (read_id, read) = server.token(None, "read").await;
    let (_, acme) = server.token(Some("acme"), "write").await;
    let (_, me) = server.get("/api/v1/session", &read).await;
    assert_eq!(me["access"], "read");
    assert_eq!(me["token"]["id"], json!(read_id));
    let (_, me) = server.get("/api/v1/session", &acme).await;
    assert_eq!(
        (me["access"].clone(), me["tenant"].clone()),
        (json!("write"), json!("acme"))
    );

    // Signing out of the console with a pasted token leaves the token working elsewhere, and a
    // read token may sign out.
    let (status, _) = server
        .call(Method::DELETE, "/api/v1/session", Some(&read), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.get("/api/v1/session", &read).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a pasted token is not revoked by signing out"
    );
    // A session's rights do not leak into tokens: a read token still cannot make links.
    let (status, _) = server
        .call(Method::POST, "/api/v1/session/links", Some(&read), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.finish().await;
}

async fn bulk_cancel_and_retry_answer_each_job_in_order(store: Arc<dyn Store>) {
    let server = Server::start(store, NO_LIMITS).await;
    let a = server.enqueue(Some("acme")).await;
    let b = server.enqueue(None).await;
    let c = server.enqueue(Some("acme")).await;
    let missing = 9_999_999;

    let (status, answer) = server
        .post(
            "/api/v1/jobs/cancel",
            ADMIN,
            json!({"ids": [a.0, b.0, missing, a.0]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["results"],
        json!([
            {"id": a.0, "outcome": "cancelled", "status": "cancelled"},
            {"id": b.0, "outcome": "cancelled", "status": "cancelled"},
            {"id": missing, "outcome": "not_found"},
        ]),
        "a repeated id is acted on once"
    );

    let (status, answer) = server
        .post("/api/v1/jobs/retry", ADMIN, json!({"ids": [a.0, c.0]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["results"],
        json!([
            {"id": a.0, "outcome": "retried", "status": "queued"},
            {"id": c.0, "outcome": "not_retryable", "status": "queued"},
        ])
    );

    // A tenant's token acts on its tenant's jobs only; the others do not exist for it.
    let (_, acme) = server.token(Some("acme"), "write").await;
    let (status, answer) = server
        .post("/api/v1/jobs/cancel", &acme, json!({"ids": [b.0, c.0]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["results"][0]["outcome"], "not_found", "{answer}");
    assert_eq!(answer["results"][1]["outcome"], "cancelled", "{answer}");
    let job = server.store.job_get(b).await.unwrap().unwrap();
    assert_eq!(
        job.status.as_str(),
        "cancelled",
        "untouched by the other tenant"
    );

    // Bad requests lose nothing and say why.
    let too_many: Vec<i64> = (1..=1001).collect();
    for (body, says) in [
        (json!({"ids": []}), "1 to 1000"),
        (json!({"ids": too_many}), "1 to 1000"),
        (json!({"ids": [0]}), "positive"),
    ] {
        let (status, refused) = server.post("/api/v1/jobs/retry", ADMIN, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(
            refused["detail"].as_str().unwrap().contains(says),
            "{refused}"
        );
    }
    let (_, read) = server.token(None, "read").await;
    let (status, _) = server
        .post("/api/v1/jobs/cancel", &read, json!({"ids": [a.0]}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        server
            .store
            .job_get(a)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "queued"
    );
    server.finish().await;
}

async fn jobs_are_filtered_by_payload_values(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    let mut ids = Vec::new();
    for payload in [
        json!({"customer": {"id": 42}, "region": "eu"}),
        json!({"customer": {"id": 7}, "region": "eu"}),
        json!({"customer": {"id": 42}, "region": "us"}),
    ] {
        ids.push(
            store
                .job_enqueue(NewJob::new("noop", payload))
                .await
                .unwrap()
                .id,
        );
    }
    let listed = |filter: Value| {
        let server = &server;
        async move {
            let path = format!(
                "/api/v1/jobs?payload={}",
                percent_encoding::utf8_percent_encode(
                    &filter.to_string(),
                    percent_encoding::NON_ALPHANUMERIC
                )
            );
            let (status, page) = server.get(&path, ADMIN).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let mut found: Vec<JobId> = page["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|job| JobId(job["id"].as_i64().unwrap()))
                .collect();
            found.sort();
            found
        }
    };
    assert_eq!(
        listed(json!({"customer": {"id": 42}})).await,
        vec![ids[0], ids[2]]
    );
    assert_eq!(
        listed(json!({"customer": {"id": 42}, "region": "eu"})).await,
        vec![ids[0]]
    );
    assert_eq!(listed(json!({"region": "asia"})).await, Vec::<JobId>::new());

    for (filter, says) in [
        ("{not json", "is not JSON"),
        ("[1]", "must be a JSON object"),
        ("{}", "the filter is an empty object"),
        (
            r#"{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1}"#,
            "has 9 keys",
        ),
        (r#"{"a":{"b":{"c":{"d":1}}}}"#, "nested 4 deep"),
        (r#"{"tags":["a"]}"#, "is an array"),
        (r#"{"a":{}}"#, "empty object"),
        (r#"{"a\"b":1}"#, "cannot be matched"),
    ] {
        let path = format!(
            "/api/v1/jobs?payload={}",
            percent_encoding::utf8_percent_encode(filter, percent_encoding::NON_ALPHANUMERIC)
        );
        let (status, refused) = server.get(&path, ADMIN).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{filter}: {refused}"
        );
        assert!(
            refused["detail"].as_str().unwrap().contains(says),
            "{filter}: {refused}"
        );
    }
    server.finish().await;
}

async fn stats_sum_the_minutes_of_every_node(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    let now = crate::queue::minute_of(Timestamp::now());
    for (node, succeeded) in [("a", 3), ("b", 4)] {
        store
            .minutes_add(
                node,
                vec![MinuteCounts {
                    minute: now,
                    succeeded,
                    failed: 1,
                    retried: 0,
                    cancelled: 0,
                }],
            )
            .await
            .unwrap();
    }
    // Two hours ago: outside the hour, inside the day.
    store
        .minutes_add(
            "a",
            vec![MinuteCounts {
                minute: Timestamp(now.0 - 2 * 3600 * 1_000_000),
                succeeded: 100,
                ..MinuteCounts::default()
            }],
        )
        .await
        .unwrap();
    server.enqueue(None).await;

    let (status, hour) = server.get("/api/v1/stats", ADMIN).await;
    assert_eq!(status, StatusCode::OK, "{hour}");
    let buckets = hour["buckets"].as_array().unwrap();
    assert_eq!(
        (hour["bucket_seconds"].clone(), buckets.len()),
        (json!(60), 60)
    );
    let last = buckets.last().unwrap();
    assert_eq!(
        (last["succeeded"].clone(), last["failed"].clone()),
        (json!(7), json!(2))
    );
    let total: i64 = buckets
        .iter()
        .map(|bucket| bucket["succeeded"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 7, "the older minute is outside the hour");
    assert_eq!(hour["now"], json!({"queued": 1, "running": 0}), "{hour}");

    let (_, day) = server.get("/api/v1/stats?window=day", ADMIN).await;
    assert_eq!(day["buckets"].as_array().unwrap().len(), 144);
    let total: i64 = day["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bucket| bucket["succeeded"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 107);

    let (status, _) = server.get("/api/v1/stats?window=week", ADMIN).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, acme) = server.token(Some("acme"), "read").await;
    let (status, _) = server.get("/api/v1/stats", &acme).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the counts span every tenant"
    );
    server.finish().await;
}

#[tokio::test]
async fn the_console_is_served_with_its_policy_caching_and_compression() {
    let store = crate::store::testing::TestStore::sqlite().await;
    let server = Server::start(store.store.clone(), NO_LIMITS).await;
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap();
    let page = client
        .get(format!("{}/", server.base))
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/html"));
    let policy = header("content-security-policy");
    for directive in [
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(header("cache-control"), "no-cache");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let etag = header("etag");
    assert!(etag.starts_with('"'), "{etag}");
    let html = page.bytes().await.unwrap();

    // Revalidation answers 304 without the body.
    let again = client
        .get(format!("{}/", server.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // Every script and style the page names is served, hashed ones cached for a year, and
    // compressed for a client that takes it.
    let html = if header("content-encoding").is_empty() {
        String::from_utf8_lossy(&html).into_owned()
    } else {
        let plain = client
            .get(format!("{}/", server.base))
            .send()
            .await
            .unwrap();
        plain.text().await.unwrap()
    };
    for asset in html.split('"').filter(|part| part.starts_with("/assets/")) {
        let answer = client
            .get(format!("{}{asset}", server.base))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{asset}");
        assert_eq!(
            answer.headers()["cache-control"],
            "public, max-age=31536000, immutable",
            "{asset}"
        );
        let size = answer.bytes().await.unwrap().len();
        assert!(size > 0, "{asset}");
    }

    // Nothing outside the bundle, and API paths keep their problem documents.
    for path in [
        "/assets/../Cargo.toml",
        "/assets/nothing.js",
        "/.env",
        "/nothing",
    ] {
        let answer = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = server
        .call(Method::GET, "/api/v1/nothing", Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.finish().await;
    store.finish().await;
}
