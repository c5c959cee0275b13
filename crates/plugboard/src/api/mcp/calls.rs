//! A call of a plugin's tool: arguments checked against its `inputSchema`, then a `plugin.tool`
//! job (one attempt, the queue's timeout), then its outcome as MCP's `CallToolResult`.
//!
//! The answer comes back as an SSE stream when the client accepts one (comments every second
//! keep it open and show when the client has gone, and the plugin's progress goes out as
//! `notifications/progress` when the request named a `progressToken`), else as one JSON
//! object. A modern client
//! that closes the stream before the answer cancels the job, and the host then sends the plugin
//! `cancel` for the request; a legacy client cancels with `notifications/cancelled` (2025-11-25
//! says a disconnect is not a cancel). A modern client that declared the tasks extension gets a
//! task instead when the job has not finished within [`TASK_AFTER`]: the job goes on, and
//! `tasks/get` follows it (`tasks.rs`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::catalogue::PluginTool;
use super::jsonrpc::{self, Failure};
use super::sessions::Session;
use super::{tasks, PLUGIN_TOOL};
use crate::api::auth::Caller;
use crate::api::AppState;
use crate::queue::Queue;
use crate::store::{Job, JobId, JobStatus, NewJob};

/// How long a call that may become a task waits for its job before answering the task.
pub const TASK_AFTER: Duration = Duration::from_secs(1);
/// How often an SSE answer sends a comment while the job runs.
const KEEP_ALIVE: Duration = Duration::from_secs(1);

/// How the answer to one call is delivered.
pub struct Delivery {
    /// The JSON-RPC id of the `tools/call`.
    pub request_id: Value,
    /// The 2026-07-28 era: results carry `resultType`, a closed stream cancels.
    pub modern: bool,
    /// The client declared the tasks extension on this request.
    pub tasks: bool,
    /// The client accepts `text/event-stream`.
    pub sse: bool,
    /// The legacy session the call belongs to.
    pub session: Option<Arc<Session>>,
    /// `_meta.progressToken` of the request: the plugin's progress goes to the client as
    /// `notifications/progress` on the SSE answer.
    pub progress_token: Option<Value>,
}

/// Checks the arguments and enqueues the call's job.
///
/// # Errors
/// `-32602` naming every failing path when the arguments do not fit the tool's `inputSchema`;
/// the queue's refusal otherwise.
pub async fn enqueue(
    state: &AppState,
    caller: &Caller,
    name: &str,
    tool: &PluginTool,
    arguments: Value,
) -> Result<JobId, Failure> {
    let problems: Vec<Value> = tool
        .validator
        .iter_errors(&arguments)
        .map(|error| {
            let path = error.instance_path().as_str().to_owned();
            json!({"path": if path.is_empty() { "/".to_owned() } else { path }, "message": error.to_string()})
        })
        .collect();
    if !problems.is_empty() {
        let listed: Vec<String> = problems
            .iter()
            .map(|problem| {
                format!(
                    "{}: {}",
                    problem["path"].as_str().unwrap_or("/"),
                    problem["message"].as_str().unwrap_or("")
                )
            })
            .collect();
        return Err(Failure::invalid_params(format!(
            "the arguments do not fit the inputSchema of tool `{name}`: {}",
            listed.join("; ")
        ))
        .with_data(json!({"errors": problems})));
    }
    let mut job = NewJob::new(
        PLUGIN_TOOL,
        json!({
            "plugin": tool.plugin,
            "tool": tool.tool.name,
            "arguments": arguments,
            "tenant": caller.tenant(),
        }),
    );
    job.max_attempts = 1;
    let enqueued = state.queue.enqueue(job).await.map_err(|error| {
        tracing::error!(%error, tool = %name, "enqueuing an MCP tool call failed");
        Failure::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            jsonrpc::INTERNAL_ERROR,
            format!("the call of `{name}` could not be queued; try again"),
        )
    })?;
    Ok(enqueued.id)
}

/// Cancels a call's job when dropped while armed: the client went away before its answer.
struct CancelOnDrop {
    queue: Queue,
    job: JobId,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let queue = self.queue.clone();
            let job = self.job;
            tracing::info!(job = %job, "an MCP client went away before its tool call's answer; cancelling the job");
            tokio::spawn(async move {
                if let Err(error) = queue.cancel(job).await {
                    tracing::warn!(job = %job, %error, "cancelling an abandoned tool call failed");
                }
            });
        }
    }
}

/// Forgets a legacy call in flight when its answer is done, however it ends.
struct SessionCall {
    session: Option<Arc<Session>>,
    request_id: Value,
}

impl Drop for SessionCall {
    fn drop(&mut self) {
        if let Some(session) = &self.session {
            session.call_ended(&self.request_id);
        }
    }
}

