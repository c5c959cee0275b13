//! JSON-RPC 2.0 as MCP uses it over HTTP: one message per `POST`, the error codes, and the HTTP
//! status each failure is answered with.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// The HTTP headers do not match the body, or a required one is missing (2026-07-28).
pub const HEADER_MISMATCH: i64 = -32020;
/// The request needs a capability the client did not declare (2026-07-28).
pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
/// The requested protocol version is not one the server speaks (2026-07-28).
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// One message a client posted.
#[derive(Debug)]
pub enum Incoming {
    Request(Request),
    Notification {
        method: String,
        params: Value,
    },
    /// An answer to a request of the server's: plugboard sends none, so it is acknowledged and
    /// dropped.
    Response,
}

/// A request: its id, method and params (an object, or `Null` when absent).
#[derive(Debug, Clone)]
pub struct Request {
    pub id: Value,
    pub method: String,
    pub params: Value,
}

impl Request {
    /// `params._meta`, when there is one.
    pub fn meta(&self) -> Option<&Map<String, Value>> {
        self.params.get("_meta").and_then(Value::as_object)
    }
}

/// A request that failed: the JSON-RPC error, the HTTP status it is answered with, and for
/// refusals of access the `WWW-Authenticate` challenge.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
    pub challenge: Option<String>,
}

impl Failure {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Failure {
        Failure {
            status,
            code,
            message: message.into(),
            data: None,
            challenge: None,
        }
    }

    /// An error about the request's params, answered `200` as JSON-RPC errors of a method are.
    pub fn invalid_params(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::OK, INVALID_PARAMS, message)
    }

    pub fn with_data(mut self, data: Value) -> Failure {
        self.data = Some(data);
        self
    }

    /// The error object.
    pub fn error(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        error
    }

    /// The whole response for the request `id` (`None`: no id could be read).
    pub fn respond(&self, id: Option<&Value>) -> Response {
        let mut body = json!({"jsonrpc": "2.0", "error": self.error()});
        if let Some(id) = id {
            body["id"] = id.clone();
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(challenge) = self
            .challenge
            .as_deref()
            .and_then(|challenge| HeaderValue::from_str(challenge).ok())
        {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// A success response for the request `id`.
pub fn success(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// Reads one posted message.
///
/// # Errors
/// `400` with `-32700` for what is not JSON, `-32600` for JSON that is no JSON-RPC 2.0 message
/// or a batch (MCP sends one message per request).
pub fn parse(body: &[u8]) -> Result<Incoming, Failure> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            PARSE_ERROR,
            format!("the body is not JSON: {error}"),
        )
    })?;
    let invalid = |why: &str| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            format!("the body is not a JSON-RPC 2.0 message: {why}"),
        )
    };
    let Value::Object(mut message) = value else {
        return Err(invalid(
            "send one JSON object per POST (batches are not part of MCP)",
        ));
    };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("`jsonrpc` must be \"2.0\""));
    }
    let params = message.remove("params").unwrap_or(Value::Null);
    if !(params.is_object() || params.is_null()) {
        return Err(invalid("`params` must be an object"));
    }
    match (message.remove("method"), message.remove("id")) {
        (Some(Value::String(method)), Some(id)) => {
            if !(id.is_string() || id.is_i64() || id.is_u64()) {
                return Err(invalid("`id` must be a string or an integer"));
            }
            Ok(Incoming::Request(Request { id, method, params }))
        }
        (Some(Value::String(method)), None) => Ok(Incoming::Notification { method, params }),
        (Some(_), _) => Err(invalid("`method` must be a string")),
        (None, Some(_)) if message.contains_key("result") || message.contains_key("error") => {
            Ok(Incoming::Response)
        }
        (None, _) => Err(invalid("it has no `method`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_told_apart() {
        let request = parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        assert!(
            matches!(request, Ok(Incoming::Request(Request { ref method, .. })) if method == "tools/list")
        );
        let notification =
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized","params":{}}"#);
        assert!(matches!(notification, Ok(Incoming::Notification { .. })));
        let response = parse(br#"{"jsonrpc":"2.0","id":"s1","result":{}}"#);
        assert!(matches!(response, Ok(Incoming::Response)));
    }

    #[test]
    fn what_is_not_one_message_is_refused_with_its_code() {
        let codes: Vec<i64> = [
            &b"{"[..],
            br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#,
            br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
        ]
        .iter()
        .map(|body| {
            parse(body)
                .map(|_| 0)
                .unwrap_or_else(|failure| failure.code)
        })
        .collect();
        assert_eq!(
            codes,
            [
                PARSE_ERROR,
                INVALID_REQUEST,
                INVALID_REQUEST,
                INVALID_REQUEST,
                INVALID_REQUEST
            ]
        );
    }
}
