//! The methods of `/mcp`: `initialize` (opens a legacy session), `server/discover`, `ping`
//! (legacy), `tools/list`, `tools/call` (host tools in the request, plugin tools as jobs through
//! `calls.rs`), the tasks extension (`tasks.rs`) and `subscriptions/listen` (`listen.rs`).

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::calls::{self, Delivery};
use super::catalogue::{self, Entry};
use super::headers::check_mirrored;
use super::jsonrpc::{self, Failure, Request as RpcRequest};
use super::listen::listen_modern;
use super::sessions::Session;
use super::transport::{accepts_sse, SESSION_HEADER};
use super::{host_tools, tasks, LEGACY_VERSIONS, MODERN_VERSION};
use crate::api::auth::Caller;
use crate::api::AppState;

/// Which era a request speaks.
pub(super) enum Era {
    Modern,
    Legacy(std::sync::Arc<Session>),
}

/// What a method answers.
pub(super) enum Reply {
    /// A result, sent as the JSON-RPC response.
    Result(Value),
    /// A response already made (a stream, or a call's answer).
    Response(Response),
}

/// `initialize`: opens a legacy session at the version the client asked for when this server
/// speaks it, else at the newest legacy version.
pub(super) fn initialize(state: &AppState, caller: &Caller, request: &RpcRequest) -> Response {
    let asked = request
        .params
        .get("protocolVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let version = LEGACY_VERSIONS
        .iter()
        .find(|version| **version == asked)
        .copied()
        .unwrap_or(LEGACY_VERSIONS[0]);
    let session = state.mcp.sessions.open(caller.label());
    let result = json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": true}},
        "serverInfo": server_info(),
        "instructions": INSTRUCTIONS,
    });
    let mut response = Json(jsonrpc::success(&request.id, result)).into_response();
    if let Ok(value) = HeaderValue::from_str(&session.id) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

const INSTRUCTIONS: &str = "plugboard runs plugins and a persistent job queue. Tools named plugin.tool belong to plugins; each call is a job you can follow with show_job and read_job_log. The other tools are plugboard's own.";

fn server_info() -> Value {
    json!({"name": "plugboard", "title": "plugboard", "version": env!("CARGO_PKG_VERSION")})
}

pub(super) async fn dispatch(
    state: &AppState,
    caller: &Caller,
    address: &str,
    headers: &HeaderMap,
    request: &RpcRequest,
    era: Era,
) -> Result<Reply, Failure> {
    let modern = matches!(era, Era::Modern);
    let params = &request.params;
    match request.method.as_str() {
        "server/discover" => {
            let mut supported = vec![MODERN_VERSION];
            supported.extend(LEGACY_VERSIONS);
            Ok(Reply::Result(json!({
                "supportedVersions": supported,
                "capabilities": {
                    "tools": {"listChanged": true},
                    "extensions": {super::TASKS_EXTENSION: {}},
                },
                "_meta": {"io.modelcontextprotocol/serverInfo": server_info()},
                "instructions": INSTRUCTIONS,
                "ttlMs": 0,
                "cacheScope": "private",
            })))
        }
        "ping" if !modern => Ok(Reply::Result(json!({}))),
        "tools/list" => {
            let cursor = match params.get("cursor") {
                None | Some(Value::Null) => None,
                Some(Value::String(cursor)) => Some(cursor.as_str()),
                Some(_) => return Err(Failure::invalid_params("`cursor` must be a string")),
            };
            let entries = state.mcp.catalogue.visible(caller).await?;
            let (tools, next) = catalogue::page(entries, cursor)?;
            let mut result = json!({"tools": tools});
            if let Some(next) = next {
                result["nextCursor"] = json!(next);
            }
            if modern {
                // Credentials decide what a token sees, and a plugin may change at any time.
                result["ttlMs"] = json!(0);
                result["cacheScope"] = json!("private");
            }
            Ok(Reply::Result(result))
        }
        "tools/call" => call_tool(state, caller, headers, request, era).await,
        "tasks/get" | "tasks/cancel" | "tasks/update" if modern && !tasks::declared(request.meta()) => {
            Err(Failure::new(
                StatusCode::BAD_REQUEST,
                jsonrpc::MISSING_REQUIRED_CLIENT_CAPABILITY,
                format!("{} needs the tasks extension: declare {} in _meta[\"io.modelcontextprotocol/clientCapabilities\"].extensions", request.method, super::TASKS_EXTENSION),
            )
            .with_data(json!({"requiredCapabilities": {"extensions": {super::TASKS_EXTENSION: {}}}})))
        }
        "tasks/get" if modern => tasks::get(state, caller, params).await.map(Reply::Result),
        "tasks/cancel" if modern => tasks::cancel(state, caller, params).await.map(Reply::Result),
        "tasks/update" if modern => tasks::update(state, caller, params).await.map(Reply::Result),
        "subscriptions/listen" if modern => Ok(Reply::Response(listen_modern(
            state, caller, address, request,
        )?)),
        method => Err(Failure::new(
            if modern {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            },
            jsonrpc::METHOD_NOT_FOUND,
            format!("plugboard has no method `{method}`; it serves tools (tools/list, tools/call) and tasks"),
        )),
    }
}

async fn call_tool(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: &RpcRequest,
    era: Era,
) -> Result<Reply, Failure> {
    let params = &request.params;
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::invalid_params("`name` (a string) is required"))?;
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => json!({}),
        Some(arguments @ Value::Object(_)) => arguments.clone(),
        Some(_) => return Err(Failure::invalid_params("`arguments` must be an object")),
    };
    let entry = state
        .mcp
        .catalogue
        .find(caller, name)
        .await?
        .ok_or_else(|| {
            Failure::invalid_params(format!(
                "there is no tool `{name}` for this token; tools/list shows the tools it may use"
            ))
        })?;
    match entry {
        Entry::Host(tool) => {
            let schema = tool.definition()["inputSchema"].clone();
            if let Ok(validator) = jsonschema::validator_for(&schema) {
                let problems: Vec<String> = validator
                    .iter_errors(&arguments)
                    .map(|error| {
                        let path = error.instance_path().as_str().to_owned();
                        format!("{}: {error}", if path.is_empty() { "/" } else { &path })
                    })
                    .collect();
                if !problems.is_empty() {
                    return Err(Failure::invalid_params(format!(
                        "the arguments do not fit the inputSchema of tool `{name}`: {}",
                        problems.join("; ")
                    ))
                    .with_data(json!({"errors": problems})));
                }
            }
            Ok(Reply::Result(
                host_tools::call(tool, state, caller, arguments).await,
            ))
        }
        Entry::Plugin(tool) => {
            let (modern, session) = match era {
                Era::Modern => (true, None),
                Era::Legacy(session) => (false, Some(session)),
            };
            if modern {
                check_mirrored(headers, &tool.mirrored, &arguments)?;
            }
            let job = calls::enqueue(state, caller, name, &tool, arguments).await?;
            let delivery = Delivery {
                request_id: request.id.clone(),
                modern,
                tasks: modern && tasks::declared(request.meta()),
                sse: accepts_sse(headers),
                session,
                progress_token: request
                    .meta()
                    .and_then(|meta| meta.get("progressToken"))
                    .filter(|token| token.is_string() || token.is_number())
                    .cloned(),
            };
            Ok(Reply::Response(
                calls::answer(state, tool, job, delivery).await,
            ))
        }
    }
}
