//! Notification streams: the legacy session's `GET` stream and `subscriptions/listen`
//! (2026-07-28), both carrying `notifications/tools/list_changed` when the catalogue changes.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::calls::{self};
use super::jsonrpc::{self, Failure, Request as RpcRequest};
use super::transport::{accepts_sse, unknown_session};
use crate::api::auth::Caller;
use crate::api::AppState;

/// How often a long-lived notification stream sends a comment.
const STREAM_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A stream of `notifications/tools/list_changed`, each message made by `message`, until the
/// client goes, the server stops, or `open` says the stream's reason is gone.
pub(super) fn list_changed_stream(
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
pub(super) fn listen_legacy(
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
pub(super) fn listen_modern(
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
