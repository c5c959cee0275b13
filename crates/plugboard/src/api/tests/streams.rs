//! Live job changes and logs over SSE and WebSocket, on both stores: resumed without loss or
//! repeat, scoped to a tenant token's tenant, authenticated by the `bearer.TOKEN` subprotocol.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::{read_events, Server, ADMIN, NO_LIMITS};
use crate::store::{
    ChangeCursor, ClaimParams, FinishOutcome, JobFinish, JobId, LogLevel, NewJob, NewLogLine, Store,
};

crate::store::testing::for_each_store!(
    change_stream_resumes_with_last_event_id_without_loss_or_repeat,
    websocket_follows_one_job_to_its_end_with_the_subprotocol_token,
    websocket_log_stream_resumes_after_a_sequence_number,
    tenant_tokens_follow_only_their_tenant,
    change_pages_and_bad_positions,
);

fn claim(owner: &str) -> ClaimParams {
    ClaimParams {
        queue: "default".to_owned(),
        owner: owner.to_owned(),
        limit: 10,
        lease: Duration::from_secs(60),
    }
}

fn succeeded(id: JobId, owner: &str) -> JobFinish {
    JobFinish {
        id,
        owner: owner.to_owned(),
        attempt: 1,
        outcome: FinishOutcome::Succeeded {
            result: Some(json!({"done": true})),
        },
    }
}

async fn sse(
    server: &Server,
    path: &str,
    token: &str,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    let mut request = server
        .client
        .get(format!("{}{path}", server.base))
        .bearer_auth(token)
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.expect("the server answers");
    assert_eq!(response.status(), StatusCode::OK);
    response
}

/// `(id, status)` of `job` events.
fn job_events(events: &[(Option<String>, String, String)]) -> Vec<(String, i64, String)> {
    events
        .iter()
        .filter(|event| event.1 == "job")
        .map(|(id, _, data)| {
            let job: Value = serde_json::from_str(data).expect("a job as JSON");
            (
                id.clone().expect("job events have an id"),
                job["id"].as_i64().expect("a job id"),
                job["status"].as_str().expect("a status").to_owned(),
            )
        })
        .collect()
}

async fn change_stream_resumes_with_last_event_id_without_loss_or_repeat(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    // Opened before anything happens: a stream starts from now by default.
    let response = sse(&server, "/api/v1/jobs/changes", ADMIN, None).await;
    let first = store
        .job_enqueue(NewJob::new("noop", json!(1)))
        .await
        .unwrap()
        .id;
    let second = store
        .job_enqueue(NewJob::new("noop", json!(2)))
        .await
        .unwrap()
        .id;
    let before = read_events(response, |event| {
        event.1 == "job" && {
            let job: Value = serde_json::from_str(&event.2).unwrap();
            job["id"] == json!(second.0)
        }
    })
    .await;
    let before = job_events(&before);
    assert_eq!(
        before
            .iter()
            .map(|(_, id, status)| (*id, status.as_str()))
            .collect::<Vec<_>>(),
        [(first.0, "queued"), (second.0, "queued")]
    );
    // Away: the first job runs and finishes, the second starts.
    let claimed = store.job_claim(claim("w")).await.unwrap();
    assert_eq!(claimed.len(), 2);
    store
        .job_finish_many(vec![succeeded(first, "w")])
        .await
        .unwrap();
    let last_id = before.last().unwrap().0.clone();
    let response = sse(&server, "/api/v1/jobs/changes", ADMIN, Some(&last_id)).await;
    // Back: the second finishes while the client reads.
    let finisher = {
        let store = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            store
                .job_finish_many(vec![succeeded(second, "w")])
                .await
                .unwrap();
        })
    };
    let after = read_events(response, |event| {
        event.1 == "job" && {
            let job: Value = serde_json::from_str(&event.2).unwrap();
            job["id"] == json!(second.0) && job["status"] == json!("succeeded")
        }
    })
    .await;
    finisher.await.unwrap();
    let after = job_events(&after);
    // Away, both started in one claim and the first finished: the first shows once, in its
    // latest state, after the second's start; then the second's finish arrives live.
    let statuses: Vec<(i64, &str)> = after
        .iter()
        .map(|(_, id, status)| (*id, status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            (second.0, "running"),
            (first.0, "succeeded"),
            (second.0, "succeeded")
        ]
    );
    let positions: Vec<ChangeCursor> = before
        .iter()
        .chain(after.iter())
        .map(|(id, _, _)| id.parse().expect("ids are change positions"))
        .collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "positions grow: {positions:?}"
    );
    server.finish().await;
}

