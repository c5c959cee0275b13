//! The Streamable HTTP transport on `/mcp`: who may call (Origin, token, rate limits), which era
//! a request speaks, the checks each era asks for, and the methods.
//!
//! Every request, in this order: a foreign `Origin` is `403` (an absent one is fine: agents
//! are not browsers); the client address's rate limit; the bearer token (`401` with
//! `WWW-Authenticate` naming the protected resource metadata when missing or bad); the token's
//! rate limit. Then, by method:
//! - `POST` of `initialize`, or with `Mcp-Session-Id`: the legacy era (2025-11-25), in that
//!   session (`404` when it is unknown, another token's, or expired).
//! - `POST` with `MCP-Protocol-Version` or `_meta` protocol version: the modern era
//!   (2026-07-28), stateless; the headers must match the body (`400`, `-32020`), the version must
//!   be one this server speaks (`400`, `-32022`), an unknown method is `404`.
//! - `GET` and `DELETE` with a session: the session's notification stream, and its end;
//!   without one, `405` (the modern era has neither).
//!
//! A read token calling a tool that may change things is `403` with an `insufficient_scope`
//! challenge.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{ACCEPT, ALLOW, HOST, ORIGIN, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::calls::{self, Delivery};
use super::catalogue::{self, Entry};
use super::jsonrpc::{self, Failure, Incoming, Request as RpcRequest};
use super::sessions::Session;
use super::{host_tools, tasks, LEGACY_VERSIONS, MODERN_VERSION, RESOURCE_METADATA_PATH};
use crate::api::auth::{self, Caller};
use crate::api::{problem::ApiError, rate_limited, AppState};

/// The largest JSON-RPC message accepted.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// How often a long-lived notification stream sends a comment.
const STREAM_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The `_meta` key of the protocol version (2026-07-28).
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const SESSION_HEADER: &str = "mcp-session-id";

/// Which era a request speaks.
enum Era {
    Modern,
    Legacy(std::sync::Arc<Session>),
}

/// What a method answers.
enum Reply {
    /// A result, sent as the JSON-RPC response.
    Result(Value),
    /// A response already made (a stream, or a call's answer).
    Response(Response),
}

/// Where this server's protected resource metadata is, as the client reached it.
fn resource_metadata_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|proto| proto.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}{RESOURCE_METADATA_PATH}")
}

/// `text` fit for a quoted `WWW-Authenticate` parameter.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|character| *character != '"' && *character != '\\' && !character.is_control())
        .collect()
}

/// A `403` for a token that may not do this: the challenge asks for write access.
pub fn insufficient_scope(caller: &Caller, why: &str) -> Failure {
    let mut failure = Failure::new(
        StatusCode::FORBIDDEN,
        jsonrpc::INVALID_REQUEST,
        format!(
            "token {} may not do this: {why}; ask the admin for a token with write access",
            caller.label()
        ),
    );
    failure.challenge = Some(format!(
        "error=\"insufficient_scope\", scope=\"write\", error_description=\"{}\"",
        quoted(why)
    ));
    failure
}

