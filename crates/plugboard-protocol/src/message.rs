//! JSON-RPC 2.0 envelopes: one message per line, requests and notifications in both directions,
//! responses matched to requests by id.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::ErrorObject;

/// The `jsonrpc` member every message carries.
pub const JSONRPC_VERSION: &str = "2.0";

/// The longest line (one message) either side must accept, in bytes. A longer line is a protocol
/// fault: the receiver discards it and reports it.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A request id: a number or a string, as JSON-RPC allows. The host always sends numbers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// A numeric id.
    Number(i64),
    /// A string id.
    String(String),
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Number(number) => write!(f, "{number}"),
            Id::String(text) => write!(f, "{text:?}"),
        }
    }
}

/// A call that expects a response with the same id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// Chosen by the sender, unique among its requests in flight.
    pub id: Id,
    /// The method name, for example `run`.
    pub method: String,
    /// The method's parameters (an object), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

/// A message that expects no response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// The method name, for example `log`.
    pub method: String,
    /// The method's parameters (an object), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

/// The answer to a request: a result or an error, never both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// The id of the request this answers.
    pub id: Id,
    /// The result, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

/// Any message on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A call expecting a response.
    Request(Request),
    /// A call expecting none.
    Notification(Notification),
    /// An answer.
    Response(Response),
}

/// Why a line is not a valid message. The text says what was wrong, for the plugin's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What was wrong.
    pub reason: String,
    /// The request id, when the line was a request whose id could be read (so the receiver can
    /// answer it with an error).
    pub id: Option<Id>,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for DecodeError {}

#[derive(Deserialize)]
struct RawMessage {
    jsonrpc: Option<Value>,
    id: Option<Value>,
    method: Option<Value>,
    params: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
    error: Option<Value>,
}

/// Reads a member that is there, even as `null`: `"result": null` is a successful answer
/// (JSON-RPC allows it, and [`Response::ok`] with `()` writes it), not a missing result.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl Message {
    /// Reads one line (without its `\n`).
    ///
    /// # Errors
    /// A line that is not JSON, not an object, lacks `"jsonrpc": "2.0"`, or is neither a
    /// request, a notification nor a response.
    pub fn decode(line: &str) -> Result<Message, DecodeError> {
        let raw: RawMessage = serde_json::from_str(line).map_err(|error| DecodeError {
            reason: format!("not a JSON-RPC message: {error}"),
            id: None,
        })?;
        let id = match raw.id {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                serde_json::from_value::<Id>(value).map_err(|_| DecodeError {
                    reason: "the id must be a number or a string".to_owned(),
                    id: None,
                })?,
            ),
        };
        let fail = |reason: &str| DecodeError {
            reason: reason.to_owned(),
            id: id.clone(),
        };
        if raw.jsonrpc.as_ref().and_then(Value::as_str) != Some(JSONRPC_VERSION) {
            return Err(fail("the message lacks \"jsonrpc\": \"2.0\""));
        }
        if let Some(params) = &raw.params {
            if !(params.is_object() || params.is_array()) {
                return Err(fail("params must be an object"));
            }
        }
        match (raw.method, id.clone()) {
            (Some(method), id) => {
                let Value::String(method) = method else {
                    return Err(fail("the method must be a string"));
                };
                if raw.result.is_some() || raw.error.is_some() {
                    return Err(fail("a request cannot carry a result or an error"));
                }
                Ok(match id {
                    Some(id) => Message::Request(Request {
                        jsonrpc: JSONRPC_VERSION.to_owned(),
                        id,
                        method,
                        params: raw.params,
                    }),
                    None => Message::Notification(Notification {
                        jsonrpc: JSONRPC_VERSION.to_owned(),
                        method,
                        params: raw.params,
                    }),
                })
            }
            (None, Some(id)) => {
                let error = match raw.error {
                    None => None,
                    Some(error) => Some(serde_json::from_value::<ErrorObject>(error).map_err(
                        |error| DecodeError {
                            reason: format!("malformed error object: {error}"),
                            id: None,
                        },
                    )?),
                };
                match (&raw.result, &error) {
                    (Some(_), Some(_)) => {
                        return Err(fail("a response cannot carry both a result and an error"))
                    }
                    (None, None) => return Err(fail("a response needs a result or an error")),
                    _ => {}
                }
                Ok(Message::Response(Response {
                    jsonrpc: JSONRPC_VERSION.to_owned(),
                    id,
                    result: raw.result,
                    error,
                }))
            }
            (None, None) => Err(fail(
                "a message needs a method (request) or an id (response)",
            )),
        }
    }

    /// Writes the message as one line, without the trailing `\n`.
    pub fn encode(&self) -> String {
        let encoded = match self {
            Message::Request(request) => serde_json::to_string(request),
            Message::Notification(notification) => serde_json::to_string(notification),
            Message::Response(response) => serde_json::to_string(response),
        };
        // Serialising these plain structs of strings and JSON values cannot fail.
        encoded.expect("a message serialises to JSON")
    }
}

impl Request {
    /// A request of `method` with `params`.
    pub fn new(id: Id, method: &str, params: impl Serialize) -> Request {
        Request {
            jsonrpc: JSONRPC_VERSION.to_owned(),
            id,
            method: method.to_owned(),
            params: Some(to_value(params)),
        }
    }
}

impl Notification {
    /// A notification of `method` with `params`.
    pub fn new(method: &str, params: impl Serialize) -> Notification {
        Notification {
            jsonrpc: JSONRPC_VERSION.to_owned(),
            method: method.to_owned(),
            params: Some(to_value(params)),
        }
    }
}

impl Response {
    /// A successful answer to `id`.
    pub fn ok(id: Id, result: impl Serialize) -> Response {
        Response {
            jsonrpc: JSONRPC_VERSION.to_owned(),
            id,
            result: Some(to_value(result)),
            error: None,
        }
    }

    /// A failed answer to `id`.
    pub fn error(id: Id, error: ErrorObject) -> Response {
        Response {
            jsonrpc: JSONRPC_VERSION.to_owned(),
            id,
            result: None,
            error: Some(error),
        }
    }
}

fn to_value(value: impl Serialize) -> Value {
    // The protocol's types serialise to JSON by construction; a caller's own type that cannot
    // (a map with non-string keys) becomes null rather than a panic.
    serde_json::to_value(value).unwrap_or(Value::Null)
}
