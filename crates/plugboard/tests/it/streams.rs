//! Live streams across nodes: two `plugboard serve` processes on one PostgreSQL. A client of one
//! node follows a job that runs on the other, over SSE and WebSocket, and resumes on either node
//! without losing or repeating a change or a log line.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use plugboard::store::NewJob;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{temp_dir, PostgresSchema, TestHost, FAST_LEASES};

type Event = (Option<String>, String, String);

async fn sse(host: &TestHost, path: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("http://{}{path}", host.address))
        .bearer_auth(&host.admin_token)
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.expect("the server answers");
    assert_eq!(response.status(), 200);
    response
}

/// Reads SSE events until `stop` says so (or the stream ends), within 30 s.
async fn read_events(
    response: reqwest::Response,
    mut stop: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let mut events = Vec::new();
    let mut buffer = String::new();
    let mut body = response.bytes_stream();
    let (mut id, mut event, mut data) = (None, String::new(), String::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Some(chunk) = tokio::time::timeout_at(deadline, body.next())
        .await
        .expect("the stream sends what the test waits for within 30 s")
    {
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("a chunk")));
        while let Some(end) = buffer.find('\n') {
            let line = buffer[..end].trim_end_matches('\r').to_owned();
            buffer.drain(..=end);
            if line.is_empty() {
                if !event.is_empty() {
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

/// Connects a WebSocket to `path` on `host` with the token as a subprotocol, and reads its frames
/// until the server closes it.
async fn websocket_frames(host: &TestHost, path: &str) -> Vec<Value> {
    let mut request = format!("ws://{}{path}", host.address)
        .into_client_request()
        .expect("a WebSocket request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("plugboard.v1, bearer.{}", host.admin_token)
            .parse()
            .unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the upgrade is accepted");
    let mut frames = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("the server sends within 30 s");
        match message {
            Some(Ok(Message::Text(text))) => frames.push(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(_))) | None => return frames,
            Some(Ok(_)) => {}
            Some(Err(error)) => panic!("the socket failed: {error}"),
        }
    }
}

fn job_of(event: &Event) -> Value {
    serde_json::from_str(&event.2).expect("a job as JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_one_node_follows_a_job_that_runs_on_another() {
    let Some(schema) = PostgresSchema::new("a_client_of_one_node_follows_a_job_on_another") else {
        return;
    };
    let store = schema.store().await;
    let node_flags = |queues: &str| {
        let mut flags: Vec<String> = FAST_LEASES.iter().map(|s| s.to_string()).collect();
        flags.extend(schema.flags());
        flags.extend(["--queues".to_string(), queues.to_string()]);
        flags
    };
    let (flags_a, flags_b) = (node_flags("default=1"), node_flags("far=2"));
    let (data_a, data_b) = (temp_dir(), temp_dir());
    let node_a = TestHost::start(
        data_a.path(),
        &flags_a.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let node_b = TestHost::start(
        data_b.path(),
        &flags_b.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    // The stream of every change, opened on node B before the job exists.
    let everything = sse(&node_b, "/api/v1/jobs/changes", None).await;

    // Only node B works the queue `far`.
    let mut job = NewJob::new("noop", json!({"sleep_ms": 1500, "log": true}));
    job.queue = "far".into();
    // Due in a second: the stream below starts while it is still queued.
    job.run_at = Some(plugboard::store::Timestamp::now().plus(Duration::from_secs(1)));
    let id = store.job_enqueue(job).await.unwrap().id;

    // Node A, one job, over SSE: up to the moment it runs on node B; then the client leaves.
    let first = read_events(
        sse(&node_a, &format!("/api/v1/jobs/{id}/changes"), None).await,
        |event| event.1 == "job" && job_of(event)["status"] == json!("running"),
    )
    .await;
    let last_seen = first
        .last()
        .unwrap()
        .0
        .clone()
        .expect("job events have ids");
    // The rest over a WebSocket to node A, resuming after the last change seen.
    let rest = websocket_frames(
        &node_a,
        &format!("/api/v1/jobs/{id}/changes?after={last_seen}"),
    )
    .await;

    let mut ids: Vec<String> = first.iter().filter_map(|event| event.0.clone()).collect();
    let mut statuses: Vec<String> = first
        .iter()
        .map(|event| job_of(event)["status"].as_str().unwrap().to_owned())
        .collect();
    for frame in rest.iter().filter(|frame| frame["event"] == json!("job")) {
        ids.push(frame["id"].as_str().unwrap().to_owned());
        statuses.push(frame["data"]["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        statuses.first().map(String::as_str),
        Some("queued"),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("succeeded"),
        "{statuses:?}"
    );
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no change twice: {ids:?}");
    let end = rest.last().expect("an end frame");
    assert_eq!(end["event"], json!("end"), "{rest:?}");
    let finished = store.job_get(id).await.unwrap().unwrap();
    assert_eq!(
        finished.result.as_ref().unwrap()["worker"],
        json!(node_b.worker_id()),
        "the job ran on node B"
    );

    // The stream of every change, opened on node B: read up to the job's start, then resume on
    // node A with Last-Event-ID.
    let before = read_events(everything, |event| {
        event.1 == "job"
            && job_of(event)["id"] == json!(id.0)
            && job_of(event)["status"] == json!("running")
    })
    .await;
    let resume_id = before.last().unwrap().0.clone().unwrap();
    let after = read_events(
        sse(&node_a, "/api/v1/jobs/changes", Some(&resume_id)).await,
        |event| job_of(event)["id"] == json!(id.0) && job_of(event)["status"] == json!("succeeded"),
    )
    .await;
    let positions: Vec<String> = before
        .iter()
        .chain(after.iter())
        .filter(|event| job_of(event)["id"] == json!(id.0))
        .map(|event| event.0.clone().unwrap())
        .collect();
    let unique: HashSet<&String> = positions.iter().collect();
    assert_eq!(
        unique.len(),
        positions.len(),
        "no change twice across nodes: {positions:?}"
    );
    assert_eq!(job_of(after.last().unwrap())["status"], json!("succeeded"));

    // The job's log, written by node B, read from node A: SSE from the start, WebSocket after
    // the first line.
    let lines = read_events(
        sse(&node_a, &format!("/api/v1/jobs/{id}/logs"), None).await,
        |event| event.1 == "end",
    )
    .await;
    let messages: Vec<String> = lines
        .iter()
        .filter(|event| event.1 == "log")
        .map(|event| job_of(event)["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].starts_with("noop started"), "{messages:?}");
    let frames = websocket_frames(&node_a, &format!("/api/v1/jobs/{id}/logs?after_seq=1")).await;
    let resumed: Vec<&str> = frames
        .iter()
        .filter(|frame| frame["event"] == json!("log"))
        .map(|frame| frame["data"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(resumed, [messages[1].as_str()]);

    store.close().await;
    assert!(node_a.terminate().success());
    assert!(node_b.terminate().success());
    schema.drop().await;
}