/// Answers the call whose job is `job`.
pub async fn answer(
    state: &AppState,
    tool: Arc<PluginTool>,
    job: JobId,
    delivery: Delivery,
) -> Response {
    if let Some(session) = &delivery.session {
        session.call_started(&delivery.request_id, job);
    }
    let registered = SessionCall {
        session: delivery.session.clone(),
        request_id: delivery.request_id.clone(),
    };
    let mut guard = CancelOnDrop {
        queue: state.queue.clone(),
        job,
        armed: delivery.modern,
    };
    let queue = state.queue.clone();
    if delivery.tasks {
        let outcome = tokio::time::timeout(TASK_AFTER, queue.wait_finished(job)).await;
        guard.armed = false;
        drop(registered);
        let result = match outcome {
            Ok(finished) => finished_result(finished, &tool),
            Err(_) => match queue.get(job).await {
                Ok(job) => tasks::created(&job),
                Err(error) => failed_to_wait(error),
            },
        };
        return Json(jsonrpc::success(
            &delivery.request_id,
            with_result_type(result, delivery.modern),
        ))
        .into_response();
    }
    if !delivery.sse {
        let finished = queue.wait_finished(job).await;
        guard.armed = false;
        drop(registered);
        let result = finished_result(finished, &tool);
        return Json(jsonrpc::success(
            &delivery.request_id,
            with_result_type(result, delivery.modern),
        ))
        .into_response();
    }
    let (sender, receiver) = mpsc::channel::<Event>(16);
    tokio::spawn(async move {
        let _registered = registered;
        let mut guard = guard;
        let progress = sender.clone();
        let token = delivery.progress_token.clone();
        let mut last: Option<Value> = None;
        let report = move |job: &Job| {
            let (Some(token), Some(current)) = (&token, &job.progress) else {
                return;
            };
            if last.as_ref() == Some(current) {
                return;
            }
            last = Some(current.clone());
            if let Some(notification) = progress_notification(token, current) {
                // A client that reads slowly misses a progress report, never the answer.
                let _ = progress.try_send(notification);
            }
        };
        let finished = tokio::select! {
            finished = queue.wait_finished_watching(job, report) => finished,
            () = sender.closed() => return,
        };
        guard.armed = false;
        let result = finished_result(finished, &tool);
        let message = jsonrpc::success(
            &delivery.request_id,
            with_result_type(result, delivery.modern),
        );
        let _ = sender
            .send(Event::default().event("message").data(message.to_string()))
            .await;
    });
    sse(receiver, KEEP_ALIVE)
}

/// `notifications/progress` for a job's progress (`{"progress", "total", "message"}` as the
/// plugin reported it); `None` when it has no number.
fn progress_notification(token: &Value, progress: &Value) -> Option<Event> {
    let mut params = json!({
        "progressToken": token,
        "progress": progress.get("progress").and_then(Value::as_f64)?,
    });
    if let Some(total) = progress.get("total").and_then(Value::as_f64) {
        params["total"] = json!(total);
    }
    if let Some(message) = progress.get("message").and_then(Value::as_str) {
        params["message"] = json!(message);
    }
    let message = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": params});
    Some(Event::default().event("message").data(message.to_string()))
}

/// An SSE response carrying what `receiver` yields, with comments every `keep_alive`.
pub fn sse(receiver: mpsc::Receiver<Event>, keep_alive: Duration) -> Response {
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|event| (Ok::<Event, Infallible>(event), receiver))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(keep_alive))
        .into_response();
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    response
}

/// `resultType: "complete"` on a modern result that has none.
pub fn with_result_type(mut result: Value, modern: bool) -> Value {
    if modern {
        if let Some(object) = result.as_object_mut() {
            object
                .entry("resultType")
                .or_insert_with(|| json!("complete"));
        }
    }
    result
}

fn failed_to_wait(error: crate::queue::QueueError) -> Value {
    tracing::error!(%error, "following an MCP tool call's job failed");
    error_result("the server lost track of the call's job; look for it with list_jobs")
}

fn finished_result(finished: Result<Job, crate::queue::QueueError>, tool: &PluginTool) -> Value {
    match finished {
        Ok(job) => tool_result(&job, tool.output_validator.as_ref()),
        Err(error) => failed_to_wait(error),
    }
}

/// An `isError` result saying `text`.
pub fn error_result(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}

/// A finished `plugin.tool` job as MCP's `CallToolResult`: the tool's answer, or `isError` with
/// the plugin's words (or why the job ended). With `output`, the tool's structured answer must
/// be there and fit its `outputSchema`.
pub fn tool_result(job: &Job, output: Option<&jsonschema::Validator>) -> Value {
    match job.status {
        JobStatus::Succeeded => {
            let mut result = job.result.clone().unwrap_or_else(|| json!({}));
            if !result.is_object() {
                return error_result("the tool's answer is not an object");
            }
            if result.get("content").is_none() {
                result["content"] = json!([]);
            }
            if let Some(output) = output {
                match result.get("structuredContent") {
                    None => {
                        return error_result(
                            "the tool declares an outputSchema and gave no structuredContent",
                        )
                    }
                    Some(structured) => {
                        if let Some(problem) = output.iter_errors(structured).next() {
                            return error_result(&format!(
                                "the tool's structuredContent does not fit its outputSchema: {}: {problem}",
                                problem.instance_path().as_str()
                            ));
                        }
                    }
                }
            }
            result
        }
        JobStatus::Failed => error_result(job.error.as_deref().unwrap_or("the tool failed")),
        JobStatus::Cancelled => error_result(
            job.error
                .as_deref()
                .unwrap_or("the call was cancelled before it finished"),
        ),
        JobStatus::Queued | JobStatus::Running => {
            error_result("the call has not finished; follow its job with show_job")
        }
    }
}