/// Connects a WebSocket to `path`, offering the token as a subprotocol.
async fn websocket(
    server: &Server,
    path: &str,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("{}{path}", server.base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("a WebSocket request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("plugboard.v1, bearer.{token}").parse().unwrap(),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the upgrade is accepted");
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|value| value.to_str().ok()),
        Some("plugboard.v1"),
        "the server answers with plugboard.v1 and never echoes the token"
    );
    socket
}

/// Reads text frames as `{event, id, data}` until the server closes the socket.
async fn frames_until_close(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("the server sends within 20 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                frames.push(serde_json::from_str(&text).expect("frames are JSON"));
            }
            Some(Ok(Message::Close(_))) | None => return frames,
            Some(Ok(_)) => {}
            Some(Err(error)) => panic!("the socket failed: {error}"),
        }
    }
}

async fn websocket_follows_one_job_to_its_end_with_the_subprotocol_token(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    let id = store
        .job_enqueue(NewJob::new("noop", json!({})))
        .await
        .unwrap()
        .id;
    let mut socket = websocket(&server, &format!("/api/v1/jobs/{id}/changes"), ADMIN).await;
    // The stream starts with the job as it is now.
    let current = tokio::time::timeout(Duration::from_secs(20), socket.next())
        .await
        .expect("the current state within 20 s");
    let Some(Ok(Message::Text(current))) = current else {
        panic!("expected a text frame, got {current:?}");
    };
    let current: Value = serde_json::from_str(&current).unwrap();
    assert_eq!(current["event"], json!("job"));
    assert_eq!(current["data"]["status"], json!("queued"));
    let worker = {
        let store = store.clone();
        tokio::spawn(async move {
            store.job_claim(claim("w")).await.unwrap();
            store
                .job_progress(id, json!({"percent": 50}))
                .await
                .unwrap();
            store
                .job_finish_many(vec![succeeded(id, "w")])
                .await
                .unwrap();
        })
    };
    let mut frames = vec![current];
    frames.extend(frames_until_close(&mut socket).await);
    worker.await.unwrap();
    let jobs: Vec<&Value> = frames
        .iter()
        .filter(|frame| frame["event"] == json!("job"))
        .map(|frame| &frame["data"])
        .collect();
    assert_eq!(
        jobs.first().map(|job| &job["status"]),
        Some(&json!("queued"))
    );
    assert_eq!(
        jobs.last().map(|job| &job["status"]),
        Some(&json!("succeeded"))
    );
    assert_eq!(
        jobs.last().map(|job| &job["result"]),
        Some(&json!({"done": true}))
    );
    let ids: Vec<&str> = frames
        .iter()
        .filter_map(|frame| frame["id"].as_str())
        .collect();
    let unique: HashSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no change twice: {ids:?}");
    let end = frames.last().expect("an end frame");
    assert_eq!(end["event"], json!("end"));
    assert_eq!(end["data"]["status"], json!("succeeded"));

    // A client that comes back after the last change (a browser's EventSource reconnects by
    // itself after `end`) is told at once how the job ended, and the stream closes.
    let last_change = ids.last().unwrap().to_string();
    let resumed = sse(
        &server,
        &format!("/api/v1/jobs/{id}/changes"),
        ADMIN,
        Some(&last_change),
    )
    .await;
    let events = read_events(resumed, |event| event.1 == "end").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&events[0].2).unwrap()["status"],
        json!("succeeded")
    );

    // Without a token the upgrade is refused with 401.
    let url = format!(
        "{}/api/v1/jobs/{id}/changes",
        server.base.replacen("http://", "ws://", 1)
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        other => panic!("expected 401, got {other:?}"),
    }
    server.finish().await;
}