/// Renders `failure` for request `id`, its challenge naming the resource metadata.
fn refuse(failure: Failure, id: Option<&Value>, headers: &HeaderMap) -> Response {
    let mut response = failure.respond(id);
    if let Some(challenge) = &failure.challenge {
        let value = format!(
            "Bearer resource_metadata=\"{}\", {challenge}",
            resource_metadata_url(headers)
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// `GET /.well-known/oauth-protected-resource/mcp`: the protected resource metadata of RFC 9728.
/// plugboard is its own authority: tokens are made with `plugboard token create`, so no
/// authorization server is named.
pub async fn protected_resource(headers: HeaderMap) -> Response {
    let resource = resource_metadata_url(&headers).replace(RESOURCE_METADATA_PATH, super::PATH);
    Json(json!({
        "resource": resource,
        "resource_name": "plugboard",
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["read", "write"],
        "resource_documentation": "https://github.com/plugboard/plugboard/blob/main/docs/mcp.md",
    }))
    .into_response()
}

/// True when `Origin` is absent (not a browser) or names this server as the client reached it;
/// for a browser on this machine (a loopback peer) that name must be a loopback one too, or a
/// page of another site that made its name resolve to 127.0.0.1 (DNS rebinding) would pass.
fn origin_allowed(headers: &HeaderMap, peer_is_loopback: bool) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let (Ok(origin), Some(Ok(host))) =
        (origin.to_str(), headers.get(HOST).map(|host| host.to_str()))
    else {
        return false;
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && authority.eq_ignore_ascii_case(host)
        && (!peer_is_loopback || is_loopback_authority(authority))
}

/// `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// The endpoint: every method of `/mcp`.
pub async fn endpoint(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    if !origin_allowed(headers, peer.is_some_and(|peer| peer.is_loopback())) {
        let failure = Failure::new(
            StatusCode::FORBIDDEN,
            jsonrpc::INVALID_REQUEST,
            "this Origin may not use the MCP endpoint: a browser page may reach it only from the server's own address",
        );
        return failure.respond(None);
    }
    let address = peer
        .map(|peer| peer.to_string())
        .unwrap_or_else(|| "unknown".to_owned());
    if let Err(wait) = state.limits.per_address.check(&address) {
        return rate_limited("this client address", wait).into_response();
    }
    let caller = match auth::authenticate(&parts, &state.admin, state.queue.store().as_ref()).await
    {
        Ok(caller) => caller,
        Err(error) => return unauthorized(error, headers),
    };
    if let Err(wait) = state.limits.per_token.check(caller.label()) {
        return rate_limited("this token", wait).into_response();
    }
    let session_id = headers
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    match parts.method {
        Method::POST => {
            let body = match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(body) => body,
                Err(_) => {
                    return Failure::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        jsonrpc::INVALID_REQUEST,
                        format!("a message may have at most {MAX_BODY} bytes"),
                    )
                    .respond(None)
                }
            };
            post(
                &state,
                &caller,
                &address,
                headers,
                session_id.as_deref(),
                body,
            )
            .await
        }
        Method::GET => match session_id {
            Some(id) => listen_legacy(&state, &caller, &address, headers, &id),
            None => not_allowed(),
        },
        Method::DELETE => match session_id {
            Some(id) if state.mcp.sessions.close(&id, caller.label()) => {
                StatusCode::NO_CONTENT.into_response()
            }
            Some(_) => unknown_session(),
            None => not_allowed(),
        },
        _ => not_allowed(),
    }
}

/// `401` with the challenge: the problem document of `error`, and `WWW-Authenticate`.
fn unauthorized(error: ApiError, headers: &HeaderMap) -> Response {
    let detail = error.to_string();
    let mut challenge = format!(
        "Bearer resource_metadata=\"{}\"",
        resource_metadata_url(headers)
    );
    if headers.contains_key(axum::http::header::AUTHORIZATION) {
        challenge.push_str(&format!(
            ", error=\"invalid_token\", error_description=\"{}\"",
            quoted(&detail)
        ));
    }
    let mut response = error.into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

fn not_allowed() -> Response {
    let mut response = Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        jsonrpc::INVALID_REQUEST,
        "the MCP endpoint takes POST; GET and DELETE are for sessions of protocol 2025-11-25 (Mcp-Session-Id)",
    )
    .respond(None);
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("POST"));
    response
}

fn unknown_session() -> Response {
    Failure::new(
        StatusCode::NOT_FOUND,
        jsonrpc::INVALID_REQUEST,
        "there is no such session (it ended, expired, belongs to another token, or this node restarted); send initialize again",
    )
    .respond(None)
}

fn accepts_sse(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/event-stream"))
}

