//! The Streamable HTTP transport on `/mcp`: who may call (Origin, token, rate limits) and which
//! era a request speaks; `headers.rs` has the header checks of 2026-07-28, `methods.rs` the
//! methods, `listen.rs` the notification streams.
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

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{ACCEPT, ALLOW, HOST, ORIGIN, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::calls::{self};
use super::headers::{check_modern, META_VERSION};
use super::jsonrpc::{self, Failure, Incoming};
use super::listen::listen_legacy;
use super::methods::{dispatch, initialize, Era, Reply};
use super::{LEGACY_VERSIONS, MODERN_VERSION, RESOURCE_METADATA_PATH};
use crate::api::auth::{self, Caller};
use crate::api::{problem::ApiError, rate_limited, AppState};

/// The largest JSON-RPC message accepted.
const MAX_BODY: usize = 4 * 1024 * 1024;

pub(super) const SESSION_HEADER: &str = "mcp-session-id";

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
pub(super) fn refuse(failure: Failure, id: Option<&Value>, headers: &HeaderMap) -> Response {
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

pub(super) fn unknown_session() -> Response {
    Failure::new(
        StatusCode::NOT_FOUND,
        jsonrpc::INVALID_REQUEST,
        "there is no such session (it ended, expired, belongs to another token, or this node restarted); send initialize again",
    )
    .respond(None)
}

pub(super) fn accepts_sse(headers: &HeaderMap) -> bool {
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
}
