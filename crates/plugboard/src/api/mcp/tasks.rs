//! The tasks extension (`io.modelcontextprotocol/tasks`): a tool call answered with a task
//! that the agent polls. A task is its `plugin.tool` job: the task id is the job id, so a task
//! lives in the store, is visible from every node and survives a restart of the node that took
//! the call, and its history is the job's (`/api/v1/jobs/{id}`, its log).
//!
//! | job | task |
//! | --- | --- |
//! | `queued`, `running` | `working` (the job's progress message as `statusMessage`) |
//! | `succeeded` | `completed`, `result` the tool's answer |
//! | `failed` | `completed`, `result` with `isError` and the plugin's words (a tool failure is no JSON-RPC error) |
//! | `cancelled` | `cancelled` |
//!
//! `ttlMs` is `null`: a task lasts as long as its job, which finished jobs' pruning
//! (`retention_hours`, `keep_finished`) ends. `tasks/update` is acknowledged and changes
//! nothing: plugboard's tools never ask for input.

use serde_json::{json, Value};

use super::calls::tool_result;
use super::jsonrpc::Failure;
use super::PLUGIN_TOOL;
use crate::api::auth::Caller;
use crate::api::{time, AppState};
use crate::store::{Job, JobId, JobStatus};

/// How often agents are asked to poll, in milliseconds.
pub const POLL_INTERVAL_MS: u64 = 1000;

/// True when the request's `_meta` client capabilities declare the tasks extension.
pub fn declared(meta: Option<&serde_json::Map<String, Value>>) -> bool {
    meta.and_then(|meta| meta.get("io.modelcontextprotocol/clientCapabilities"))
        .and_then(|capabilities| capabilities.get("extensions"))
        .and_then(|extensions| extensions.get(super::TASKS_EXTENSION))
        .is_some()
}

/// The task fields every answer carries.
fn task(job: &Job) -> Value {
    let status = match job.status {
        JobStatus::Queued | JobStatus::Running => "working",
        JobStatus::Succeeded | JobStatus::Failed => "completed",
        JobStatus::Cancelled => "cancelled",
    };
    let updated = job.finished_at.or(job.started_at).unwrap_or(job.created_at);
    let mut task = json!({
        "taskId": job.id.0.to_string(),
        "status": status,
        "createdAt": time::format(job.created_at),
        "lastUpdatedAt": time::format(updated),
        "ttlMs": null,
        "pollIntervalMs": POLL_INTERVAL_MS,
    });
    let message = match job.status {
        JobStatus::Queued => Some("queued".to_owned()),
        JobStatus::Running => job
            .progress
            .as_ref()
            .and_then(|progress| progress.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| Some("running".to_owned())),
        JobStatus::Cancelled => job.error.clone(),
        JobStatus::Succeeded | JobStatus::Failed => None,
    };
    if let Some(message) = message {
        task["statusMessage"] = json!(message);
    }
    task
}

/// `CreateTaskResult` for a call's job that has not finished.
pub fn created(job: &Job) -> Value {
    let mut result = task(job);
    result["resultType"] = json!("task");
    result
}

/// `tasks/get`'s answer: the task and, once it is done, the tool's result.
fn detailed(job: &Job) -> Value {
    let mut result = task(job);
    if matches!(job.status, JobStatus::Succeeded | JobStatus::Failed) {
        // The tool's outputSchema was checked when the call was answered synchronously; a task
        // passes the plugin's answer on as it is.
        result["result"] = tool_result(job, None);
    }
    result
}

/// The job behind `params.taskId` if the caller may see it.
///
/// # Errors
/// `-32602` for an id that is no task of this caller (another tenant's is "unknown" too).
async fn job_of(state: &AppState, caller: &Caller, params: &Value) -> Result<Job, Failure> {
    let task_id = params
        .get("taskId")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::invalid_params("`taskId` (a string) is required"))?;
    let unknown = || Failure::invalid_params(format!("there is no task `{task_id}`"));
    let id = task_id
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(unknown)?;
    let job = match state.queue.get(JobId(id)).await {
        Ok(job) => job,
        Err(crate::queue::QueueError::NotFound(_)) => return Err(unknown()),
        Err(error) => {
            tracing::error!(%error, "reading a task's job failed");
            return Err(Failure::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                super::jsonrpc::INTERNAL_ERROR,
                "the store is unavailable; try again",
            ));
        }
    };
    if job.kind != PLUGIN_TOOL || !caller.can_see(job.tenant.as_deref()) {
        return Err(unknown());
    }
    Ok(job)
}

/// `tasks/get`.
pub async fn get(state: &AppState, caller: &Caller, params: &Value) -> Result<Value, Failure> {
    let job = job_of(state, caller, params).await?;
    Ok(detailed(&job))
}

/// `tasks/cancel`: cancels the job (a queued one at once, a running one is told to stop).
///
/// # Errors
/// `403` for a read token.
pub async fn cancel(state: &AppState, caller: &Caller, params: &Value) -> Result<Value, Failure> {
    let job = job_of(state, caller, params).await?;
    if super::catalogue::is_read_only(caller) {
        return Err(super::transport::insufficient_scope(
            caller,
            "cancelling a task needs a token that may write",
        ));
    }
    if !job.status.is_finished() {
        if let Err(error) = state.queue.cancel(job.id).await {
            tracing::warn!(job = %job.id, %error, "cancelling a task's job failed");
        }
    }
    Ok(json!({}))
}

/// `tasks/update`: acknowledged; no plugboard task asks for input.
pub async fn update(state: &AppState, caller: &Caller, params: &Value) -> Result<Value, Failure> {
    job_of(state, caller, params).await?;
    Ok(json!({}))
}