async fn post(
    state: &AppState,
    caller: &Caller,
    address: &str,
    headers: &HeaderMap,
    session_id: Option<&str>,
    body: Bytes,
) -> Response {
    let incoming = match jsonrpc::parse(&body) {
        Ok(incoming) => incoming,
        Err(failure) => return failure.respond(None),
    };
    let request = match incoming {
        Incoming::Response => return StatusCode::ACCEPTED.into_response(),
        Incoming::Notification { method, params } => {
            return notification(state, caller, session_id, &method, &params).await
        }
        Incoming::Request(request) => request,
    };
    let modern_header = headers
        .get("mcp-protocol-version")
        .is_some_and(|version| version.as_bytes() == MODERN_VERSION.as_bytes());
    let era = if request.method == "initialize" && !modern_header {
        return initialize(state, caller, &request);
    } else if let Some(id) = session_id {
        match state.mcp.sessions.get(id, caller.label()) {
            Some(session) => {
                if let Some(version) = headers
                    .get("mcp-protocol-version")
                    .and_then(|value| value.to_str().ok())
                {
                    if !LEGACY_VERSIONS.contains(&version) {
                        return Failure::new(
                            StatusCode::BAD_REQUEST,
                            jsonrpc::INVALID_REQUEST,
                            format!("MCP-Protocol-Version {version} is not a version of this session's era; this server speaks {}", LEGACY_VERSIONS.join(", ")),
                        )
                        .respond(Some(&request.id));
                    }
                }
                Era::Legacy(session)
            }
            None => return unknown_session(),
        }
    } else if headers.contains_key("mcp-protocol-version")
        || request
            .meta()
            .is_some_and(|meta| meta.contains_key(META_VERSION))
    {
        if let Err(failure) = check_modern(headers, &request) {
            return refuse(failure, Some(&request.id), headers);
        }
        Era::Modern
    } else {
        return Failure::new(
            StatusCode::BAD_REQUEST,
            jsonrpc::INVALID_PARAMS,
            format!(
                "this request speaks no protocol version: send `initialize` first (protocol 2025-11-25, then Mcp-Session-Id), or the MCP-Protocol-Version header and params._meta of {MODERN_VERSION}"
            ),
        )
        .respond(Some(&request.id));
    };
    let modern = matches!(era, Era::Modern);
    match dispatch(state, caller, address, headers, &request, era).await {
        Ok(Reply::Result(result)) => Json(jsonrpc::success(
            &request.id,
            calls::with_result_type(result, modern),
        ))
        .into_response(),
        Ok(Reply::Response(response)) => response,
        Err(failure) => refuse(failure, Some(&request.id), headers),
    }
}

/// A notification: `notifications/cancelled` of a legacy session cancels its call's job; the
/// rest are acknowledged.
async fn notification(
    state: &AppState,
    caller: &Caller,
    session_id: Option<&str>,
    method: &str,
    params: &Value,
) -> Response {
    if let Some(id) = session_id {
        let Some(session) = state.mcp.sessions.get(id, caller.label()) else {
            return unknown_session();
        };
        if method == "notifications/cancelled" {
            if let Some(job) = params.get("requestId").and_then(|id| session.call_of(id)) {
                tracing::info!(job = %job, "an MCP client cancelled its tool call");
                if let Err(error) = state.queue.cancel(job).await {
                    tracing::warn!(job = %job, %error, "cancelling a tool call's job failed");
                }
            }
        }
    }
    StatusCode::ACCEPTED.into_response()
}

