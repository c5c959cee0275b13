//! The job kind `plugin.tool`: one call of a plugin's tool (MCP's `tools/call`, through the
//! host's `/mcp`), run as a job so that it has a log, a timeout, cancellation and a history like
//! any other.
//!
//! The payload names the plugin, the tool, the arguments (already checked against the tool's
//! `inputSchema` by whoever enqueued it) and the tenant. The job's result is the tool's answer
//! as MCP's `CallToolResult` (`content`, `isError`, `structuredContent`). A tool that answers
//! `isError: true`, a plugin error answer and a crash fail the job, with the plugin's own words
//! as the job's error: the MCP endpoint turns a failed job back into `isError` for the agent.
//!
//! Owns: the payload's shape and how an answer becomes a job outcome. Must not touch: HTTP (the
//! MCP endpoint enqueues this kind by name and reads its jobs) and SQL.

use std::sync::Arc;

use async_trait::async_trait;
use plugboard_protocol::methods::{self, Content, ToolsCallParams, ToolsCallResult};
use serde::Deserialize;
use serde_json::Value;

use super::host::PluginHost;
use super::rpc::RpcError;
use super::run::request_for_job;
use crate::queue::{JobContext, JobError, JobHandler};

/// The job kind that calls a plugin's tool.
pub const PLUGIN_TOOL: &str = "plugin.tool";

/// The payload of a `plugin.tool` job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginToolPayload {
    plugin: String,
    tool: String,
    #[serde(default)]
    arguments: Value,
    #[serde(default)]
    tenant: Option<String>,
}

/// The `plugin.tool` job kind.
pub struct PluginTool {
    host: Option<Arc<PluginHost>>,
}

impl PluginTool {
    /// The kind as a worker runs it.
    pub fn new(host: Arc<PluginHost>) -> PluginTool {
        PluginTool { host: Some(host) }
    }

    /// The kind as an enqueuer checks it (no plugins loaded in this process).
    pub fn for_validation() -> PluginTool {
        PluginTool { host: None }
    }
}

/// The text of a tool's content blocks, for the job's error when the tool failed.
fn words(content: &[Content]) -> String {
    let text: Vec<&str> = content
        .iter()
        .map(|block| block.text.as_str())
        .filter(|text| !text.is_empty())
        .collect();
    if text.is_empty() {
        "the tool failed and gave no reason".to_owned()
    } else {
        text.join("\n")
    }
}

#[async_trait]
impl JobHandler for PluginTool {
    fn validate(&self, payload: &Value) -> Result<(), String> {
        serde_json::from_value::<PluginToolPayload>(payload.clone())
            .map(|_| ())
            .map_err(|error| {
                format!("{error}; a plugin.tool payload is {{\"plugin\": ID, \"tool\": NAME, \"arguments\"?, \"tenant\"?}}")
            })
    }

    fn prepare(&self, job: &mut crate::store::NewJob) {
        if let Ok(request) = serde_json::from_value::<PluginToolPayload>(job.payload.clone()) {
            job.plugin.get_or_insert(request.plugin);
            if let Some(tenant) = request.tenant {
                job.tenant.get_or_insert(tenant);
            }
        }
    }

    async fn run(&self, context: JobContext) -> Result<Option<Value>, JobError> {
        let request: PluginToolPayload = serde_json::from_value(context.job().payload.clone())
            .map_err(|error| {
                JobError::permanent(format!("invalid plugin.tool payload: {error}"))
            })?;
        let host = self
            .host
            .as_ref()
            .ok_or_else(|| JobError::permanent("this process runs no plugins"))?;
        let plugin = request.plugin.clone();
        let tool = request.tool.clone();
        let outcome = request_for_job(host, &plugin, &context, methods::TOOLS_CALL, |_| {
            ToolsCallParams {
                name: request.tool,
                arguments: request.arguments,
                tenant: request.tenant,
            }
        })
        .await?;
        match outcome {
            Ok(Ok(answer)) => {
                let result: ToolsCallResult = serde_json::from_value(answer).map_err(|error| {
                    JobError::permanent(format!(
                        "plugin `{plugin}` answered tools/call of `{tool}` with something that is not a tool result: {error}"
                    ))
                })?;
                if result.is_error {
                    return Err(JobError::permanent(words(&result.content)));
                }
                let result = serde_json::to_value(result).map_err(|error| {
                    JobError::permanent(format!("the tool's result cannot be kept: {error}"))
                })?;
                Ok(Some(result))
            }
            Ok(Err(RpcError::Remote(error))) if error.is_retryable() => {
                Err(JobError::retryable(error.message))
            }
            Ok(Err(RpcError::Remote(error))) => Err(JobError::permanent(error.message)),
            Ok(Err(error)) => Err(JobError::retryable(format!("plugin `{plugin}`: {error}"))),
            Err(_) => Err(JobError::retryable(format!(
                "plugin `{plugin}`: the connection ended during tools/call of `{tool}`"
            ))),
        }
    }
}
