//! The host's own tools: what an agent may ask plugboard itself. Each calls the handler of the
//! matching `/api/v1` route with the caller's identity, so it checks and confines exactly as the
//! API does (a tenant token sees and acts on its tenant only; a read token only reads), and
//! answers the same JSON, as `structuredContent` and as a text block.
//!
//! | tool | route | hints |
//! | --- | --- | --- |
//! | `list_plugins` | `GET /api/v1/plugins` | read-only |
//! | `list_jobs` | `GET /api/v1/jobs` | read-only |
//! | `show_job` | `GET /api/v1/jobs/{id}` | read-only |
//! | `read_job_log` | `GET /api/v1/jobs/{id}/logs` | read-only |
//! | `run_config` | `POST /api/v1/configs/{id}/run` | writes, not destructive, not idempotent |
//! | `post_event` | `POST /api/v1/events` | writes, not destructive, not idempotent |
//! | `cancel_job` | `POST /api/v1/jobs/{id}/cancel` | writes, destructive, idempotent |

use axum::extract::State;
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::auth::Caller;
use super::super::events::PostEventBody;
use super::super::jobs::{self, ListJobs, LogLineView};
use super::super::problem::{ApiError, JsonBody, PathParams, QueryParams};
use super::super::{events, plugins, tenants, AppState};

/// A tool of the host.
pub struct HostTool {
    pub name: &'static str,
    title: &'static str,
    description: &'static str,
    /// True: it changes nothing (`readOnlyHint`); a read token sees only these.
    pub read_only: bool,
    destructive: bool,
    idempotent: bool,
    input_schema: fn() -> Value,
}

impl HostTool {
    /// Its MCP definition.
    pub fn definition(&self) -> Value {
        let mut annotations = json!({
            "title": self.title,
            "readOnlyHint": self.read_only,
            "idempotentHint": self.idempotent,
            "openWorldHint": false,
        });
        if !self.read_only {
            annotations["destructiveHint"] = json!(self.destructive);
        }
        json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": (self.input_schema)(),
            "outputSchema": {"type": "object"},
            "annotations": annotations,
        })
    }
}

fn no_arguments() -> Value {
    json!({"type": "object", "additionalProperties": false})
}

fn job_id() -> Value {
    json!({
        "type": "object",
        "properties": {"id": {"type": "integer", "minimum": 1, "description": "The job's id."}},
        "required": ["id"],
        "additionalProperties": false,
    })
}

fn list_jobs_arguments() -> Value {
    json!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
            "kind": {"type": "string", "description": "A job kind, such as plugin.run or plugin.tool."},
            "plugin": {"type": "string"},
            "tenant": {"type": "string", "description": "A tenant token sees only its own."},
            "queue": {"type": "string"},
            "created_after": {"type": "string", "format": "date-time"},
            "created_before": {"type": "string", "format": "date-time"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
            "cursor": {"type": "string", "description": "next_cursor of the previous page."},
        },
        "additionalProperties": false,
    })
}

fn read_job_log_arguments() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": {"type": "integer", "minimum": 1, "description": "The job's id."},
            "after_seq": {"type": "integer", "minimum": 0, "default": 0, "description": "Lines after this sequence number."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 500},
        },
        "required": ["id"],
        "additionalProperties": false,
    })
}

fn run_config_arguments() -> Value {
    json!({
        "type": "object",
        "properties": {"config_id": {"type": "string", "description": "The config to run now."}},
        "required": ["config_id"],
        "additionalProperties": false,
    })
}

fn post_event_arguments() -> Value {
    json!({
        "type": "object",
        "properties": {
            "type": {"type": "string", "pattern": "^[A-Za-z0-9_.:/-]{1,128}$", "description": "The event type, such as form.submitted."},
            "tenant": {"type": "string", "description": "The tenant it belongs to; a tenant token's own by default."},
            "payload": {"type": "object", "description": "Given to every job it starts."},
            "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 256},
        },
        "required": ["type"],
        "additionalProperties": false,
    })
}