/// The checks of the 2026-07-28 era: the headers mirror the body, the version is spoken here.
fn check_modern(headers: &HeaderMap, request: &RpcRequest) -> Result<(), Failure> {
    let mismatch =
        |message: String| Failure::new(StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, message);
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| {
                value
                    .to_str()
                    .map(str::to_owned)
                    .map_err(|_| mismatch(format!("the {name} header is not visible ASCII")))
            })
            .transpose()
    };
    let header_version = header("mcp-protocol-version")?
        .ok_or_else(|| mismatch("the MCP-Protocol-Version header is required".to_owned()))?;
    let meta_version = request
        .meta()
        .and_then(|meta| meta.get(META_VERSION))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                jsonrpc::INVALID_PARAMS,
                format!("params._meta[\"{META_VERSION}\"] is required"),
            )
        })?;
    let capabilities = request
        .meta()
        .and_then(|meta| meta.get("io.modelcontextprotocol/clientCapabilities"));
    if !capabilities.is_some_and(Value::is_object) {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            jsonrpc::INVALID_PARAMS,
            "params._meta[\"io.modelcontextprotocol/clientCapabilities\"] (an object) is required",
        ));
    }
    if header_version != meta_version {
        return Err(mismatch(format!(
            "Header mismatch: MCP-Protocol-Version header value '{header_version}' does not match body value '{meta_version}'"
        )));
    }
    if header_version != MODERN_VERSION {
        let mut supported = vec![MODERN_VERSION];
        supported.extend(LEGACY_VERSIONS);
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version",
        )
        .with_data(json!({"supported": supported, "requested": header_version})));
    }
    let method = header("mcp-method")?
        .ok_or_else(|| mismatch("the Mcp-Method header is required".to_owned()))?;
    if method != request.method {
        return Err(mismatch(format!(
            "Header mismatch: Mcp-Method header value '{method}' does not match body value '{}'",
            request.method
        )));
    }
    let named = match request.method.as_str() {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        "tasks/get" | "tasks/update" | "tasks/cancel" => Some("taskId"),
        _ => None,
    };
    if let Some(field) = named {
        let body = request.params.get(field).and_then(Value::as_str);
        let name = header("mcp-name")?
            .ok_or_else(|| mismatch("the Mcp-Name header is required".to_owned()))?;
        let name = decode_header_value(&name)
            .ok_or_else(|| mismatch("the Mcp-Name header's base64 does not decode".to_owned()))?;
        if Some(name.as_str()) != body {
            return Err(mismatch(format!(
                "Header mismatch: Mcp-Name header value '{name}' does not match body value '{}'",
                body.unwrap_or("")
            )));
        }
    }
    Ok(())
}

/// A header value, decoded when it is in the `=?base64?…?=` form.
fn decode_header_value(value: &str) -> Option<String> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(value.to_owned()),
    }
}

/// The `Mcp-Param-*` headers of a modern call must carry each mirrored argument, as in the
/// body.
fn check_mirrored(
    headers: &HeaderMap,
    mirrored: &[(String, Vec<String>)],
    arguments: &Value,
) -> Result<(), Failure> {
    for (name, path) in mirrored {
        let value = path.iter().try_fold(arguments, |value, key| value.get(key));
        let expected = match value {
            None | Some(Value::Null) => continue,
            Some(Value::String(text)) => text.clone(),
            Some(Value::Bool(flag)) => flag.to_string(),
            Some(Value::Number(number)) => number.to_string(),
            Some(_) => continue,
        };
        let header = format!("mcp-param-{}", name.to_ascii_lowercase());
        let given = headers
            .get(&header)
            .and_then(|value| value.to_str().ok())
            .and_then(decode_header_value);
        let matches = match (&given, value) {
            (Some(given), Some(Value::Number(number))) => {
                given == &expected || given.parse::<f64>().ok() == number.as_f64()
            }
            (Some(given), _) => given == &expected,
            (None, _) => false,
        };
        if !matches {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                jsonrpc::HEADER_MISMATCH,
                format!(
                    "Header mismatch: Mcp-Param-{name} must carry argument /{} ('{expected}')",
                    path.join("/")
                ),
            ));
        }
    }
    Ok(())
}