async fn websocket_log_stream_resumes_after_a_sequence_number(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    let id = store
        .job_enqueue(NewJob::new("noop", json!({})))
        .await
        .unwrap()
        .id;
    store.job_claim(claim("w")).await.unwrap();
    let line = |n: usize| NewLogLine {
        level: LogLevel::Info,
        message: format!("line {n}"),
    };
    store
        .log_append(id, (1..=4).map(line).collect())
        .await
        .unwrap();
    let mut socket = websocket(
        &server,
        &format!("/api/v1/jobs/{id}/logs?after_seq=2"),
        ADMIN,
    )
    .await;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .log_append(id, (5..=6).map(line).collect())
                .await
                .unwrap();
            store
                .job_finish_many(vec![succeeded(id, "w")])
                .await
                .unwrap();
        })
    };
    let frames = frames_until_close(&mut socket).await;
    writer.await.unwrap();
    let messages: Vec<&str> = frames
        .iter()
        .filter(|frame| frame["event"] == json!("log"))
        .map(|frame| frame["data"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["line 3", "line 4", "line 5", "line 6"]);
    assert_eq!(frames.last().unwrap()["event"], json!("end"));
    // The client may close first; the server lets it.
    let mut socket = websocket(&server, &format!("/api/v1/jobs/{id}/logs"), ADMIN).await;
    socket.close(None).await.unwrap();
    server.finish().await;
}

async fn tenant_tokens_follow_only_their_tenant(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    for tenant in ["acme", "globex"] {
        let (status, body) = server
            .post(
                "/api/v1/tenants",
                ADMIN,
                json!({"id": tenant, "name": tenant}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, acme) = server.token(Some("acme"), "read").await;
    let (status, problem) = server
        .get("/api/v1/jobs/changes?tenant=globex", &acme)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let response = sse(&server, "/api/v1/jobs/changes", &acme, None).await;
    let theirs = server.enqueue(Some("globex")).await;
    let mine = server.enqueue(Some("acme")).await;
    let events = read_events(response, |event| event.1 == "job").await;
    let seen = job_events(&events);
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].1, mine.0,
        "only acme's job, never globex's {theirs:?}"
    );
    let (status, _) = server
        .get(&format!("/api/v1/jobs/{theirs}/changes"), &acme)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.finish().await;
}

async fn change_pages_and_bad_positions(store: Arc<dyn Store>) {
    let server = Server::start(store.clone(), NO_LIMITS).await;
    let mut ids: Vec<JobId> =
        futures_util::future::join_all((0..3).map(|_| server.enqueue(None))).await;
    ids.sort();
    // Pages start from the beginning: every job, then whatever changes. (On PostgreSQL a change
    // is readable once every older transaction of the cluster has ended: wait for that.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while server.get("/api/v1/jobs/changes", ADMIN).await.1["changes"]
        .as_array()
        .map_or(0, Vec::len)
        < 3
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "3 changes within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, page) = server.get("/api/v1/jobs/changes?limit=2", ADMIN).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["changes"].as_array().unwrap().len(), 2);
    let next = page["next_after"].as_str().unwrap().to_owned();
    let (_, rest) = server
        .get(&format!("/api/v1/jobs/changes?after={next}"), ADMIN)
        .await;
    let mut seen: Vec<i64> = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["changes"].as_array().unwrap())
        .map(|change| change["job"]["id"].as_i64().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, ids.iter().map(|id| id.0).collect::<Vec<_>>());
    let (_, empty) = server
        .get(
            &format!(
                "/api/v1/jobs/changes?after={}",
                rest["next_after"].as_str().unwrap()
            ),
            ADMIN,
        )
        .await;
    assert_eq!(empty["changes"], json!([]));
    assert_eq!(empty["next_after"], rest["next_after"]);
    // One job's latest change.
    let (status, one) = server
        .get(&format!("/api/v1/jobs/{}/changes", ids[0]), ADMIN)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["changes"][0]["job"]["status"], json!("queued"));

    let (status, problem) = server
        .get("/api/v1/jobs/changes?after=yesterday", ADMIN)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("change position"),
        "{problem}"
    );
    let (status, _) = server.get("/api/v1/jobs/changes?limit=0", ADMIN).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let response = server
        .client
        .get(format!("{}/api/v1/jobs/changes", server.base))
        .bearer_auth(ADMIN)
        .header("accept", "text/event-stream")
        .header("last-event-id", "not-a-position")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    server.finish().await;
}