/// Every host tool, in name order.
pub static TOOLS: [HostTool; 7] = [
    HostTool {
        name: "cancel_job",
        title: "Cancel a job",
        description: "Cancels a job: at once when it is queued; a running job is told to stop.",
        read_only: false,
        destructive: true,
        idempotent: true,
        input_schema: job_id,
    },
    HostTool {
        name: "list_jobs",
        title: "List jobs",
        description:
            "Lists jobs, newest first, with filters; pass next_cursor as cursor for the next page.",
        read_only: true,
        destructive: false,
        idempotent: true,
        input_schema: list_jobs_arguments,
    },
    HostTool {
        name: "list_plugins",
        title: "List plugins",
        description: "Lists the installed plugins, their versions and states.",
        read_only: true,
        destructive: false,
        idempotent: true,
        input_schema: no_arguments,
    },
    HostTool {
        name: "post_event",
        title: "Post an event",
        description:
            "Posts an event for a tenant; every enabled config subscribed to its type gets a job.",
        read_only: false,
        destructive: false,
        idempotent: false,
        input_schema: post_event_arguments,
    },
    HostTool {
        name: "read_job_log",
        title: "Read a job's log",
        description: "Reads a job's log lines after a sequence number, and the job's status.",
        read_only: true,
        destructive: false,
        idempotent: true,
        input_schema: read_job_log_arguments,
    },
    HostTool {
        name: "run_config",
        title: "Run a config now",
        description: "Runs a tenant's plugin config now, as a plugin.run job; answers the job.",
        read_only: false,
        destructive: false,
        idempotent: false,
        input_schema: run_config_arguments,
    },
    HostTool {
        name: "show_job",
        title: "Show a job",
        description: "Shows one job: status, attempts, error, result, progress.",
        read_only: true,
        destructive: false,
        idempotent: true,
        input_schema: job_id,
    },
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobIdArguments {
    id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogArguments {
    id: i64,
    #[serde(default)]
    after_seq: i64,
    #[serde(default = "default_log_limit")]
    limit: usize,
}

fn default_log_limit() -> usize {
    500
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunConfigArguments {
    config_id: String,
}

fn arguments<T: DeserializeOwned>(arguments: Value) -> Result<T, ApiError> {
    let arguments = if arguments.is_null() {
        json!({})
    } else {
        arguments
    };
    serde_json::from_value(arguments)
        .map_err(|error| ApiError::BadRequest(format!("the arguments do not fit: {error}")))
}

fn to_json(value: impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value)
        .map_err(|error| ApiError::Internal(format!("a host tool's answer: {error}")))
}

/// Calls `tool` for `caller` and answers MCP's `CallToolResult`: the route's JSON, or
/// `isError` with the problem's words.
pub async fn call(tool: &HostTool, state: &AppState, caller: &Caller, given: Value) -> Value {
    match run(tool, state, caller, given).await {
        Ok(answer) => json!({
            "content": [{"type": "text", "text": answer.to_string()}],
            "structuredContent": answer,
            "isError": false,
        }),
        Err(error) => {
            let text = match &error {
                ApiError::Internal(cause) => {
                    tracing::error!(tool = tool.name, %cause, "a host tool failed");
                    "the server failed; it is logged".to_owned()
                }
                ApiError::Invalid { detail, errors } => {
                    let mut text = detail.clone();
                    for field in errors {
                        text.push_str(&format!("\n{}: {}", field.pointer, field.detail));
                    }
                    text
                }
                other => other.to_string(),
            };
            json!({"content": [{"type": "text", "text": text}], "isError": true})
        }
    }
}

async fn run(
    tool: &HostTool,
    state: &AppState,
    caller: &Caller,
    given: Value,
) -> Result<Value, ApiError> {
    let state = State(state.clone());
    let caller = caller.clone();
    match tool.name {
        "list_plugins" => {
            arguments::<serde_json::Map<String, Value>>(given)?;
            to_json(plugins::list(state, caller).await?.0)
        }
        "list_jobs" => {
            let query: ListJobs = arguments(given)?;
            to_json(jobs::list(state, caller, QueryParams(query)).await?.0)
        }
        "show_job" => {
            let JobIdArguments { id } = arguments(given)?;
            to_json(
                jobs::show(state, caller, PathParams(id.to_string()))
                    .await?
                    .0,
            )
        }
        "cancel_job" => {
            let JobIdArguments { id } = arguments(given)?;
            to_json(
                jobs::cancel(state, caller, PathParams(id.to_string()))
                    .await?
                    .0,
            )
        }
        "read_job_log" => {
            let LogArguments {
                id,
                after_seq,
                limit,
            } = arguments(given)?;
            if after_seq < 0 || !(1..=1000).contains(&limit) {
                return Err(ApiError::BadRequest(
                    "after_seq must be 0 or more and limit 1 to 1000".to_owned(),
                ));
            }
            let id = jobs::parse_id(&id.to_string())?;
            let job = jobs::visible_job(&state.0, &caller, id).await?;
            let lines = state.0.queue.logs(id, after_seq, limit).await?;
            let next_after_seq = lines.last().map(|line| line.seq).unwrap_or(after_seq);
            let lines: Vec<LogLineView> = lines.into_iter().map(LogLineView::from).collect();
            Ok(json!({
                "lines": lines,
                "next_after_seq": next_after_seq,
                "status": job.status.as_str(),
            }))
        }
        "run_config" => {
            let RunConfigArguments { config_id } = arguments(given)?;
            let response = tenants::run_config(state, caller, PathParams(config_id))
                .await?
                .into_response();
            let body = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
                .await
                .map_err(|error| ApiError::Internal(format!("reading the run's job: {error}")))?;
            serde_json::from_slice(&body)
                .map_err(|error| ApiError::Internal(format!("reading the run's job: {error}")))
        }
        "post_event" => {
            let body: PostEventBody = arguments(given)?;
            let (_, posted) = events::post(state, caller, JsonBody(body)).await?;
            to_json(posted.0)
        }
        other => Err(ApiError::Internal(format!("no host tool `{other}`"))),
    }
}