/// `initialize`: opens a legacy session at the version the client asked for when this server
/// speaks it, else at the newest legacy version.
fn initialize(state: &AppState, caller: &Caller, request: &RpcRequest) -> Response {
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

async fn dispatch(
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

/// A stream of `notifications/tools/list_changed`, each message made by `message`, until the
/// client goes, the server stops, or `open` says the stream's reason is gone.
fn list_changed_stream(
    state: &AppState,
    slot: crate::api::stream_slots::StreamSlot,
    first: Option<Value>,
    message: impl Fn() -> Value + Send + 'static,
    open: impl Fn() -> bool + Send + 'static,
) -> Response {
    let mut changes = state.mcp.catalogue.subscribe();
    let stop = state.stop.clone();
    let (sender, receiver) = mpsc::channel::<Event>(8);
    tokio::spawn(async move {
        let _slot = slot;
        let event = |value: Value| Event::default().event("message").data(value.to_string());
        if let Some(first) = first {
            if sender.send(event(first)).await.is_err() {
                return;
            }
        }
        let mut check = tokio::time::interval(STREAM_KEEP_ALIVE);
        loop {
            tokio::select! {
                changed = changes.recv() => match changed {
                    Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        if sender.send(event(message())).await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                () = sender.closed() => return,
                () = stop.cancelled() => return,
                _ = check.tick() => if !open() { return },
            }
        }
    });
    calls::sse(receiver, STREAM_KEEP_ALIVE)
}

/// `GET` with a session: the legacy stream of server notifications.
fn listen_legacy(
    state: &AppState,
    caller: &Caller,
    address: &str,
    headers: &HeaderMap,
    session_id: &str,
) -> Response {
    if state.mcp.sessions.get(session_id, caller.label()).is_none() {
        return unknown_session();
    }
    if !accepts_sse(headers) {
        return Failure::new(
            StatusCode::NOT_ACCEPTABLE,
            jsonrpc::INVALID_REQUEST,
            "GET opens an event stream: accept text/event-stream",
        )
        .respond(None);
    }
    let slot = match state.streams.open(caller, address) {
        Ok(slot) => slot,
        Err(error) => return error.into_response(),
    };
    let mcp = state.mcp.clone();
    let id = session_id.to_owned();
    list_changed_stream(
        state,
        slot,
        None,
        || json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
        move || mcp.sessions.is_open(&id),
    )
}

/// `subscriptions/listen` (2026-07-28): acknowledged, then list changes while it is open.
fn listen_modern(
    state: &AppState,
    caller: &Caller,
    address: &str,
    request: &RpcRequest,
) -> Result<Response, Failure> {
    let wanted = request
        .params
        .get("notifications")
        .and_then(|notifications| notifications.get("toolsListChanged"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let slot = state.streams.open(caller, address).map_err(|error| {
        Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            jsonrpc::INTERNAL_ERROR,
            error.to_string(),
        )
    })?;
    let id = request.id.clone();
    let mut agreed = json!({});
    if wanted {
        agreed["toolsListChanged"] = json!(true);
    }
    let acknowledged = json!({
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": id}, "notifications": agreed},
    });
    let subscription = id.clone();
    Ok(list_changed_stream(
        state,
        slot,
        Some(acknowledged),
        move || {
            json!({
                "jsonrpc": "2.0",
                "method": "notifications/tools/list_changed",
                "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": subscription}},
            })
        },
        move || wanted,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn only_the_servers_own_origin_or_none_is_allowed() {
        assert!(origin_allowed(
            &headers(&[("host", "127.0.0.1:8080")]),
            true
        ));
        assert!(origin_allowed(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080")
            ]),
            true
        ));
        assert!(origin_allowed(
            &headers(&[
                ("host", "localhost:8080"),
                ("origin", "http://localhost:8080")
            ]),
            true
        ));
        assert!(!origin_allowed(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://evil.example")
            ]),
            false
        ));
        assert!(!origin_allowed(
            &headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]),
            false
        ));
        // DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1.
        assert!(!origin_allowed(
            &headers(&[("host", "evil.example"), ("origin", "http://evil.example")]),
            true
        ));
        assert!(origin_allowed(
            &headers(&[
                ("host", "mcp.example.com"),
                ("origin", "https://mcp.example.com")
            ]),
            false
        ));
    }

    #[test]
    fn header_values_decode_from_base64() {
        assert_eq!(decode_header_value("plain").as_deref(), Some("plain"));
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(decode_header_value("=?base64?***?="), None);
    }

    #[test]
    fn mirrored_arguments_must_match_their_headers() {
        let mirrored = vec![("Region".to_owned(), vec!["region".to_owned()])];
        let arguments = json!({"region": "us-west1"});
        assert!(check_mirrored(
            &headers(&[("mcp-param-region", "us-west1")]),
            &mirrored,
            &arguments
        )
        .is_ok());
        assert!(check_mirrored(&headers(&[]), &mirrored, &arguments).is_err());
        assert!(check_mirrored(&headers(&[]), &mirrored, &json!({})).is_ok());
    }
}
